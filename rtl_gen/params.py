"""The hardware choices the compiler makes for one layer engine."""

from __future__ import annotations

from dataclasses import dataclass

from structhw.errors import ConfigError

from .sumpool import ARCHS as SUMPOOL_ARCHS

WINDOW_KINDS = ("registers", "memory")
"""Where an engine keeps its windows: ``"registers"`` (:class:`~structhw.rtl_gen.LayerEngine`)
or ``"memory"`` (:class:`~structhw.rtl_gen.memory_engine.MemoryWindowEngine`, serial sum-pool)."""


@dataclass(frozen=True)
class EngineParams:
    """Parallelism and microarchitecture of one :class:`~structhw.rtl_gen.LayerEngine`.

    Parameters
    ----------
    lanes : int
        P, output channels computed in parallel (one accumulator each), 1 ≤ P ≤ Cout.
    mults : int
        T, multipliers per lane, 1 ≤ T ≤ c·n² (one ECP5 MULT18X18D each).
    sumpool : str or None
        Sum-pool microarchitecture, ``"tree"`` or ``"separable"``; ``None`` for a dense layer
        (no sum-pool) and for a memory-window engine (its sum-pool is serial).
    window : str
        One of :data:`WINDOW_KINDS`.
    """

    lanes: int = 1
    mults: int = 1
    sumpool: str | None = None
    window: str = "registers"

    def __post_init__(self):
        for key in ("lanes", "mults"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"EngineParams.{key} must be an integer ≥ 1, got {v!r}")
        if self.sumpool is not None and self.sumpool not in SUMPOOL_ARCHS:
            raise ConfigError(f"EngineParams.sumpool must be one of {SUMPOOL_ARCHS} or None, "
                              f"got {self.sumpool!r}")
        if self.window not in WINDOW_KINDS:
            raise ConfigError(f"EngineParams.window must be one of {WINDOW_KINDS}, "
                              f"got {self.window!r}")
        if self.window == "memory" and self.sumpool is not None:
            raise ConfigError(f"EngineParams: a memory-window engine sums serially, "
                              f"sumpool must be None, got {self.sumpool!r}")

    def check(self, layer) -> None:
        """Raise :class:`ConfigError` if these parameters cannot implement ``layer``."""
        if self.lanes > layer.out_channels:
            raise ConfigError(f"layer {layer.name!r}: lanes={self.lanes} exceeds "
                              f"out_channels={layer.out_channels}")
        if self.mults > layer.mults_per_output:
            raise ConfigError(f"layer {layer.name!r}: mults={self.mults} exceeds "
                              f"c·n²={layer.mults_per_output}")
        if self.window == "memory":
            return
        if layer.is_dense and self.sumpool is not None:
            raise ConfigError(f"layer {layer.name!r}: a dense layer has no sum-pool, "
                              f"but sumpool={self.sumpool!r}")
        if not layer.is_dense and self.sumpool is None:
            raise ConfigError(f"layer {layer.name!r}: a structured layer needs "
                              f"sumpool='tree' or 'separable'")
