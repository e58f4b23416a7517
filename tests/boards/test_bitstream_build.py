"""One real bitstream build: the stand-in accelerator in the ULX3S-85F board top at 100 MHz
(PLL from 25 MHz), with the YoWASP tools. report.json must carry nextpnr's numbers."""

import json

import pytest

from structhw.boards.build import NEXTPNR_REPORT, REPORT, parse_nextpnr_report
from structhw.boards.flow import board_design_digest, build_board
from structhw.budget import DEVICES
from tests.boards.standin import StandInAccelerator

SHAPE, CLASSES = (1, 8, 8), 10


@pytest.mark.slow
def test_standin_bitstream_on_ulx3s_85f(tmp_path):
    stale = tmp_path / "top.bit"
    stale.write_bytes(b"stale")
    def factory():
        return StandInAccelerator(SHAPE[0], SHAPE[1] * SHAPE[2], CLASSES)
    report = build_board("ulx3s-85f", factory, tmp_path, 100.0, image_shape=SHAPE)
    bitstream = tmp_path / "top.bit"
    assert bitstream.read_bytes() != b"stale" and bitstream.stat().st_size > 100_000
    assert not list(tmp_path.glob(".build-*")), "the temporary build folder must be removed"

    saved = json.loads((tmp_path / REPORT).read_text())
    raw = json.loads((tmp_path / NEXTPNR_REPORT).read_text())
    used, totals, clocks = parse_nextpnr_report(raw, "ecp5")
    budget = DEVICES["LFE5U-85F"]
    for key in ("lut4", "ff", "dsp", "ebr"):
        assert isinstance(saved[key], int) and saved[key] == used[key]
        assert saved[f"{key}_total"] == totals[key] == getattr(budget, key)
    assert saved["dsp"] >= CLASSES, "one multiplier per class should land in DSP blocks"
    assert 0 < saved["lut4"] < budget.lut4 and 0 < saved["ff"] < budget.ff
    assert saved["target_mhz"] == 100.0
    assert saved["fmax_mhz"] == min(c["fmax_mhz"] for c in clocks.values()) >= 100.0
    assert saved["bitstream"] == bitstream.name and saved["timing_met"] is True
    assert report.fmax_mhz == saved["fmax_mhz"]
    assert saved["design_sha256"] == board_design_digest("ulx3s-85f", factory, 100.0,
                                                         image_shape=SHAPE), \
        "the report's build cache recognises a build by this digest, computed without the tools"
