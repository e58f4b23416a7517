"""The compiler for graph networks: a :class:`QuantGraph` and a budget → a :class:`GraphPlan`
(``plan.json`` version 2, ``docs/plan-format.md``).

Every node gets its hardware (:mod:`structhw.rtl_gen.nodes`), sized by the same greedy balancer
as the chain compiler (:mod:`structhw.balance`) under the budget minus the parameter-free
hardware: a FIFO on every edge between nodes (depths by :mod:`structhw.graph.fifo_depth`), a
fork where a node (or the input) has several consumers, a Flatten in front of a linear layer fed
a map (unless its memory-window engine flattens the map in its own pixel memory: then the node's
cost has that memory, and its register candidates the Flatten). In steady state the accelerator
delivers one image per ``max(node cycles)`` cycles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from structhw.rtl_gen.memory_style import ram_style
from structhw.rtl_gen.nodes import EngineModel, flatten_cost, node_hardware

from ..balance import Balancer
from ..budget import Budget
from ..compiler import fifo_cost
from ..plan import save_plan_json
from ..errors import ConfigError, ResourceError
from ..resources import Resources, block_ram
from .fifo_depth import edge_depths, throughput_depths
from .quant_graph import QuantGraph

PLAN_VERSION = 2


@dataclass(frozen=True)
class NodePlan:
    """One node's hardware: ``params`` (EngineParams or LaneParams), steady-state
    ``cycles`` per image, ``latency`` (cycles to the first output, no stalls), estimated
    ``cost``, and whether a Flatten sits in front (``flatten_before``)."""

    name: str
    kind: str
    params: object
    cycles: int
    latency: int
    cost: Resources
    flatten_before: bool

    def to_json(self) -> dict:
        params = self.params
        body = ({"lanes": params.lanes, "mults": params.mults, "sumpool": params.sumpool}
                if hasattr(params, "mults") else params.to_json())
        if getattr(params, "window", "registers") != "registers":
            body["window"] = params.window
        return {"name": self.name, "op": self.kind, "params": body,
                "cycles_per_image": self.cycles, "latency_cycles": self.latency,
                "cost": self.cost.to_json(), "flatten_before": self.flatten_before}

    def summary(self) -> dict:
        """This node as one row of a plan summary: name, op, lanes, multipliers per lane and
        sum-pool arch (None for ops without), cycles per image, estimated DSPs."""
        return {"layer": self.name, "op": self.kind, "lanes": self.params.lanes,
                "mults": getattr(self.params, "mults", None),
                "sumpool": getattr(self.params, "sumpool", None), "cycles": int(self.cycles),
                "dsp": self.cost.dsp}


@dataclass(frozen=True)
class EdgePlan:
    """The FIFO from node ``src`` into input ``input`` of node ``dst``: ``depth`` beats of
    ``width`` bits (one pixel), estimated ``cost``."""

    src: str
    dst: str
    input: int
    depth: int
    width: int
    cost: Resources

    def to_json(self) -> dict:
        return {"from": self.src, "to": self.dst, "input": self.input, "fifo_depth": self.depth,
                "width_bits": self.width, "cost": self.cost.to_json()}


def edge_fifo_cost(width: int, depth: int, budget: Budget) -> Resources:
    """A FIFO of ``depth`` beats: distributed RAM (as the chain compiler's FIFOs) or whole
    block RAMs of the best shape (:func:`~structhw.resources.ebr_blocks`), as
    :func:`~structhw.rtl_gen.memory_style.ram_style` decides (a FIFO no deeper than the chain
    rule's depth is always distributed), plus registers, output multiplexer and pointers."""
    if ram_style(depth, width) == "distributed":
        return fifo_cost(width, depth)
    pointers = 3 * max(depth.bit_length(), 1)
    # measured (bench_graph_ops_synth): the read data and the output register hold a beat each,
    # and the output multiplexer takes a LUT per bit
    return Resources(lut4=width + 2 * pointers + 30, ff=2 * width + pointers + 10,
                     bram_bits=block_ram(depth, width, budget))


def fork_cost(consumers: int) -> Resources:
    """A fork to ``consumers`` streams: a taken flag and a little logic per output."""
    return Resources(lut4=2 * consumers + 2, ff=consumers)


@dataclass(eq=False)
class GraphPlan:
    """Everything the graph hardware, simulator and board flow need, decided once: the graph
    embedded whole, the budget, one :class:`NodePlan` per node (graph order), one
    :class:`EdgePlan` per edge between nodes, the parameter-free hardware as ``overhead``."""

    graph: QuantGraph
    budget: Budget
    nodes: list
    edges: list
    overhead: Resources
    dense: bool = False
    target: str | None = None
    graph_sha256: str = field(default="")
    memory_windows: bool = True

    def __post_init__(self):
        if not self.graph_sha256:
            self.graph_sha256 = graph_digest(self.graph)

    @property
    def input_shape(self) -> tuple:
        """(C, H, W) of one input image."""
        return self.graph.input_shape

    @property
    def num_classes(self) -> int:
        """Logits per image (one output beat)."""
        return self.graph.num_classes

    def golden_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The golden int8 logits [B, classes] the accelerator must give for int8 x [B, C, H, W]."""
        return self.graph.logits(x)

    @property
    def units(self) -> list:
        """The plan's hardware units in graph order (its nodes), each with ``params`` and
        ``summary()``."""
        return self.nodes

    def with_units(self, units: list) -> "GraphPlan":
        """This plan with its nodes replaced by ``units`` (same names, same order)."""
        return dataclasses.replace(self, nodes=list(units))

    @property
    def bottleneck(self) -> NodePlan:
        return max(self.nodes, key=lambda n: n.cycles)

    @property
    def cycles_per_image(self) -> int:
        return self.bottleneck.cycles

    @property
    def latency_cycles(self) -> int:
        """Upper bound on first pixel in to logits out, pipeline empty: the longest path of
        full per-image node times, plus two cycles per FIFO and one per Flatten."""
        fifo = {(e.src, e.dst) for e in self.edges}
        by_name = {n.name: n for n in self.nodes}
        longest = {}
        for op in self.graph.nodes:
            node = by_name[op.name]
            before = max((longest[i] + (2 if (i, op.name) in fifo else 0)
                          for i in op.inputs if i in longest), default=0)
            longest[op.name] = before + node.cycles + (1 if node.flatten_before else 0)
        return longest[self.graph.output]

    @property
    def totals(self) -> Resources:
        total = self.overhead
        for node in self.nodes:
            total = total + node.cost
        return total

    def to_json(self) -> dict:
        return {
            "format": "structhw.plan", "version": PLAN_VERSION, "target": self.target,
            "dense": self.dense, "memory_windows": self.memory_windows,
            "budget": self.budget.to_json(),
            "prediction": {"cycles_per_image": self.cycles_per_image,
                           "throughput_images_per_cycle": 1.0 / self.cycles_per_image,
                           "latency_cycles": self.latency_cycles,
                           "bottleneck": self.bottleneck.name},
            "totals": self.totals.to_json(), "overhead": self.overhead.to_json(),
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "qnet_sha256": self.graph_sha256, "qnet": self.graph.to_json(),
        }

    def save(self, path, extra: dict | None = None) -> Path:
        """Write the plan as JSON to ``path`` atomically, with the top-level fields of ``extra``
        (e.g. ``verilog_sha256``) before ``qnet_sha256``."""
        return save_plan_json(self.to_json(), path, rows=("nodes", "edges"), extra=extra)


def graph_digest(graph: QuantGraph) -> str:
    """SHA-256 (hex) of the graph's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(graph.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_graph(graph: QuantGraph, budget: Budget, dense: bool) -> None:
    _, H, W = graph.node(graph.output).out_shape
    if H * W != 1:
        raise ConfigError(f"node {graph.output!r}: the output must be one pixel of logits, but "
                          f"it is {graph.node(graph.output).out_shape}")
    for op in graph.nodes:
        layer = getattr(op, "layer", None)
        if layer is None:
            continue
        if dense and not layer.is_dense:
            raise ConfigError(f"layer {layer.name!r}: the dense baseline needs dense layers, but "
                              f"this one is structured; quantize the model with dense=True")
        operand = 8 if layer.is_dense else layer.widths().sumpool
        if operand > budget.dsp_width:
            raise ConfigError(f"layer {layer.name!r}: multiplier operand of {operand} bits "
                              f"(sum-pool window {layer.window}) exceeds the target's "
                              f"{budget.dsp_width}-bit signed multipliers")


def _edges(graph: QuantGraph, hardware: dict, budget: Budget, depths: dict) -> tuple:
    """Every edge's FIFO at ``depths``, and the parameter-free hardware (FIFOs, forks,
    Flattens) in total."""
    edges, overhead = [], Resources()
    for (src, dst, i), depth in depths.items():
        width = 8 * graph.shape_of(src)[0]
        cost = edge_fifo_cost(width, depth, budget)
        edges.append(EdgePlan(src, dst, i, depth, width, cost))
        overhead = overhead + cost
    for name in graph.producers():
        consumers = len(graph.edges_from(name))
        if consumers > 1:
            overhead = overhead + fork_cost(consumers)
    for op in graph.nodes:
        if hardware[op.name].flatten_overhead:
            overhead = overhead + flatten_cost(*op.in_shape)
    return edges, overhead


MAX_DEPTH_ROUNDS = 6


def _balance_with_depths(graph, hardware: dict, budget: Budget) -> tuple:
    """Balance the nodes, then deepen the FIFOs to keep the chosen rate
    (:func:`~structhw.graph.fifo_depth.throughput_depths`) and balance again under the
    larger overhead, until the depths stop growing. If the deeper FIFOs do not fit, the last
    depths that did are kept (deadlock-free, but the rate may fall short of the plan)."""
    stages = [hardware[op.name] for op in graph.nodes]
    minimum = edge_depths(graph, hardware)
    depths = minimum
    edges, overhead = _edges(graph, hardware, budget, depths)
    chosen = Balancer(stages, budget, overhead).balance()
    for _ in range(MAX_DEPTH_ROUNDS):
        latency = {op.name: hardware[op.name].latency(c.params)
                   for op, c in zip(graph.nodes, chosen)}
        cycles = max(c.cycles for c in chosen)
        deeper = throughput_depths(graph, hardware, minimum, latency, cycles)
        deeper = {k: max(d, depths[k]) for k, d in deeper.items()}
        if deeper == depths:
            break
        more_edges, more = _edges(graph, hardware, budget, deeper)
        try:
            again = Balancer(stages, budget, more).balance()
        except ResourceError:
            break
        depths, edges, overhead, chosen = deeper, more_edges, more, again
    return chosen, edges, overhead


def compile_graph(graph: QuantGraph, budget: Budget, *, dense: bool = False,
                  target: str | None = None, model=None, memory_windows: bool = True) -> GraphPlan:
    """Plan the accelerator of ``graph`` under ``budget``; ``memory_windows`` lets conv/linear
    nodes use the memory-window engine where it can implement them and is cheaper.

    Raises
    ------
    ConfigError
        Output not one pixel, a structured layer in a dense plan, an operand wider than the
        multipliers, or (:class:`~structhw.errors.ResourceError`) a graph that does not fit even
        with the smallest hardware everywhere, naming each short resource and by how much.
    """
    _check_graph(graph, budget, dense)
    model = model or EngineModel(budget.dsp_primitive)
    hardware = {op.name: node_hardware(op, model, memory_windows) for op in graph.nodes}
    chosen, edges, overhead = _balance_with_depths(graph, hardware, budget)
    nodes = [NodePlan(op.name, op.kind if op.kind != "conv" else op.layer.kind, c.params,
                      c.cycles, hardware[op.name].latency(c.params), c.cost,
                      hardware[op.name].flatten_for(c.params))
             for op, c in zip(graph.nodes, chosen)]
    return GraphPlan(graph, budget, nodes, edges, overhead, dense=dense, target=target,
                     memory_windows=memory_windows)
