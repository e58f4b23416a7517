"""FIFO depths on the edges of a graph accelerator: deep enough that no pattern of backpressure
can deadlock the paths that fork and re-join, and the chain rule everywhere else.

**The re-join rule** (why it holds: ``docs/plan-format.md``). A fork F feeds branches that meet
again at a join J (a residual add). J takes pixel j of all its inputs together. Follow each
branch b from F to J: composing every op's *need map* (the last input pixel each output pixel
needs, :meth:`~structhw.rtl_gen.nodes.NodeHardware.need_map`) gives ``need_b(j)``, the last
F pixel branch b must have received before it can hand J pixel j. While J waits for pixel j of
branch b', branch b may have consumed no more than ``need_b(j)`` F pixels, yet F must be able to
emit up to ``need_b'(j)``; every F pixel in between waits in b's edge FIFO. So b's FIFO holds
``gap_b = max_j max_b' (need_b'(j) − need_b(j)) + 1`` beats at least (where that maximum is
positive; otherwise b never runs ahead of a sibling and ``gap_b = 0``); the plan adds one row of
F's map for throughput and never exceeds one whole map of F (which always suffices), nor goes
below :data:`MIN_FIFO_DEPTH`.

**The chain rule** (an edge from a single-consumer producer): the consumer's stride times one
output row of the producer, between :data:`MIN_FIFO_DEPTH` and :data:`MAX_CHAIN_DEPTH`; three in
front of a Flatten, which takes a beat every cycle (as the version-1 compiler does).
"""

from __future__ import annotations

import numpy as np

from .quant_graph import INPUT

MIN_FIFO_DEPTH = 3
MAX_CHAIN_DEPTH = 64


def _branch_needs(graph, hardware: dict, fork: str, first: str, k: int) -> dict:
    """For the branch that leaves ``fork`` into input ``k`` of node ``first``: every node it
    reaches → array over that node's output pixels of the last ``fork`` pixel needed."""
    needs = {first: hardware[first].need_map(k)}
    order = [n.name for n in graph.nodes]
    for node in graph.nodes[order.index(first) + 1:]:
        parts = [needs[src][hardware[node.name].need_map(i)]
                 for i, src in enumerate(node.inputs) if src in needs]
        if parts:
            needs[node.name] = np.maximum.reduce(parts)
    return needs


def _join_requirements(graph, hardware: dict, branches: list, needs: list) -> list:
    """For every join node and input: the branches reaching it with their need arrays over
    the join's output pixels — ``[(join, input, branch, array), …]``."""
    rows = []
    for join in graph.nodes:
        if len(join.inputs) < 2:
            continue
        for i, src in enumerate(join.inputs):
            m = hardware[join.name].need_map(i)
            for b, (first, k) in enumerate(branches):
                if (first, k) == (join.name, i):
                    rows.append((join.name, i, b, m))
                elif src in needs[b]:
                    rows.append((join.name, i, b, needs[b][src][m]))
    return rows


def rejoin_gaps(graph, hardware: dict, fork: str) -> dict:
    """``gap_b`` of the module docstring for every edge (consumer, input index) leaving
    ``fork``: 0 where its branch never waits on another."""
    branches = [(n.name, i) for n in graph.consumers(fork) for i, src in enumerate(n.inputs)
                if src == fork]
    needs = [_branch_needs(graph, hardware, fork, first, k) for first, k in branches]
    rows = _join_requirements(graph, hardware, branches, needs)
    gaps = {edge: 0 for edge in branches}
    for join, i, b, arr in rows:
        for join2, i2, b2, arr2 in rows:
            ahead = int((arr2 - arr).max()) if join2 == join and i2 != i and b2 != b else 0
            if ahead > 0:
                gaps[branches[b]] = max(gaps[branches[b]], ahead + 1)
    return gaps


def _width(graph, name: str) -> int:
    return graph.shape_of(name)[2]


def _pixels(graph, name: str) -> int:
    _, H, W = graph.shape_of(name)
    return H * W


def chain_depth(graph, hardware: dict, src: str, dst: str) -> int:
    """The chain rule of the module docstring for the edge ``src`` → ``dst``."""
    if getattr(hardware[dst], "flattens", False):
        return MIN_FIFO_DEPTH
    op = graph.node(dst)
    stride = op.layer.stride if hasattr(op, "layer") else getattr(op, "stride", 1)
    return min(max(stride * _width(graph, src), MIN_FIFO_DEPTH), MAX_CHAIN_DEPTH)


def edge_depths(graph, hardware: dict) -> dict:
    """Depth (beats) of the FIFO on every edge between two nodes, keyed ``(src, dst, input)``:
    the re-join rule on edges leaving a fork, the chain rule elsewhere. Edges from the graph
    input have no FIFO."""
    depths = {}
    for node in graph.nodes:
        consumers = graph.consumers(node.name)
        gaps = rejoin_gaps(graph, hardware, node.name) if len(consumers) > 1 else {}
        for dst in consumers:
            for i, src in enumerate(dst.inputs):
                if src != node.name:
                    continue
                depth = chain_depth(graph, hardware, src, dst.name)
                gap = gaps.get((dst.name, i), 0)
                if gap:
                    ceiling = max(gap, _pixels(graph, src))
                    depth = max(depth, min(gap + _width(graph, src), ceiling))
                depths[src, dst.name, i] = depth
    assert all(src != INPUT for src, _, _ in depths)
    return depths
