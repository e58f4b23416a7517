"""The compiler: balancing under a budget, plan.json round trip, errors naming the short resource.

The planner logic is tested against :class:`AnalyticModel`, a small cycle/cost model whose optimum
can be reasoned about by hand; the last tests plan with the engine generator's own models.
"""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw.budget import DEVICES, Budget
from structhw.compiler import (HardwareModel, HardwarePlan, Resources, compile_plan, load_plan, needs_flatten,
                               shortfalls)
from structhw.errors import ConfigError
from structhw.qnet import QuantLayer, QuantNet


class AnalyticModel:
    """cycles = max(input pixels, output pixels · ⌈Cout/P⌉ · ⌈c·n²/T⌉); one DSP per multiplier
    plus one per lane for the requantiser; LUTs and flip-flops grow with P·T."""

    def check(self, layer, params):
        params.check(layer)

    def cycles(self, layer, params):
        passes = math.ceil(layer.out_channels / params.lanes) * \
            math.ceil(layer.mults_per_output / params.mults)
        return max(layer.in_height * layer.in_width, layer.out_height * layer.out_width * passes)

    def cost(self, layer, params):
        pt = params.lanes * params.mults
        return Resources(lut4=100 + 30 * pt, ff=80 + 40 * params.lanes, dsp=pt + params.lanes,
                         bram_bits=0)

    def sumpool_arch(self, layer):
        return None if layer.is_dense else "separable"


def random_layer(rng, name, kind, C, H, W, Cout, N, c, n, stride=1, padding=0, relu=True):
    return QuantLayer(
        name=name, kind=kind, in_channels=C, in_height=H, in_width=W, out_channels=Cout,
        kernel=N, c=c, n=n, stride=stride, padding=padding, dilation=1, groups=1, relu=relu,
        alpha=rng.integers(-128, 128, (Cout, c, n, n)), bias=rng.integers(-2000, 2000, Cout),
        multiplier=rng.integers(1, 1 << 14, Cout), shift=rng.integers(14, 22, Cout))


def random_qnet(rng, n_conv=2, C0=1, H0=6, classes=4, dense=False) -> QuantNet:
    """conv (3×3 or 1×1, random c, n, stride, padding) × n_conv → linear, on a C0×H0×H0 input."""
    layers, (C, H, W) = [], (C0, H0, H0)
    for k in range(n_conv):
        N = int(rng.choice([1, 3])) if H >= 3 else 1
        Cout = int(rng.integers(1, 6))
        c = C if dense else int(rng.integers(1, C + 1))
        n = N if dense else int(rng.integers(1, N + 1))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2)) if N > 1 else 0
        layer = random_layer(rng, f"conv{k}", "conv", C, H, W, Cout, N, c, n, stride, padding)
        layers.append(layer)
        C, H, W = Cout, layer.out_height, layer.out_width
    Q = C * H * W
    R = Q if dense else int(rng.integers(1, Q + 1))
    layers.append(random_layer(rng, "fc", "linear", Q, 1, 1, classes, 1, R, 1, relu=False))
    return QuantNet(C0, H0, H0, 1 / 64, layers)


def budget(dsp, lut4=100_000, ff=100_000, ebr=100):
    return Budget(lut4=lut4, ff=ff, dsp=dsp, ebr=ebr)


def min_dsp(qnet):
    """DSPs of the smallest accelerator under AnalyticModel (1 lane × 1 multiplier per layer)."""
    return 2 * len(qnet.layers)


def faster_candidates_fit(plan, model):
    """True when some (P, T) of the bottleneck stage would make it faster and still fit."""
    from structhw.rtl_gen.params import EngineParams
    b = plan.bottleneck
    layer = plan.qnet.layers[b.index]
    for lanes in range(1, layer.out_channels + 1):
        for mults in range(1, layer.mults_per_output + 1):
            p = EngineParams(lanes=lanes, mults=mults, sumpool=b.params.sumpool)
            if model.cycles(layer, p) < b.cycles and \
                    not shortfalls(plan.totals - b.cost + model.cost(layer, p), plan.budget):
                return True
    return False


