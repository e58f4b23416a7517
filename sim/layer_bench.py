"""cocotb test module: a generated :class:`~structhw.rtl_gen.engine.LayerEngine` (or a bank of
them, one stream pair each) against the golden model, every output element compared, under
random idle cycles and backpressure; steady-state cycles per image measured.

Run it through :func:`structhw.sim.layer.simulate_layers`, which writes the stimulus and the
golden outputs and passes the parameters described in :mod:`structhw.sim.stream_check`.
"""

import cocotb

from structhw.sim.bench_io import test_params, write_test_result
from structhw.sim.stream_check import check_streams


@cocotb.test()
async def layer_matches_golden(dut):
    report = await check_streams(dut, test_params())
    write_test_result(report)
    assert report["mismatches"] == 0, (f"{report['mismatches']} mismatching output elements; "
                                       + "; ".join(report["notes"]))
