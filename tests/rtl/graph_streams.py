"""Simulating a :class:`~structhw.rtl_gen.graph_network.GraphNetwork` in Amaranth with random
idle input and output backpressure, under a deadlock watchdog that names the stalled node."""

import random

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from .streams import stream_get, stream_put


class Deadlock(AssertionError):
    """No output beat for the watchdog's limit of cycles."""


def stalled_node(ctx, net) -> str:
    """The first node (graph order) holding an input beat it does not take while its own
    output is free: the place the stream stopped, with the state of every node's ports."""
    lines, first = [], None
    for name, (inputs, out) in net.parts.items():
        ins = [(ctx.get(p.valid), ctx.get(p.ready)) for p in inputs]
        o = (ctx.get(out.valid), ctx.get(out.ready))
        lines.append(f"{name}: in " + ", ".join(f"v{v}r{r}" for v, r in ins) +
                     f"; out v{o[0]}r{o[1]}")
        waiting = any(v and not r for v, r in ins) and not (o[0] and not o[1])
        if first is None and waiting:
            first = name
    return f"stalled at node {first!r}\n" + "\n".join(lines)


def run_graph_dut(net, beats: list, out_count: int, *, seed: int, idle: float, stall: float,
                  watchdog: int):
    """Send ``beats`` (one list of C0 ints per pixel) into ``net``, take ``out_count`` logit
    beats; :class:`Deadlock` naming the stalled node when no beat comes out for ``watchdog``
    cycles. Returns (output beats as lists of ints, the cycle each was taken)."""
    got, out_cycles, failure = [], [], []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = net

    async def producer(ctx):
        await stream_put(ctx, net.i, beats, rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, net.o, out_count, rng=random.Random(seed + 1),
                                    stall=stall))

    async def watch(ctx):
        cycle = quiet = 0
        async for _clk, _rst, valid, ready in ctx.tick().sample(net.o.valid, net.o.ready):
            cycle += 1
            quiet = 0 if valid and ready else quiet + 1
            if valid and ready:
                out_cycles.append(cycle)
            if quiet > watchdog and not failure:
                failure.append(f"no output for {watchdog} cycles (beat {len(out_cycles)} of "
                               f"{out_count}): {stalled_node(ctx, net)}")
                raise Deadlock(failure[0])

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(watch, background=True)
    sim.run()
    return [[int(v) for v in beat] for beat in got], out_cycles
