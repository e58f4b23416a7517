"""The interface every sum-pool microarchitecture implements (:mod:`structhw.rtl_gen.sumpool`
keeps the registry of them)."""

from __future__ import annotations

from amaranth import Module

from structhw.qnet import QuantLayer

from .sumpool_blocks import Pipeline


class SumPoolArch:
    """One way to build :class:`~structhw.rtl_gen.sumpool.SumPool`: its pipeline, latency and
    analytic cost. Stateless; the registry holds one instance per arch.

    Attributes
    ----------
    name : str
        The arch's key in plans, on the command line and in reports.
    label : str
        Its display name in reports and plots.
    """

    name: str = ""
    label: str = ""

    def pre_stages(self, layer: QuantLayer) -> int:
        """Pipeline stages in front of the stage-1 register (see :class:`Pipeline`)."""
        return 0

    def latency(self, layer: QuantLayer) -> int:
        """Cycles from an input beat's acceptance to its output beat being offered (no stalls)."""
        raise NotImplementedError

    def elaborate(self, unit, m: Module, pipe: Pipeline) -> None:
        """Build the adds of ``unit`` (the SumPool) into ``m`` on ``pipe`` and drive ``unit.o``."""
        raise NotImplementedError

    def cost(self, layer: QuantLayer) -> dict:
        """Analytic ECP5 resources: ``{"lut4", "ff", "dsp", "bram_bits"}`` (dsp is 0: adds only)."""
        raise NotImplementedError
