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
front of a linear layer fed a map, whether a Flatten or the memory-window engine's pixel memory
flattens it: either takes a beat every cycle while it has room for the image (as the version-1
compiler does).
"""

from __future__ import annotations

import numpy as np

from .quant_graph import INPUT

MIN_FIFO_DEPTH = 3
MAX_CHAIN_DEPTH = 64
MAX_MAPS = 4
"""Throughput depths stop at this many feature maps of the producer."""


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
    branches = graph.edges_from(fork)
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
    if hardware[dst].takes_map:
        return MIN_FIFO_DEPTH
    op = graph.node(dst)
    stride = op.layer.stride if hasattr(op, "layer") else getattr(op, "stride", 1)
    return min(max(stride * _width(graph, src), MIN_FIFO_DEPTH), MAX_CHAIN_DEPTH)


def edge_depths(graph, hardware: dict) -> dict:
    """Depth (beats) of the FIFO on every edge between two nodes, keyed ``(src, dst, input)``:
    the re-join rule on edges leaving a fork, the chain rule elsewhere. Edges from the graph
    input have a FIFO only where the input forks (one consumer reads the input stream
    directly)."""
    depths = {}
    for src in graph.producers():
        edges = graph.edges_from(src)
        if src == INPUT and len(edges) < 2:
            continue
        gaps = rejoin_gaps(graph, hardware, src) if len(edges) > 1 else {}
        for dst, i in edges:
            depth = chain_depth(graph, hardware, src, dst)
            gap = gaps.get((dst, i), 0)
            if gap:
                ceiling = max(gap, _pixels(graph, src))
                depth = max(depth, min(gap + _width(graph, src), ceiling))
            depths[src, dst, i] = depth
    return depths


def _path_latency(graph, latency: dict, first: str) -> dict:
    """Cycles from a pixel entering node ``first`` to the matching pixel leaving each node
    reachable from it: the longest path of node latencies, plus two cycles per FIFO."""
    reach = {first: latency[first]}
    order = [n.name for n in graph.nodes]
    for node in graph.nodes[order.index(first) + 1:]:
        before = [reach[src] for src in node.inputs if src in reach]
        if before:
            reach[node.name] = max(before) + 2 + latency[node.name]
    return reach


def latency_lags(graph, latency: dict, fork: str) -> dict:
    """For every edge leaving ``fork``: how many cycles longer than its own path (from the
    fork to a join) the slowest sibling path into the same join takes — the time the edge's
    FIFO must bridge at full rate. 0 where the edge's branch is the slowest or meets no other."""
    edges = graph.edges_from(fork)
    paths = [_path_latency(graph, latency, dst) for dst, _ in edges]
    arrival = {}
    for (dst, k), reach in zip(edges, paths):
        for join in graph.nodes:
            if len(join.inputs) < 2:
                continue
            for i, src in enumerate(join.inputs):
                if (dst, k) == (join.name, i):
                    arrival.setdefault(join.name, []).append(((dst, k), i, 0))
                elif src in reach:
                    arrival.setdefault(join.name, []).append(((dst, k), i, reach[src] + 2))
    lags = {edge: 0 for edge in edges}
    for rows in arrival.values():
        for edge, i, t in rows:
            slowest = max((t2 for _, i2, t2 in rows if i2 != i), default=t)
            lags[edge] = max(lags[edge], slowest - t)
    return lags


def throughput_depths(graph, hardware: dict, minimum: dict, latency: dict,
                      cycles_per_image: int) -> dict:
    """Edge depths that keep the planned rate, from the deadlock-free ``minimum``
    (:func:`edge_depths`) and the chosen nodes' ``latency`` (cycles, by name): one more producer
    row on chain edges (two rows absorb the bubble a window op makes at each image boundary,
    when producer and consumer run at the same rate); on an edge leaving a fork, also the F
    pixels made while the slowest sibling branch's latency passes (its lag over this branch,
    at one F pixel every ``cycles_per_image / pixels(F)`` cycles; on a small map this is more
    than a whole map) — capped at :data:`MAX_MAPS` maps of F, and never below ``minimum``."""
    depths = dict(minimum)
    for src in graph.producers():
        edges = graph.edges_from(src)
        if not edges or (src, *edges[0]) not in minimum:
            continue
        lags = latency_lags(graph, latency, src) if len(edges) > 1 else {}
        period = cycles_per_image / _pixels(graph, src)
        for dst, i in edges:
            flattens = hardware[dst].takes_map
            want = minimum[src, dst, i] + (0 if flattens else _width(graph, src))
            if lags.get((dst, i)):
                want += int(np.ceil(lags[dst, i] / period))
            ceiling = max(minimum[src, dst, i], MAX_MAPS * _pixels(graph, src))
            depths[src, dst, i] = min(want, ceiling)
    return depths
