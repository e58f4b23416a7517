"""LayerEngine against the golden integer model: dense and structured, stride, padding, dilation,
groups (depthwise), pointwise and linear; two images back to back under random idle cycles and
backpressure; cycles per image without stalls against ``engine_cycles``."""

import random

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw import golden
from structhw.errors import ConfigError
from structhw.rtl_gen.engine import (LayerEngine, engine_cycles, engine_latency,
                                     engine_throughput_bound)
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer

from .streams import stream_put


def simulate_engine(layer, params, x, *, idle=0.0, stall=0.0, seed=0, engine=LayerEngine):
    """Run ``x`` ([B, C, H, W] int8 values) through a LayerEngine. Returns the output as a
    [B, Cout, H', W'] array and the cycle (counted by the consumer) at which each output beat
    was taken."""
    dut = engine(layer, params)
    B = x.shape[0]
    beats = [[int(v) for v in x[b, :, yy, xx]]
             for b in range(B) for yy in range(x.shape[2]) for xx in range(x.shape[3])]
    count = B * layer.out_height * layer.out_width
    got, times = [], []

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats, rng=random.Random(seed), idle=idle)

    async def consumer(ctx):
        rng = random.Random(seed + 1)
        cycle = 0
        for _ in range(count):
            while rng.random() < stall:
                ctx.set(dut.o.ready, 0)
                await ctx.tick()
                cycle += 1
            ctx.set(dut.o.ready, 1)
            while True:
                *_, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                cycle += 1
                if valid:
                    break
            got.append([int(payload[i]) for i in range(layer.out_channels)])
            times.append(cycle)
        ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    out = np.array(got).reshape(B, layer.out_height, layer.out_width, layer.out_channels)
    return out.transpose(0, 3, 1, 2), times


def random_input(layer, images, seed):
    rng = np.random.default_rng(seed)
    if layer.kind == "linear":
        return rng.integers(-128, 128, size=(images, layer.in_channels, 1, 1))
    return rng.integers(-128, 128, size=(images, layer.in_channels, layer.in_height, layer.in_width))


def check_engine(layer, params, seed, idle=0.3, stall=0.3, engine=LayerEngine):
    x = random_input(layer, 2, seed)
    want = golden.run_layer(torch.as_tensor(x), layer).numpy()
    got, _ = simulate_engine(layer, params, x, idle=idle, stall=stall, seed=seed, engine=engine)
    assert got.shape == want.shape
    assert (got == want).all(), f"mismatch at {np.argwhere(got != want)[:5].tolist()}"


@st.composite
def layer_configs(draw, dense: bool):
    """(layer kwargs, lanes, mults) for small random layers of every supported kind: conv,
    grouped conv (2 groups), depthwise, pointwise, linear."""
    kind = draw(st.sampled_from(["conv", "conv", "grouped", "depthwise", "pointwise", "linear"]))
    groups, dilation, stride, pad = 1, 1, 1, 0
    if kind == "linear":
        C, N, H, W = draw(st.integers(2, 12)), 1, 1, 1
    else:
        C = draw(st.integers(1, 5))
        N = 1 if kind == "pointwise" else draw(st.integers(2, 3))
        stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 2))
        dilation = 1 if kind == "pointwise" else draw(st.integers(1, 2))
        span = dilation * (N - 1) + 1
        H = draw(st.integers(max(1, span - 2 * pad), 7))
        W = draw(st.integers(max(1, span - 2 * pad), 7))
        if kind == "depthwise":
            groups = C
        elif kind == "grouped":
            C, groups = 2 * draw(st.integers(1, 3)), 2
    if kind == "depthwise":
        Cout = C
    elif kind == "grouped":
        Cout = 2 * draw(st.integers(1, 3))
    else:
        Cout = draw(st.integers(1, 6))
    cg = C // groups
    c, n = (cg, N) if dense else (draw(st.integers(1, cg)), draw(st.integers(1, N)))
    if not dense and c == cg and n == N:
        if cg > 1:
            c = cg - 1
        elif N > 1:
            n = N - 1
    kw = dict(C=C, N=N, c=c, n=n, Cout=Cout, H=H, W=W, stride=stride, pad=pad,
              dilation=dilation, groups=groups, relu=draw(st.booleans()),
              kind="linear" if kind == "linear" else "conv")
    lanes = draw(st.integers(1, Cout))
    mults = draw(st.integers(1, c * n * n))
    return kw, lanes, mults


def _params(layer, lanes, mults, arch):
    return EngineParams(lanes, mults, None if layer.is_dense else arch)


@settings(max_examples=12)
@given(layer_configs(dense=True), st.integers(0, 2**16))
def test_dense_engine_matches_golden(config, seed):
    kw, lanes, mults = config
    layer = random_quant_layer(seed=seed, **kw)
    check_engine(layer, _params(layer, lanes, mults, None), seed)