# ----- balancing ------------------------------------------------------------------------------
@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), n_conv=st.integers(1, 3), extra=st.integers(0, 60))
def test_plan_fits_budget_and_bottleneck_cannot_be_improved(seed, n_conv, extra):
    rng = np.random.default_rng(seed)
    qnet = random_qnet(rng, n_conv=n_conv, C0=int(rng.integers(1, 4)))
    model = AnalyticModel()
    plan = compile_plan(qnet, budget(min_dsp(qnet) + extra), model=model)
    assert not shortfalls(plan.totals, plan.budget)
    assert plan.cycles_per_image == max(s.cycles for s in plan.stages)
    for stage, layer in zip(plan.stages, qnet.layers):
        stage.params.check(layer)
        assert stage.cycles == model.cycles(layer, stage.params)
    if [s.cycles for s in plan.stages].count(plan.cycles_per_image) == 1:
        assert not faster_candidates_fit(plan, model)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), n_conv=st.integers(1, 3))
def test_bottleneck_improves_as_the_budget_grows(seed, n_conv):
    rng = np.random.default_rng(seed)
    qnet = random_qnet(rng, n_conv=n_conv, C0=int(rng.integers(1, 4)))
    model = AnalyticModel()
    cycles = [compile_plan(qnet, budget(min_dsp(qnet) + extra), model=model).cycles_per_image
              for extra in (0, 4, 16, 64, 100_000)]
    assert all(b <= a for a, b in zip(cycles, cycles[1:]))
    unlimited = compile_plan(qnet, budget(100_000), model=model)
    floor = max(model.cycles(layer, _full(layer)) for layer in qnet.layers)
    assert unlimited.cycles_per_image == floor
    smallest = compile_plan(qnet, budget(min_dsp(qnet)), model=model)
    if floor < smallest.cycles_per_image:
        assert cycles[-1] < cycles[0]


def _full(layer):
    from structhw.rtl_gen.params import EngineParams
    return EngineParams(lanes=layer.out_channels, mults=layer.mults_per_output,
                        sumpool=None if layer.is_dense else "separable")


def test_balancing_spends_dsps_on_the_slow_layer():
    """A 16-output 3×3 conv on 6×6 is ~100× the work of a 2-class linear on 4 inputs: with a few
    spare DSPs the conv gets them all."""
    rng = np.random.default_rng(0)
    conv = random_layer(rng, "conv", "conv", 1, 6, 6, 16, 3, 1, 3, padding=1)
    fc = random_layer(rng, "fc", "linear", 16 * 36, 1, 1, 2, 1, 4, 1, relu=False)
    qnet = QuantNet(1, 6, 6, 1.0, [conv, fc])
    plan = compile_plan(qnet, budget(4 + 20), model=AnalyticModel())
    conv_stage, fc_stage = plan.stages
    assert (fc_stage.params.lanes, fc_stage.params.mults) == (1, 1)
    assert conv_stage.params.lanes * conv_stage.params.mults > 1
    assert plan.bottleneck.layer == "conv"
    assert fc_stage.flatten_before and not conv_stage.flatten_before
    assert conv_stage.fifo_depth == 3 and fc_stage.fifo_depth == 0


def test_fifo_holds_as_many_rows_as_the_next_layer_strides():
    """One output row of the producer per row of the consumer's stride (a stride-2 consumer takes
    two rows per row of windows in a burst), at least 3, at most 64."""
    rng = np.random.default_rng(2)
    convs = [random_layer(rng, "a", "conv", 1, 10, 10, 4, 3, 1, 3, 1, 1),
             random_layer(rng, "b", "conv", 4, 10, 10, 4, 3, 4, 3, 2, 1),
             random_layer(rng, "c", "conv", 4, 5, 5, 4, 3, 4, 3, 1, 1)]
    fc = random_layer(rng, "fc", "linear", 4 * 25, 1, 1, 2, 1, 100, 1, relu=False)
    plan = compile_plan(QuantNet(1, 10, 10, 1.0, convs + [fc]), budget(40), model=AnalyticModel())
    assert [s.fifo_depth for s in plan.stages] == [2 * 10, 5, 3, 0]


