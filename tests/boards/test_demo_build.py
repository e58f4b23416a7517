"""The README's main job, for real: `structhw build --board ulx3s` on the shipped demo model.
Quantize → plan → network → board top → yosys → nextpnr → ecppack; report.json must carry
nextpnr's own numbers, timing must be met at the default clock (100 MHz from the PLL on the
ULX3S), and the plan must be the one the compiler made for that board."""

import json

import pytest

from structhw.boards.build import NEXTPNR_REPORT, REPORT, parse_nextpnr_report
from structhw.budget import DEVICES
from structhw.cli import main
from structhw.compiler import load_plan


@pytest.mark.slow
def test_demo_bitstream_on_ulx3s(tmp_path, capsys):
    out = tmp_path / "ulx3s"
    out.mkdir()
    (out / "top.bit").write_bytes(b"stale")
    assert main(["build", "--board", "ulx3s", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fmax" in printed and "dsp" in printed

    bitstream = out / "top.bit"
    assert bitstream.read_bytes() != b"stale" and bitstream.stat().st_size > 100_000
    assert not list(out.glob(".build-*")), "the temporary build folder must be removed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ulx3s"], \
        "no staging or failed-build folder beside --out after a good build"

    saved = json.loads((out / REPORT).read_text())
    used, totals, clocks = parse_nextpnr_report(json.loads((out / NEXTPNR_REPORT).read_text()), "ecp5")
    budget = DEVICES["LFE5U-85F"]
    for key in ("lut4", "ff", "dsp", "ebr"):
        assert isinstance(saved[key], int) and saved[key] == used[key]
        assert saved[f"{key}_total"] == totals[key] == getattr(budget, key)
    plan = load_plan(out / "plan.json")
    assert plan.target == "ulx3s-85f"
    assert saved["dsp"] >= sum(s.params.lanes * s.params.mults for s in plan.stages)
    assert saved["target_mhz"] == 100.0 and saved["timing_met"] is True
    assert "EHXPLLL" in saved["clock"]
    assert saved["fmax_mhz"] == min(c["fmax_mhz"] for c in clocks.values()) >= saved["target_mhz"]
