"""Graph accelerators in the native Verilator bench: random graphs (residual adds, both
shortcut kinds, pools, depthwise convs, forking inputs) bit-exact against the golden graph
under random idle input and backpressure, with back-to-back cycles per image equal to the plan.
The wide sweep of the same graphs is ``benchmarks/bench_graph_sweep.py``."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structhw.graph.plan import compile_graph
from structhw.graph.random_graph import RANDOM_GRAPH_BUDGET as BUDGET
from structhw.graph.random_graph import random_graph
from structhw.sim.network import simulate_network
from structhw.sim.runner import simulator_available


pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")


def check(graph, seed: int, tmp_path):
    plan = compile_graph(graph, BUDGET)
    x = np.random.default_rng(seed).integers(-128, 128, size=(6, *graph.input_shape))
    result = simulate_network(plan, x, bench="native", seed=seed, idle=0.3, stall=0.3,
                              build_root=tmp_path)
    assert result.mismatches == 0, result.notes
    assert (result.logits_hw == graph.logits(torch.as_tensor(x)).numpy()).all()
    assert result.cycles_per_image == plan.cycles_per_image, [op.name for op in graph.nodes]


@pytest.mark.parametrize("seed, kinds, fork", [
    (1, ("option_a", "identity"), False),
    (12, ("option_b", "depthwise", "maxpool"), True),
])
def test_graph_blocks_are_bit_exact_at_the_planned_rate(seed, kinds, fork, tmp_path):
    graph = random_graph(seed, blocks=2, kinds=kinds, input_fork=fork)
    ops = {op.kind for op in graph.nodes} | {"groups>1" for op in graph.nodes
                                             if getattr(op, "layer", None) and op.layer.groups > 1}
    assert {"pad_shortcut"} <= ops if "option_a" in kinds else {"groups>1"} <= ops
    check(graph, seed, tmp_path)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**20))
def test_random_graphs_are_bit_exact_at_the_planned_rate(seed, tmp_path):
    check(random_graph(seed), seed, tmp_path)
