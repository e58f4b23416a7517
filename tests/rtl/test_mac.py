"""MacArray against a direct sum: for each window, every output channel's bias + Σ α·window
over its conv group's channels, lane group by lane group, under random stalls on both sides."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw.errors import ConfigError
from structhw.rtl_gen.mac import MacArray, MacSchedule
from structhw.rtl_gen.random_layer import random_quant_layer

from .streams import stream_get, stream_put


def expected_accumulators(layer, windows):
    """windows: [B, n·n·Ce] (tap-major, channel-minor) → [B, Cout] exact accumulators."""
    n, c, ce = layer.n, layer.c, layer.sumpool_channels
    w = windows.reshape(len(windows), n, n, ce)
    per_group = layer.out_channels // layer.groups
    out = np.zeros((len(windows), layer.out_channels), dtype=object)
    for o in range(layer.out_channels):
        base = (o // per_group) * c
        taps = w[:, :, :, base:base + c].transpose(0, 3, 1, 2).reshape(len(windows), -1)
        out[:, o] = taps.astype(object) @ layer.alpha[o].reshape(-1).astype(object) + int(layer.bias[o])
    return out


MAX_CYCLES_PER_STEP = 40
"""Simulated cycles allowed per MAC step (stalls included) before a run counts as stuck."""


def run_mac(layer, lanes, mults, operand_bits, windows, seed, *, idle=0.3, stall=0.3,
            consumer_wait=0):
    """Feed ``windows`` to a MacArray and collect its accumulators [B, Cout]; the consumer
    holds ready low for ``consumer_wait`` cycles before its first beat."""
    dut = MacArray(layer, lanes, mults, operand_bits)
    groups = MacSchedule(layer, lanes, mults).groups
    got = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, [[int(v) for v in w] for w in windows],
                         rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        if consumer_wait:
            await ctx.tick().repeat(consumer_wait)
        got.extend(await stream_get(ctx, dut.o, len(windows) * groups,
                                    rng=random.Random(seed + 1), stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    cycles = MAX_CYCLES_PER_STEP * len(windows) * groups * MacSchedule(layer, lanes, mults).passes
    sim.run_until((cycles + consumer_wait) * 1e-6)
    assert len(got) == len(windows) * groups, \
        f"{len(got)} of {len(windows) * groups} output beats within {cycles + consumer_wait} cycles"
    out = np.zeros((len(windows), groups * lanes), dtype=object)
    for i, beat in enumerate(got):
        assert int(beat.group) == i % groups
        for p in range(lanes):
            out[i // groups, (i % groups) * lanes + p] = int(beat.values[p])
    return out[:, :layer.out_channels]


@settings(max_examples=15)
@given(st.data(), st.integers(0, 2**16))
def test_mac_array_matches_direct_sum(data, seed):
    groups = data.draw(st.integers(1, 3))
    C = groups * data.draw(st.integers(1, 3))
    Cout = groups * data.draw(st.integers(1, 3))
    N = data.draw(st.integers(1, 3))
    c, n = data.draw(st.integers(1, C // groups)), data.draw(st.integers(1, N))
    layer = random_quant_layer(C, N, c, n, Cout, N, N, 1, 0, seed=seed, groups=groups)
    lanes = data.draw(st.integers(1, Cout))
    mults = data.draw(st.integers(1, c * n * n))
    bits = layer.widths().sumpool
    rng = np.random.default_rng(seed)
    lo, hi = -128 * layer.window, 127 * layer.window
    windows = rng.integers(lo, hi + 1, size=(4, n * n * layer.sumpool_channels))
    windows[0] = hi
    windows[1] = lo
    got = run_mac(layer, lanes, mults, bits, windows, seed)
    assert (got == expected_accumulators(layer, windows)).all()


@settings(max_examples=10)
@given(st.data(), st.integers(0, 2**16))
def test_mac_array_holds_its_window_while_its_output_fifo_is_full(data, seed):
    """A consumer that takes nothing for 80 cycles, then stalls often: the output FIFO fills,
    the issue stage must hold a group's last step and the array must not take the next window
    (its registered ready follows the credits), so every accumulator is still exact."""
    C, Cout, N = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 2))
    c, n = data.draw(st.integers(1, C)), data.draw(st.integers(1, N))
    layer = random_quant_layer(C, N, c, n, Cout, N, N, 1, 0, seed=seed)
    lanes = data.draw(st.integers(1, Cout))
    mults = data.draw(st.integers(1, c * n * n))
    lo, hi = -128 * layer.window, 127 * layer.window
    windows = np.random.default_rng(seed).integers(lo, hi + 1,
                                                   size=(24, n * n * layer.sumpool_channels))
    got = run_mac(layer, lanes, mults, layer.widths().sumpool, windows, seed, idle=0.0,
                  stall=0.6, consumer_wait=80)
    assert (got == expected_accumulators(layer, windows)).all()


def test_mac_array_rejects_operands_wider_than_dsp():
    layer = random_quant_layer(4, 3, 2, 2, 2, 3, 3, 1, 0, seed=0)
    with pytest.raises(ConfigError, match="18-bit"):
        MacArray(layer, 1, 1, 19)


def test_schedule_covers_every_weight_once():
    layer = random_quant_layer(6, 3, 2, 2, 4, 3, 3, 1, 0, seed=1, groups=2)
    sch = MacSchedule(layer, lanes=3, mults=3)
    assert (sch.groups, sch.passes) == (2, 3)
    used = sorted((g * 3 + p, k * 3 + t)
                  for g in range(sch.groups) for p in range(3) for k in range(sch.passes)
                  for t in range(3) if sch.operand[p][t][g][k] is not None)
    assert used == [(o, j) for o in range(4) for j in range(8)]


@settings(max_examples=20)
@given(st.data(), st.integers(0, 2**16))
def test_cost_model_counts_the_operand_muxes_the_array_builds(data, seed):
    """cost.py's closed form for one conv group agrees with the MAC array's own schedule."""
    from structhw.rtl_gen.cost import _distinct_operands
    from structhw.rtl_gen.params import EngineParams

    C, N = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 3))
    c, n, Cout = data.draw(st.integers(1, C)), data.draw(st.integers(1, N)), data.draw(st.integers(1, 5))
    layer = random_quant_layer(C, N, c, n, Cout, N, N, 1, 0, seed=seed)
    lanes, mults = data.draw(st.integers(1, Cout)), data.draw(st.integers(1, c * n * n))
    sch = MacSchedule(layer, lanes, mults)
    built = {}
    for p in range(lanes):
        for t in range(mults):
            by_pass, table = sch.operand_table(p, t)
            built.setdefault((by_pass, tuple(table)), len({e for e in table if e is not None}))
    assert sorted(built.values()) == sorted(_distinct_operands(layer, EngineParams(lanes, mults)))
