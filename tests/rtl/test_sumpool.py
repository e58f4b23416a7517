# amaranth: UnusedElaboratable=no
"""SumPool (both archs) against the golden sum-pool, element by element: hypothesis-random layers,
two images back to back, random input idle and output backpressure; throughput without stalls;
the cost model; bad configurations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from amaranth.sim import Simulator
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from structhw import golden
from structhw.errors import ConfigError
from structhw.qnet import QuantLayer
from structhw.rtl_gen import sumpool as sumpool_module
from structhw.rtl_gen.channel_sums import ChannelSums
from structhw.rtl_gen.sumpool import ARCHS, SumPool, choose_sumpool_arch, sumpool_cost

from .test_padder import run_stream


def make_layer(*, channels, groups, c, kernel, n, height, width, padding, dilation, seed=0,
               name="sp") -> QuantLayer:
    """A conv QuantLayer of the given geometry with random int8 α (out_channels = groups)."""
    rng = np.random.default_rng(seed)
    cout = groups
    return QuantLayer(
        name=name, kind="conv", in_channels=channels, in_height=height, in_width=width,
        out_channels=cout, kernel=kernel, c=c, n=n, stride=1, padding=padding, dilation=dilation,
        groups=groups, relu=False, alpha=rng.integers(-128, 128, (cout, c, n, n)),
        bias=np.zeros(cout, dtype=np.int64), multiplier=np.ones(cout, dtype=np.int64),
        shift=np.ones(cout, dtype=np.int64))


@st.composite
def layers(draw):
    group_kind = draw(st.sampled_from(["one", "two", "depthwise"]))
    group_channels = 1 if group_kind == "depthwise" else draw(st.integers(1, 8))
    groups = {"one": 1, "two": 2, "depthwise": draw(st.integers(1, 6))}[group_kind]
    kernel = draw(st.integers(1, 4))
    padding, dilation = draw(st.integers(0, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    assume(min(height, width) + 2 * padding >= dilation * (kernel - 1) + 1)
    return make_layer(channels=groups * group_channels, groups=groups,
                      c=draw(st.integers(1, group_channels)), kernel=kernel,
                      n=draw(st.integers(1, kernel)), height=height, width=width,
                      padding=padding, dilation=dilation, seed=draw(st.integers(0, 99)))


def padded_pixels(x: torch.Tensor, padding: int) -> list:
    """[B, C, H, W] images → the raster beats of every zero-padded image, back to back."""
    xp = F.pad(x, (padding,) * 4)
    return [[int(v) for v in xp[b, :, r, q]]
            for b in range(xp.shape[0]) for r in range(xp.shape[2]) for q in range(xp.shape[3])]


def simulate(layer, arch, x, *, seed=0, idle=0.0, stall=0.0):
    """Run ``SumPool(layer, arch)`` on images x; return (E as [B, groups·c, Hs, Ws], input cycles)."""
    dut = SumPool(layer, arch)
    batch = x.shape[0]
    n_out = batch * layer.sumpool_height * layer.sumpool_width
    got, cycles = run_stream(dut, padded_pixels(x, layer.padding), n_out,
                             seed=seed, idle=idle, stall=stall)
    e = torch.tensor(got, dtype=torch.int64).reshape(batch, layer.sumpool_height,
                                                    layer.sumpool_width, layer.sumpool_channels)
    return e.permute(0, 3, 1, 2), cycles


@pytest.mark.parametrize("arch", ARCHS)
@settings(max_examples=15)
@given(layer=layers(), seed=st.integers(0, 2**16),
       idle=st.sampled_from([0.0, 0.3]), stall=st.sampled_from([0.0, 0.4]))
def test_sumpool_matches_golden_under_stalls(arch, layer, seed, idle, stall):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, (2, layer.in_channels, layer.in_height, layer.in_width), generator=gen)
    e, _ = simulate(layer, arch, x, seed=seed, idle=idle, stall=stall)
    assert torch.equal(e, golden.sum_pool(x, layer))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("geometry", [
    dict(channels=8, groups=1, c=2, kernel=3, n=1, padding=1, dilation=1),   # channel and spatial window
    dict(channels=4, groups=4, c=1, kernel=5, n=1, padding=2, dilation=1),   # depthwise, sw=5: running sums
    dict(channels=6, groups=2, c=1, kernel=3, n=2, padding=0, dilation=2),   # grouped, dilated
    dict(channels=2, groups=1, c=1, kernel=4, n=1, padding=2, dilation=2),   # running sums, dilated
    dict(channels=40, groups=1, c=20, kernel=1, n=1, padding=0, dilation=1),  # sliding channel sums
])
def test_sumpool_extremes_of_value_range(arch, geometry):
    """All −128 and all 127 inputs reach the extremes of the exact sum width."""
    layer = make_layer(height=6, width=7, **geometry)
    shape = (1, layer.in_channels, layer.in_height, layer.in_width)
    x = torch.cat([torch.full(shape, -128), torch.full(shape, 127)])
    e, _ = simulate(layer, arch, x, seed=1, idle=0.2, stall=0.2)
    assert torch.equal(e, golden.sum_pool(x, layer))


@pytest.mark.parametrize("arch", ARCHS)
def test_sumpool_accepts_one_pixel_per_cycle(arch):
    layer = make_layer(channels=6, groups=1, c=2, kernel=4, n=1, height=5, width=6, padding=1,
                       dilation=1)
    images = 2
    x = torch.randint(-128, 128, (images, layer.in_channels, layer.in_height, layer.in_width),
                      generator=torch.Generator().manual_seed(3))
    e, cycles = simulate(layer, arch, x)
    assert torch.equal(e, golden.sum_pool(x, layer))
    padded_pixels_per_image = (layer.in_height + 2) * (layer.in_width + 2)
    assert cycles == images * padded_pixels_per_image


@pytest.mark.parametrize("geometry, plan", [
    (dict(channels=40, groups=1, c=20, kernel=1, n=1), "sliding"),  # 3 slide stages each way
    (dict(channels=48, groups=2, c=11, kernel=2, n=1), "sliding"),  # per group, with sw = 2
    (dict(channels=27, groups=1, c=13, kernel=3, n=2), "sliding"),  # odd c: longer downward slide
    (dict(channels=16, groups=1, c=14, kernel=1, n=1), "dag"),      # cw = 3: shared windows win
])
def test_separable_channel_plans_match_golden(geometry, plan):
    """Both channel-sum plans of the separable arch, with slides longer than one register stage,
    element by element under stalls."""
    layer = make_layer(height=4, width=5, padding=1, dilation=1, **geometry)
    assert ChannelSums(layer).kind == plan
    x = torch.randint(-128, 128, (2, layer.in_channels, layer.in_height, layer.in_width),
                      generator=torch.Generator().manual_seed(5))
    e, _ = simulate(layer, "separable", x, seed=2, idle=0.3, stall=0.4)
    assert torch.equal(e, golden.sum_pool(x, layer))


def test_cost_model_and_choice():
    small = make_layer(channels=16, groups=1, c=14, kernel=3, n=2, height=8, width=8,
                       padding=1, dilation=1)
    large = make_layer(channels=16, groups=1, c=4, kernel=3, n=1, height=8, width=8,
                       padding=1, dilation=1)
    for layer in (small, large):
        for arch in ARCHS:
            cost = sumpool_cost(layer, arch)
            assert set(cost) == {"lut4", "ff", "dsp", "bram_bits"}
            assert cost["dsp"] == 0 and cost["lut4"] > 0 and cost["ff"] > 0
    tree, sep = sumpool_cost(large, "tree"), sumpool_cost(large, "separable")
    assert sep["lut4"] < tree["lut4"]
    assert choose_sumpool_arch(large) == "separable"


def test_sumpool_rejects_bad_configurations(monkeypatch):
    layer = make_layer(channels=4, groups=1, c=2, kernel=3, n=1, height=4, width=4, padding=0,
                       dilation=1)
    with pytest.raises(ConfigError, match="arch must be one of"):
        SumPool(layer, "bogus")
    with pytest.raises(ConfigError, match="QuantLayer"):
        SumPool("not a layer", "tree")
    monkeypatch.setattr(sumpool_module, "MAX_SUMPOOL_BITS", 10)  # window 27 needs 13 bits
    with pytest.raises(ConfigError, match="'sp'.*13-bit"):
        SumPool(layer, "separable")
    with pytest.raises(ConfigError, match="13-bit"):
        sumpool_cost(layer, "tree")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kernel, c", [(1, 4), (3, 2), (4, 1), (1, 20), (2, 9)])
def test_sumpool_latency_is_as_documented(arch, kernel, c):
    """Without stalls the first output is offered ``latency`` cycles after the input pixel that
    completes its window (row and column (sw−1)·d) was accepted."""
    layer = make_layer(channels=4 + 2 * c, groups=1, c=c, kernel=kernel, n=1, height=5, width=5,
                       padding=0, dilation=1)
    dut = SumPool(layer, arch)
    reach = layer.spatial_window - 1
    completing = reach * layer.in_width + reach
    seen = {}

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        cycle = accepted = 0
        while not ctx.get(dut.o.valid):
            if ctx.get(dut.i.ready):
                if accepted == completing:
                    seen["accepted"] = cycle
                accepted += 1
            await ctx.tick()
            cycle += 1
        seen["offered"] = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert seen["offered"] - seen["accepted"] == dut.latency
