"""Reading ``plan.json`` version 2 (a :class:`~structhw.graph.plan.GraphPlan`): every field
validated, the embedded graph checked against its digest, every node's parameters against its
op, every FIFO against the depth rule; anything else is a :class:`ConfigError`."""

from __future__ import annotations

from structhw.rtl_gen.nodes import EngineModel, node_hardware

from ..errors import ConfigError
from ..jsonfile import read_json
from ..plan import (budget_from_json, check_count, check_rederived,
                    check_target_budget, check_version)
from ..plan_fields import (check_derived, check_header, check_network_digest,
                           check_within_budget, dense_and_target, nonnegative_resources)
from .fifo_depth import edge_depths
from .plan import PLAN_VERSION, EdgePlan, GraphPlan, NodePlan, _edges as planned_edges, graph_digest
from .quant_graph import QuantGraph

MAX_FIFO_DEPTH = 1 << 16
"""Deepest FIFO a plan may ask for (beats); the depth rule never exceeds one feature map."""


def _int(value, what: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or \
            (hi is not None and value > hi):
        bound = f"in {lo}…{hi}" if hi is not None else f"≥ {lo}"
        raise ConfigError(f"{what} must be an integer {bound}, got {value!r}")
    return value


def _node(entry, op, hardware, index: int) -> NodePlan:
    what = f"node {index}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{what}: expected an object")
    kind = op.layer.kind if hasattr(op, "layer") else op.kind
    if entry.get("name") != op.name or entry.get("op") != kind:
        raise ConfigError(f"{what}: names {entry.get('op')!r} {entry.get('name')!r}, but graph "
                          f"node {index} is {kind} {op.name!r}")
    params = hardware.params_from_json(entry.get("params"), f"{what} ({op.name!r})")
    flatten = entry.get("flatten_before")
    if flatten is not hardware.flatten_for(params):
        raise ConfigError(f"{what}: flatten_before must be "
                          f"{str(hardware.flatten_for(params)).lower()}")
    node = NodePlan(op.name, kind, params,
                    check_count(entry.get("cycles_per_image"), f"{what}.cycles_per_image", low=1),
                    check_count(entry.get("latency_cycles"), f"{what}.latency_cycles"),
                    nonnegative_resources(entry.get("cost"), f"{what}.cost"), flatten)
    _rederive_node(node, hardware, what)
    return node


def _candidate(params):
    """The balancer's candidate of ``params`` (what :meth:`NodeHardware.evaluate` takes)."""
    if hasattr(params, "mults"):
        return (params.lanes, params.mults) + (("memory",) if params.window == "memory" else ())
    return params


def _rederive_node(node: NodePlan, hardware, what: str) -> None:
    """The node's params (sum-pool arch), cycles, latency and cost as the graph compiler
    derives them from its op (:func:`~structhw.graph.plan.compile_graph`: same models)."""
    choice = hardware.evaluate(_candidate(node.params))
    if choice.params != node.params:
        raise ConfigError(f"{what}: params are {node.params}, but the compiler plans "
                          f"{choice.params} (sumpool {getattr(choice.params, 'sumpool', None)!r}) "
                          f"for {node.name!r}")
    check_rederived(what, {"cycles_per_image": node.cycles, "latency_cycles": node.latency,
                           "cost": node.cost},
                    {"cycles_per_image": choice.cycles,
                     "latency_cycles": int(hardware.latency(node.params)), "cost": choice.cost})


def _edges(entries, graph: QuantGraph, hardware: dict) -> list:
    if not isinstance(entries, list):
        raise ConfigError("plan 'edges' must be a list")
    need = edge_depths(graph, hardware)
    edges = []
    for k, e in enumerate(entries):
        what = f"edge {k}"
        if not isinstance(e, dict):
            raise ConfigError(f"{what}: expected an object")
        key = (e.get("from"), e.get("to"), e.get("input"))
        if type(key[2]) is not int or key not in need:
            raise ConfigError(f"{what}: {key} is not an edge between two nodes of the graph")
        depth = _int(e.get("fifo_depth"), f"{what}.fifo_depth", lo=need[key], hi=MAX_FIFO_DEPTH)
        width = 8 * graph.shape_of(key[0])[0]
        if e.get("width_bits") != width:
            raise ConfigError(f"{what}.width_bits must be {width}, got {e.get('width_bits')!r}")
        edges.append(EdgePlan(*key, depth, width, nonnegative_resources(e.get("cost"),
                                                                      f"{what}.cost")))
    if len(edges) != len(need) or len({(e.src, e.dst, e.input) for e in edges}) != len(need):
        raise ConfigError(f"plan needs one FIFO per edge between nodes ({len(need)}), it has "
                          f"{len(edges)}")
    return edges


