"""What the recogniser makes of one fx node (:class:`Step`) and the helpers its handlers share.

A step's ``kind`` is one of :data:`~structhw.graph.float_graph.FLOAT_OPS`, or:

``"bn"``      a BatchNorm, to be folded into the conv / linear before it
``"alias"``   a value passed through unchanged (Identity, eval Dropout, ``contiguous``)
``"batch"``   the batch size, an int (``x.size(0)``, ``x.shape[0]``)
``"dim"``     another dimension of a tensor, an int (``x.size(1)``)
``"shape"``   a tensor's whole shape (``x.shape``, ``x.size()``)
``"input"``   the graph input

Only tensors flow between op steps; the int kinds may only appear as the shape arguments of a
``view`` / ``reshape`` that flattens.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import torch.fx as fx
from torch import nn

from ..errors import ConfigError
from .source import describe, refuse

__all__ = ["Step", "Context", "META_KINDS"]

#: Step kinds that hold an int or a shape, not a tensor.
META_KINDS = ("batch", "dim", "shape")


@dataclass
class Step:
    """One recognised fx node.

    Attributes
    ----------
    node : fx.Node
    kind : str
        See the module docstring.
    inputs : tuple of fx.Node
        The tensor inputs (producers) of an op, BatchNorm or alias.
    module : nn.Module or None
        conv / linear: a copy of the layer; bn: the BatchNorm (read, never changed).
    attrs : dict
        The op's attributes as in :class:`~structhw.graph.float_graph.FloatNode`.
    inplace : bool
        The op writes its result into its first input (``relu_``, ``ReLU(inplace=True)``).
    flatten_after : bool
        A ``mean`` over H, W without ``keepdim``: a global average pool, then a flatten.
    """

    node: fx.Node
    kind: str
    inputs: tuple = ()
    module: nn.Module | None = None
    attrs: dict = field(default_factory=dict)
    inplace: bool = False
    flatten_after: bool = False


class Context:
    """The traced model as the handlers see it: its modules, shapes, the steps recognised so far.

    Parameters
    ----------
    modules : dict[str, nn.Module]
        Qualified name → module of the traced model.
    root : str
        How messages name the model's own forward (``"<ResNet>"``).
    batch : int
        Batch size of the shape propagation run.
    """

    def __init__(self, modules: dict, root: str, batch: int):
        self.modules = modules
        self.root = root
        self.batch = batch
        self.steps: dict[fx.Node, Step] = {}

    def refuse(self, node: fx.Node, op: str, why: str = "", what: str | None = None) -> ConfigError:
        """The one-line error for ``node`` (raise it); ``what`` defaults to the call's name."""
        if what is None:
            what = f"nn.{type(self.modules[node.target]).__name__}" \
                if node.op == "call_module" else describe(node.target)
        return refuse(op, what, node, self.root, why)

    def shape(self, node) -> tuple | None:
        """The batched shape of the tensor ``node`` computes, None if it is not a tensor."""
        if not isinstance(node, fx.Node):
            return None
        shape = node.meta.get("shape")
        return None if shape is None else tuple(int(v) for v in shape)

    def kind(self, value) -> str | None:
        """The step kind of an argument: the producing step's kind, None for a constant."""
        if isinstance(value, fx.Node):
            return self.steps[value].kind
        return None

    def tensor(self, node: fx.Node, value, op: str, what: str = "operand") -> fx.Node:
        """``value`` if it is a tensor computed by the graph, else refuse ``node``."""
        kind = self.kind(value)
        if kind is None or kind in META_KINDS or self.shape(value) is None:
            raise self.refuse(node, op, f"its {what} must be a tensor computed from the input, "
                                        f"got {_show(value)}")
        return value

    def bind(self, node: fx.Node, op: str, params: tuple) -> dict:
        """The call's arguments by name; ``params`` is ``((name, default), ...)``, the first
        being the input (``self`` of a method). Unknown or surplus arguments are refused."""
        names = [name for name, _ in params]
        if len(node.args) > len(names):
            raise self.refuse(node, op, f"takes at most {len(names)} positional arguments "
                                        f"({', '.join(names)}), got {len(node.args)}")
        bound = {name: default for name, default in params}
        bound.update(zip(names, node.args))
        for key, value in node.kwargs.items():
            if key not in bound:
                raise self.refuse(node, op, f"argument {key}={_show(value)} is not supported")
            bound[key] = value
        return bound

    def square(self, node: fx.Node, op: str, value, what: str) -> int:
        """One non-negative int for both spatial axes (an int or an equal pair), else refuse."""
        if isinstance(value, (tuple, list)) and len(value) in (1, 2):
            if len(set(value)) == 1:
                value = value[0]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise self.refuse(node, op, f"{what}={_show(value)}: only one integer for both axes "
                                        f"(square) is supported")
        return int(value)


def _show(value) -> str:
    if isinstance(value, fx.Node):
        return f"the value of {value.name!r}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value)
