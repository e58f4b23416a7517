"""The one resources type: LUT4s, flip-flops, hard multipliers and block-RAM bits, and how a
count compares with a :class:`~structhw.budget.Budget`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .budget import Budget
from .errors import ConfigError

RESOURCES = ("lut4", "ff", "dsp", "bram_bits")
RESOURCE_NAMES = {"lut4": "LUT4s", "ff": "flip-flops", "dsp": "DSPs (MULT18X18D)",
                  "bram_bits": "block-RAM bits"}


@dataclass(frozen=True)
class Resources:
    """Resource counts of a piece of hardware: LUT4s, flip-flops, hard multipliers, RAM bits."""

    lut4: int = 0
    ff: int = 0
    dsp: int = 0
    bram_bits: int = 0

    @classmethod
    def of(cls, cost) -> "Resources":
        """Convert any object with ``lut4, ff, dsp, bram_bits`` attributes."""
        return cls(**{k: int(getattr(cost, k)) for k in RESOURCES})

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(**{k: int(getattr(self, k)) + int(getattr(other, k)) for k in RESOURCES})

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(**{k: int(getattr(self, k)) - int(getattr(other, k)) for k in RESOURCES})

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in RESOURCES}

    @classmethod
    def from_json(cls, obj, what: str) -> "Resources":
        if not isinstance(obj, dict):
            raise ConfigError(f"{what}: expected an object with {', '.join(RESOURCES)}")
        try:
            values = {k: obj[k] for k in RESOURCES}
        except KeyError as exc:
            raise ConfigError(f"{what}: missing {exc.args[0]!r}") from None
        for k, v in values.items():
            if not isinstance(v, int) or isinstance(v, bool):
                raise ConfigError(f"{what}.{k} must be an integer, got {v!r}")
        return cls(**values)


def budget_limits(budget: Budget) -> Resources:
    """The budget as :class:`Resources` (block RAM in bits)."""
    return Resources(lut4=budget.lut4, ff=budget.ff, dsp=budget.dsp, bram_bits=budget.bram_bits)


def shortfalls(need: Resources, budget: Budget) -> dict:
    """Resources ``need`` exceeds ``budget`` by: name → positive excess (empty when it fits)."""
    have = budget_limits(budget)
    return {k: getattr(need, k) - getattr(have, k) for k in RESOURCES
            if getattr(need, k) > getattr(have, k)}


def format_shortfall(short: dict, need: Resources, budget: Budget) -> str:
    """``"flip-flops: needs N, budget has M, short by K; …"`` for every short resource."""
    have = budget_limits(budget)
    return "; ".join(f"{RESOURCE_NAMES[k]}: needs {getattr(need, k)}, budget has "
                     f"{getattr(have, k)}, short by {v}" for k, v in short.items())


EBR_SHAPES = {
    18432: ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    4096: ((2048, 2), (1024, 4), (512, 8), (256, 16)),
}
"""(words, bits per word) a block RAM offers, by its size in bits: ECP5 DP16KD (512×36 as a
pseudo dual-port RAM, one write and one read port) and iCE40 SB_RAM40_4K."""


def ebr_blocks(depth: int, width: int, ebr_bits: int = 18432) -> int:
    """Block RAMs a memory of ``depth`` words of ``width`` bits takes: the best block shape
    cascaded in width and depth (a memory never shares a block)."""
    if depth <= 0 or width <= 0:
        return 0
    shapes = EBR_SHAPES.get(ebr_bits)
    if shapes is None:
        return math.ceil(depth * width / ebr_bits)
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in shapes)


def block_ram(depth: int, width: int, budget: Budget) -> int:
    """Block-RAM bits of a memory of ``depth`` × ``width`` bits: :func:`ebr_blocks` of the
    budget's block size, in bits."""
    return ebr_blocks(depth, width, budget.ebr_bits) * budget.ebr_bits
