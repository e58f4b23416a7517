"""RegisteredMultiplier: the inferred form in Amaranth's simulator, the ECP5 MULT18X18D form (and
its behavioural model) in Verilator, both against a Python model of two enabled registers, with
random operand shapes, values and clock enables."""

import numpy as np
import pytest
from amaranth import Module, Shape, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from structhw.errors import ConfigError
from structhw.rtl_gen.dsp import (MULT18X18D_MODEL, RegisteredMultiplier, primitive_models,
                                  product_shape)
from structhw.rtl_gen.verilog import simulation_sources, write_verilog
from structhw.sim.runner import run, simulator_available


def expected_outputs(a, b, en) -> list:
    """p after reset and after each clock edge: inputs (a[k], b[k], en[k]) before edge k."""
    a_r = b_r = p = 0
    out = [p]
    for x, y, e in zip(a, b, en):
        if e:
            p, a_r, b_r = a_r * b_r, x, y
        out.append(p)
    return out


def random_operands(shape: Shape, rng, count: int) -> list:
    low = -(1 << (shape.width - 1)) if shape.signed else 0
    high = (1 << (shape.width - 1)) if shape.signed else (1 << shape.width)
    extremes = [low, high - 1, 0, -1 if shape.signed else 1]
    values = rng.integers(low, high, size=count).tolist()
    return [int(v) for v in extremes + values[len(extremes):]]


def operand_shapes(max_signed_bits: int):
    """Signed shapes up to ``max_signed_bits`` and unsigned ones up to one bit fewer."""
    return st.one_of(st.integers(2, max_signed_bits).map(signed),
                     st.integers(1, max_signed_bits - 1).map(unsigned))


@settings(max_examples=25, deadline=None)
@given(a_shape=operand_shapes(24), b_shape=operand_shapes(24), seed=st.integers(0, 2**16))
def test_inferred_form_is_two_enabled_registers(a_shape, b_shape, seed):
    rng = np.random.default_rng(seed)
    a = random_operands(a_shape, rng, 60)
    b = random_operands(b_shape, rng, 60)
    en = [int(v) for v in rng.random(60) < 0.7]
    dut = RegisteredMultiplier(a_shape, b_shape)
    assert dut.p.shape() == product_shape(a_shape, b_shape)
    got = []

    async def bench(ctx):
        got.append(ctx.get(dut.p))
        for x, y, e in zip(a, b, en):
            ctx.set(dut.a, x)
            ctx.set(dut.b, y)
            ctx.set(dut.en, e)
            await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected_outputs(a, b, en)


class MultiplierPairs(wiring.Component):
    """Both forms of a multiplier per operand-shape pair k, on the same inputs ``a{k}``, ``b{k}``,
    ``en{k}``: outputs ``p_inferred{k}`` and ``p_primitive{k}``."""

    def __init__(self, shape_pairs):
        self.shape_pairs = list(shape_pairs)
        members = {}
        for k, (a_shape, b_shape) in enumerate(self.shape_pairs):
            p = product_shape(a_shape, b_shape)
            members.update({f"a{k}": In(a_shape), f"b{k}": In(b_shape), f"en{k}": In(1),
                            f"p_inferred{k}": Out(p), f"p_primitive{k}": Out(p)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for k, shapes in enumerate(self.shape_pairs):
            inferred = RegisteredMultiplier(*shapes)
            primitive = RegisteredMultiplier(*shapes, "MULT18X18D")
            m.submodules[f"inferred{k}"], m.submodules[f"primitive{k}"] = inferred, primitive
            for mult, out in ((inferred, f"p_inferred{k}"), (primitive, f"p_primitive{k}")):
                m.d.comb += [mult.a.eq(getattr(self, f"a{k}")), mult.b.eq(getattr(self, f"b{k}")),
                             mult.en.eq(getattr(self, f"en{k}")), getattr(self, out).eq(mult.p)]
        return m


SHAPE_PAIRS = [
    (signed(18), signed(8)),       # MAC array: widest sum-pool operand × α
    (signed(8), signed(8)),        # MAC array, dense layer
    (unsigned(17), unsigned(16)),  # requantiser: low accumulator slice × M
    (signed(18), unsigned(16)),    # requantiser: signed top slice × M
    (signed(18), signed(18)),      # the whole signed range of both inputs
    (unsigned(17), signed(18)),
]


@pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
def test_mult18x18d_form_matches_the_register_model_in_verilator(tmp_path):
    rng = np.random.default_rng(18)
    cycles = 500
    pairs = []
    for a_shape, b_shape in SHAPE_PAIRS:
        a_shape, b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        pairs.append({"a": random_operands(a_shape, rng, cycles),
                      "b": random_operands(b_shape, rng, cycles),
                      "en": [int(v) for v in rng.random(cycles) < 0.7],
                      "a_bits": a_shape.width, "b_bits": b_shape.width,
                      "p_signed": product_shape(a_shape, b_shape).signed})
    verilog = write_verilog(MultiplierPairs(SHAPE_PAIRS), tmp_path / "rtl", "mult_pairs")
    sources = simulation_sources(verilog)
    assert [s.name for s in sources] == ["mult_pairs.v", MULT18X18D_MODEL, "mult_pairs.vlt"]
    result = run("tests.rtl.mult_bench", sources, "mult_pairs", params={"pairs": pairs},
                 build_root=tmp_path / "cache", work_dir=tmp_path / "run")
    for shapes, pair, got in zip(SHAPE_PAIRS, pairs, result.data["pairs"]):
        expected = expected_outputs(pair["a"], pair["b"], pair["en"])
        assert got["inferred"] == expected, f"inferred form, operands {shapes}"
        assert got["primitive"] == expected, f"MULT18X18D form, operands {shapes}"


def test_operands_wider_than_the_mult18x18d_are_refused():
    with pytest.raises(ConfigError, match="operand a .* 18-bit signed"):
        RegisteredMultiplier(signed(19), signed(8), "MULT18X18D")
    with pytest.raises(ConfigError, match="operand b .* 18-bit signed"):
        RegisteredMultiplier(signed(8), unsigned(18), "MULT18X18D")
    with pytest.raises(ConfigError, match="DSP primitive 'DSP48E1'"):
        RegisteredMultiplier(signed(8), signed(8), "DSP48E1")


def test_models_only_for_designs_that_instantiate_the_primitive(tmp_path):
    pair = write_verilog(MultiplierPairs([(signed(8), signed(8))]), tmp_path / "pair", "pair")
    assert [m.name for m in primitive_models(pair.read_text())] == [MULT18X18D_MODEL]
    assert (pair.parent / MULT18X18D_MODEL).is_file()
    plain = write_verilog(RegisteredMultiplier(signed(8), signed(8)), tmp_path / "plain", "plain")
    assert primitive_models(plain.read_text()) == []
    assert simulation_sources(plain) == [plain, plain.with_suffix(".vlt")]
    (pair.parent / MULT18X18D_MODEL).unlink()
    with pytest.raises(ConfigError, match="models are missing"):
        simulation_sources(pair)
