"""Reading ``plan.json`` version 2 (a :class:`~structhw.graph.plan.GraphPlan`): every field
validated, the embedded graph checked against its digest, every node's parameters against its
op, every FIFO against the depth rule; anything else is a :class:`ConfigError`."""

from __future__ import annotations

from structhw.rtl_gen.nodes import node_hardware

from ..errors import ConfigError
from ..jsonfile import read_json
from ..plan import budget_from_json
from ..plan_fields import (check_derived, check_header, check_network_digest,
                           check_within_budget, dense_and_target, nonnegative_resources)
from .fifo_depth import edge_depths
from .plan import PLAN_VERSION, EdgePlan, GraphPlan, NodePlan, graph_digest
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
    if flatten is not bool(getattr(hardware, "flattens", False)):
        raise ConfigError(f"{what}: flatten_before must be "
                          f"{str(bool(getattr(hardware, 'flattens', False))).lower()}")
    return NodePlan(op.name, kind, params,
                    _int(entry.get("cycles_per_image"), f"{what}.cycles_per_image", lo=1),
                    _int(entry.get("latency_cycles"), f"{what}.latency_cycles"),
                    nonnegative_resources(entry.get("cost"), f"{what}.cost"), flatten)


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
        if key not in need:
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


def graph_plan_from_json(obj) -> GraphPlan:
    """Rebuild a :class:`GraphPlan` from its JSON object (see the module docstring)."""
    check_header(obj, PLAN_VERSION, ("budget", "nodes", "edges", "qnet", "qnet_sha256",
                                     "overhead"))
    graph = QuantGraph.from_json(obj["qnet"])
    digest = graph_digest(graph)
    check_network_digest(digest, obj["qnet_sha256"])
    budget = budget_from_json(obj["budget"])
    hardware = {op.name: node_hardware(op) for op in graph.nodes}
    entries = obj["nodes"]
    if not isinstance(entries, list) or len(entries) != len(graph.nodes):
        raise ConfigError(f"plan needs one node entry per graph node ({len(graph.nodes)})")
    nodes = [_node(e, op, hardware[op.name], i)
             for i, (e, op) in enumerate(zip(entries, graph.nodes))]
    dense, target = dense_and_target(obj)
    plan = GraphPlan(graph, budget, nodes, _edges(obj["edges"], graph, hardware),
                     nonnegative_resources(obj["overhead"], "overhead"), dense=dense,
                     target=target, graph_sha256=digest)
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
