"""Async Amaranth-simulator helpers that drive and drain ``lib.stream`` interfaces with random
idle cycles (valid low) and random backpressure (ready low)."""

import random


async def stream_put(ctx, stream, payloads, *, rng: random.Random | None = None, idle: float = 0.0):
    """Send every payload in order on ``stream`` (a sink of the DUT), idling before a beat with
    probability ``idle``. Returns after the last beat was accepted."""
    for payload in payloads:
        while rng is not None and rng.random() < idle:
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.payload, payload)
        ctx.set(stream.valid, 1)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, count: int, *, rng: random.Random | None = None, stall: float = 0.0):
    """Receive ``count`` beats from ``stream`` (a source of the DUT), holding ready low before a
    beat with probability ``stall``. Returns the payloads (as ctx.get gives them) in order."""
    out = []
    for _ in range(count):
        while rng is not None and rng.random() < stall:
            ctx.set(stream.ready, 0)
            await ctx.tick()
        ctx.set(stream.ready, 1)
        payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
        out.append(payload)
    ctx.set(stream.ready, 0)
    return out


class Deadlock(AssertionError):
    """No output beat for the watchdog's limit of cycles."""


def run_stream_dut(dut, beats: list, out_count: int, *, seed: int, idle: float, stall: float,
                   watchdog: int | None = None, diagnose=None):
    """Simulate ``dut`` (ports ``i`` and ``o``, one ``sync`` domain): send ``beats`` on ``i``
    with random idle cycles, take ``out_count`` beats from ``o`` under random backpressure.

    With ``watchdog``, :class:`Deadlock` when no beat comes out for that many cycles, its
    message followed by ``diagnose(ctx)`` (a description of where the stream stopped).

    Returns (output beats as lists of ints, the cycle at which each output beat was accepted).
    """
    from amaranth import ClockDomain, Module
    from amaranth.sim import Simulator

    got, out_cycles = [], []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats, rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, out_count, rng=random.Random(seed + 1),
                                    stall=stall))

    async def output_cycles(ctx):
        cycle = quiet = 0
        async for _clk, _rst, valid, ready in ctx.tick().sample(dut.o.valid, dut.o.ready):
            cycle += 1
            quiet = 0 if valid and ready else quiet + 1
            if valid and ready:
                out_cycles.append(cycle)
            if watchdog is not None and quiet > watchdog:
                break
        else:
            return
        where = f": {diagnose(ctx)}" if diagnose else ""
        raise Deadlock(f"no output for {watchdog} cycles (beat {len(out_cycles)} of "
                       f"{out_count}){where}")

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(output_cycles, background=True)
    sim.run()
    return [[int(v) for v in beat] for beat in got], out_cycles
