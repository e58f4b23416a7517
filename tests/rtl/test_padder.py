# amaranth: UnusedElaboratable=no
"""Padder against torch's zero padding, under random idle/backpressure, two images back to back."""

import random

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from structhw.errors import ConfigError
from structhw.rtl_gen.padder import Padder

from .streams import stream_get, stream_put


def _pixels(image: torch.Tensor) -> list:
    """[C, H, W] tensor → raster list of per-pixel channel lists."""
    c, h, w = image.shape
    return [[int(v) for v in image[:, r, q]] for r in range(h) for q in range(w)]


def run_stream(dut, beats_in: list, n_out: int, *, seed: int, idle: float, stall: float):
    """Stream ``beats_in`` into ``dut.i`` and take ``n_out`` beats from ``dut.o`` with random idle
    and backpressure. Returns (output payloads as nested lists, cycles from the first to the last
    accepted input beat inclusive)."""
    got, cycles = [], {}
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats_in, rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, n_out, rng=random.Random(seed + 1), stall=stall))

    async def input_cycle_counter(ctx):
        cycle = 0
        async for _clk, _rst, valid, ready in ctx.tick().sample(dut.i.valid, dut.i.ready):
            cycle += 1
            if valid and ready:
                cycles.setdefault("first", cycle)
                cycles["last"] = cycle

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(input_cycle_counter, background=True)
    sim.run()
    return _as_lists(got), cycles["last"] - cycles["first"] + 1


def _as_lists(payloads) -> list:
    return [[int(v) for v in px] for px in payloads]


def _run(dut: Padder, images: list, *, seed: int, idle: float, stall: float):
    beats_in = [px for image in images for px in _pixels(image)]
    n_out = len(images) * dut.out_height * dut.out_width
    return run_stream(dut, beats_in, n_out, seed=seed, idle=idle, stall=stall)


@settings(max_examples=15)
@given(channels=st.integers(1, 4), height=st.integers(1, 5), width=st.integers(1, 5),
       padding=st.integers(0, 2), seed=st.integers(0, 2**16),
       idle=st.sampled_from([0.0, 0.3]), stall=st.sampled_from([0.0, 0.3]))
def test_padder_matches_zero_padding(channels, height, width, padding, seed, idle, stall):
    gen = torch.Generator().manual_seed(seed)
    images = [torch.randint(-128, 128, (channels, height, width), generator=gen) for _ in range(2)]
    dut = Padder(channels, height, width, padding)
    got, _ = _run(dut, images, seed=seed, idle=idle, stall=stall)
    expected = [px for image in images for px in _pixels(F.pad(image, (padding,) * 4))]
    assert got == expected


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_padder_sustains_one_beat_per_cycle(padding):
    channels, height, width = 2, 4, 3
    images = [torch.full((channels, height, width), k + 1) for k in range(2)]
    dut = Padder(channels, height, width, padding)
    got, cycles = _run(dut, images, seed=0, idle=0.0, stall=0.0)
    expected = [px for image in images for px in _pixels(F.pad(image, (padding,) * 4))]
    assert got == expected
    # Input beats are accepted from the first to the last in exactly this many cycles: every
    # cycle carries one output beat, so the span is the output count minus the border beats
    # before the first and after the last interior pixel of the two images.
    lead = padding * dut.out_width + padding
    assert cycles == len(expected) - 2 * lead


@pytest.mark.parametrize("kwargs, name", [
    (dict(channels=0, height=2, width=2, padding=1), "channels"),
    (dict(channels=1, height=2, width=2, padding=-1), "padding"),
    (dict(channels=1, height=2, width=0, padding=1), "width"),
    (dict(channels=1, height=2, width=2, padding=1, width_bits=0), "width_bits"),
])
def test_padder_rejects_bad_parameters(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        Padder(**kwargs)
