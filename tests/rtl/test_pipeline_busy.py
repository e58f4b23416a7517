"""The busy-counting machinery of benchmarks/bench_pipeline_busy.py on engines whose MAC issue
count and period are known exactly: an input-bound engine (one step per window), a MAC-bound
linear engine (every cycle busy), and a small network (every stage issues windows·steps per
image)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from amaranth.hdl import Fragment

from structhw.compiler import compile_plan
from structhw.rtl_gen.engine import LayerEngine, engine_cycles, engine_latency, engine_steps
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer

from .test_network import SMALL, random_net

ROOT = Path(__file__).resolve().parents[2]


def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_pipeline_busy", ROOT / "benchmarks" / "bench_pipeline_busy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_intervals(layer, params, intervals: int):
    """``intervals`` steady-state image intervals of the engine: as many images either side are
    left out as are in flight at once (⌈latency / period⌉ + 1), so no interval holds the
    pipeline filling or draining."""
    b = bench()
    skip = -(-engine_latency(layer, params) // engine_cycles(layer, params)) + 1
    images = 2 * skip + intervals + 1
    dut = LayerEngine(layer, params)
    fragment = Fragment.get(dut, None)
    issues = b.find_signals(fragment, "issue")
    assert list(issues) == [("mac",)]
    rng = np.random.default_rng(0)
    pixels = images * layer.in_height * layer.in_width
    beats = [[int(v) for v in rng.integers(-128, 128, layer.in_channels)] for _ in range(pixels)]
    per_image = layer.out_height * layer.out_width
    result = b.count_busy(fragment, dut, beats, images * per_image, {"mac": issues[("mac",)]})
    return b.busy_per_interval(result["out_cycles"], result["high"]["mac"], per_image, skip)


@pytest.mark.parametrize("kw, lanes, mults, issues, period", [
    # input-bound: 36 windows of one step each in the 8×8 padded pixels of an image
    (dict(C=3, N=3, c=3, n=3, Cout=4, H=6, W=6, stride=1, pad=1), 4, 27, 36, 64),
    # MAC-bound: one window per image, ⌈3/1⌉ groups × ⌈10/3⌉ passes = 12 steps, all busy
    (dict(C=10, N=1, c=10, n=1, Cout=3, H=1, W=1, stride=1, pad=0, kind="linear"), 1, 3, 12, 12),
])
def test_engine_busy_counts_are_exact(kw, lanes, mults, issues, period):
    layer = random_quant_layer(seed=3, **kw)
    params = EngineParams(lanes, mults)
    assert engine_cycles(layer, params) == period
    intervals = engine_intervals(layer, params, intervals=3)
    assert intervals == [(period, issues)] * 3


def test_network_busy_counts_every_stage():
    qnet = random_net(7, structured=True)
    plan = compile_plan(qnet, SMALL)
    skip = bench().steady_images(plan)
    images = torch.randint(-128, 128, (2 * skip + 3, *qnet.input_shape),
                           generator=torch.Generator().manual_seed(7))
    figures = bench().measure_plan(plan, images)
    assert len(figures["measured_cycles_per_image"]) == 2
    for stage, layer in zip(figures["stages"], qnet.layers):
        params = EngineParams(stage["lanes"], stage["mults"], plan.stages[stage["index"]].params.sumpool)
        want = layer.out_height * layer.out_width * engine_steps(layer, params)
        assert stage["issue_cycles_per_image"] == stage["expected_issue_cycles_per_image"] == want
        assert 0 < stage["busy_fraction"] <= 1
