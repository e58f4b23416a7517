"""The float model as the quantizer sees it: a list of weight layers with their fused ReLU.

:func:`float_layers` walks an ``nn.Sequential`` of ``Conv2d`` / ``StructuredConv2d`` / ``Linear`` /
``StructuredLinear`` layers, ``ReLU`` (fused into the layer before it) and ``Flatten`` (before a
linear layer), and returns one :class:`FloatLayer` per weight layer. Anything else is a
:class:`~structhw.errors.ConfigError` naming the module and its type.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..decompose import StructuredConv2d, StructuredLinear
from ..errors import ConfigError

SUPPORTED = ("Conv2d, StructuredConv2d, Linear, StructuredLinear, ReLU (after one of those), "
             "Flatten (before a linear layer)")


@dataclass
class FloatLayer:
    """One weight layer of the float model in the geometry of a :class:`~structhw.qnet.QuantLayer`.

    ``in_channels`` is C (Q for a linear layer), ``kernel`` is N (1 for linear), ``c, n`` the
    structure parameters (``c = C/groups``, ``n = N`` for a dense layer). ``module`` computes the
    layer in float; ``relu`` says a ReLU follows it.
    """

    name: str
    kind: str
    module: nn.Module
    in_channels: int
    out_channels: int
    kernel: int
    c: int
    n: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    relu: bool = False

    def alpha(self) -> torch.Tensor:
        """The float weights the integer path multiplies with: [Cout, c, n, n] (α, or W if dense)."""
        if isinstance(self.module, StructuredConv2d):
            w = self.module.conv.weight
        elif isinstance(self.module, StructuredLinear):
            w = self.module.linear.weight
        else:
            w = self.module.weight
        return w.detach().to(torch.float64).reshape(self.out_channels, self.c, self.n, self.n)

    def bias(self) -> torch.Tensor:
        """Float bias [Cout] (zeros when the layer has none)."""
        inner = {StructuredConv2d: "conv", StructuredLinear: "linear"}.get(type(self.module))
        b = getattr(self.module, inner).bias if inner else self.module.bias
        if b is None:
            return torch.zeros(self.out_channels, dtype=torch.float64)
        return b.detach().to(torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float output [B, Cout, H', W'] (a linear layer: [B, P, 1, 1]) of input [B, C, H, W]
        (a linear layer flattens its input in (C, H, W) order first); ReLU applied if fused."""
        if self.kind == "linear":
            y = self.module(x.flatten(1)).reshape(x.shape[0], -1, 1, 1)
        else:
            y = self.module(x)
        return torch.relu(y) if self.relu else y


def _square(value, what: str, name: str, kind: str) -> int:
    if isinstance(value, str):
        raise ConfigError(f"layer {name!r} ({kind}): {what}={value!r} is not supported; give it as an integer")
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ConfigError(f"layer {name!r} ({kind}): {what}={tuple(value)} must be the same along "
                              "height and width")
        value = value[0]
    return int(value)


def _dense_conv(name: str, m: nn.Conv2d) -> FloatLayer:
    kind = type(m).__name__
    if m.padding_mode != "zeros":
        raise ConfigError(f"layer {name!r} ({kind}): padding_mode={m.padding_mode!r}; only zero "
                          "padding is supported")
    N = _square(m.kernel_size, "kernel_size", name, kind)
    return FloatLayer(name, "conv", m, m.in_channels, m.out_channels, N, m.in_channels // m.groups, N,
                      stride=_square(m.stride, "stride", name, kind),
                      padding=_square(m.padding, "padding", name, kind),
                      dilation=_square(m.dilation, "dilation", name, kind), groups=m.groups)


def _structured_conv(name: str, m: StructuredConv2d) -> FloatLayer:
    return FloatLayer(name, "conv", m, int(m.in_channels), int(m.out_channels), int(m.kernel_size),
                      int(m.c), int(m.n), stride=int(m.stride), padding=int(m.padding),
                      dilation=int(m.dilation), groups=int(m.groups))


