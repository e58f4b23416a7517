"""Folding an eval-mode BatchNorm into the conv / linear layer before it.

A BatchNorm after a layer with weight W (``[Cout, ...]``) and bias b computes
``γ·(W∗x + b − μ)/√(var + ε) + β``, which is the layer with

    ``W' = W·s`` and ``b' = (b − μ)·s + β``, ``s = γ / √(var + ε)`` per output channel,

exactly (up to float rounding; the scale is computed in float64). The running statistics are
used whatever mode the BatchNorm is in. A per-output-channel scale keeps a structured kernel
structured — ``W = A·α`` becomes ``A·(s·α)`` — so folding commutes with the structure: fold
BatchNorm *before* Structural Regularization's projection or the decomposition, then the
structure the regularizer reached is the structure of the folded layer. For a
``StructuredConv2d`` / ``StructuredLinear`` the fold scales α in its inner ``conv`` /
``linear`` and leaves its sum-pool alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..decompose import StructuredConv2d, StructuredLinear
from ..errors import ConfigError

__all__ = ["batchnorm_scale_shift", "fold_batchnorm"]


def batchnorm_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel ``(scale, shift)`` of an eval-mode BatchNorm, float64 ``[C]`` each:
    ``bn(x) = x·scale + shift`` per channel."""
    if bn.running_mean is None or bn.running_var is None:
        raise ConfigError(f"BatchNorm {type(bn).__name__}({bn.num_features}) has no running "
                          f"statistics (track_running_stats=False); it cannot be folded")
    var = bn.running_var.detach().to(torch.float64)
    mean = bn.running_mean.detach().to(torch.float64)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().to(torch.float64)
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().to(torch.float64)
    return scale, shift


def _inner(layer: nn.Module) -> nn.Module:
    """The module holding the weight that multiplies: α for a structured layer, else the layer."""
    if isinstance(layer, StructuredConv2d):
        return layer.conv
    if isinstance(layer, StructuredLinear):
        return layer.linear
    if isinstance(layer, (nn.Conv2d, nn.Linear)):
        return layer
    raise ConfigError(f"cannot fold a BatchNorm into a {type(layer).__name__}")


def fold_batchnorm(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> nn.Module:
    """A new layer equal to ``bn(layer(x))`` in eval mode.

    Parameters
    ----------
    layer : nn.Conv2d, nn.Linear, StructuredConv2d or StructuredLinear
        Left untouched; weight ``[Cout, ...]``.
    bn : BatchNorm1d or BatchNorm2d
        With ``num_features == Cout`` and running statistics; left untouched.

    Returns
    -------
    nn.Module
        A deep copy of ``layer`` with ``W' = W·s``, ``b' = (b − μ)·s + β`` (a bias is added if
        the layer had none); a structured layer keeps its structure (only α is scaled).
    """
    folded = copy.deepcopy(layer)
    inner = _inner(folded)
    cout = inner.weight.shape[0]
    if bn.num_features != cout:
        raise ConfigError(f"BatchNorm of {bn.num_features} channels after a layer of {cout} "
                          f"output channels")
    scale, shift = batchnorm_scale_shift(bn)
    weight = inner.weight.detach().to(torch.float64)
    bias = torch.zeros(cout, dtype=torch.float64) if inner.bias is None \
        else inner.bias.detach().to(torch.float64)
    new_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    new_bias = bias * scale + shift
    dtype, device = inner.weight.dtype, inner.weight.device
    with torch.no_grad():
        inner.weight.copy_(new_weight.to(dtype))
        inner.bias = nn.Parameter(new_bias.to(dtype=dtype, device=device))
    return folded
