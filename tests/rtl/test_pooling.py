# amaranth: UnusedElaboratable=no
"""MaxPool, AvgPool and GlobalAvgPool against their ops' golden under random idle and
backpressure, images back to back; with no stalls their cycles per image and latency equal the
formulas of structhw.rtl_gen.pooling exactly."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from structhw.graph.ops import AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp
from structhw.rtl_gen.pooling import (AvgPool, GlobalAvgPool, MaxPool, avgpool_cycles,
                                      avgpool_latency, avgpool_queue_depth, global_avgpool_cycles,
                                      global_avgpool_latency, maxpool_cycles, maxpool_latency)

from .streams import run_stream_dut, stream_get, stream_put
from .test_residual import pixels


def _images(C, H, W, seed, count=2):
    return torch.randint(-128, 128, (count, C, H, W), generator=torch.Generator().manual_seed(seed))


def pools(draw_kernel, draw_stride, draw_pad):
    """Hypothesis strategy of (kernel, stride, padding) for an H×W map that fits the window."""
    return st.tuples(draw_kernel, draw_stride, draw_pad).map(
        lambda t: (t[0], t[1], min(t[2], t[0] // 2)))


GEOMETRY = dict(C=st.integers(2, 6), H=st.integers(3, 7), W=st.integers(3, 7),
                kernel_stride_pad=pools(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1)),
                seed=st.integers(0, 2**16))


@settings(max_examples=6, deadline=None)
@given(**GEOMETRY)
def test_maxpool_matches_golden(C, H, W, kernel_stride_pad, seed):
    k, s, p = kernel_stride_pad
    op = MaxPoolOp(name="m", inputs=("x",), in_shapes=((C, H, W),), kernel=k, stride=s, padding=p)
    x = _images(C, H, W, seed)
    x[0, 0] = -128 + (x[0, 0] % 3)  # a channel of near-minimum values: padding must not win
    want = pixels(op.golden(x))
    got, _ = run_stream_dut(MaxPool(op), pixels(x), len(want), seed=seed, idle=0.3, stall=0.3)
    assert got == want


@settings(max_examples=6, deadline=None)
@given(**GEOMETRY, lanes=st.integers(1, 6), multiplier=st.integers(0, 65535),
       shift=st.integers(1, 20))
def test_avgpool_matches_golden(C, H, W, kernel_stride_pad, seed, lanes, multiplier, shift):
    k, s, p = kernel_stride_pad
    op = AvgPoolOp(name="a", inputs=("x",), in_shapes=((C, H, W),), kernel=k, stride=s, padding=p,
                   multiplier=multiplier, shift=shift)
    x = _images(C, H, W, seed)
    want = pixels(op.golden(x))
    got, _ = run_stream_dut(AvgPool(op, min(lanes, C)), pixels(x), len(want), seed=seed,
                            idle=0.3, stall=0.3)
    assert got == want


@settings(max_examples=5, deadline=None)
@given(C=st.integers(2, 6), H=st.integers(1, 5), W=st.integers(1, 5), lanes=st.integers(1, 6),
       multiplier=st.integers(0, 65535), shift=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_global_avgpool_matches_golden(C, H, W, lanes, multiplier, shift, seed):
    op = GlobalAvgPoolOp(name="g", inputs=("x",), in_shapes=((C, H, W),), multiplier=multiplier,
                         shift=shift)
    x = _images(C, H, W, seed)
    want = pixels(op.golden(x))
    got, _ = run_stream_dut(GlobalAvgPool(op, min(lanes, C)), pixels(x), len(want), seed=seed,
                            idle=0.3, stall=0.3)
    assert got == want


def run_timed(dut, beats, n_out):
    """No idle, no backpressure: (outputs, output accept cycles counted from cycle 0)."""
    got, cycles = [], []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def producer(ctx):
        await stream_put(ctx, dut.i, beats)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, n_out))

    async def watch(ctx):
        cycle = 0
        async for _c, _r, valid, ready in ctx.tick().sample(dut.o.valid, dut.o.ready):
            if valid and ready:
                cycles.append(cycle)
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(watch, background=True)
    sim.run()
    return [[int(v) for v in px] for px in got], cycles


def check_timing(dut, op, images, cycles_per_image, latency):
    """Outputs exact; the first output at ``latency``; the last beats of images 1→2 and 2→3 of
    4 back-to-back images ``cycles_per_image`` apart."""
    C, H, W = op.in_shape
    x = _images(C, H, W, 11, count=images)
    want = pixels(op.golden(x))
    got, cycles = run_timed(dut, pixels(x), len(want))
    assert got == want
    n = len(want) // images
    periods = {cycles[(j + 1) * n - 1] - cycles[j * n - 1] for j in range(1, images - 1)}
    assert periods == {cycles_per_image}
    assert cycles[0] == latency


def test_maxpool_cycles_and_latency():
    for C, H, W, k, s, p in [(3, 6, 5, 3, 2, 1), (2, 4, 4, 2, 2, 0), (2, 5, 3, 3, 1, 1)]:
        op = MaxPoolOp(name="m", inputs=("x",), in_shapes=((C, H, W),), kernel=k, stride=s,
                       padding=p)
        assert maxpool_cycles(op) == (H + 2 * p) * (W + 2 * p)
        assert maxpool_latency(op) == (k - 1) * (W + 2 * p) + k + 1
        check_timing(MaxPool(op), op, 4, maxpool_cycles(op), maxpool_latency(op))


def test_avgpool_cycles_and_latency():
    # (…, queue entries): input-bound without a queue, input- and requantiser-bound with one
    for C, H, W, k, s, p, lanes, queue in [(4, 6, 6, 2, 2, 0, 2, 0), (4, 6, 6, 2, 2, 0, 1, 2),
                                           (3, 6, 6, 2, 1, 0, 2, 4), (5, 5, 5, 3, 1, 1, 1, 3)]:
        op = AvgPoolOp(name="a", inputs=("x",), in_shapes=((C, H, W),), kernel=k, stride=s,
                       padding=p, multiplier=1000, shift=12)
        _, Ho, Wo = op.out_shape
        assert avgpool_queue_depth(op, lanes) == queue
        bound = max((H + 2 * p) * (W + 2 * p), Ho * Wo * -(-C // lanes))
        assert avgpool_cycles(op, lanes) == bound
        assert avgpool_latency(op, lanes) == (k - 1) * (W + 2 * p) + k + 1 + -(-C // lanes) + 3
        check_timing(AvgPool(op, lanes), op, 4, bound, avgpool_latency(op, lanes))


def test_global_avgpool_cycles_and_latency():
    for C, H, W, lanes in [(4, 3, 3, 1), (6, 2, 1, 1), (5, 2, 2, 3)]:
        op = GlobalAvgPoolOp(name="g", inputs=("x",), in_shapes=((C, H, W),), multiplier=999,
                             shift=11)
        assert global_avgpool_cycles(op, lanes) == max(H * W, -(-C // lanes))
        check_timing(GlobalAvgPool(op, lanes), op, 4, global_avgpool_cycles(op, lanes),
                     global_avgpool_latency(op, lanes))