def _rederive_edges(plan: GraphPlan, hardware: dict) -> None:
    """Every FIFO's cost at its recorded depth, and the overhead (FIFOs, forks, Flattens), as
    the graph compiler derives them (:func:`structhw.graph.plan._edges`)."""
    depths = {(e.src, e.dst, e.input): e.depth for e in plan.edges}
    derived, overhead = planned_edges(plan.graph, hardware, plan.budget, depths)
    by_key = {(e.src, e.dst, e.input): e for e in derived}
    for k, e in enumerate(plan.edges):
        check_rederived(f"edge {k}", {"cost": e.cost},
                        {"cost": by_key[(e.src, e.dst, e.input)].cost})
    check_rederived("plan", {"overhead": plan.overhead}, {"overhead": overhead})


def _planned(obj, graph, budget, dense, target, digest, memory_windows: bool) -> GraphPlan:
    """The plan's nodes and edges, each re-derived with the models compile_graph plans with
    (the budget's multiplier cell, memory-window engines or not)."""
    model = EngineModel(budget.dsp_primitive)
    hardware = {op.name: node_hardware(op, model, memory_windows=memory_windows)
                for op in graph.nodes}
    entries = obj["nodes"]
    if not isinstance(entries, list) or len(entries) != len(graph.nodes):
        raise ConfigError(f"plan needs one node entry per graph node ({len(graph.nodes)})")
    nodes = [_node(e, op, hardware[op.name], i)
             for i, (e, op) in enumerate(zip(entries, graph.nodes))]
    edges = _edges(obj["edges"], graph, hardware)
    plan = GraphPlan(graph, budget, nodes, edges,
                     nonnegative_resources(obj["overhead"], "overhead"), dense=dense,
                     target=target, graph_sha256=digest, memory_windows=memory_windows)
    _rederive_edges(plan, hardware)
    return plan


def _planned_unrecorded(obj, graph, budget, dense, target, digest) -> GraphPlan:
    """A plan written before ``memory_windows`` was recorded: re-derived with memory-window
    engines allowed, else (when a linear node takes a map, which register engines plan with a
    Flatten in the overhead) without them."""
    try:
        return _planned(obj, graph, budget, dense, target, digest, memory_windows=True)
    except ConfigError as first:
        if not any(getattr(node_hardware(op), "takes_map", False) for op in graph.nodes):
            raise
        try:
            return _planned(obj, graph, budget, dense, target, digest, memory_windows=False)
        except ConfigError:
            raise first from None


def graph_plan_from_json(obj) -> GraphPlan:
    """Rebuild a :class:`GraphPlan` from its JSON object (see the module docstring)."""
    check_version(obj, PLAN_VERSION)
    check_header(obj, PLAN_VERSION, ("budget", "nodes", "edges", "qnet", "qnet_sha256",
                                     "overhead"))
    graph = QuantGraph.from_json(obj["qnet"])
    digest = graph_digest(graph)
    check_network_digest(digest, obj["qnet_sha256"])
    budget = budget_from_json(obj["budget"])
    dense, target = dense_and_target(obj)
    check_target_budget(budget, target)
    if "memory_windows" in obj:
        memory_windows = obj["memory_windows"]
        if type(memory_windows) is not bool:
            raise ConfigError(f"plan 'memory_windows' must be true or false, got "
                              f"{memory_windows!r}")
        plan = _planned(obj, graph, budget, dense, target, digest, memory_windows)
    else:
        plan = _planned_unrecorded(obj, graph, budget, dense, target, digest)
    check_within_budget(plan)
    check_derived(obj, plan)
    return plan


def load_graph_plan(path) -> GraphPlan:
    """Read a version-2 ``plan.json``; anything malformed is a :class:`ConfigError` naming the
    file."""
    obj = read_json(path)
    try:
        return graph_plan_from_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
