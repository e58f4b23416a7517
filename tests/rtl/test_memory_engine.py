"""MemoryWindowEngine against the golden integer model: dense and channel-structured convs,
stride, padding, dilation, 1×1 and linear layers, T values per word that do and do not divide c;
two images under random idle cycles and backpressure; without stalls, the steady-state cycles
per image and the latency against the schedule model; the serial sum-pool's channel sums."""

import functools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw import golden
from structhw.errors import ConfigError
from structhw.rtl_gen.cost import memory_engine_cost
from structhw.rtl_gen.memory_engine import MemoryWindowEngine, memory_alpha
from structhw.rtl_gen.memory_window_model import (MemoryWindowGeometry, memory_window_cycles,
                                                  memory_window_latency, memory_window_refusal)
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer

from .test_engine import random_input, simulate_engine


def run(layer, params, images, **kw):
    x = random_input(layer, images, kw.get("seed", 0))
    got, times = simulate_engine(layer, params, x, engine=MemoryWindowEngine, **kw)
    want = golden.run_layer(torch.as_tensor(x), layer).numpy()
    assert got.shape == want.shape
    assert (got == want).all(), f"mismatch at {np.argwhere(got != want)[:5].tolist()}"
    return times


@st.composite
def memory_layers(draw):
    """A conv whose sum-pool box is along channels only (n = N), or a linear layer, with P, T."""
    if draw(st.integers(0, 4)) == 0:
        C = draw(st.integers(1, 24))
        layer = random_quant_layer(C, 1, draw(st.integers(1, C)), 1, draw(st.integers(1, 6)),
                                   1, 1, 1, 0, seed=draw(st.integers(0, 999)), kind="linear")
    else:
        C, n = draw(st.integers(1, 6)), draw(st.integers(1, 3))
        dilation = draw(st.integers(1, 2)) if n > 1 else 1
        span = dilation * (n - 1) + 1
        pad = draw(st.integers(0, n // 2 * dilation))
        H = draw(st.integers(max(1, span - 2 * pad), 7))
        W = draw(st.integers(max(1, span - 2 * pad), 7))
        layer = random_quant_layer(C, n, draw(st.integers(1, C)), n, draw(st.integers(1, 5)), H,
                                   W, draw(st.integers(1, 3)), pad, draw(st.integers(0, 999)),
                                   dilation=dilation, relu=draw(st.booleans()))
    params = EngineParams(draw(st.integers(1, layer.out_channels)),
                          draw(st.integers(1, layer.c)), window="memory")
    return layer, params


@settings(max_examples=25, deadline=None)
@given(memory_layers(), st.integers(0, 2**16))
def test_random_layers_bit_exact_under_idle_and_backpressure(case, seed):
    layer, params = case
    run(layer, params, 2, idle=0.3, stall=0.3, seed=seed)


@settings(max_examples=60, deadline=None)
@given(memory_layers())
def test_cycles_and_latency_equal_the_schedule_model(case):
    layer, params = case
    times = run(layer, params, 3)
    per_image = layer.out_height * layer.out_width
    assert times[3 * per_image - 1] - times[2 * per_image - 1] == \
        memory_window_cycles(layer, params.lanes, params.mults)
    assert times[0] - 1 == memory_window_latency(layer, params.lanes, params.mults)


@pytest.mark.parametrize("kw, lanes, mults", [
    (dict(C=16, N=3, c=8, n=3, Cout=4, H=6, W=6, stride=1, pad=1), 2, 4),   # Struct-ResNet-A form
    (dict(C=8, N=3, c=8, n=3, Cout=3, H=5, W=7, stride=2, pad=1), 1, 3),    # dense, T ∤ c
    (dict(C=12, N=1, c=5, n=1, Cout=6, H=4, W=3, stride=1, pad=0), 3, 5),   # writer-bound 1×1
])
def test_named_geometries(kw, lanes, mults):
    layer = random_quant_layer(seed=3, **kw)
    params = EngineParams(lanes, mults, window="memory")
    times = run(layer, params, 3, idle=0.2, stall=0.2, seed=4)
    assert len(times) == 3 * layer.out_height * layer.out_width


def test_alpha_order_covers_every_weight_once():
    layer = random_quant_layer(C=6, N=3, c=5, n=3, Cout=3, H=4, W=4, stride=1, pad=1, seed=1)
    table = memory_alpha(layer, 2, 2)
    got = sorted(a for g in table for k in g for p in k for a in p if a != 0)
    want = sorted(int(a) for a in layer.alpha.reshape(-1) if a != 0)
    assert got == want


def test_spatial_sumpool_and_groups_are_refused_with_the_reason():
    spatial = random_quant_layer(C=4, N=3, c=4, n=2, Cout=4, H=5, W=5, stride=1, pad=1, seed=0)
    grouped = random_quant_layer(C=4, N=3, c=1, n=3, Cout=4, H=5, W=5, stride=1, pad=1, seed=0,
                                 groups=4)
    assert "spatial" in memory_window_refusal(spatial)
    assert "groups=4" in memory_window_refusal(grouped)
    with pytest.raises(ConfigError, match="spatial"):
        MemoryWindowEngine(spatial, EngineParams(1, 1, window="memory"))
    dense = random_quant_layer(C=4, N=3, c=4, n=3, Cout=4, H=5, W=5, stride=1, pad=1, seed=0)
    with pytest.raises(ConfigError, match=r"mults in 1\.\.c=4"):
        MemoryWindowGeometry(dense, 5)
    with pytest.raises(ConfigError, match="sumpool must be None"):
        EngineParams(1, 1, sumpool="tree", window="memory")


def test_memory_engine_is_much_smaller_than_the_register_engine_on_a_slow_layer():
    """The reason the planner picks it: a Struct-ResNet20 layer3 conv at P = 1, T = 4."""
    from structhw.rtl_gen.cost import engine_cost
    from structhw.rtl_gen.sumpool import choose_sumpool_arch
    layer = random_quant_layer(C=64, N=3, c=32, n=3, Cout=64, H=8, W=8, stride=1, pad=1, seed=0)
    memory = memory_engine_cost(layer, EngineParams(1, 4, window="memory"))
    registers = engine_cost(layer, EngineParams(1, 4, choose_sumpool_arch(layer)))
    assert memory.ff * 4 < registers.ff
    geo = MemoryWindowGeometry(layer, 4)
    assert geo.rows == 7 and geo.depth == 7 * 10 * 8


@pytest.mark.parametrize("depth, style", [(8, "distributed"), (200, "block")])
def test_memories_carry_the_ram_style_the_cost_model_assumed(depth, style):
    """Left to itself yosys puts even a 60×512-bit FIFO in 15 DP16KD; the plan's FIFOs and row
    memories tell it what the cost model counted."""
    from amaranth.back import verilog
    from amaranth.lib import data
    from amaranth.hdl import signed

    from structhw.rtl_gen.memory_style import ram_style
    from structhw.rtl_gen.streams import StreamFIFO

    fifo = StreamFIFO(data.ArrayLayout(signed(8), 16), depth, ram_style(depth, 128))
    assert f'ram_style = "{style}"' in verilog.convert(fifo, name="fifo")
    big = random_quant_layer(C=64, N=3, c=32, n=3, Cout=4, H=8, W=8, stride=1, pad=1, seed=0)
    small = random_quant_layer(C=4, N=1, c=2, n=1, Cout=2, H=1, W=1, stride=1, pad=0, seed=0,
                               kind="linear")
    for layer, want in ((big, "block"), (small, "distributed")):
        text = verilog.convert(MemoryWindowEngine(layer, EngineParams(1, 1, window="memory")),
                               name="engine")
        assert f'ram_style = "{want}"' in text


def test_chain_rule_fifos_are_distributed():
    from structhw.graph.fifo_depth import MAX_CHAIN_DEPTH
    from structhw.rtl_gen.memory_style import DISTRIBUTED_MAX_DEPTH, memory_cost, ram_style
    assert MAX_CHAIN_DEPTH <= DISTRIBUTED_MAX_DEPTH
    assert ram_style(MAX_CHAIN_DEPTH, 4096) == "distributed"
    assert ram_style(500, 128) == "block" and memory_cost(500, 128).bram_bits == 4 * 18432
    assert memory_cost(60, 512).lut4 == 3 * 128 * 4 and memory_cost(60, 512).bram_bits == 0


@st.composite
def flat_linear_layers(draw):
    """A linear layer of Q = C·H·W inputs fed a C×H×W map (H·W > 1), any c, with P, T."""
    C, H, W = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if H * W == 1:
        W = 2
    Q = C * H * W
    layer = random_quant_layer(Q, 1, draw(st.integers(1, Q)), 1, draw(st.integers(1, 5)), 1, 1,
                               1, 0, seed=draw(st.integers(0, 999)), kind="linear",
                               relu=draw(st.booleans()))
    params = EngineParams(draw(st.integers(1, layer.out_channels)),
                          draw(st.integers(1, layer.c)), window="memory")
    return layer, params, (C, H, W)


def run_flat(layer, params, in_shape, images, **kw):
    """The engine fed the map: x [B, C, H, W] against the golden layer (which flattens it)."""
    rng = np.random.default_rng(kw.get("seed", 0))
    x = rng.integers(-128, 128, size=(images, *in_shape))
    engine = functools.partial(MemoryWindowEngine, in_shape=in_shape)
    got, times = simulate_engine(layer, params, x, engine=engine, **kw)
    want = golden.run_layer(torch.as_tensor(x), layer).numpy()
    assert got.shape == want.shape
    assert (got == want).all(), f"mismatch at {np.argwhere(got != want)[:5].tolist()}"
    return times


@settings(max_examples=25, deadline=None)
@given(flat_linear_layers(), st.integers(0, 2**16))
def test_flattening_linear_bit_exact_under_idle_and_backpressure(case, seed):
    layer, params, in_shape = case
    run_flat(layer, params, in_shape, 3, idle=0.3, stall=0.3, seed=seed)


@settings(max_examples=40, deadline=None)
@given(flat_linear_layers())
def test_flattening_linear_cycles_and_latency_equal_the_schedule_model(case):
    layer, params, in_shape = case
    times = run_flat(layer, params, in_shape, 4)
    assert times[3] - times[2] == memory_window_cycles(layer, params.lanes, params.mults,
                                                       in_shape)
    assert times[0] - 1 == memory_window_latency(layer, params.lanes, params.mults, in_shape)


@pytest.mark.parametrize("in_shape, c, lanes, mults", [
    ((8, 2, 2), 16, 2, 4),    # two read ports: the running sum subtracts x[j − cw]
    ((4, 2, 3), 24, 3, 5),    # dense (cw = 1): one port, T ∤ c
    ((3, 3, 1), 1, 1, 1),     # c = 1 (cw = Q): one port, one sum over everything
    ((1, 3, 3), 4, 2, 2),     # one channel: the fill is as slow as the sum
])
def test_flattening_linear_named_geometries(in_shape, c, lanes, mults):
    from structhw.rtl_gen.flat_sumpool import flat_read_ports
    Q = in_shape[0] * in_shape[1] * in_shape[2]
    layer = random_quant_layer(Q, 1, c, 1, 5, 1, 1, 1, 0, seed=2, kind="linear")
    params = EngineParams(lanes, mults, window="memory")
    times = run_flat(layer, params, in_shape, 4, idle=0.2, stall=0.2, seed=5)
    assert len(times) == 4
    times = run_flat(layer, params, in_shape, 4)
    assert times[3] - times[2] == memory_window_cycles(layer, lanes, mults, in_shape)
    assert times[0] - 1 == memory_window_latency(layer, lanes, mults, in_shape)
    geo = MemoryWindowGeometry(layer, mults)
    assert flat_read_ports(geo) == (2 if 1 < Q - c + 1 < Q else 1)


def test_flattening_linear_refuses_a_map_of_the_wrong_size():
    layer = random_quant_layer(12, 1, 12, 1, 3, 1, 1, 1, 0, seed=0, kind="linear")
    with pytest.raises(ConfigError, match="C·H·W = 12"):
        MemoryWindowEngine(layer, EngineParams(1, 1, window="memory"), in_shape=(4, 2, 2))


def test_the_row_schedule_refuses_what_it_cannot_schedule():
    """Its invariants are checked under ``python -O`` too (they were asserts)."""
    from structhw.rtl_gen.memory_window_model import _row_schedule
    with pytest.raises(ValueError, match="1×1 map, not 2×2"):
        _row_schedule(2, 2, 1, 1, 1, 2, 1, 1, 1, fill=4)
    with pytest.raises(ValueError, match="row schedule incomplete"):
        _row_schedule(3, 3, 2, 1, 3, 3, 1, 1, 1)
