"""Recognising every node of a traced model: one :class:`Step` per fx node, or the refusal of the
first node the frontend cannot take (in graph order, so the message names the earliest one).
"""

from __future__ import annotations

import torch.fx as fx

from .functional import function_step, method_step, unknown_call
from .modules import module_step, unknown_module
from .steps import Context, Step

__all__ = ["check_vocabulary", "recognise"]


def _second_input(ctx: Context, node: fx.Node):
    return ctx.refuse(node, "input", f"forward takes a second input {node.target!r}; only one "
                                     f"image tensor is supported", what=f"argument {node.target}")


def _placeholder(ctx: Context, node: fx.Node, first: bool) -> Step:
    if first:
        return Step(node, "input")
    if node.users:
        raise _second_input(ctx, node)
    return Step(node, "dim")


def _output(ctx: Context, node: fx.Node) -> Step:
    value = node.args[0]
    if not isinstance(value, fx.Node):
        raise ctx.refuse(node, "output", f"forward returns {type(value).__name__}; only one "
                                         f"tensor is supported", what="return")
    ctx.tensor(node, value, "output", "return value")
    return Step(node, "output", (value,))


def _get_attr(ctx: Context, node: fx.Node):
    return ctx.refuse(node, "get_attr", f"a parameter or buffer ({node.target}) used directly in "
                                        f"forward is not supported", what=f"self.{node.target}")


def check_vocabulary(gm: fx.GraphModule, root: str) -> None:
    """Refuse the first node of ``gm`` that calls a module type, function or method no
    spelling of a supported op uses — before the model is ever run."""
    ctx = Context(dict(gm.named_modules()), root, 0)
    first = True
    for node in gm.graph.nodes:
        error = None
        if node.op == "placeholder":
            error = None if first or not node.users else _second_input(ctx, node)
            first = False
        elif node.op == "call_module":
            error = unknown_module(ctx, node)
        elif node.op in ("call_function", "call_method"):
            error = unknown_call(ctx, node)
        elif node.op == "get_attr":
            error = _get_attr(ctx, node)
        if error is not None:
            raise error


def recognise(gm: fx.GraphModule, root: str, batch: int) -> dict[fx.Node, Step]:
    """Steps of every node of ``gm`` (each node's output shape in ``meta["shape"]``).

    Parameters
    ----------
    gm : fx.GraphModule
        The traced model, shapes propagated with a batch of ``batch`` images.
    root : str
        How messages name the model's own forward (``"<ResNet>"``).

    Raises
    ------
    ConfigError
        One line naming the op, its module path and source line, for the first node that is
        not a supported op (or a supported op with unsupported parameters).
    """
    ctx = Context(dict(gm.named_modules()), root, batch)
    first = True
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            step = _placeholder(ctx, node, first)
            first = False
        elif node.op == "output":
            step = _output(ctx, node)
        elif node.op == "call_module":
            step = module_step(ctx, node)
        elif node.op == "call_function":
            step = function_step(ctx, node)
        elif node.op == "call_method":
            step = method_step(ctx, node)
        else:
            raise _get_attr(ctx, node)
        ctx.steps[node] = step
    return ctx.steps
