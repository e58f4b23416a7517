"""Symmetric int8 scales and the fixed-point requantisation multiplier (M, S).

Rules (the integer spec of docs/qnet-format.md):

- A tensor with largest magnitude ``r`` gets scale ``s = r / 127`` (``s = 1`` when ``r = 0``);
  values quantize as ``clamp(round(v / s), −127, 127)``, round half to even.
- A real multiplier ``m = s_x·s_α / s_y`` becomes ``M / 2^S`` with M normalized to
  ``2^(MULTIPLIER_BITS−1) ≤ M ≤ 2^MULTIPLIER_BITS`` (15 significant bits: relative error
  ≤ 2^−15) and ``1 ≤ S ≤ MAX_SHIFT``. A multiplier so small that S would exceed MAX_SHIFT keeps
  S = MAX_SHIFT and a smaller M (its outputs round to 0 anyway); one so large that S would fall
  below 1 is a :class:`ConfigError`.
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ..qnet import REQUANT_WIDTH  # noqa: F401  (the spec's width, re-exported)

INT8_MAX = 127
MULTIPLIER_BITS = 15
"""Significant bits of the normalized requantisation multiplier M (M fits 16 bits unsigned)."""
MAX_SHIFT = 62


def symmetric_scale(max_abs: float) -> float:
    """Scale mapping ``max_abs`` onto 127 (1.0 for an all-zero tensor)."""
    max_abs = float(max_abs)
    if not math.isfinite(max_abs) or max_abs < 0:
        raise ConfigError(f"cannot derive a scale from the range {max_abs!r}")
    return max_abs / INT8_MAX if max_abs > 0 else 1.0


def quantize_symmetric(x: torch.Tensor, scale) -> torch.Tensor:
    """``clamp(round(x / scale), −127, 127)`` as int64; ``scale`` a number or a tensor that
    broadcasts against x (e.g. [Cout, 1, 1, 1] for per-output-channel weights)."""
    q = torch.round(x.to(torch.float64) / torch.as_tensor(scale, dtype=torch.float64))
    return q.clamp(-INT8_MAX, INT8_MAX).to(torch.int64)


def requant_multiplier(real: float, where: str = "") -> tuple[int, int]:
    """(M, S) with ``M / 2^S ≈ real``: M ∈ [2^14, 2^15] unless S is clamped at MAX_SHIFT.

    Raises :class:`ConfigError` (prefixed with ``where``) for a non-positive or non-finite
    multiplier or one ≥ 2^14, which would need S < 1.
    """
    prefix = f"{where}: " if where else ""
    real = float(real)
    if not math.isfinite(real) or real <= 0:
        raise ConfigError(f"{prefix}requantisation multiplier must be finite and > 0, got {real!r}")
    _, exp = math.frexp(real)                      # real = f·2^exp, 0.5 ≤ f < 1
    shift = MULTIPLIER_BITS - exp
    if shift < 1:
        raise ConfigError(f"{prefix}requantisation multiplier s_x·s_α/s_y = {real:.6g} is ≥ "
                          f"2^{MULTIPLIER_BITS - 1}: it needs a shift S < 1")
    shift = min(shift, MAX_SHIFT)
    return int(round(math.ldexp(real, shift))), shift
