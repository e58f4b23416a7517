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