@settings(max_examples=12)
@given(layer_configs(dense=False), st.sampled_from(["tree", "separable"]), st.integers(0, 2**16))
def test_structured_engine_matches_golden(config, arch, seed):
    kw, lanes, mults = config
    layer = random_quant_layer(seed=seed, **kw)
    check_engine(layer, _params(layer, lanes, mults, arch), seed)


@pytest.mark.parametrize("kw, lanes, mults", [
    (dict(C=4, N=3, c=4, n=3, Cout=5, H=6, W=5, stride=1, pad=1), 2, 9),       # MAC-bound
    (dict(C=3, N=3, c=3, n=3, Cout=3, H=8, W=7, stride=1, pad=1, dilation=2), 3, 27),  # input-bound
    (dict(C=4, N=3, c=4, n=3, Cout=5, H=7, W=6, stride=2, pad=2), 2, 4),
    (dict(C=4, N=3, c=1, n=3, Cout=4, H=5, W=5, stride=1, pad=1, groups=4), 3, 2),
    (dict(C=10, N=1, c=10, n=1, Cout=3, H=1, W=1, stride=1, pad=0, kind="linear"), 1, 3),
    (dict(C=8, N=3, c=8, n=3, Cout=16, H=8, W=8, stride=2, pad=1), 1, 72),  # demo layer 2, queued
])
def test_dense_cycles_per_image_match_model(kw, lanes, mults):
    layer = random_quant_layer(seed=7, **kw)
    params = EngineParams(lanes, mults)
    x = random_input(layer, 3, 7)
    got, times = simulate_engine(layer, params, x)
    assert (got == golden.run_layer(torch.as_tensor(x), layer).numpy()).all()
    per_image = layer.out_height * layer.out_width
    measured = times[3 * per_image - 1] - times[2 * per_image - 1]
    assert measured == engine_cycles(layer, params)
    assert measured >= engine_throughput_bound(layer, params)
    assert times[0] - 1 == engine_latency(layer, params)


def test_full_rate_engine_accepts_one_pixel_per_cycle():
    """With P = Cout and T = c·n² (one step per window) the engine is input-bound: one padded
    input pixel per cycle."""
    layer = random_quant_layer(C=3, N=3, c=3, n=3, Cout=4, H=6, W=6, stride=1, pad=1, seed=2)
    params = EngineParams(4, 27)
    x = random_input(layer, 3, 2)
    _, times = simulate_engine(layer, params, x)
    measured = times[3 * 36 - 1] - times[2 * 36 - 1]
    assert measured == engine_cycles(layer, params) == 8 * 8


def test_engine_rejects_operand_beyond_dsp_width():
    layer = random_quant_layer(C=64, N=7, c=1, n=1, Cout=2, H=7, W=7, stride=1, pad=0, seed=0)
    with pytest.raises(ConfigError, match="18-bit"):
        LayerEngine(layer, EngineParams(1, 1, "tree"))


def test_engine_rejects_params_beyond_layer():
    layer = random_quant_layer(C=2, N=3, c=2, n=3, Cout=2, H=4, W=4, stride=1, pad=1, seed=0)
    with pytest.raises(ConfigError, match="lanes"):
        LayerEngine(layer, EngineParams(3, 1))
    with pytest.raises(ConfigError, match="mults"):
        LayerEngine(layer, EngineParams(1, 19))
    with pytest.raises(ConfigError, match="sum-pool"):
        LayerEngine(layer, EngineParams(1, 1, "tree"))


@pytest.mark.parametrize("arch", ["tree", "separable"])
@pytest.mark.parametrize("kw, lanes, mults", [
    (dict(C=4, N=3, c=2, n=2, Cout=5, H=6, W=5, stride=1, pad=1), 2, 3),        # MAC-bound
    (dict(C=4, N=3, c=2, n=2, Cout=3, H=6, W=7, stride=1, pad=1), 3, 8),        # input-bound
    (dict(C=4, N=3, c=3, n=2, Cout=4, H=7, W=6, stride=2, pad=2, dilation=2), 2, 5),
    (dict(C=8, N=3, c=4, n=3, Cout=16, H=8, W=8, stride=2, pad=1), 2, 36),     # demo layer 2
])
def test_structured_cycles_per_image_match_model(kw, lanes, mults, arch):
    layer = random_quant_layer(seed=5, **kw)
    params = EngineParams(lanes, mults, arch)
    x = random_input(layer, 3, 5)
    got, times = simulate_engine(layer, params, x)
    assert (got == golden.run_layer(torch.as_tensor(x), layer).numpy()).all()
    per_image = layer.out_height * layer.out_width
    measured = times[3 * per_image - 1] - times[2 * per_image - 1]
    assert measured == engine_cycles(layer, params)
    assert times[0] - 1 == engine_latency(layer, params)
