# amaranth: UnusedElaboratable=no
"""ResidualAdd against AddOp.golden under random idle and backpressure, images back to back;
with no stalls its cycles per image (H·W·⌈C/P⌉) and latency (⌈C/P⌉ + 3) exactly."""

import random

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

from structhw.graph.ops import AddOp
from structhw.rtl_gen.residual import ResidualAdd, add_latency

from .streams import stream_get, stream_put


def pixels(batch: torch.Tensor) -> list:
    """[B, C, H, W] → raster list of per-pixel channel lists, image after image."""
    B, C, H, W = batch.shape
    return [[int(v) for v in batch[b, :, y, x]] for b in range(B) for y in range(H)
            for x in range(W)]


def run_add(dut, a_beats, b_beats, n_out, *, seed, idle, stall):
    """Feed ``a`` and ``b`` independently, drain ``o``. Returns (beats, output accept cycles,
    cycle both first inputs were valid)."""
    got, out_cycles, first = [], [], []
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut

    async def put_a(ctx):
        await stream_put(ctx, dut.a, a_beats, rng=random.Random(seed), idle=idle)

    async def put_b(ctx):
        await stream_put(ctx, dut.b, b_beats, rng=random.Random(seed + 2), idle=idle)

    async def consumer(ctx):
        got.extend(await stream_get(ctx, dut.o, n_out, rng=random.Random(seed + 1), stall=stall))

    async def watch(ctx):
        cycle = 0
        async for _c, _r, av, bv, ov, orr in ctx.tick().sample(dut.a.valid, dut.b.valid,
                                                              dut.o.valid, dut.o.ready):
            if av and bv and not first:
                first.append(cycle)
            if ov and orr:
                out_cycles.append(cycle)
            cycle += 1

    sim = Simulator(top)
    sim.add_clock(1e-6)
    for bench in (put_a, put_b, consumer):
        sim.add_testbench(bench)
    sim.add_testbench(watch, background=True)
    sim.run()
    return [[int(v) for v in px] for px in got], out_cycles, first[0]


@settings(max_examples=6, deadline=None)
@given(C=st.integers(2, 6), H=st.integers(3, 5), lanes=st.integers(1, 6),
       m1=st.integers(0, 65535), m2=st.integers(0, 65535), shift=st.integers(1, 24),
       relu=st.booleans(), seed=st.integers(0, 2**16))
def test_residual_add_matches_golden(C, H, lanes, m1, m2, shift, relu, seed):
    lanes = min(lanes, C)
    op = AddOp(name="a", inputs=("x", "y"), in_shapes=((C, H, H),) * 2, multipliers=(m1, m2),
               shift=shift, relu=relu, out_scale=1.0)
    gen = torch.Generator().manual_seed(seed)
    a, b = (torch.randint(-128, 128, (2, C, H, H), generator=gen) for _ in range(2))
    want = pixels(op.golden(a, b))
    got, _, _ = run_add(ResidualAdd(op, lanes), pixels(a), pixels(b), len(want), seed=seed,
                        idle=0.3, stall=0.3)
    assert got == want


def test_residual_add_cycles_and_latency():
    C, H, lanes = 5, 3, 2
    op = AddOp(name="a", inputs=("x", "y"), in_shapes=((C, H, H),) * 2, multipliers=(300, 7000),
               shift=13, relu=False, out_scale=1.0)
    gen = torch.Generator().manual_seed(3)
    a, b = (torch.randint(-128, 128, (3, C, H, H), generator=gen) for _ in range(2))
    want = pixels(op.golden(a, b))
    got, cycles, first = run_add(ResidualAdd(op, lanes), pixels(a), pixels(b), len(want),
                                 seed=1, idle=0.0, stall=0.0)
    assert got == want
    n = H * H
    assert cycles[2 * n - 1] - cycles[n - 1] == cycles[3 * n - 1] - cycles[2 * n - 1] \
        == n * -(-C // lanes)
    assert cycles[0] - first == add_latency(op, lanes) == -(-C // lanes) + 3
