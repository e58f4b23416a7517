"""The typed float graph a traced model becomes: one :class:`FloatNode` per op, BatchNorm folded.

Every node computes one op of :data:`FLOAT_OPS` on the outputs of its producers (the graph input
is named ``"input"``). Tensors are batched: ``[B, C, H, W]``, except after ``flatten`` and
``linear`` (and the elementwise ops that follow them), which hold ``[B, F]``. A node's
``out_shape`` is for one image, ``(C, H, W)``, and ``(F, 1, 1)`` for a flat ``[B, F]`` output.

Float semantics of each op (what :meth:`FloatGraph.forward` computes):

``conv``            ``module(x)``: an ``nn.Conv2d`` or a ``StructuredConv2d`` (BatchNorm folded in)
``linear``          ``module(x)`` on ``[B, F]``: an ``nn.Linear`` or a ``StructuredLinear``
``relu``            ``max(x, 0)``
``relu6``           ``min(max(x, 0), 6)``
``maxpool``         ``F.max_pool2d(x, kernel, stride, padding)``
``avgpool``         ``F.avg_pool2d(x, kernel, stride, padding, count_include_pad=...)``
``global_avgpool``  mean over H and W, keeping them: ``[B, C, 1, 1]``
``flatten``         ``x.flatten(1)``: ``[B, C·H·W]`` in (C, H, W) order
``add``             ``a + b`` of two equal shapes (no broadcasting)
``pad_shortcut``    ``F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, 0, extra))``: option A
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = ["FLOAT_OPS", "INPUT", "FloatNode", "FloatGraph"]

#: The ops a :class:`FloatNode` can hold.
FLOAT_OPS = ("conv", "linear", "relu", "relu6", "maxpool", "avgpool", "global_avgpool",
             "flatten", "add", "pad_shortcut")

#: Name of the graph input in ``FloatNode.inputs``.
INPUT = "input"


@dataclass
class FloatNode:
    """One op of a :class:`FloatGraph`.

    Attributes
    ----------
    name : str
        Unique; the module path where there is one (``"layer1.0.conv1"``), else fx's node name.
    op : str
        One of :data:`FLOAT_OPS`.
    inputs : tuple of str
        Names of the producer nodes (``"input"`` for the graph input); two for ``add``.
    out_shape : tuple of int
        ``(C, H, W)`` of the output for one image; ``(F, 1, 1)`` for a flat output.
    module : nn.Module or None
        ``conv``: ``nn.Conv2d`` / ``StructuredConv2d``; ``linear``: ``nn.Linear`` /
        ``StructuredLinear`` — a copy with any following BatchNorm folded in. None otherwise.
    attrs : dict
        ``maxpool`` / ``avgpool``: ``kernel``, ``stride``, ``padding`` (ints), ``avgpool`` also
        ``count_include_pad`` (bool); ``pad_shortcut``: ``stride``, ``extra``; else empty.
    source : str
        ``"module path (file:line)"`` where fx recorded the op, for messages.
    """

    name: str
    op: str
    inputs: tuple
    out_shape: tuple
    module: nn.Module | None = None
    attrs: dict = field(default_factory=dict)
    source: str = ""


def _pool_args(node: FloatNode) -> tuple:
    a = node.attrs
    return a["kernel"], a["stride"], a["padding"]


def _pad_shortcut(node: FloatNode, x: Tensor) -> Tensor:
    s, extra = node.attrs["stride"], node.attrs["extra"]
    return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, 0, extra))


_SEMANTICS = {
    "conv": lambda node, x: node.module(x),
    "linear": lambda node, x: node.module(x),
    "relu": lambda node, x: torch.relu(x),
    "relu6": lambda node, x: F.relu6(x),
    "maxpool": lambda node, x: F.max_pool2d(x, *_pool_args(node)),
    "avgpool": lambda node, x: F.avg_pool2d(
        x, *_pool_args(node), count_include_pad=node.attrs["count_include_pad"]),
    "global_avgpool": lambda node, x: x.mean((2, 3), keepdim=True),
    "flatten": lambda node, x: x.flatten(1),
    "add": lambda node, a, b: a + b,
    "pad_shortcut": _pad_shortcut,
}


@dataclass
class FloatGraph:
    """A float model as a topologically ordered list of typed ops.

    Attributes
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` of one input image.
    nodes : list of FloatNode
        Every producer comes before its consumers.
    output : str
        Name of the node whose output is the model's output.
    """

    input_shape: tuple
    nodes: list
    output: str

    def node(self, name: str) -> FloatNode:
        """The node called ``name`` (ConfigError if there is none)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"the float graph has no node {name!r}")

    def consumers(self, name: str) -> list[FloatNode]:
        """The nodes that take the output of ``name`` (or of ``"input"``) as an input, in order."""
        return [node for node in self.nodes if name in node.inputs]

    def forward(self, x: Tensor, return_all: bool = False):
        """Evaluate the graph in float.

        Parameters
        ----------
        x : Tensor
            ``[B, C, H, W]`` with ``(C, H, W) == input_shape``.
        return_all : bool
            Return every node's output instead of the graph output.

        Returns
        -------
        Tensor or dict[str, Tensor]
            The output of node ``output`` (``[B, F]`` after ``flatten`` / ``linear``), or with
            ``return_all`` a dict node name → output (``[B, C, H, W]`` or ``[B, F]``).
        """
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ConfigError(f"the float graph takes [B, {', '.join(map(str, self.input_shape))}] "
                              f"inputs, got {list(x.shape)}")
        values = {INPUT: x}
        for node in self.nodes:
            values[node.name] = _SEMANTICS[node.op](node, *(values[i] for i in node.inputs))
        if return_all:
            del values[INPUT]
            return values
        return values[self.output]

    __call__ = forward

    def to(self, dtype: torch.dtype) -> "FloatGraph":
        """A copy of the graph whose modules compute in ``dtype`` (e.g. ``torch.float64``)."""
        nodes = [FloatNode(n.name, n.op, n.inputs, n.out_shape,
                           None if n.module is None else copy.deepcopy(n.module).to(dtype),
                           dict(n.attrs), n.source) for n in self.nodes]
        return FloatGraph(tuple(self.input_shape), nodes, self.output)

    def op_counts(self) -> dict[str, int]:
        """Number of nodes of each op present, in :data:`FLOAT_OPS` order."""
        counts = {op: sum(n.op == op for n in self.nodes) for op in FLOAT_OPS}
        return {op: k for op, k in counts.items() if k}
