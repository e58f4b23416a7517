"""Field readers shared by the graph ops' JSON forms: each returns the value when it has the
right type and range, else raises :class:`ConfigError` naming ``what``."""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..qnet import MAX_MULTIPLIER
from ..quant.fixed_point import MAX_SHIFT


def as_int(value, what: str) -> int:
    """``value`` when it is an integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    return value


def as_bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


def as_number(value, what: str) -> float:
    """``value`` as a float when it is a finite, positive JSON number (a scale)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ConfigError(f"{what} must be a finite number > 0, got {value!r}")
    return float(value)


def as_shape(value, what: str) -> tuple:
    """A ``[C, H, W]`` list of positive integers as a tuple."""
    if not isinstance(value, list) or len(value) != 3 or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise ConfigError(f"{what}: expected [C, H, W] of positive integers, got {value!r}")
    return tuple(value)


def shape_json(shape) -> list:
    return [int(v) for v in shape]


def check_requant(multiplier, shift, fail) -> None:
    """A requantisation (M, S) must have 0 ≤ M ≤ 2^16 − 1 and 1 ≤ S ≤ 62; ``fail(msg)`` raises."""
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or \
            not 0 <= multiplier <= MAX_MULTIPLIER:
        fail(f"multiplier M must be an integer in 0…{MAX_MULTIPLIER}, got {multiplier!r}")
    if isinstance(shift, bool) or not isinstance(shift, int) or not 1 <= shift <= MAX_SHIFT:
        fail(f"shift S must be an integer in 1…{MAX_SHIFT}, got {shift!r}")


def requant_json(op) -> dict:
    """The ``multiplier``, ``shift`` and ``out_scale`` fields of a pooling op."""
    return {"multiplier": int(op.multiplier), "shift": int(op.shift),
            "out_scale": float(op.out_scale)}
