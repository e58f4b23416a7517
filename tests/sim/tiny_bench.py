"""cocotb test module for :class:`tests.sim.tiny.StreamAdder`: random idle and backpressure,
every output compared, cycle counts handed back through the runner."""

import cocotb
import numpy as np

from structhw.sim.bench_io import test_params, write_test_result
from structhw.sim.streams import StreamBench, StreamSink, StreamSource, TB, pack_int8, unpack_int8


@cocotb.test()
async def adder_matches(dut):
    p = test_params()
    rng = np.random.default_rng(p["seed"])
    x = rng.integers(-128, 128, size=(p["beats"], p["channels"]))
    tb = TB(dut)
    source = StreamSource(dut, "i", pack_int8(x), idle=p["idle"], rng=rng)
    sink = StreamSink(dut, "o", p["beats"], stall=p["stall"], rng=rng)
    await tb.reset()
    cycles = await StreamBench(tb, [source], [sink]).run(max_cycles=100 * p["beats"] + 100)
    y = unpack_int8(sink.values, p["channels"])
    expected = ((x + p["addend"] + 128) % 256 - 128).astype(np.int8)
    mismatches = int((y != expected).sum())
    write_test_result({"cycles": cycles, "mismatches": mismatches})
    assert mismatches == 0, f"{mismatches} mismatching elements"
    assert p.get("expect_fail", False) is False
