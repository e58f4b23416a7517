# amaranth: UnusedElaboratable=no
"""Flatten against torch's (C, H, W) flatten, images back to back, under random idle/backpressure."""


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw.errors import ConfigError
from structhw.rtl_gen.flatten import Flatten

from .streams import run_stream_dut


def _pixels(image: torch.Tensor) -> list:
    c, h, w = image.shape
    return [[int(v) for v in image[:, r, q]] for r in range(h) for q in range(w)]


def _simulate(dut: Flatten, images: list, *, seed: int, idle: float, stall: float):
    """Returns (output beats as lists of ints, cycle of every accepted output beat)."""
    beats = [px for image in images for px in _pixels(image)]
    return run_stream_dut(dut, beats, len(images), seed=seed, idle=idle, stall=stall)


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
