"""Recognising ``call_module`` nodes: the leaf modules the frontend takes, by exact type.

A subclass of a supported module may compute something else, so types match exactly; any other
leaf (``nn.Conv1d``, ``nn.Sigmoid``, a bare ``SumPool3d``, …) is refused by name.
"""

from __future__ import annotations

import copy

import torch
import torch.fx as fx
from torch import nn

from ..decompose import StructuredConv2d, StructuredLinear, SumPool3d
from ..zoo import PadShortcut
from .steps import Context, Step

__all__ = ["module_step", "unknown_module"]

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.FeatureAlphaDropout)


def _conv_padding(ctx: Context, node: fx.Node, m: nn.Conv2d, kernel: int, dilation: int) -> int:
    if m.padding == "valid":
        return 0
    if m.padding == "same":
        total = dilation * (kernel - 1)
        if total % 2:
            raise ctx.refuse(node, "conv", f"padding='same' with dilation·(kernel−1) = {total} "
                                           f"pads unevenly; give an integer padding")
        return total // 2
    return ctx.square(node, "conv", m.padding, "padding")


def _conv(ctx: Context, node: fx.Node, m: nn.Conv2d) -> Step:
    """A plain copy of ``m`` with integer geometry (``padding='same'`` resolved)."""
    if m.padding_mode != "zeros":
        raise ctx.refuse(node, "conv", f"padding_mode={m.padding_mode!r}; only 'zeros' is "
                                       f"supported")
    kernel = ctx.square(node, "conv", m.kernel_size, "kernel_size")
    stride = ctx.square(node, "conv", m.stride, "stride")
    dilation = ctx.square(node, "conv", m.dilation, "dilation")
    padding = _conv_padding(ctx, node, m, kernel, dilation)
    conv = nn.Conv2d(m.in_channels, m.out_channels, kernel, stride=stride, padding=padding,
                     dilation=dilation, groups=m.groups, bias=m.bias is not None,
                     device=m.weight.device, dtype=m.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(m.weight)
        if m.bias is not None:
            conv.bias.copy_(m.bias)
    return Step(node, "conv", (node.args[0],), module=conv.eval())


def _linear(ctx: Context, node: fx.Node, m: nn.Module) -> Step:
    shape = ctx.shape(node.args[0])
    if shape is None or len(shape) != 2:
        raise ctx.refuse(node, "linear", f"its input is {list(shape or [])}, not flat [B, F]: "
                                         f"flatten it first (torch.flatten(x, 1))")
    return Step(node, "linear", (node.args[0],), module=copy.deepcopy(m).eval())


def _batchnorm(ctx: Context, node: fx.Node, m: nn.Module) -> Step:
    if m.running_mean is None:
        raise ctx.refuse(node, "batchnorm", "track_running_stats=False: no running statistics "
                                            "to fold")
    return Step(node, "bn", (node.args[0],), module=m)


def _pool(ctx: Context, node: fx.Node, m: nn.Module) -> Step:
    op = "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"
    kernel = ctx.square(node, op, m.kernel_size, "kernel_size")
    attrs = {"kernel": kernel, "stride": ctx.square(node, op, m.stride or kernel, "stride"),
             "padding": ctx.square(node, op, m.padding, "padding")}
    if m.ceil_mode:
        raise ctx.refuse(node, op, "ceil_mode=True is not supported")
    if op == "maxpool":
        if ctx.square(node, op, m.dilation, "dilation") != 1 or m.return_indices:
            raise ctx.refuse(node, op, f"dilation={m.dilation!r}, return_indices="
                                       f"{m.return_indices}: only dilation 1 without indices")
    else:
        if m.divisor_override is not None:
            raise ctx.refuse(node, op, f"divisor_override={m.divisor_override} is not supported")
        attrs["count_include_pad"] = bool(m.count_include_pad)
    return Step(node, op, (node.args[0],), attrs=attrs)


def _adaptive(ctx: Context, node: fx.Node, m: nn.AdaptiveAvgPool2d) -> Step:
    if m.output_size not in (1, (1, 1), [1, 1]):
        raise ctx.refuse(node, "global_avgpool", f"output_size={m.output_size!r}: only 1 "
                                                 f"(global average pooling) is supported")
    return Step(node, "global_avgpool", (node.args[0],))


def _flatten(ctx: Context, node: fx.Node, m: nn.Flatten) -> Step:
    rank = len(ctx.shape(node.args[0]) or ())
    if m.start_dim % max(rank, 1) != 1 or m.end_dim % max(rank, 1) != rank - 1:
        raise ctx.refuse(node, "flatten", f"start_dim={m.start_dim}, end_dim={m.end_dim}: only "
                                          f"flattening to [N, -1] is supported")
    return Step(node, "flatten", (node.args[0],))


def _hardtanh(ctx: Context, node: fx.Node, m: nn.Hardtanh) -> Step:
    if (m.min_val, m.max_val) != (0.0, 6.0):
        raise ctx.refuse(node, "hardtanh", f"min_val={m.min_val}, max_val={m.max_val}: only "
                                           f"Hardtanh(0, 6) (= ReLU6) is supported")
    return Step(node, "relu6", (node.args[0],), inplace=m.inplace)


def _simple(kind: str):
    def handler(ctx: Context, node: fx.Node, m: nn.Module) -> Step:
        return Step(node, kind, (node.args[0],), inplace=bool(getattr(m, "inplace", False)))
    return handler


def _pad_shortcut(ctx: Context, node: fx.Node, m: PadShortcut) -> Step:
    return Step(node, "pad_shortcut", (node.args[0],),
                attrs={"stride": int(m.stride), "extra": int(m.extra)})


def _structured_conv(ctx: Context, node: fx.Node, m: StructuredConv2d) -> Step:
    return Step(node, "conv", (node.args[0],), module=copy.deepcopy(m).eval())


def _sumpool(ctx: Context, node: fx.Node, m: SumPool3d) -> Step:
    raise ctx.refuse(node, "SumPool3d", "a SumPool3d is only supported inside a "
                                        "StructuredConv2d / StructuredLinear")


_HANDLERS = {
    nn.Conv2d: _conv,
    StructuredConv2d: _structured_conv,
    nn.Linear: _linear,
    StructuredLinear: _linear,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.ReLU: _simple("relu"),
    nn.ReLU6: _simple("relu6"),
    nn.Hardtanh: _hardtanh,
    nn.MaxPool2d: _pool,
    nn.AvgPool2d: _pool,
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.Flatten: _flatten,
    nn.Identity: _simple("alias"),
    PadShortcut: _pad_shortcut,
    SumPool3d: _sumpool,
    **{t: _simple("alias") for t in _DROPOUTS},
}


def unknown_module(ctx: Context, node: fx.Node):
    """The refusal of a ``call_module`` node whose module type is not supported, else None."""
    cls = type(ctx.modules[node.target])
    if cls in _HANDLERS:
        return None
    what = None if cls.__module__.startswith("torch.nn") else f"{cls.__module__}.{cls.__name__}"
    return ctx.refuse(node, cls.__name__, what=what)


def module_step(ctx: Context, node: fx.Node) -> Step:
    """The step of a ``call_module`` node, or a refusal naming the module's type."""
    error = unknown_module(ctx, node)
    if error is not None:
        raise error
    module = ctx.modules[node.target]
    if len(node.args) != 1 or node.kwargs:
        raise ctx.refuse(node, type(module).__name__, "a module call with more than one "
                                                      "argument is not supported")
    ctx.tensor(node, node.args[0], type(module).__name__, "input")
    return _HANDLERS[type(module)](ctx, node, module)
