"""Decomposition of structured layers into a sum-pool and a small conv / linear (paper §4.1, §5.1).

A Conv2d whose C×N×N kernels (C = in_channels/groups) are structured with (c, n) computes
``X * W = (X * 1_box) * α``: :class:`SumPool3d` (zero padding, then a stride-1 sum over boxes of
``(C−c+1) × (N−n+1) × (N−n+1)`` within each channel group, the spatial box dilated like the conv)
followed by a ``c × n × n`` conv with the original stride and dilation and α = A⁺W
(:class:`StructuredConv2d`). A Linear P×Q with parameter R sums windows of Q−R+1 features, then
applies an R→P linear layer (:class:`StructuredLinear`).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError
from .regularization import validate_plan
from .structure import alpha_from_weight, check_structure, project

__all__ = ["SumPool3d", "StructuredConv2d", "StructuredLinear", "LayerResidual", "decompose"]


class SumPool3d(nn.Module):
    """Exact 3-D sum-pooling (adds only) within channel groups, at stride 1.

    Input ``[B, C, H, W]`` → output ``[B, groups·(C/groups − channel_window + 1), Hs, Ws]`` with
    ``Hs = H + 2·padding − dilation·(spatial_window − 1)`` (likewise Ws). Output channel
    ``g·c + a`` is the sum of input channels ``g·C/groups + a`` … ``+ channel_window − 1``.

    Parameters / Attributes
    -----------------------
    channel_window : int
        Box extent along channels, ``C/groups − c + 1``.
    spatial_window : int
        Box extent along each spatial axis, ``N − n + 1`` (before dilation).
    groups : int
        Channel groups; boxes never straddle two groups.
    padding : int
        Zeros added on every side of both spatial axes before summing.
    dilation : int
        Spacing of the spatial box taps.
    """

    def __init__(self, channel_window: int, spatial_window: int, groups: int = 1, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.channel_window = channel_window
        self.spatial_window = spatial_window
        self.groups = groups
        self.padding = padding
        self.dilation = dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = F.pad(x, (self.padding,) * 4)
        B, C, H, W = x.shape
        if C % self.groups:
            raise ConfigError(f"SumPool3d: {C} input channels are not divisible by groups={self.groups}")
        x = x.reshape(B * self.groups, 1, C // self.groups, H, W)
        box = torch.ones(1, 1, self.channel_window, self.spatial_window, self.spatial_window, dtype=x.dtype, device=x.device)
        e = F.conv3d(x, box, dilation=(1, self.dilation, self.dilation))
        return e.reshape(B, -1, e.shape[-2], e.shape[-1])

    def extra_repr(self) -> str:
        return (
            f"channel_window={self.channel_window}, spatial_window={self.spatial_window}, "
            f"groups={self.groups}, padding={self.padding}, dilation={self.dilation}"
        )


class StructuredConv2d(nn.Module):
    """A structured Conv2d: ``sumpool`` (a :class:`SumPool3d`) then ``conv``, an
    ``nn.Conv2d(groups·c, out_channels, n, stride, padding=0, dilation, groups, bias)`` holding α
    ([out_channels, c, n, n]). Equal to the Conv2d with kernels ``A·α`` (padding ``padding``).

    Attributes: ``in_channels, out_channels, kernel_size`` (N), ``c, n, stride, padding,
    dilation, groups`` (ints), ``sumpool``, ``conv``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, c: int, n: int,
                 stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"channels {in_channels}→{out_channels} are not divisible by groups={groups}")
        C, N, c, n = check_structure(in_channels // groups, kernel_size, c, n)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, N
        self.c, self.n = c, n
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.sumpool = SumPool3d(C - c + 1, N - n + 1, groups, padding, dilation)
        self.conv = nn.Conv2d(groups * c, out_channels, n, stride=stride, padding=0,
                              dilation=dilation, groups=groups, bias=bias)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, c: int, n: int) -> "StructuredConv2d":
        """The decomposition of ``conv`` with α = A⁺W (least squares if W is not structured)."""
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size[0], c, n, conv.stride[0],
                    conv.padding[0], conv.dilation[0], conv.groups, conv.bias is not None)
        layer.to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            layer.conv.weight.copy_(alpha_from_weight(conv.weight, c, n))
            if conv.bias is not None:
                layer.conv.bias.copy_(conv.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.sumpool(x))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, c={self.c}, "
                f"n={self.n}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}")


