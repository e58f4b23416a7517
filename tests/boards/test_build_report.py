"""Build report: nextpnr's JSON report and its log (captured from a real ULX3S-85F build of the
stand-in top) give the same numbers; fit and timing failures say what and by how much; a failed
build removes the old bitstream."""

import json
from pathlib import Path

import pytest

from structhw.boards.build import (BuildReport, build_bitstream, check_fit, check_timing,
                                   parse_nextpnr_log, parse_nextpnr_report)
from structhw.boards.registry import get_board
from structhw.boards.top import BoardTop
from structhw.errors import ConfigError
from tests.boards.standin import StandInAccelerator

DATA = Path(__file__).parent / "data"


def test_log_and_json_report_agree():
    raw = json.loads((DATA / "nextpnr-report-ulx3s-85f.json").read_text())
    used_j, totals_j, clocks_j = parse_nextpnr_report(raw, "ecp5")
    used_l, totals_l, clocks_l = parse_nextpnr_log((DATA / "nextpnr-ulx3s-85f.log").read_text(), "ecp5")
    assert used_l == used_j == {"lut4": 1769, "ff": 706, "dsp": 10, "ebr": 0}
    assert totals_l == totals_j == {"lut4": 83640, "ff": 83640, "dsp": 156, "ebr": 208}
    clock = "$glbnet$clocking.clk"
    assert clocks_l[clock]["fmax_mhz"] == 115.34, "the post-route figure, not the placer's estimate"
    assert clocks_j[clock]["fmax_mhz"] == pytest.approx(115.34, abs=0.005)
    assert clocks_l[clock]["target_mhz"] == clocks_j[clock]["target_mhz"] == 100.0


def test_log_without_utilisation_is_an_error():
    with pytest.raises(ConfigError, match="Device utilisation"):
        parse_nextpnr_log("Info: Program finished normally.\n", "ecp5")


def test_fit_failure_names_resource_amount_and_smallest_board():
    board = get_board("ulx3s-12f")
    with pytest.raises(ConfigError) as err:
        check_fit(board, {"lut4": 20000, "ff": 9000, "dsp": 40, "ebr": 3},
                  {"lut4": 12288, "ff": 12288, "dsp": 28, "ebr": 32})
    message = str(err.value)
    assert "lut4 needs 20000 of 12288 (over by 7712" in message
    assert "dsp needs 40 of 28 (over by 12" in message
    assert "ff" not in message.split(":", 1)[1].split(";")[0].replace("ulx3s", "")
    assert "smallest board it fits is ulx3s-45f" in message
    check_fit(board, {"lut4": 100, "ff": 100, "dsp": 1, "ebr": 1}, {"lut4": 12288, "ff": 12288,
                                                                      "dsp": 28, "ebr": 32})


def test_timing_miss_names_clock_path_and_shortfall():
    report = BuildReport(board="ulx3s-85f", device="LFE5U-85F", used={}, totals={}, fmax_mhz=87.5,
                         target_mhz=100.0, clocks={"clk": {"fmax_mhz": 87.5, "target_mhz": 100.0}},
                         critical_path=[{"from_clock": "posedge clk", "to_clock": "posedge clk",
                                         "from": "a.Q", "to": "b.D", "delay_ns": 11.4}])
    with pytest.raises(ConfigError) as err:
        check_timing(report)
    message = str(err.value)
    assert "'clk' reaches 87.5 MHz, target 100 MHz (short by 12.5 MHz, 12%)" in message
    assert "a.Q → b.D (11.4 ns)" in message
    report.fmax_mhz = 100.0
    check_timing(report)


def test_failed_build_leaves_no_bitstream(tmp_path, monkeypatch):
    (tmp_path / "top.bit").write_bytes(b"old bitstream")
    (tmp_path / "report.json").write_text("{}")
    monkeypatch.setenv("YOSYS", "false")
    top = BoardTop("ulx3s-85f", lambda: StandInAccelerator(1, 4, 3), image_shape=(1, 2, 2))
    with pytest.raises(ConfigError, match="synth failed on ulx3s-85f"):
        build_bitstream("ulx3s-85f", top, tmp_path, 25.0)
    assert not (tmp_path / "top.bit").exists()
    assert not (tmp_path / "report.json").exists()
    assert not list(tmp_path.glob(".build-*"))


def test_report_table_has_board_totals():
    report = BuildReport(board="ulx3s-85f", device="LFE5U-85F",
                         used={"lut4": 1769, "ff": 706, "dsp": 10, "ebr": 0},
                         totals={"lut4": 83640, "ff": 83640, "dsp": 156, "ebr": 208},
                         fmax_mhz=115.3, target_mhz=100.0, clocks={})
    table = report.table()
    assert "83640" in table and "156" in table and "208" in table and "115.3" in table
    row = report.to_json()
    assert row["dsp"] == 10 and row["dsp_total"] == 156 and row["timing_met"] is True


def test_ecp5_builds_replace_abc9_with_abc():
    """YoWASP yosys 0.70's abc9 crashes on the demo networks: ECP5 builds stop synth_ecp5 before
    its abc9 step, map LUTs with abc and resume at map_cells."""
    from structhw.boards.build import ECP5_LUT_MAPPING, SYNTH_OVERRIDES

    ecp5 = SYNTH_OVERRIDES["ecp5"]
    assert ecp5["synth_opts"] == "-run begin:map_luts"
    steps = ecp5["script_after_synth"].splitlines()
    assert steps[0] == ECP5_LUT_MAPPING and steps[0].split()[0] == "abc"
    assert steps[-1].endswith("-run map_cells:")


def test_ice40_flip_flops_are_counted_once_from_yosys_stat():
    """Yosys 0.70 lists the top module's cells and then the design hierarchy's totals (captured
    from an iCEBreaker build): 61 + 313 + 3373 + 4 + 20 flip-flops, not twice that."""
    from structhw.boards.build import ice40_ff_count

    log = (DATA / "yosys-stat-ice40.log").read_text()
    assert ice40_ff_count(log) == 61 + 313 + 3373 + 4 + 20
    top_only = log.split("=== design hierarchy ===")[0]
    assert ice40_ff_count(top_only) == 61 + 313 + 3373 + 4 + 20
    assert ice40_ff_count("no statistics here") is None
