"""Recognising ``call_function`` / ``call_method`` nodes: the functional spellings of the ops.

Each handler takes the call's arguments by name (:meth:`Context.bind`), checks the constants it
needs and returns the same :class:`Step` the module form gives:

relu      ``F.relu``, ``F.relu_``, ``torch.relu(_)``, ``x.relu(_)()``, ``clamp(min=0)``
relu6     ``F.relu6``, ``F.hardtanh(x, 0, 6)``, ``clamp(0, 6)``
maxpool   ``F.max_pool2d``, ``torch.max_pool2d``;  avgpool ``F.avg_pool2d``
global_avgpool  ``F.adaptive_avg_pool2d(x, 1)``, ``x.mean((2, 3))``, ``torch.mean(x, [-2, -1])``
flatten   ``torch.flatten(x, 1)``, ``x.flatten(1)``, ``x.view(x.size(0), -1)``, ``x.reshape(B, -1)``
add       ``+``, ``+=``, ``torch.add``, ``x.add(_)(y)`` of two tensors
pad_shortcut  ``x[:, :, ::s, ::s]`` and ``F.pad(x, (0, 0, 0, 0, 0, extra))``
alias     ``F.dropout(x, training=False)``, ``x.contiguous()``
"""

from __future__ import annotations

import math
import operator

import torch
import torch.fx as fx
import torch.nn.functional as F

from .steps import META_KINDS, Context, Step

__all__ = ["function_step", "method_step", "unknown_call"]


def _relu(ctx, node, op, inplace=False):
    a = ctx.bind(node, op, (("input", None), ("inplace", False)))
    return Step(node, "relu", (ctx.tensor(node, a["input"], op, "input"),),
                inplace=inplace or a["inplace"] is True)


def _relu6(ctx, node, op, inplace=False):
    a = ctx.bind(node, op, (("input", None), ("inplace", False)))
    return Step(node, "relu6", (ctx.tensor(node, a["input"], op, "input"),),
                inplace=inplace or a["inplace"] is True)


def _hardtanh(ctx, node, op, inplace=False):
    a = ctx.bind(node, op, (("input", None), ("min_val", -1.0), ("max_val", 1.0),
                            ("inplace", False)))
    if (a["min_val"], a["max_val"]) != (0, 6):
        raise ctx.refuse(node, op, f"min_val={a['min_val']}, max_val={a['max_val']}: only "
                                   f"hardtanh(x, 0, 6) (= relu6) is supported")
    return Step(node, "relu6", (ctx.tensor(node, a["input"], op, "input"),),
                inplace=inplace or a["inplace"] is True)


def _clamp(ctx, node, op, inplace=False):
    a = ctx.bind(node, op, (("input", None), ("min", None), ("max", None)))
    kind = {(0, None): "relu", (0, 6): "relu6"}.get((a["min"], a["max"]))
    if kind is None or isinstance(a["min"], fx.Node) or isinstance(a["max"], fx.Node):
        raise ctx.refuse(node, op, f"min={a['min']!r}, max={a['max']!r}: only clamp(min=0) "
                                   f"(= relu) and clamp(0, 6) (= relu6) are supported")
    return Step(node, kind, (ctx.tensor(node, a["input"], op, "input"),), inplace=inplace)


def _pool_attrs(ctx, node, op, a) -> dict:
    kernel = ctx.square(node, op, a["kernel_size"], "kernel_size")
    stride = a["stride"] if a["stride"] not in (None, (), []) else kernel
    if a["ceil_mode"]:
        raise ctx.refuse(node, op, "ceil_mode=True is not supported")
    return {"kernel": kernel, "stride": ctx.square(node, op, stride, "stride"),
            "padding": ctx.square(node, op, a["padding"], "padding")}


def _max_pool(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("kernel_size", None), ("stride", None),
                            ("padding", 0), ("dilation", 1), ("ceil_mode", False),
                            ("return_indices", False)))
    attrs = _pool_attrs(ctx, node, op, a)
    if ctx.square(node, op, a["dilation"], "dilation") != 1 or a["return_indices"]:
        raise ctx.refuse(node, op, f"dilation={a['dilation']!r}, return_indices="
                                   f"{a['return_indices']}: only dilation 1 without indices")
    return Step(node, "maxpool", (ctx.tensor(node, a["input"], op, "input"),), attrs=attrs)


def _avg_pool(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("kernel_size", None), ("stride", None),
                            ("padding", 0), ("ceil_mode", False), ("count_include_pad", True),
                            ("divisor_override", None)))
    attrs = _pool_attrs(ctx, node, op, a)
    if a["divisor_override"] is not None:
        raise ctx.refuse(node, op, f"divisor_override={a['divisor_override']} is not supported")
    attrs["count_include_pad"] = bool(a["count_include_pad"])
    return Step(node, "avgpool", (ctx.tensor(node, a["input"], op, "input"),), attrs=attrs)


