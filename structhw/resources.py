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
        """Convert any object with ``lut4, ff, dsp, bram_bits`` attributes (e.g. ``Cost``)."""
        return cls(**{k: int(getattr(cost, k)) for k in RESOURCES})

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(**{k: getattr(self, k) + getattr(other, k) for k in RESOURCES})

    def __sub__(self, other: "Resources") -> "Resources":
        return Resources(**{k: getattr(self, k) - getattr(other, k) for k in RESOURCES})

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


def block_ram(bits: int, budget: Budget) -> int:
    """Block-RAM bits of a memory of ``bits`` bits, rounded up to whole blocks of the budget's
    ``ebr_bits`` (a memory never shares a block)."""
    return math.ceil(bits / budget.ebr_bits) * budget.ebr_bits if bits > 0 else 0
