"""Choosing the int8 α: nearest rounding, or error-compensating rounding on calibration data.

A structured layer computes ``W = A·α``: every α element multiplies a sum-pool output E that
overlaps its neighbours, so the E inputs are strongly correlated and independent rounding errors
in α add up in the output (measured on digits-cnn preset A: 0.5 % α error → 8 % logit error).
:func:`gptq_round` (GPTQ, Frantar et al., ICLR 2023) rounds α one input position at a time and
moves each rounding error onto the positions not yet rounded, weighted by the calibration
covariance ``H = Σ e·eᵀ`` of the layer's inputs, which minimises ``‖E·(α − s·α_q)‖²`` greedily.
Scales are unchanged (``s_α = max|α|/127`` per output channel); α_q stays int8 in −127…127.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..decompose import StructuredConv2d, StructuredLinear
from ..errors import ConfigError
from .fixed_point import INT8_MAX
from .layers import FloatLayer

DAMPING = 0.01
"""Added to H's diagonal, as a fraction of its mean diagonal, so H is safely invertible."""
MAX_COVARIANCE_BYTES = 2 ** 30
"""Largest input covariance GPTQ rounding builds for one layer (bytes, float64)."""
MAX_PATCH_BYTES = 2 ** 27
"""Largest block of input patches held at once while summing a covariance (bytes)."""


def input_patches(layer: FloatLayer, x: torch.Tensor) -> torch.Tensor:
    """What α multiplies: the float sum-pool output of ``layer`` on input x, as one row per
    output position. Returns [groups, B·positions, c·n²] float64, columns in α's (c, n, n) order."""
    m, B = layer.module, x.shape[0]
    if layer.kind == "linear":
        x = x.flatten(1)
        if isinstance(m, StructuredLinear):
            x = m.sumpool(x.reshape(B, -1, 1, 1)).reshape(B, -1)
        return x.to(torch.float64).unsqueeze(0)
    e = m.sumpool(x) if isinstance(m, StructuredConv2d) else F.pad(x, (layer.padding,) * 4)
    span, d, s = layer.dilation * (layer.n - 1) + 1, layer.dilation, layer.stride
    cols = e.unfold(2, span, s).unfold(3, span, s)[..., ::d, ::d]     # [B, g·c, H', W', n, n]
    B, _, Ho, Wo = cols.shape[:4]
    cols = cols.permute(0, 2, 3, 1, 4, 5).reshape(B * Ho * Wo, layer.groups, -1)
    return cols.transpose(0, 1).to(torch.float64)


def covariance_size(layer: FloatLayer) -> tuple[int, int]:
    """(K, bytes) of ``layer``'s input covariance: K = c·n² inputs per α row, bytes of the
    [groups, K, K] float64 matrix."""
    k = layer.c * layer.n * layer.n
    return k, layer.groups * k * k * 8


def check_covariance_size(layer: FloatLayer) -> None:
    """Refuse GPTQ rounding of a layer whose input covariance would pass
    :data:`MAX_COVARIANCE_BYTES`, before any calibration."""
    k, size = covariance_size(layer)
    if size > MAX_COVARIANCE_BYTES:
        raise ConfigError(f"layer {layer.name!r}: GPTQ rounding needs a {k}×{k} input covariance "
                          f"per group ({size / 2**30:.1f} GiB, the limit is "
                          f"{MAX_COVARIANCE_BYTES / 2**30:.0f} GiB); round to nearest instead: "
                          f"structhw quantize MODEL --rounding nearest")


def input_covariance(layer: FloatLayer, x: torch.Tensor) -> torch.Tensor:
    """``Σ e·eᵀ`` over the patches of x, per group: [groups, c·n², c·n²] float64. Images are
    taken a few at a time so their patches stay within :data:`MAX_PATCH_BYTES`."""
    step = max(1, MAX_PATCH_BYTES // max(1, input_patches(layer, x[:1]).numel() * 8))
    h = None
    for start in range(0, x.shape[0], step):
        p = input_patches(layer, x[start:start + step])
        h = p.transpose(1, 2) @ p if h is None else h + p.transpose(1, 2) @ p
    return h


def nearest_round(alpha: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``clamp(round(α/s), −127, 127)``: α [Cout, K] float, s [Cout] → int64 [Cout, K]."""
    return torch.round(alpha / scale[:, None]).clamp(-INT8_MAX, INT8_MAX).to(torch.int64)


def gptq_round(alpha: torch.Tensor, scale: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Error-compensating rounding of α [Cout, K] (float64) at scales s [Cout] for inputs with
    covariance H [K, K] → int64 α_q [Cout, K] in −127…127. Inputs never seen non-zero in the
    calibration data (zero diagonal) are rounded to nearest."""
    K = H.shape[0]
    H = H.clone()
    dead = torch.diagonal(H) == 0
    H[dead, dead] = 1.0
    H += DAMPING * float(torch.diagonal(H).mean()) * torch.eye(K, dtype=H.dtype)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    w = alpha.clone()
    q = torch.zeros_like(w)
    for j in range(K):
        q[:, j] = torch.round(w[:, j] / scale).clamp(-INT8_MAX, INT8_MAX)
        err = (w[:, j] - q[:, j] * scale) / U[j, j]
        w[:, j:] -= err[:, None] * U[j, j:][None, :]
    return q.to(torch.int64)