# ----- errors ---------------------------------------------------------------------------------
def test_too_small_budget_names_resource_and_shortfall():
    qnet = random_qnet(np.random.default_rng(1), n_conv=2)
    need = min_dsp(qnet)
    with pytest.raises(ConfigError, match=rf"DSPs.*needs {need}, budget has 1, short by {need - 1}"):
        compile_plan(qnet, budget(1), model=AnalyticModel())
    with pytest.raises(ConfigError, match=r"LUT4s.*short by"):
        compile_plan(qnet, budget(100, lut4=10), model=AnalyticModel())


def test_operand_wider_than_the_target_multiplier_is_rejected():
    """A 16-bit sum-pool output (window 16·9 = 144, |E| ≤ 128·144) fits 18- and 16-bit
    multipliers, not 15-bit ones."""
    rng = np.random.default_rng(6)
    conv = random_layer(rng, "wide", "conv", 16, 4, 4, 2, 3, 1, 1, padding=1)
    qnet = QuantNet(16, 4, 4, 1.0, [conv,
                                     random_layer(rng, "fc", "linear", 32, 1, 1, 2, 1, 4, 1)])
    assert conv.widths().sumpool == 16 and conv.window == 144
    compile_plan(qnet, budget(100), model=AnalyticModel())
    narrow = Budget(lut4=100_000, ff=100_000, dsp=100, ebr=100, dsp_width=15)
    with pytest.raises(ConfigError, match=r"'wide'.*16 bits.*15-bit"):
        compile_plan(qnet, narrow, model=AnalyticModel())


def test_dense_plan_rejects_structured_layer():
    rng = np.random.default_rng(2)
    conv = random_layer(rng, "conv0", "conv", 2, 4, 4, 3, 3, 1, 2)
    qnet = QuantNet(2, 4, 4, 1.0, [conv])
    with pytest.raises(ConfigError, match=r"'conv0'.*structured"):
        compile_plan(qnet, budget(100), dense=True, model=AnalyticModel())
    dense_net = random_qnet(rng, dense=True)
    plan = compile_plan(dense_net, budget(100), dense=True, model=AnalyticModel())
    assert plan.dense and all(s.params.sumpool is None for s in plan.stages)


# ----- plan.json ------------------------------------------------------------------------------
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_plan_round_trips_through_plan_json(tmp_path_factory, seed):
    rng = np.random.default_rng(seed)
    qnet = random_qnet(rng, n_conv=int(rng.integers(1, 4)))
    # load_plan re-derives every stage with the compiler's own models: plan with them
    plan = compile_plan(qnet, budget(100), target="custom budget")
    path = plan.save(tmp_path_factory.mktemp("plan") / "plan.json")
    back = load_plan(path)
    assert back.to_json() == plan.to_json()
    assert back.qnet_sha256 == plan.qnet_sha256
    for a, b in zip(back.qnet.layers, qnet.layers):
        for key in ("alpha", "bias", "multiplier", "shift"):
            assert np.array_equal(getattr(a, key), getattr(b, key))
    assert [s.params for s in back.stages] == [s.params for s in plan.stages]


@pytest.fixture
def saved_plan(tmp_path):
    qnet = random_qnet(np.random.default_rng(3))
    plan = compile_plan(qnet, budget(100))
    return plan.save(tmp_path / "plan.json")


