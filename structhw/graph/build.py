"""From recognised steps to a :class:`FloatGraph`: data flow made explicit, BatchNorm folded.

In order:

1. every input is rewritten to the op that produces its value — through aliases (Identity,
   eval Dropout) and past in-place ops (after ``relu_(x)``, a later reader of ``x`` reads the
   ``relu_``);
2. ops the output does not depend on are dropped;
3. every BatchNorm is checked to follow a conv (``BatchNorm2d``) or linear (``BatchNorm1d``)
   whose output feeds nothing else — all of them before any is folded — then folded
   (:func:`~structhw.graph.fold.fold_batchnorm`);
4. chains of ``pad_shortcut`` (``x[:, :, ::s, ::s]`` then ``F.pad``) become one node;
5. nodes are named (module path first, else fx's name), shaped and emitted in order; a ``mean``
   without ``keepdim`` becomes a ``global_avgpool`` and a ``flatten``.
"""

from __future__ import annotations

import torch.fx as fx
from torch import nn

from .float_graph import FLOAT_OPS, INPUT, FloatGraph, FloatNode
from .fold import fold_batchnorm
from .source import module_path, refuse, source

__all__ = ["build_graph"]


def _dataflow(steps: dict) -> None:
    """Rewrite each step's inputs to producing op nodes (see the module docstring, 1)."""
    producer, latest = {}, {}

    def current(node):
        node = producer[node]
        while node in latest:
            node = latest[node]
        return node

    for node, step in steps.items():
        step.inputs = tuple(current(i) for i in step.inputs)
        if step.kind == "alias":
            producer[node] = step.inputs[0]
        else:
            producer[node] = node
            if step.inplace and step.inputs:
                latest[step.inputs[0]] = node


def _live(steps: dict, out: fx.Node) -> dict:
    """The steps ``out`` depends on, in graph order, each with its number of consumers (the
    model's output counts as one)."""
    counts, stack = {}, [out]
    while stack:
        node = stack.pop()
        counts[node] = counts.get(node, 0) + 1
        if counts[node] == 1:
            stack.extend(steps[node].inputs)
    return {node: counts[node] for node in steps if node in counts}


def _check_batchnorm(steps: dict, live: dict, root: str) -> None:
    for node in live:
        step = steps[node]
        if step.kind != "bn":
            continue
        want = "conv" if isinstance(step.module, nn.BatchNorm2d) else "linear"
        prev = steps[step.inputs[0]]
        what = f"nn.{type(step.module).__name__}"
        if prev.kind != want:
            after = "the graph input" if prev.kind == "input" \
                else f"a {prev.kind} ({module_path(prev.node, root)})"
            raise refuse("batchnorm", what, node, root,
                         f"it follows {after}; only a BatchNorm directly after a {want} can be "
                         f"folded")
        if live[prev.node] != 1:
            others = live[prev.node] - 1
            raise refuse("batchnorm", what, node, root,
                         f"the {want} before it ({module_path(prev.node, root)}) also feeds "
                         f"{others} other op(s), which would see it unfolded")


def _fold(steps: dict, live: dict) -> dict:
    """Fold every live BatchNorm; return the map BatchNorm node → the layer it went into."""
    into = {}
    for node in live:
        step = steps[node]
        if step.kind == "bn":
            prev = steps[step.inputs[0]]
            prev.module = fold_batchnorm(prev.module, step.module)
            into[node] = prev.node
    return into


def _merge_pads(steps: dict, live: dict, into: dict) -> None:
    """Fuse a pad_shortcut into the pad_shortcut that alone consumes it (strides multiply,
    extra channels add: subsampling and appending zero channels commute)."""
    for node in live:
        step = steps[node]
        if step.kind != "pad_shortcut":
            continue
        prev = steps[step.inputs[0]]
        if prev.kind == "pad_shortcut" and live[prev.node] == 1:
            step.attrs = {"stride": prev.attrs["stride"] * step.attrs["stride"],
                          "extra": prev.attrs["extra"] + step.attrs["extra"]}
            step.inputs = prev.inputs
            into[prev.node] = None


class _Names:
    """Unique node names: module paths first, then fx's names; ``"input"`` is reserved."""

    def __init__(self, nodes):
        self.taken, self.paths = {INPUT}, {}
        for node in nodes:
            if node.op == "call_module" and node.target not in self.taken:
                self.taken.add(node.target)
                self.paths[node] = node.target

    def __call__(self, node: fx.Node, suffix: str = "") -> str:
        if not suffix and node in self.paths:
            return self.paths.pop(node)
        base = node.name + suffix
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def _one_image(shape: tuple) -> tuple:
    return tuple(shape[1:]) if len(shape) == 4 else (int(shape[1]), 1, 1)


def build_graph(steps: dict, input_shape: tuple, root: str) -> FloatGraph:
    """The float graph of recognised ``steps`` (every node's ``meta["shape"]`` set).

    Raises
    ------
    ConfigError
        A BatchNorm that does not directly follow a conv / linear used by it alone.
    """
    _dataflow(steps)
    out_step = next(s for s in steps.values() if s.kind == "output")
    live = _live(steps, out_step.inputs[0])
    _check_batchnorm(steps, live, root)
    into = _fold(steps, live)
    _merge_pads(steps, live, into)
    kept = [n for n in live if steps[n].kind in FLOAT_OPS and into.get(n, n) is not None]
    names = _Names(kept)
    value = {n: INPUT for n in live if steps[n].kind == "input"}
    nodes = []
    for node in kept:
        step = steps[node]
        inputs = tuple(value[into.get(i, i)] for i in step.inputs)
        shape = _one_image(node.meta["shape"])
        where = source(node, root)
        name = names(node)
        if step.flatten_after:
            nodes.append(FloatNode(name, "global_avgpool", inputs, shape, None, {}, where))
            inputs, name = (name,), names(node, "_flatten")
            nodes.append(FloatNode(name, "flatten", inputs, shape, None, {}, where))
        else:
            nodes.append(FloatNode(name, step.kind, inputs, shape, step.module,
                                   dict(step.attrs), where))
        value[node] = name
    output = out_step.inputs[0]
    return FloatGraph(tuple(input_shape), nodes, value[into.get(output, output)])
