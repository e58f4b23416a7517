"""The stream helpers themselves: through a FIFO, no beat is lost, duplicated or reordered."""

import random

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


def test_stream_helpers_keep_order_under_stalls():
    dut = _Fifo()
    data = [random.Random(1).randrange(256) for _ in range(1)] + list(range(50))
    got = []

    async def producer(ctx):
        await stream_put(ctx, dut.i, data, rng=random.Random(2), idle=0.4)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, len(data), rng=random.Random(3), stall=0.4))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == data