@pytest.mark.parametrize("edit, message", [
    (lambda o: o["qnet"]["layers"][0]["bias"].__setitem__(0, 7777), "qnet_sha256"),
    (lambda o: o.__setitem__("format", "x"), "not a structhw.plan"),
    (lambda o: o.__setitem__("version", 99), "version 99"),
    (lambda o: o["stages"][0]["params"].__setitem__("lanes", 10_000), "lanes=10000 exceeds"),
    (lambda o: o["stages"][0].__setitem__("fifo_depth", "4"), "fifo_depth must be an integer"),
    (lambda o: o["stages"].pop(), "one stage per layer"),
    (lambda o: o["stages"][-1].__setitem__("flatten_before", False), "flatten_before must be true"),
    (lambda o: o.__setitem__("dense", "no"), "'dense' must be true or false"),
    (lambda o: o.__setitem__("dense", True), "structured layers"),
    (lambda o: o["budget"].pop("dsp"), "budget lacks 'dsp'"),
    (lambda o: o["budget"].__setitem__("dsp_primitive", "DSP48E1"), "dsp_primitive must be one of"),
    (lambda o: o["totals"].__setitem__("dsp", 9999), "plan 'totals' is .* but its stages give"),
    (lambda o: o["prediction"].__setitem__("throughput_images_per_cycle", float("nan")),
     "plan 'prediction' is"),
    (lambda o: o["stages"][0].__setitem__("cycles_per_image", 1), "cycles_per_image is 1, but"),
    (lambda o: o.__setitem__("version", True), "version True"),
    (lambda o: o["stages"][0].__setitem__("cycles_per_image", 2**60), "cycles_per_image must be"),
])
def test_load_plan_rejects_malformed_files(saved_plan, edit, message):
    obj = json.loads(saved_plan.read_text())
    edit(obj)
    saved_plan.write_text(json.dumps(obj))
    with pytest.raises(ConfigError, match=message):
        load_plan(saved_plan)


def test_plan_keeps_the_budget_dsp_primitive(tmp_path):
    from structhw.budget import DEVICES

    qnet = random_qnet(np.random.default_rng(4))
    ecp5 = dataclasses.replace(DEVICES["LFE5U-85F"], dsp=20)
    plan = compile_plan(qnet, ecp5)
    assert load_plan(plan.save(tmp_path / "ecp5.json")).budget.dsp_primitive == "MULT18X18D"
    plain = compile_plan(qnet, budget(20))
    assert load_plan(plain.save(tmp_path / "plain.json")).budget.dsp_primitive is None


def test_load_plan_rejects_non_json(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes(b"\x89PNG\x00\xff")
    with pytest.raises(ConfigError, match="plan.json"):
        load_plan(path)


def test_needs_flatten_only_for_spatial_input_to_linear():
    rng = np.random.default_rng(4)
    conv = random_layer(rng, "c", "conv", 1, 3, 3, 2, 3, 1, 1)  # 3×3 valid → 1×1 output
    fc = random_layer(rng, "fc", "linear", 2, 1, 1, 2, 1, 2, 1)
    qnet = QuantNet(1, 3, 3, 1.0, [conv, fc])
    assert not needs_flatten(qnet, 1)
    fc0 = random_layer(rng, "fc0", "linear", 9, 1, 1, 2, 1, 3, 1)
    assert needs_flatten(QuantNet(1, 3, 3, 1.0, [fc0]), 0)


# ----- with the engine generator's own cycle and cost models --------------------------------
def test_plan_with_engine_models_fits_budget():
    qnet = random_qnet(np.random.default_rng(5), n_conv=2)
    small = compile_plan(qnet, DEVICES["LFE5U-12F"])
    large = compile_plan(qnet, DEVICES["LFE5U-85F"])
    for plan in (small, large):
        assert not shortfalls(plan.totals, plan.budget)
    assert large.cycles_per_image <= small.cycles_per_image


@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), n_conv=st.integers(1, 2), dsp=st.integers(8, 60))
def test_random_nets_with_engine_models(seed, n_conv, dsp):
    from structhw.rtl_gen.engine import engine_cycles
    from structhw.rtl_gen.cost import engine_cost
    rng = np.random.default_rng(seed)
    qnet = random_qnet(rng, n_conv=n_conv, C0=int(rng.integers(1, 3)))
    try:
        plan = compile_plan(qnet, budget(dsp, lut4=20_000, ff=20_000, ebr=20))
    except ConfigError as exc:
        assert "short by" in str(exc)
        return
    assert not shortfalls(plan.totals, plan.budget)
    model = HardwareModel()
    for stage, layer in zip(plan.stages, qnet.layers):
        assert stage.cycles == engine_cycles(layer, stage.params)
        assert stage.cost == Resources.of(engine_cost(layer, stage.params))
    if [s.cycles for s in plan.stages].count(plan.cycles_per_image) == 1:
        assert not faster_candidates_fit(plan, model)
