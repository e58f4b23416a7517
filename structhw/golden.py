"""The golden integer model: DESIGN.md's integer spec, computed exactly in int64 tensors.

Every piece of hardware is checked element by element against these functions. Tensors are
batched: activations are [B, C, H, W] integer tensors holding int8 values.

Convolutions run in float64, which is exact for integers below 2^53; every call checks the bound
that makes this so (from the value ranges of its operands) and refuses otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .qnet import ACT_MAX, ACT_MIN, QuantLayer, QuantNet

_EXACT = 1 << 53


def _check_int8(x: torch.Tensor, what: str) -> None:
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        raise TypeError(f"{what} must be an integer tensor, got {x.dtype}")
    if x.numel() and (int(x.min()) < ACT_MIN or int(x.max()) > ACT_MAX):
        raise ValueError(f"{what} must hold int8 values")


def window_sums(x: torch.Tensor, dim: int, width: int, step: int = 1) -> torch.Tensor:
    """Sums of ``width`` elements ``step`` apart along ``dim`` of int64 ``x``, at every start:
    the length along ``dim`` shrinks by (width − 1)·step. Exact integer arithmetic."""
    length = x.shape[dim] - (width - 1) * step
    if step == 1:
        zero = torch.zeros_like(x.narrow(dim, 0, 1))
        running = torch.cat([zero, torch.cumsum(x, dim)], dim)
        return running.narrow(dim, width, length) - running.narrow(dim, 0, length)
    total = x.narrow(dim, 0, length).clone()
    for k in range(1, width):
        total += x.narrow(dim, k * step, length)
    return total


def sum_pool(x: torch.Tensor, layer: QuantLayer) -> torch.Tensor:
    """Sum-pool E of ``layer``: zero-pad x by ``padding``, then sum boxes of
    channel_window × spatial_window × spatial_window (box dilated by ``dilation``, stride 1)
    within each channel group. x: [B, C, H, W] int8 values → E: [B, groups·c, Hs, Ws] int64."""
    _check_int8(x, "sum_pool input")
    B = x.shape[0]
    g, cg, cw, sw, d = layer.groups, layer.group_channels, layer.channel_window, layer.spatial_window, layer.dilation
    xi = x.to(torch.int64)
    if layer.padding:
        xi = F.pad(xi, (layer.padding,) * 4)
    H, W = xi.shape[-2:]
    e = window_sums(xi.reshape(B, g, cg, H, W), 2, cw)
    e = window_sums(window_sums(e, 3, sw, d), 4, sw, d)
    return e.reshape(B, g * layer.c, e.shape[-2], e.shape[-1])


def small_conv(e: torch.Tensor, layer: QuantLayer) -> torch.Tensor:
    """Accumulator: the c×n×n convolution of E with int8 α (stride, dilation, groups) plus the
    int32 bias. e: [B, groups·c, Hs, Ws] int64 → acc: [B, Cout, H', W'] int64, exact."""
    alpha = torch.as_tensor(layer.alpha, dtype=torch.int64)
    bound = int(e.abs().max()) * int(alpha.abs().sum(dim=(1, 2, 3)).max()) + int(abs(layer.bias).max())
    if bound >= _EXACT:
        raise OverflowError(f"layer {layer.name!r}: accumulator bound {bound} exceeds 2^53")
    acc = F.conv2d(e.to(torch.float64), alpha.to(torch.float64), stride=layer.stride,
                   dilation=layer.dilation, groups=layer.groups)
    acc = acc.round().to(torch.int64)
    return acc + torch.as_tensor(layer.bias, dtype=torch.int64).view(1, -1, 1, 1)


def requantize(acc: torch.Tensor, multiplier, shift, relu: bool) -> torch.Tensor:
    """``clamp((acc·M + 2^(S−1)) >> S, lo, hi)`` per output channel (dim 1), ``>>`` a floor shift.
    acc: [B, Cout, ...] int64; multiplier, shift: [Cout] integers → int64 holding int8 values."""
    m = torch.as_tensor(multiplier, dtype=torch.int64)
    s = torch.as_tensor(shift, dtype=torch.int64)
    view = (1, -1) + (1,) * (acc.dim() - 2)
    m, s = m.view(view), s.view(view)
    if acc.numel() and int(acc.abs().max()) * int(m.max()) >= (1 << 62):
        raise OverflowError("acc·M overflows 63 bits")
    y = (acc * m + (1 << (s - 1))) >> s
    return y.clamp(0 if relu else ACT_MIN, ACT_MAX)


def run_layer(x: torch.Tensor, layer: QuantLayer, return_acc: bool = False):
    """One layer. x: [B, C, H, W] int8 values (a linear layer flattens it first) →
    y: [B, Cout, H', W'] int64 holding int8 values (and the accumulator if ``return_acc``)."""
    if layer.kind == "linear":
        x = x.reshape(x.shape[0], -1, 1, 1)
    acc = small_conv(sum_pool(x, layer), layer)
    y = requantize(acc, layer.multiplier, layer.shift, layer.relu)
    return (y, acc) if return_acc else y


def run_network(qnet: QuantNet, x: torch.Tensor) -> list:
    """The whole network. x: [B, C, H, W] int8 image → list of every layer's int8 output
    ([B, Cout, H', W'] int64 tensors); the last one, reshaped to [B, classes], is the logits."""
    _check_int8(x, "network input")
    outs = []
    for layer in qnet.layers:
        x = run_layer(x, layer)
        outs.append(x)
    return outs


def logits(qnet: QuantNet, x: torch.Tensor) -> torch.Tensor:
    """Final int8 logits [B, classes] of the golden model."""
    return run_network(qnet, x)[-1].reshape(x.shape[0], -1)