class StructuredLinear(nn.Module):
    """A structured Linear P×Q with parameter R: ``sumpool`` sums windows of ``Q − R + 1``
    consecutive features (a :class:`SumPool3d` over the features seen as Q×1×1), then ``linear`` =
    ``nn.Linear(R, P)`` holding α. Attributes: ``in_features`` (Q), ``out_features`` (P), ``c`` (R),
    ``sumpool``, ``linear``. Input ``[..., Q]`` → output ``[..., P]``.
    """

    def __init__(self, in_features: int, out_features: int, c: int, bias: bool = True):
        super().__init__()
        Q, _, R, _ = check_structure(in_features, 1, c, 1)
        self.in_features, self.out_features, self.c = Q, out_features, R
        self.sumpool = SumPool3d(Q - R + 1, 1)
        self.linear = nn.Linear(R, out_features, bias=bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear, c: int) -> "StructuredLinear":
        """The decomposition of ``linear`` with α = A⁺W (least squares if W is not structured)."""
        layer = cls(linear.in_features, linear.out_features, c, linear.bias is not None)
        layer.to(device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            W = linear.weight.reshape(linear.out_features, linear.in_features, 1, 1)
            layer.linear.weight.copy_(alpha_from_weight(W, c, 1).reshape(linear.out_features, c))
            if linear.bias is not None:
                layer.linear.bias.copy_(linear.bias)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        e = self.sumpool(x.reshape(-1, self.in_features, 1, 1)).reshape(*lead, self.c)
        return self.linear(e)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, c={self.c}"


@dataclass(frozen=True)
class LayerResidual:
    """How far a decomposed layer's weight W was from its structure: ``residual`` =
    ‖(I − AA⁺)W‖_F / ‖W‖_F (0 for a structured W; the decomposed layer computes with AA⁺W)."""

    name: str
    c: int
    n: int
    residual: float


def _residual(W: torch.Tensor, c: int, n: int) -> float:
    norm = torch.linalg.vector_norm(W).item()
    if norm == 0.0:
        return 0.0
    return torch.linalg.vector_norm(W - project(W, c, n)).item() / norm


def decompose(model: nn.Module, plan: dict, warn_threshold: float = 1e-3) -> tuple[nn.Module, list[LayerResidual]]:
    """Replace every planned Conv2d / Linear of a deep copy of ``model`` by its structured form.

    Parameters
    ----------
    model : nn.Module
        Left untouched.
    plan : dict[str, tuple[int, int]]
        Module name → (c, n); validated with :func:`structhw.regularization.validate_plan`.
    warn_threshold : float
        A ``UserWarning`` names every layer whose residual exceeds it (its output will differ).

    Returns
    -------
    (new_model, report)
        The copy with :class:`StructuredConv2d` / :class:`StructuredLinear` modules under the same
        names, and one :class:`LayerResidual` per planned layer, in plan order.
    """
    plan = validate_plan(model, plan)
    new_model = copy.deepcopy(model)
    report = []
    for name, (c, n) in plan.items():
        old = new_model.get_submodule(name)
        with torch.no_grad():
            if isinstance(old, nn.Linear):
                residual = _residual(old.weight.reshape(old.out_features, old.in_features, 1, 1), c, 1)
                new = StructuredLinear.from_linear(old, c)
            else:
                residual = _residual(old.weight, c, n)
                new = StructuredConv2d.from_conv(old, c, n)
        new.train(old.training)
        parent_name, _, child = name.rpartition(".")
        setattr(new_model.get_submodule(parent_name) if parent_name else new_model, child, new)
        report.append(LayerResidual(name, c, n, residual))
        if residual > warn_threshold:
            warnings.warn(
                f"layer {name!r}: weight is not structured for (c, n) = ({c}, {n}): residual "
                f"‖(I−AA⁺)W‖/‖W‖ = {residual:.3g} > {warn_threshold:g}; the decomposed layer differs",
                stacklevel=2,
            )
    return new_model, report
