# amaranth: UnusedElaboratable=no
"""Fork: every consumer gets every beat once, in order, under independent backpressure; with no
stalls one beat per cycle and no cycle of latency."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import ClockDomain, Module, signed
from amaranth.lib import data
from amaranth.sim import Simulator

from structhw.errors import ConfigError
from structhw.rtl_gen.fork import Fork

from .streams import stream_get, stream_put


def run_fork(dut, beats, *, seed, idle, stalls):
    """Send ``beats``, drain every output with its own stall probability. Returns (beats per
    output, accept cycles per output, first input accept cycle)."""
    got = [[] for _ in dut.o]
    cycles = [[] for _ in dut.o]
    first = []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats, rng=random.Random(seed), idle=idle)

    def consumer(k):
        async def bench(ctx):
            got[k].extend(await stream_get(ctx, dut.o[k], len(beats),
                                           rng=random.Random(seed + 1 + k), stall=stalls[k]))
        return bench

    async def watch(ctx):
        cycle = 0
        signals = [dut.i.valid, dut.i.ready] + [s for o in dut.o for s in (o.valid, o.ready)]
        async for sample in ctx.tick().sample(*signals):
            if sample[2] and sample[3] and not first:
                first.append(cycle)
            for k in range(len(dut.o)):
                if sample[4 + 2 * k] and sample[5 + 2 * k]:
                    cycles[k].append(cycle)
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    for k in range(len(dut.o)):
        sim.add_testbench(consumer(k))
    sim.add_testbench(watch, background=True)
    sim.run()
    return [[[int(v) for v in px] for px in out] for out in got], cycles, first


@settings(max_examples=5, deadline=None)
@given(count=st.integers(1, 3), C=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_fork_delivers_every_beat_to_every_consumer(count, C, seed):
    rng = random.Random(seed)
    beats = [[rng.randrange(-128, 128) for _ in range(C)] for _ in range(40)]
    stalls = [rng.choice([0.0, 0.3, 0.6]) for _ in range(count)]
    got, _, _ = run_fork(Fork(data.ArrayLayout(signed(8), C), count), beats, seed=seed,
                         idle=0.3, stalls=stalls)
    assert got == [beats] * count


def test_fork_one_beat_per_cycle_without_latency():
    beats = [[v, -v] for v in range(20)]
    got, cycles, _ = run_fork(Fork(data.ArrayLayout(signed(8), 2), 3), beats, seed=0,
                              idle=0.0, stalls=[0.0] * 3)
    assert got == [beats] * 3
    assert cycles == [list(range(20))] * 3


def test_fork_refuses_no_consumer():
    with pytest.raises(ConfigError, match="count"):
        Fork(data.ArrayLayout(signed(8), 2), 0)
