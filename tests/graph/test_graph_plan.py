"""The graph compiler: balanced nodes under a budget, FIFO depths by the re-join rule, plan.json
version 2 written and read back with every field checked."""

import json
import math

import pytest
import torch

from structhw.boards.registry import get_board
from structhw.errors import ConfigError, ResourceError
from structhw.graph import trace_model
from structhw.graph.fifo_depth import MIN_FIFO_DEPTH, edge_depths, latency_lags, rejoin_gaps
from structhw.graph.plan import compile_graph
from structhw.graph.plan_json import load_graph_plan
from structhw.model_source import resolve_model
from structhw.graph.quantize import quantize_graph
from structhw.resources import shortfalls
from structhw.rtl_gen.nodes import node_hardware

from .test_graph_quantize import ResidualDigits

BUDGET = get_board("ulx3s-85f").budget


@pytest.fixture(scope="module")
def residual():
    torch.manual_seed(0)
    return quantize_graph(trace_model(ResidualDigits().eval(), (1, 8, 8)),
                          torch.randn(32, 1, 8, 8), rounding="nearest")


def test_plan_balances_every_node_within_the_budget(residual):
    plan = compile_graph(residual, BUDGET, target="ulx3s-85f")
    assert [n.name for n in plan.nodes] == [op.name for op in residual.nodes]
    assert plan.cycles_per_image == max(n.cycles for n in plan.nodes)
    assert not shortfalls(plan.totals, BUDGET)
    smallest = compile_graph(residual, BUDGET.__class__(**{**BUDGET.to_json(), "dsp": 24}))
    assert smallest.cycles_per_image > plan.cycles_per_image
    assert sum(n.cost.dsp for n in smallest.nodes) <= 24


def test_the_skip_fifo_holds_the_lookahead_of_the_long_branch(residual):
    """stem → (c1 → c2) and stem → add: two 3×3 pad-1 convs on an 8×8 map need F pixel
    (r+2, c+2) for add pixel (r, c), so the skip edge must hold 2·8 + 2 + 1 beats."""
    hardware = {op.name: node_hardware(op) for op in residual.nodes}
    gaps = rejoin_gaps(residual, hardware, "stem")
    assert gaps == {("c1", 0): 0, ("add", 0): 2 * 8 + 2 + 1}
    minimum = edge_depths(residual, hardware)
    assert minimum["stem", "add", 0] == 19 + 8
    assert minimum["stem", "c1", 0] == 8 and minimum["gap", "fc", 0] == MIN_FIFO_DEPTH
    plan = compile_graph(residual, BUDGET)
    assert len(plan.edges) == sum(len(op.inputs) for op in residual.nodes) - 1
    assert all(e.depth >= minimum[e.src, e.dst, e.input] for e in plan.edges)


def test_the_skip_fifo_bridges_the_long_branch_latency(residual):
    """At the planned rate the skip edge must hold the stem pixels made while a pixel crosses
    c1 and c2 (their latencies and two FIFOs): the lag is that path's latency, 0 for c1's edge;
    the planned depth adds it, at one stem pixel per cycles_per_image / 64 cycles."""
    hardware = {op.name: node_hardware(op) for op in residual.nodes}
    plan = compile_graph(residual, BUDGET)
    latency = {n.name: n.latency for n in plan.nodes}
    lags = latency_lags(residual, latency, "stem")
    assert lags == {("c1", 0): 0, ("add", 0): latency["c1"] + 2 + latency["c2"] + 2}
    depth = {(e.src, e.dst): e.depth for e in plan.edges}
    period = plan.cycles_per_image / 64
    assert depth["stem", "add"] == min(27 + 8 + math.ceil(lags["add", 0] / period), 4 * 64)
    assert depth["stem", "c1"] == edge_depths(residual, hardware)["stem", "c1", 0] + 8


