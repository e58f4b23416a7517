"""cocotb test module for :class:`tests.rtl.test_dsp.MultiplierPairs`: operands and clock enable
of every pair set each cycle from the parameters; both forms' outputs recorded after every clock
edge and handed back to the pytest side."""

import cocotb
from cocotb.triggers import FallingEdge

from structhw.sim.bench_io import test_params, write_test_result
from structhw.sim.streams import TB


def read(signal, is_signed: bool) -> int:
    return signal.value.to_signed() if is_signed else signal.value.to_unsigned()


@cocotb.test()
async def both_forms_recorded(dut):
    pairs = test_params()["pairs"]
    tb = TB(dut)
    await tb.reset()
    recorded = [{"inferred": [], "primitive": []} for _ in pairs]

    def sample():
        for k, (pair, rec) in enumerate(zip(pairs, recorded)):
            rec["inferred"].append(read(getattr(dut, f"p_inferred{k}"), pair["p_signed"]))
            rec["primitive"].append(read(getattr(dut, f"p_primitive{k}"), pair["p_signed"]))

    for cycle in range(len(pairs[0]["en"])):
        await FallingEdge(dut.clk)
        sample()
        for k, pair in enumerate(pairs):
            getattr(dut, f"a{k}").value = pair["a"][cycle] & ((1 << pair["a_bits"]) - 1)
            getattr(dut, f"b{k}").value = pair["b"][cycle] & ((1 << pair["b_bits"]) - 1)
            getattr(dut, f"en{k}").value = pair["en"][cycle]
    await FallingEdge(dut.clk)
    sample()
    write_test_result({"pairs": recorded})
