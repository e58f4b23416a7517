# amaranth: UnusedElaboratable=no
"""The graph accelerator against the golden graph in Amaranth simulation: every logit under
random idle input and backpressure, steady-state cycles per image equal to the plan, and a
deadlock watchdog that names the node where a too-shallow skip FIFO stops the stream."""

import dataclasses

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structhw.budget import Budget
from structhw.graph import trace_model
from structhw.graph.plan import compile_graph
from structhw.graph.quantize import quantize_graph
from structhw.graph.random_graph import RANDOM_GRAPH_BUDGET, random_graph
from structhw.rtl_gen.graph_network import GraphNetwork, accelerator
from structhw.rtl_gen.network import Network

from ..graph.test_graph_quantize import ResidualDigits
from .graph_streams import Deadlock, run_graph_dut

BUDGET = Budget(lut4=40000, ff=40000, dsp=96, ebr=32)


@pytest.fixture(scope="module")
def residual_plan():
    torch.manual_seed(0)
    graph = quantize_graph(trace_model(ResidualDigits().eval(), (1, 8, 8)),
                           torch.randn(32, 1, 8, 8), rounding="nearest")
    return compile_graph(graph, BUDGET)


def images(seed: int, count: int, shape) -> torch.Tensor:
    return torch.randint(-128, 128, (count, *shape), generator=torch.Generator().manual_seed(seed))


def simulate(plan, x: torch.Tensor, *, seed: int, idle: float, stall: float):
    beats = [[int(v) for v in img[:, r, c]] for img in x
             for r in range(img.shape[1]) for c in range(img.shape[2])]
    slow = 1.0 / ((1.0 - idle) * (1.0 - stall))
    watchdog = int(4 * slow * (plan.latency_cycles + plan.cycles_per_image))
    return run_graph_dut(GraphNetwork(plan), beats, len(x), seed=seed, idle=idle, stall=stall,
                         watchdog=watchdog)


def test_residual_network_equals_golden_under_idle_and_backpressure(residual_plan):
    x = images(1, 3, residual_plan.input_shape)
    got, _ = simulate(residual_plan, x, seed=1, idle=0.3, stall=0.3)
    assert got == residual_plan.golden_logits(x).tolist()


def test_residual_network_cycles_per_image_equal_the_plan(residual_plan):
    x = images(2, 4, residual_plan.input_shape)
    got, cycles = simulate(residual_plan, x, seed=2, idle=0.0, stall=0.0)
    assert got == residual_plan.golden_logits(x).tolist()
    steady = [b - a for a, b in zip(cycles[1:], cycles[2:])]
    assert steady == [residual_plan.cycles_per_image] * 2
    assert cycles[0] <= residual_plan.latency_cycles + 2


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**20))
def test_random_graphs_equal_golden_under_idle_and_backpressure(seed):
    graph = random_graph(seed)
    plan = compile_graph(graph, RANDOM_GRAPH_BUDGET)
    x = images(seed, 2, graph.input_shape)
    got, _ = simulate(plan, x, seed=seed, idle=0.3, stall=0.3)
    assert got == graph.logits(x).tolist()


def test_option_a_and_forked_input_graph_equals_golden():
    graph = random_graph(2, blocks=2, kinds=("option_a", "avgpool"), input_fork=True)
    kinds = [op.kind for op in graph.nodes]
    assert "pad_shortcut" in kinds and graph.edges_from("input")[1:]
    plan = compile_graph(graph, RANDOM_GRAPH_BUDGET)
    assert any(e.src == "input" for e in plan.edges)
    x = images(2, 2, graph.input_shape)
    got, _ = simulate(plan, x, seed=2, idle=0.2, stall=0.4)
    assert got == graph.logits(x).tolist()


def test_a_skip_fifo_below_the_rejoin_rule_deadlocks_and_the_watchdog_names_the_add(
        residual_plan):
    shallow = dataclasses.replace(residual_plan, edges=[
        dataclasses.replace(e, depth=3) if (e.src, e.dst) == ("stem", "add") else e
        for e in residual_plan.edges])
    with pytest.raises(Deadlock, match=r"stalled at node 'add'"):
        simulate(shallow, images(3, 2, shallow.input_shape), seed=3, idle=0.0, stall=0.0)


def test_accelerator_picks_the_top_for_the_plan_version(residual_plan):
    from structhw.compiler import compile_plan

    from .test_network import SMALL, random_net
    assert isinstance(accelerator(residual_plan), GraphNetwork)
    assert isinstance(accelerator(compile_plan(random_net(1, structured=False), SMALL)), Network)
