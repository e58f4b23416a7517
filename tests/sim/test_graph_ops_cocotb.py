"""The Verilog of ResidualAdd and MaxPool in Verilator (cocotb): every output element of two
back-to-back images compared with the op's golden under random idle and backpressure, and with
no stalls the cycles per image of the Amaranth tests.

This module is both the pytest side (``test_*``: write the Verilog, run the bench) and the cocotb
test module the runner loads (``graph_op_bench``: the op comes as its JSON form in the parameters).
"""

import cocotb
import numpy as np
import pytest
import torch

from structhw.graph.ops import AddOp, MaxPoolOp, op_from_json
from structhw.rtl_gen.pooling import MaxPool, maxpool_cycles
from structhw.rtl_gen.residual import ResidualAdd
from structhw.rtl_gen.verilog import write_verilog
from structhw.sim import runner
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
    p = runner.test_params()
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
    runner.write_test_result({"mismatches": mismatches, "period": period})
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