def _adaptive(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("output_size", None)))
    if a["output_size"] not in (1, (1, 1), [1, 1]):
        raise ctx.refuse(node, op, f"output_size={a['output_size']!r}: only 1 (global average "
                                   f"pooling) is supported")
    return Step(node, "global_avgpool", (ctx.tensor(node, a["input"], op, "input"),))


def _mean(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("dim", None), ("keepdim", False), ("dtype", None)))
    x = ctx.tensor(node, a["input"], op, "input")
    rank = len(ctx.shape(x))
    dims = a["dim"] if isinstance(a["dim"], (tuple, list)) else (a["dim"],)
    ints = all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
    if rank != 4 or not ints or sorted(d % rank for d in dims) != [2, 3] or a["dtype"] is not None:
        raise ctx.refuse(node, op, f"dim={a['dim']!r} on a rank-{rank} tensor: only the mean "
                                   f"over H and W of [B, C, H, W] (global average pooling) is "
                                   f"supported")
    return Step(node, "global_avgpool", (x,), flatten_after=not a["keepdim"])


def _flatten(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("start_dim", 0), ("end_dim", -1)))
    x = ctx.tensor(node, a["input"], op, "input")
    rank = len(ctx.shape(x))
    start, end = a["start_dim"], a["end_dim"]
    if not (isinstance(start, int) and isinstance(end, int)) or start % rank != 1 \
            or end % rank != rank - 1:
        raise ctx.refuse(node, op, f"start_dim={start!r}, end_dim={end!r}: only flattening to "
                                   f"[N, -1] (start_dim=1) is supported")
    return Step(node, "flatten", (x,))


def _view(ctx, node, op):
    """``view`` / ``reshape`` to ``(batch, F)``: the first size is ``x.size(0)`` (or -1), the
    second -1, an int or a size, and the result must be ``[B, C·H·W]``."""
    x = ctx.tensor(node, node.args[0] if node.args else node.kwargs.get("input"), op, "input")
    sizes = list(node.args[1:]) or [node.kwargs.get("shape", node.kwargs.get("size"))]
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = list(sizes[0])
    first_ok = len(sizes) == 2 and (ctx.kind(sizes[0]) == "batch" or sizes[0] == -1)
    second_ok = len(sizes) == 2 and (isinstance(sizes[1], int) or ctx.kind(sizes[1]) == "dim")
    in_shape, out_shape = ctx.shape(x), ctx.shape(node)
    flat = (ctx.batch, math.prod(in_shape[1:]))
    if not (first_ok and second_ok and sizes[0] != sizes[1]) or out_shape != flat:
        raise ctx.refuse(node, op, f"only a flatten to (x.size(0), -1) is supported; this one "
                                   f"makes {list(out_shape or [])} of {list(in_shape)}")
    return Step(node, "flatten", (x,))


def _add(ctx, node, op, inplace=False):
    a = ctx.bind(node, op, (("input", None), ("other", None), ("alpha", 1)))
    x = ctx.tensor(node, a["input"], op, "first operand")
    y = ctx.tensor(node, a["other"], op, "second operand")
    if a["alpha"] != 1:
        raise ctx.refuse(node, op, f"alpha={a['alpha']!r}: only a plain sum is supported")
    if ctx.shape(x) != ctx.shape(y):
        raise ctx.refuse(node, op, f"operands {list(ctx.shape(x))} and {list(ctx.shape(y))}: "
                                   f"broadcasting is not supported")
    return Step(node, "add", (x, y), inplace=inplace)


def _strided_slice(index) -> int | None:
    """``s`` if ``index`` is ``[:, :, ::s, ::s]`` (or ``[..., ::s, ::s]``), else None."""
    if not isinstance(index, tuple):
        return None
    items = list(index)
    if items and items[0] is Ellipsis:
        items = [slice(None)] * (4 - len(items[1:])) + items[1:]
    if len(items) != 4 or not all(isinstance(i, slice) for i in items):
        return None
    if any(i != slice(None) for i in items[:2]):
        return None
    steps = {i.step for i in items[2:]}
    if len(steps) != 1 or any(i.start not in (None, 0) or i.stop is not None for i in items[2:]):
        return None
    step = steps.pop() or 1
    return step if isinstance(step, int) and step >= 1 else None


def _getitem(ctx, node, op):
    value, index = node.args
    kind = ctx.kind(value)
    if kind == "shape" and isinstance(index, int):
        return Step(node, "batch" if index == 0 else "dim")
    stride = _strided_slice(index) if ctx.shape(value) and len(ctx.shape(value)) == 4 else None
    if kind in META_KINDS or kind is None or stride is None:
        raise ctx.refuse(node, op, f"indexing [{index!r}]: only the strided slice "
                                   f"x[:, :, ::s, ::s] of an option-A shortcut is supported",
                         what="operator.getitem")
    if stride == 1:
        return Step(node, "alias", (value,))
    return Step(node, "pad_shortcut", (value,), attrs={"stride": stride, "extra": 0})


