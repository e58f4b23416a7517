"""Requantizer against golden.requantize: random accumulators over the layer's whole range,
per-channel M and S, ReLU and no ReLU, under random idle cycles and backpressure."""

import random

import numpy as np
import pytest
import torch
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw import golden
from structhw.qnet import QuantLayer
from structhw.rtl_gen.requant import Requantizer, saturate_int8

from .streams import stream_get, stream_put


def _layer(out_channels, multiplier, shift, bias_bound, relu):
    """A 1×1 layer whose accumulator range reaches ±(127·|α| + bias_bound)."""
    alpha = np.full((out_channels, 1, 1, 1), 127, dtype=np.int64)
    return QuantLayer(name="rq", kind="conv", in_channels=1, in_height=1, in_width=1,
                      out_channels=out_channels, kernel=1, c=1, n=1, stride=1, padding=0,
                      dilation=1, groups=1, relu=relu, alpha=alpha,
                      bias=np.full(out_channels, bias_bound, dtype=np.int64),
                      multiplier=multiplier, shift=shift)


def run_requantizer(layer, lanes, accs, seed):
    """accs: [beats, Cout] accumulators → [beats, Cout] outputs of the Requantizer."""
    dut = Requantizer(layer, lanes)
    groups = dut.groups
    beats = []
    for row in accs:
        for g in range(groups):
            values = [int(row[g * lanes + p]) if g * lanes + p < layer.out_channels else 0
                      for p in range(lanes)]
            beats.append({"values": values, "group": g})
    got = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats, rng=random.Random(seed), idle=0.3)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, len(beats), rng=random.Random(seed + 1), stall=0.3))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    out = np.zeros((len(accs), groups * lanes), dtype=np.int64)
    for i, beat in enumerate(got):
        assert int(beat.group) == i % groups
        for p in range(lanes):
            out[i // groups, (i % groups) * lanes + p] = int(beat.values[p])
    return out[:, :layer.out_channels]


@settings(max_examples=15)
@given(st.integers(1, 5), st.data(), st.booleans(), st.integers(0, 2**16))
def test_requantizer_matches_golden(out_channels, data, relu, seed):
    rng = np.random.default_rng(seed)
    lanes = data.draw(st.integers(1, out_channels))
    shift = rng.integers(1, 40, size=out_channels)
    multiplier = rng.integers(0, 1 << 20, size=out_channels)
    bias_bound = int(rng.integers(0, 1 << 20))
    layer = _layer(out_channels, multiplier, shift, bias_bound, relu)
    bound = 127 * 127 + bias_bound
    accs = rng.integers(-bound, bound + 1, size=(12, out_channels))
    accs[0] = bound
    accs[1] = -bound
    got = run_requantizer(layer, lanes, accs, seed)
    want = golden.requantize(torch.as_tensor(accs), multiplier, shift, relu).numpy()
    assert (got == want).all()


def test_requantizer_rounds_half_up_and_floors_negatives():
    """(acc·M + 2^(S−1)) >> S with M = 1, S = 1: −3 → −1, −1 → 0, 1 → 1, 3 → 2; clamps at ±."""
    layer = _layer(1, np.array([1]), np.array([1]), 1000, relu=False)
    accs = np.array([[-3], [-1], [1], [3], [1000], [-1000]])
    got = run_requantizer(layer, 1, accs, 0)
    assert got[:, 0].tolist() == [-1, 0, 1, 2, 127, -128]


@pytest.mark.parametrize("relu", [False, True])
def test_requantizer_clamps_exactly_at_the_int8_bounds(relu):
    """M = 1, S = 1 maps acc = 2v to v: every value next to a bound and far past it, on both
    sides of 0, through the bit-level bound tests."""
    values = [-(1 << 20), -300, -129, -128, -127, -1, 0, 1, 126, 127, 128, 129, 255, 256, 1 << 20]
    layer = _layer(1, np.array([1]), np.array([1]), 1 << 21, relu=relu)
    accs = np.array([[2 * v] for v in values])
    got = run_requantizer(layer, 1, accs, 0)
    lo = 0 if relu else -128
    assert got[:, 0].tolist() == [min(max(v, lo), 127) for v in values]


@pytest.mark.parametrize("lo", [0, -128])
@pytest.mark.parametrize("bits", [6, 8, 9, 12])
def test_saturate_int8_on_every_value_of_a_width(bits, lo):
    """The bit-level clamp of the requantisers and the lane requantiser, on every signed value
    of widths below, at and above 8 bits."""
    value, out = Signal(signed(bits)), Signal(signed(8))
    m = Module()
    m.d.comb += out.eq(saturate_int8(value, lo))
    wrong = []

    async def bench(ctx):
        for v in range(-(1 << (bits - 1)), 1 << (bits - 1)):
            ctx.set(value, v)
            if ctx.get(out) != min(max(v, lo), 127):
                wrong.append((v, ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert wrong == []


def test_mult18x18d_requantiser_falls_back_to_inferred_multiplies_for_wide_m():
    from structhw.rtl_gen.dsp import fits_primitive
    from amaranth import signed, unsigned

    narrow = _layer(4, [1 << 15] * 4, [20] * 4, 1 << 20, relu=False)
    wide = _layer(4, [1 << 17] * 4, [20] * 4, 1 << 20, relu=False)
    assert Requantizer(narrow, 2, "MULT18X18D").dsp == "MULT18X18D"
    assert Requantizer(wide, 2, "MULT18X18D").dsp is None
    assert fits_primitive("MULT18X18D", signed(18), unsigned(17))
    assert not fits_primitive("MULT18X18D", signed(18), unsigned(18))
