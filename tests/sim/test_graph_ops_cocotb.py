"""The Verilog of ResidualAdd and MaxPool in Verilator (cocotb): every output element of two
back-to-back images compared with the op's golden under random idle and backpressure, and with
no stalls the cycles per image of the Amaranth tests. Every graph-op component's Verilog is lint
clean (``verilator --lint-only -Wall`` with the generator's waivers).

This module is both the pytest side (``test_*``: write the Verilog, run the bench) and the cocotb
test module the runner loads (``graph_op_bench``: the op comes as its JSON form in the parameters).
"""

import cocotb
import numpy as np
import pytest
import torch

from amaranth import signed
from amaranth.lib import data

from structhw.graph.ops import (AddOp, AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp, PadShortcutOp,
                                ReluOp, op_from_json)
from structhw.rtl_gen.fork import Fork
from structhw.rtl_gen.pooling import AvgPool, GlobalAvgPool, MaxPool, maxpool_cycles
from structhw.rtl_gen.residual import ResidualAdd
from structhw.rtl_gen.shortcut import PadShortcut, Relu
from structhw.rtl_gen.verilog import lint, write_verilog
from structhw.sim import bench_io
from structhw.sim.runner import run, simulator_available
from structhw.sim.streams import StreamBench, StreamSink, StreamSource, TB, pack_int8, unpack_int8

needs_verilator = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
BENCH = "tests.sim.test_graph_ops_cocotb"


def _beats(batch: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] → [B·H·W, C] raster pixels, image after image."""
    B, C, H, W = batch.shape
    return batch.permute(0, 2, 3, 1).reshape(-1, C).numpy()


@cocotb.test()
async def graph_op_bench(dut):
    """Drive the input streams named in ``ports`` (one per op input) with random int8 images,
    drain ``o``, compare with the golden op; report mismatches and the per-image period."""
    p = bench_io.test_params()
    ports = p["ports"]
    op = op_from_json(p["op"])
    rng = np.random.default_rng(p["seed"])
    xs = [torch.from_numpy(rng.integers(-128, 128, size=(p["images"], *s))) for s in op.in_shapes]
    want = _beats(op.golden(*xs))
    tb = TB(dut)
    sources = [StreamSource(dut, name, pack_int8(_beats(x)), idle=p["idle"], rng=rng)
               for name, x in zip(ports, xs)]
    sink = StreamSink(dut, "o", len(want), stall=p["stall"], rng=rng)
    await tb.reset()
    await StreamBench(tb, sources, [sink]).run(max_cycles=200 * len(want) + 1000)
    got = unpack_int8(sink.values, want.shape[1])
    mismatches = int((got != want).sum())
    per_image = len(want) // p["images"]
    period = sink.cycles[2 * per_image - 1] - sink.cycles[per_image - 1]
    bench_io.write_test_result({"mismatches": mismatches, "period": period})
    assert mismatches == 0, f"{mismatches} mismatching elements"


def _check(tmp_path, component, name, op, ports, period):
    source = write_verilog(component, tmp_path, name)
    sources = [source, source.with_suffix(".vlt")]
    for idle, stall in ((0.3, 0.3), (0.0, 0.0)):
        params = {"op": op.to_json(), "ports": ports, "images": 2, "seed": 7, "idle": idle,
                  "stall": stall}
        result = run(BENCH, sources, name, params=params)
        assert result.failed == 0 and result.data["mismatches"] == 0
        if not idle:
            assert result.data["period"] == period


@needs_verilator
def test_residual_add_verilog(tmp_path):
    C, H, lanes = 6, 5, 4
    op = AddOp(name="a", inputs=("x", "y"), in_shapes=((C, H, H),) * 2,
               multipliers=(41234, 9876), shift=17, relu=True)
    _check(tmp_path, ResidualAdd(op, lanes), "residual_add", op, ["a", "b"],
           H * H * -(-C // lanes))


@needs_verilator
def test_maxpool_verilog(tmp_path):
    op = MaxPoolOp(name="m", inputs=("x",), in_shapes=((5, 7, 6),), kernel=3, stride=2, padding=1)
    _check(tmp_path, MaxPool(op), "maxpool", op, ["i"], maxpool_cycles(op))


@needs_verilator
def test_graph_ops_verilog_is_lint_clean(tmp_path):
    # odd sizes: lane-group counts that are not powers of two, one-pixel maps, stride 1
    s = ((6, 5, 5),)
    one = ((3, 1, 1),)
    components = {
        "fork": Fork(data.ArrayLayout(signed(8), 6), 3),
        "add": ResidualAdd(AddOp(name="a", inputs=("x", "y"), in_shapes=s * 2,
                                 multipliers=(300, 5000), shift=12), 4),
        "add_one_group": ResidualAdd(AddOp(name="a", inputs=("x", "y"), in_shapes=s * 2,
                                           multipliers=(3, 5), shift=2, relu=True), 6),
        "maxpool": MaxPool(MaxPoolOp(name="m", inputs=("x",), in_shapes=s, kernel=3, stride=2,
                                     padding=1)),
        "maxpool_k1": MaxPool(MaxPoolOp(name="m", inputs=("x",), in_shapes=((3, 1, 4),))),
        "avgpool": AvgPool(AvgPoolOp(name="p", inputs=("x",), in_shapes=s, kernel=2, stride=1,
                                     padding=1, multiplier=999, shift=9), 2),
        "gap": GlobalAvgPool(GlobalAvgPoolOp(name="g", inputs=("x",), in_shapes=one,
                                             multiplier=999, shift=9), 3),
        "shortcut": PadShortcut(PadShortcutOp(name="p", inputs=("x",), in_shapes=s, stride=2,
                                              extra=3)),
        "shortcut_s1": PadShortcut(PadShortcutOp(name="p", inputs=("x",), in_shapes=one)),
        "relu": Relu(ReluOp(name="r", inputs=("x",), in_shapes=s, hi=60)),
    }
    for name, component in components.items():
        assert lint(write_verilog(component, tmp_path, name)) == [], name