def _pad(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("pad", None), ("mode", "constant"),
                            ("value", None)))
    x = ctx.tensor(node, a["input"], op, "input")
    pad = a["pad"]
    consts = isinstance(pad, (tuple, list)) and all(isinstance(p, int) for p in pad)
    shape_ok = consts and len(pad) in (6, 8) and not any(pad[:5]) and not any(pad[6:]) \
        and pad[5] >= 0 and len(ctx.shape(x)) == 4
    if not shape_ok or a["mode"] != "constant" or a["value"] not in (None, 0):
        raise ctx.refuse(node, op, f"pad={pad!r}, mode={a['mode']!r}, value={a['value']!r}: "
                                   f"only zero channels appended at the end, F.pad(x, (0, 0, 0, "
                                   f"0, 0, extra)), as in an option-A shortcut, is supported")
    if pad[5] == 0:
        return Step(node, "alias", (x,))
    return Step(node, "pad_shortcut", (x,), attrs={"stride": 1, "extra": int(pad[5])})


def _dropout(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("p", 0.5), ("training", True), ("inplace", False)))
    if a["training"] is not False:
        raise ctx.refuse(node, op, "dropout in training mode: pass training=self.training")
    return Step(node, "alias", (ctx.tensor(node, a["input"], op, "input"),))


def _getattr(ctx, node, op):
    value, attr = node.args
    if attr != "shape" or ctx.shape(value) is None:
        raise ctx.refuse(node, f"getattr {attr}", "of a tensor only .shape is supported",
                         what=f"Tensor.{attr}")
    return Step(node, "shape")


def _size(ctx, node, op):
    a = ctx.bind(node, op, (("input", None), ("dim", None)))
    if a["dim"] is None:
        return Step(node, "shape")
    return Step(node, "batch" if a["dim"] == 0 else "dim")


def _alias(ctx, node, op):
    ctx.bind(node, op, (("input", None), ("memory_format", None)))
    return Step(node, "alias", (ctx.tensor(node, node.args[0], op, "input"),))


def _inplace(handler):
    return lambda ctx, node, op: handler(ctx, node, op, inplace=True)


_FUNCTIONS = {
    F.relu: _relu, torch.relu: _relu, torch.relu_: _inplace(_relu),
    F.relu6: _relu6, F.hardtanh: _hardtanh, F.hardtanh_: _inplace(_hardtanh),
    torch.clamp: _clamp, torch.clip: _clamp, torch.clamp_: _inplace(_clamp),
    F.max_pool2d: _max_pool, torch.max_pool2d: _max_pool, F.avg_pool2d: _avg_pool,
    F.adaptive_avg_pool2d: _adaptive, torch.mean: _mean,
    torch.flatten: _flatten, torch.reshape: _view,
    operator.add: _add, operator.iadd: _add, torch.add: _add,
    operator.getitem: _getitem, F.pad: _pad, getattr: _getattr,
    F.dropout: _dropout, F.dropout1d: _dropout, F.dropout2d: _dropout,
}

_METHODS = {
    "relu": _relu, "relu_": _inplace(_relu), "clamp": _clamp, "clip": _clamp,
    "clamp_": _inplace(_clamp), "clip_": _inplace(_clamp), "mean": _mean,
    "flatten": _flatten, "view": _view, "reshape": _view, "add": _add, "add_": _inplace(_add),
    "size": _size, "contiguous": _alias,
}


def _name(node: fx.Node) -> str:
    return node.target if isinstance(node.target, str) else getattr(node.target, "__name__",
                                                                      str(node.target))


def unknown_call(ctx: Context, node: fx.Node):
    """The refusal of a ``call_function`` / ``call_method`` node calling something no handler
    knows, else None."""
    table = _METHODS if node.op == "call_method" else _FUNCTIONS
    try:
        known = node.target in table
    except TypeError:
        known = False
    return None if known else ctx.refuse(node, _name(node))


def function_step(ctx: Context, node: fx.Node) -> Step:
    """The step of a ``call_function`` node, or a refusal naming the function."""
    error = unknown_call(ctx, node)
    if error is not None:
        raise error
    return _FUNCTIONS[node.target](ctx, node, _name(node))


def method_step(ctx: Context, node: fx.Node) -> Step:
    """The step of a ``call_method`` node (``x.relu()``), or a refusal naming the method."""
    error = unknown_call(ctx, node)
    if error is not None:
        raise error
    if ctx.kind(node.args[0]) in META_KINDS + (None,):
        raise ctx.refuse(node, node.target, "only methods of tensors are supported")
    return _METHODS[node.target](ctx, node, node.target)