def _linear(name: str, m: nn.Module) -> FloatLayer:
    if isinstance(m, StructuredLinear):
        return FloatLayer(name, "linear", m, int(m.in_features), int(m.out_features), 1, int(m.c), 1)
    return FloatLayer(name, "linear", m, m.in_features, m.out_features, 1, m.in_features, 1)


def float_layer(name: str, module: nn.Module, relu: bool = False) -> FloatLayer:
    """The :class:`FloatLayer` of one Conv2d / StructuredConv2d / Linear / StructuredLinear."""
    if isinstance(module, nn.Conv2d):
        layer = _dense_conv(name, module)
    elif isinstance(module, StructuredConv2d):
        layer = _structured_conv(name, module)
    elif isinstance(module, (nn.Linear, StructuredLinear)):
        layer = _linear(name, module)
    else:
        raise ConfigError(f"layer {name!r}: {type(module).__name__} is not a weight layer")
    layer.relu = relu
    return layer


def float_layers(model: nn.Module) -> list[FloatLayer]:
    """The weight layers of ``model`` in order, ReLUs fused, Flattens checked.

    Parameters
    ----------
    model : nn.Sequential
        Children: Conv2d | StructuredConv2d | Linear | StructuredLinear, ReLU directly after one
        of them, Flatten directly before a linear layer (or before a chain of linear layers), or
        last, after the final convolution (the quantizer then checks that it outputs one pixel).

    Raises
    ------
    ConfigError
        For any other module (naming it and its type) or an order the integer model cannot express.
    """
    if not isinstance(model, nn.Sequential):
        raise ConfigError(f"the quantizer expects an nn.Sequential of layers, got {type(model).__name__}")
    layers: list[FloatLayer] = []
    flat = False          # the activation is [B, features] (after Flatten or a linear layer)
    fusable = False       # the previous module was a weight layer without ReLU yet
    for name, m in model.named_children():
        kind = type(m).__name__
        if isinstance(m, (nn.Conv2d, StructuredConv2d)):
            if flat:
                raise ConfigError(f"layer {name!r} ({kind}): a convolution cannot follow Flatten or a "
                                  "linear layer")
            layers.append(_dense_conv(name, m) if isinstance(m, nn.Conv2d) else _structured_conv(name, m))
            fusable = True
        elif isinstance(m, (nn.Linear, StructuredLinear)):
            if not flat:
                raise ConfigError(f"layer {name!r} ({kind}): a linear layer needs a Flatten before it")
            layers.append(_linear(name, m))
            fusable = True
        elif isinstance(m, nn.ReLU):
            if not fusable:
                raise ConfigError(f"layer {name!r} (ReLU): a ReLU must directly follow a convolution "
                                  "or linear layer to be fused into its requantisation")
            layers[-1].relu = True
            fusable = False
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ConfigError(f"layer {name!r} (Flatten): only Flatten(start_dim=1, end_dim=-1) "
                                  f"is supported, got ({m.start_dim}, {m.end_dim})")
            if flat:
                raise ConfigError(f"layer {name!r} (Flatten): the activation is already flat")
            flat, fusable = True, False
        else:
            raise ConfigError(f"layer {name!r}: cannot quantize a {kind}; supported: {SUPPORTED}")
        if isinstance(m, (nn.Linear, StructuredLinear)):
            flat = True
    if not layers:
        raise ConfigError("the model has no convolution or linear layer to quantize")
    return layers


def ends_with_flattened_conv(model: nn.Sequential) -> bool:
    """True when ``model``'s last child is a Flatten directly after its last convolution (and
    its ReLU): the logits' reshape, valid only when that convolution outputs one pixel."""
    children = [m for m in model.children() if not isinstance(m, nn.ReLU)]
    return (len(children) >= 2 and isinstance(children[-1], nn.Flatten)
            and isinstance(children[-2], (nn.Conv2d, StructuredConv2d)))
