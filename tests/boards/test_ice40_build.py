"""One real iCE40 bitstream: ``structhw build --board icebreaker`` with no MODEL builds the
board's default model (digits-tiny) with the YoWASP iCE40 tools (about a minute).
report.json must carry nextpnr-ice40's numbers, within the iCE40UP5K."""

import json

import pytest

from structhw.boards.build import NEXTPNR_REPORT, REPORT, parse_nextpnr_report
from structhw.budget import DEVICES
from structhw.cli import main
from structhw.plan import load_plan


@pytest.mark.slow
def test_default_model_bitstream_on_icebreaker(tmp_path):
    out = tmp_path / "icebreaker"
    assert main(["build", "--board", "icebreaker", "--out", str(out)]) == 0
    bitstream = out / "top.bin"
    assert bitstream.stat().st_size > 100_000
    saved = json.loads((out / REPORT).read_text())
    used, totals, clocks = parse_nextpnr_report(json.loads((out / NEXTPNR_REPORT).read_text()),
                                                "ice40")
    budget = DEVICES["iCE40UP5K"]
    for key in ("lut4", "dsp", "ebr"):
        assert saved[key] == used[key] and saved[f"{key}_total"] == getattr(budget, key)
    plan = load_plan(out / "plan.json")
    assert plan.qnet.metadata["name"] == "digits_tiny_A"
    assert saved["dsp"] == plan.totals.dsp, "every planned multiplier is one SB_MAC16"
    assert 0 < saved["ff"] <= saved["lut4"] < budget.lut4, \
        "each flip-flop sits in one of the logic cells nextpnr-ice40 counts"
    assert saved["target_mhz"] == 12.0 and saved["timing_met"] is True
    assert saved["fmax_mhz"] == min(c["fmax_mhz"] for c in clocks.values()) >= 12.0
