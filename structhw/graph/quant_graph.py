"""The quantized network as a graph of integer ops: the contract between graph quantization, the
golden model, the compiler and the hardware (qnet.json version 2, ``docs/qnet-format.md``).

A :class:`QuantGraph` is an int8 input of shape (C, H, W) at ``input_scale`` plus ops
(:mod:`structhw.graph.ops`) in topological order, each naming its producers (``"input"`` for the
image); ``output`` names the op whose output is the logits. Version 1 files — a chain of
conv/linear layers — load as the chain graph of the same layers (:meth:`QuantGraph.from_qnet`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ConfigError
from ..jsonfile import read_json, write_text
from ..qnet import ACT_MAX, ACT_MIN, FORMAT_NAME, QuantNet, check_name
from .jsonfields import as_number, as_shape
from .ops import ConvOp, QuantOp, op_from_json

GRAPH_VERSION = 2
INPUT = "input"


@dataclass(eq=False)
class QuantGraph:
    """A quantized network graph.

    Attributes
    ----------
    input_shape : (C, H, W)
        One input image.
    input_scale : float
        Real value of one int8 step of the input.
    nodes : list of QuantOp
        Topologically ordered; names unique.
    output : str
        Name of the node producing the logits.
    metadata : dict
        Free-form information (name, calibration, accuracies), unused by the integer path.
    """

    input_shape: tuple
    input_scale: float
    nodes: list
    output: str
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.input_shape = tuple(int(v) for v in self.input_shape)
        self.validate()

    # ----- structure ---------------------------------------------------------------------
    def validate(self) -> None:
        """Names unique, producers earlier, shapes consistent, every output used, ``output``
        present; :class:`ConfigError` naming the first node that breaks a rule."""
        if not self.nodes:
            raise ConfigError("a quantized graph needs at least one node")
        if not isinstance(self.metadata, dict):
            raise ConfigError(f"metadata must be an object, got {type(self.metadata).__name__}")
        if not self.input_scale > 0:
            raise ConfigError(f"the input scale must be > 0, got {self.input_scale!r}")
        shapes = {INPUT: self.input_shape}
        for node in self.nodes:
            if not isinstance(node, QuantOp):
                raise ConfigError(f"graph node {node!r} is not an op")
            if not node.out_scale > 0:
                raise ConfigError(f"node {node.name!r}: out_scale must be > 0, got "
                                  f"{node.out_scale!r}")
            if node.name in shapes:
                raise ConfigError(f"node name {node.name!r} is used twice (or is {INPUT!r})")
            missing = [i for i in node.inputs if i not in shapes]
            if missing:
                raise ConfigError(f"node {node.name!r}: input {missing[0]!r} is not an earlier "
                                  f"node or {INPUT!r}")
            node.check_inputs([shapes[i] for i in node.inputs])
            shapes[node.name] = node.out_shape
        if self.output not in shapes or self.output == INPUT:
            raise ConfigError(f"graph output {self.output!r} is not a node")
        used = {i for node in self.nodes for i in node.inputs} | {self.output}
        unused = [n.name for n in self.nodes if n.name not in used]
        if unused:
            raise ConfigError(f"node {unused[0]!r}: its output is never used")

    def node(self, name: str) -> QuantOp:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def consumers(self, name: str) -> list:
        """The nodes that read ``name``'s output, in order."""
        return [n for n in self.nodes if name in n.inputs]

    def producers(self) -> list:
        """The names of every stream source: :data:`INPUT`, then every node, in graph order."""
        return [INPUT] + [n.name for n in self.nodes]

    def edges_from(self, name: str) -> list:
        """Every edge leaving ``name`` (a node or :data:`INPUT`) as ``(consumer, input index)``,
        in graph order; a consumer that reads ``name`` twice has two edges."""
        return [(n.name, i) for n in self.nodes for i, src in enumerate(n.inputs) if src == name]

    def shape_of(self, name: str) -> tuple:
        return self.input_shape if name == INPUT else self.node(name).out_shape

    def scale_of(self, name: str) -> float:
        return self.input_scale if name == INPUT else self.node(name).out_scale

    @property
    def num_classes(self) -> int:
        C, H, W = self.node(self.output).out_shape
        return C * H * W

    # ----- golden model ------------------------------------------------------------------
    def run(self, x: torch.Tensor) -> dict:
        """Every node's int8 output for int8 input x [B, C, H, W] (int64 tensors), by name."""
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise TypeError(f"graph input must be an integer tensor, got {x.dtype}")
        if x.numel() and (int(x.min()) < ACT_MIN or int(x.max()) > ACT_MAX):
            raise ValueError("graph input must hold int8 values")
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"graph input has shape {tuple(x.shape[1:])}, expected "
                             f"{self.input_shape}")
        values = {INPUT: x.to(torch.int64)}
        for node in self.nodes:
            values[node.name] = node.golden(*(values[i] for i in node.inputs))
        return values

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The golden int8 logits [B, classes] of int8 input x [B, C, H, W]."""
        return self.run(x)[self.output].reshape(x.shape[0], -1)

    # ----- chains (version 1) ------------------------------------------------------------
    @classmethod
    def from_qnet(cls, qnet: QuantNet) -> "QuantGraph":
        """The chain graph of a version-1 network: one conv/linear op per layer, in order."""
        nodes, prev, shape = [], INPUT, qnet.input_shape
        for layer in qnet.layers:
            op = ConvOp(name=layer.name, inputs=(prev,), in_shapes=(shape,), layer=layer)
            nodes.append(op)
            prev, shape = layer.name, op.out_shape
        return cls(qnet.input_shape, qnet.input_scale, nodes, prev, dict(qnet.metadata))

    def is_chain(self) -> bool:
        """True when the graph is a chain of conv/linear ops (what version 1 can hold)."""
        prev = INPUT
        for node in self.nodes:
            if not isinstance(node, ConvOp) or node.inputs != (prev,):
                return False
            prev = node.name
        return prev == self.output

    def to_qnet(self) -> QuantNet:
        """The version-1 network of a chain graph; :class:`ConfigError` naming the first node
        that is not a conv/linear op in a chain otherwise."""
        prev = INPUT
        for node in self.nodes:
            if not isinstance(node, ConvOp):
                raise ConfigError(f"node {node.name!r} is a {node.kind} op: only chains of "
                                  f"conv/linear layers fit the version-1 layer list")
            if node.inputs != (prev,):
                raise ConfigError(f"node {node.name!r} reads {list(node.inputs)}, not the node "
                                  f"before it ({prev!r}): the graph is not a chain")
            prev = node.name
        return QuantNet(*self.input_shape, self.input_scale, [n.layer for n in self.nodes],
                        metadata=dict(self.metadata))

    # ----- serialisation -----------------------------------------------------------------
    def to_json(self) -> dict:
        C, H, W = self.input_shape
        return {"format": FORMAT_NAME, "version": GRAPH_VERSION,
                "input": {"channels": C, "height": H, "width": W,
                          "scale": float(self.input_scale)},
                "nodes": [node.to_json() for node in self.nodes],
                "output": self.output, "metadata": self.metadata}

    @classmethod
    def from_json(cls, obj) -> "QuantGraph":
        """A qnet.json object of version 2, or of version 1 (as its chain graph)."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
            raise ConfigError(f"not a {FORMAT_NAME} file (missing or wrong 'format' field)")
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ConfigError(f"unsupported {FORMAT_NAME} version {version!r}; this structhw "
                              f"reads versions 1 and {GRAPH_VERSION} (integers)")
        if version == 1:
            return cls.from_qnet(QuantNet.from_json(obj))
        if version != GRAPH_VERSION:
            raise ConfigError(f"unsupported {FORMAT_NAME} version {version!r}; this structhw "
                              f"reads versions 1 and {GRAPH_VERSION}")
        inp, nodes = obj.get("input"), obj.get("nodes")
        if not isinstance(inp, dict) or not isinstance(nodes, list):
            raise ConfigError("a version-2 qnet file needs an 'input' object and a 'nodes' list")
        shape = as_shape([inp.get(k) for k in ("channels", "height", "width")], "input")
        scale = as_number(inp.get("scale"), "input scale")
        output = obj.get("output")
        if not isinstance(output, str):
            raise ConfigError(f"'output' must be a node name, got {output!r}")
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ConfigError(f"'metadata' must be an object, got {type(metadata).__name__}")
        if "name" in metadata:
            check_name(metadata["name"], "metadata name")
        return cls(shape, scale, [op_from_json(n) for n in nodes], output, metadata)


def save_graph(graph: QuantGraph, path) -> Path:
    """Write ``graph`` as qnet.json version 2 to ``path`` atomically."""
    path = Path(path)
    write_text(path, json.dumps(graph.to_json(), separators=(",", ":")))
    return path


def load_graph(path) -> QuantGraph:
    """Read a ``*.qnet.json`` of version 1 or 2; anything malformed is a :class:`ConfigError`
    naming the file."""
    obj = read_json(path)
    try:
        return QuantGraph.from_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
