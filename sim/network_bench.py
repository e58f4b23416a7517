"""cocotb test module: the whole-network accelerator (image pixels in, one beat of logits out per
image) against :func:`structhw.golden.logits`, every logit compared, under random idle cycles
and backpressure; steady-state cycles per image measured for comparison with the plan.

Run it through :func:`structhw.sim.network.simulate_network`; parameters as described in
:mod:`structhw.sim.stream_check` (one stream, ``beats_out`` = 1).
"""

import cocotb

from structhw.sim.bench_io import test_params, write_test_result
from structhw.sim.stream_check import check_streams


@cocotb.test()
async def network_matches_golden(dut):
    report = await check_streams(dut, test_params())
    write_test_result(report)
    assert report["mismatches"] == 0, (f"{report['mismatches']} mismatching logits; "
                                       + "; ".join(report["notes"]))