def test_need_maps_compose_like_the_convolutions_dependencies(residual):
    """The composed need map of c1 → c2 equals, for every output pixel, the last input pixel its
    value depends on, found by differentiating the two float convolutions."""
    hardware = {op.name: node_hardware(op) for op in residual.nodes}
    composed = hardware["c1"].need_map(0)[hardware["c2"].need_map(0)]
    torch.manual_seed(3)
    convs = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1))
    brute = []
    for j in range(64):
        x = torch.randn(1, 8, 8, 8, requires_grad=True)
        convs(x)[0, :, j // 8, j % 8].sum().backward()
        depends = x.grad.abs().sum(dim=(0, 1)).reshape(-1).nonzero()
        brute.append(int(depends.max()))
    assert composed.tolist() == brute


@pytest.fixture(scope="module")
def resnet20_graph():
    """Struct-ResNet20-A (random weights)."""
    torch.manual_seed(0)
    model = resolve_model("resnet20", preset="A").model
    return quantize_graph(trace_model(model, (3, 32, 32)), torch.randn(8, 3, 32, 32),
                          rounding="nearest")


def test_resnet20_fits_the_85f_with_its_windows_in_memory(resnet20_graph):
    """The register engines of Struct-ResNet20-A need more flip-flops than the board has; the
    memory-window engines (serial sum-pool, rows in block RAM) fit it."""
    plan = compile_graph(resnet20_graph, BUDGET, target="ulx3s-85f")
    assert not shortfalls(plan.totals, BUDGET)
    assert any(n.params.window == "memory" for n in plan.nodes if n.kind == "conv")
    with pytest.raises(ResourceError, match=r"flip-flops: needs \d+, budget has 83640"):
        compile_graph(resnet20_graph, BUDGET, target="ulx3s-85f", memory_windows=False)


def test_resnet20_is_refused_on_the_12f_naming_every_short_resource(resnet20_graph):
    small = get_board("ulx3s-12f").budget
    with pytest.raises(ResourceError, match=r"flip-flops: needs \d+, budget has 12288, short by"):
        compile_graph(resnet20_graph, small, target="ulx3s-12f")


def test_plan_v2_round_trip(residual, tmp_path):
    plan = compile_graph(residual, BUDGET, target="ulx3s-85f")
    path = plan.save(tmp_path / "plan.json")
    back = load_graph_plan(path)
    assert back.to_json() == plan.to_json()


def _edited(plan, tmp_path, mutate):
    obj = json.loads(plan.save(tmp_path / "plan.json").read_text())
    mutate(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda o: o["edges"][1].update(fifo_depth=5), "fifo_depth must be an integer in 27"),
    (lambda o: o["edges"][1].update(fifo_depth=10**12), "fifo_depth"),
    (lambda o: o["edges"].pop(), "one FIFO per edge"),
    (lambda o: o["edges"][0].update(to="nowhere"), "is not an edge"),
    (lambda o: o["nodes"][3]["params"].update(lanes=99), "lanes=99"),
    (lambda o: o["nodes"][0]["params"].update(mults=0), "mults"),
    (lambda o: o["nodes"][0].update(name="other"), "graph node 0 is conv 'stem'"),
    (lambda o: o["budget"].update(dsp=-5), "budget.dsp must be between 0"),
    (lambda o: o["budget"].update(dsp=3), "exceed its budget"),
    (lambda o: o["qnet"]["nodes"][0]["bias"].__setitem__(0, 7), "does not match qnet_sha256"),
    (lambda o: o.update(version=3), "version 3; this reader takes version 2"),
    (lambda o: o["edges"][0]["cost"].update(lut4=-5), r"edge 0\.cost\.lut4 must be ≥ 0"),
    (lambda o: o["nodes"][0]["cost"].update(ff=-1), r"cost\.ff must be ≥ 0"),
    (lambda o: o["overhead"].update(lut4=-100), r"overhead\.lut4 must be ≥ 0"),
    (lambda o: o["totals"].update(dsp=9999), "plan 'totals' is .* but its stages give"),
    (lambda o: o["prediction"].update(latency_cycles=1), "plan 'prediction' is"),
    (lambda o: o.pop("edges"), "lacks the field 'edges'"),
])
def test_malformed_plans_are_refused(residual, tmp_path, mutate, message):
    plan = compile_graph(residual, BUDGET, target="ulx3s-85f")
    with pytest.raises(ConfigError, match=message) as err:
        load_graph_plan(_edited(plan, tmp_path, mutate))
    assert "\n" not in str(err.value)


def test_a_chain_that_needs_memory_windows_is_planned_as_a_graph():
    """A structured 512→10 Linear: its register engine's parallel channel sums need more
    flip-flops than the 85F has; plan_graph falls back to the graph compiler, whose
    memory-window engine sums serially."""
    from structhw.compiler import compile_plan
    from structhw.graph.pipeline import plan_graph
    from structhw.graph.plan import GraphPlan
    from structhw.graph.quant_graph import QuantGraph
    from structhw.qnet import QuantNet
    from structhw.rtl_gen.random_layer import random_quant_layer

    layer = random_quant_layer(512, 1, 256, 1, 10, 1, 1, 1, 0, seed=0, kind="linear", name="fc")
    qnet = QuantNet(512, 1, 1, 1.0, [layer])
    with pytest.raises(ResourceError, match="flip-flops"):
        compile_plan(qnet, BUDGET)
    plan = plan_graph(QuantGraph.from_qnet(qnet), BUDGET)
    assert isinstance(plan, GraphPlan)
    assert plan.nodes[0].params.window == "memory"
    assert not shortfalls(plan.totals, BUDGET)


def test_a_memory_window_linear_flattens_its_map_itself(tmp_path):
    """A linear layer fed a map gets no Flatten when its engine is a memory-window engine (the
    pixel memory is in the node's cost, no Flatten in the overhead); with register engines only
    the Flatten is back in the overhead. Both plans are read back."""
    from structhw.graph.plan import fork_cost
    from structhw.graph.random_graph import RANDOM_GRAPH_BUDGET, random_graph
    from structhw.resources import Resources
    from structhw.rtl_gen.nodes import flatten_cost

    seen = 0
    for seed in range(60):
        graph = random_graph(seed)
        head = graph.node(graph.output)
        if head.in_shape[1] * head.in_shape[2] == 1:
            continue
        for memory_windows in (True, False):
            plan = compile_graph(graph, RANDOM_GRAPH_BUDGET, memory_windows=memory_windows)
            node = plan.nodes[-1]
            flat = getattr(node.params, "window", "registers") == "memory"
            assert node.flatten_before is not flat
            seen += flat
            fixed = sum((e.cost for e in plan.edges), Resources())
            for name in graph.producers():
                if len(graph.edges_from(name)) > 1:
                    fixed = fixed + fork_cost(len(graph.edges_from(name)))
            if not memory_windows:
                fixed = fixed + flatten_cost(*head.in_shape)
            assert plan.overhead == fixed
            path = plan.save(tmp_path / f"{seed}_{memory_windows}.json")
            again = load_graph_plan(path)
            assert [n.flatten_before for n in again.nodes] == [n.flatten_before for n in plan.nodes]
    assert seen > 0
