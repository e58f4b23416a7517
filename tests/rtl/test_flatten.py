# amaranth: UnusedElaboratable=no
"""Flatten against torch's (C, H, W) flatten, images back to back, under random idle/backpressure."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from structhw.errors import ConfigError
from structhw.rtl_gen.flatten import Flatten

from .streams import stream_get, stream_put


def _pixels(image: torch.Tensor) -> list:
    c, h, w = image.shape
    return [[int(v) for v in image[:, r, q]] for r in range(h) for q in range(w)]


def _simulate(dut: Flatten, images: list, *, seed: int, idle: float, stall: float):
    """Returns (output beats as lists of ints, cycle of every accepted output beat)."""
    got, out_cycles = [], []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def producer(ctx):
        beats = [px for image in images for px in _pixels(image)]
        await stream_put(ctx, dut.i, beats, rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, len(images), rng=random.Random(seed + 1),
                                    stall=stall))

    async def output_cycles(ctx):
        cycle = 0
        async for _clk, _rst, valid, ready in ctx.tick().sample(dut.o.valid, dut.o.ready):
            cycle += 1
            if valid and ready:
                out_cycles.append(cycle)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(output_cycles, background=True)
    sim.run()
    return [[int(v) for v in beat] for beat in got], out_cycles


@settings(max_examples=12)
@given(channels=st.integers(1, 4), height=st.integers(1, 4), width=st.integers(1, 4),
       seed=st.integers(0, 2**16), idle=st.sampled_from([0.0, 0.3]),
       stall=st.sampled_from([0.0, 0.5]))
def test_flatten_matches_torch(channels, height, width, seed, idle, stall):
    gen = torch.Generator().manual_seed(seed)
    images = [torch.randint(-128, 128, (channels, height, width), generator=gen) for _ in range(3)]
    got, _ = _simulate(Flatten(channels, height, width), images, seed=seed, idle=idle, stall=stall)
    assert got == [image.flatten().tolist() for image in images]


def test_flatten_back_to_back_at_one_pixel_per_cycle():
    """Without idle or backpressure an image leaves every H·W cycles: no bubble between images."""
    c, h, w = 2, 3, 2
    gen = torch.Generator().manual_seed(1)
    images = [torch.randint(-128, 128, (c, h, w), generator=gen) for _ in range(4)]
    got, cycles = _simulate(Flatten(c, h, w), images, seed=0, idle=0.0, stall=0.0)
    assert got == [image.flatten().tolist() for image in images]
    assert [b - a for a, b in zip(cycles, cycles[1:])] == [h * w] * 3


@pytest.mark.parametrize("bad", [dict(channels=0, height=1, width=1),
                                 dict(channels=1, height=-1, width=1),
                                 dict(channels=1, height=1, width=2.0)])
def test_flatten_rejects_bad_geometry(bad):
    with pytest.raises(ConfigError, match="Flatten"):
        Flatten(**bad)
