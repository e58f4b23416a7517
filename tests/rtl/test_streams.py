"""The stream helpers themselves: through a FIFO, no beat is lost, duplicated or reordered."""

import random

import pytest
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from .streams import stream_get, stream_put


class _Fifo(wiring.Component):
    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=3)
        m.d.comb += [fifo.w_data.eq(self.i.payload), fifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(fifo.w_rdy), self.o.payload.eq(fifo.r_data),
                     self.o.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o.ready)]
        return m


def _pass_through(dut, data: list, seed: int, idle: float, stall: float) -> list:
    """What ``dut`` (streams ``i``, ``o``) puts out for ``data`` sent with random idle cycles
    and taken under random backpressure (seeds ``seed + 1``, ``seed + 2``)."""
    got = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, data, rng=random.Random(seed + 1), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, len(data), rng=random.Random(seed + 2),
                                    stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return got


def test_stream_helpers_keep_order_under_stalls():
    data = [random.Random(1).randrange(256) for _ in range(1)] + list(range(50))
    assert _pass_through(_Fifo(), data, seed=1, idle=0.4, stall=0.4) == data


@pytest.mark.parametrize("seed", range(6))
def test_skid_buffer_passes_every_beat_in_order_under_random_backpressure(seed):
    from structhw.rtl_gen.streams import SkidBuffer

    rng = random.Random(seed)
    beats = [rng.randrange(1 << 12) for _ in range(120)]
    idle, stall = rng.choice((0.0, 0.3, 0.7)), rng.choice((0.0, 0.3, 0.7))
    assert _pass_through(SkidBuffer(12), beats, seed + 10, idle, stall) == beats


def test_skid_buffer_ready_ignores_the_consumer_in_the_same_cycle():
    """``i.ready`` is ``~full``: dropping ``o.ready`` under an offered beat leaves it high in
    that cycle and takes the beat (it falls the next cycle, with the beat held)."""
    from structhw.rtl_gen.streams import SkidBuffer

    dut = SkidBuffer(8)
    seen = []

    async def bench(ctx):
        ctx.set(dut.i.payload, 0x5A)
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 0)
        seen.append((ctx.get(dut.i.ready), ctx.get(dut.o.valid), ctx.get(dut.o.payload)))
        await ctx.tick()
        ctx.set(dut.i.payload, 0x11)
        seen.append((ctx.get(dut.i.ready), ctx.get(dut.o.valid), ctx.get(dut.o.payload)))
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        seen.append((ctx.get(dut.i.ready), ctx.get(dut.o.valid)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(1, 1, 0x5A), (0, 1, 0x5A), (1, 0)]
