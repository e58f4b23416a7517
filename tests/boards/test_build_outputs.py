"""``structhw build`` writes its folder all or nothing: a failed build (a tool error, timing
missed) leaves ``--out`` byte for byte as it was and its own plan, report and logs in
``<out>-failed``; a successful one replaces the earlier build's files, removes those it no longer
makes and the failed folder."""

from __future__ import annotations

import json

import pytest

import structhw.boards.flow
from structhw.cli import main
from structhw.qnet import save
from structhw.staging import STAGING_PREFIX
from tests.fake_board_build import FakeBoardBuild
from tests.tiny_models import tiny_chain

BOARD = "ulx3s-85f"
EARLIER = {"plan.json": b'{"an": "earlier plan"}', "top.bit": b"earlier bitstream",
           "report.json": b'{"earlier": true}', "yosys.log": b"an earlier failure's log",
           "nextpnr-report.json": b"{}", "notes.txt": b"the user's own file"}


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def model(tmp_path):
    return save(tiny_chain(name="tiny"), tmp_path / "tiny.qnet.json")


@pytest.fixture
def earlier(tmp_path):
    """An output folder holding an earlier build's files and a file of the user's."""
    out = tmp_path / "build"
    out.mkdir()
    for name, data in EARLIER.items():
        (out / name).write_bytes(data)
    return out


def _error_lines(capsys):
    return [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines()
            if line.startswith("structhw")]


def test_a_failed_build_leaves_the_earlier_build_and_keeps_its_logs_beside_it(
        model, earlier, monkeypatch, capsys):
    monkeypatch.setattr(structhw.boards.flow, "build_board",
                        FakeBoardBuild(fail="timing missed on ulx3s-85f: 50.0 MHz"))
    assert main(["build", str(model), "--board", BOARD, "--out", str(earlier)]) == 2
    assert _snapshot(earlier) == EARLIER
    failed = earlier.with_name("build-failed")
    assert sorted(p.name for p in failed.iterdir()) == ["build.log", "nextpnr.log", "plan.json",
                                                       "report.json"]
    assert json.loads((failed / "report.json").read_text())["error"].startswith("timing missed")
    assert json.loads((failed / "plan.json").read_text())["target"] == BOARD
    [line] = _error_lines(capsys)
    assert "timing missed" in line and str(failed) in line and f"{earlier} is as it was" in line
    assert not list(earlier.parent.glob(f"{STAGING_PREFIX}*"))


def test_a_failed_first_build_creates_no_output_folder(model, tmp_path, monkeypatch):
    monkeypatch.setattr(structhw.boards.flow, "build_board", FakeBoardBuild(fail="place failed"))
    out = tmp_path / "new" / "build"
    assert main(["build", str(model), "--board", BOARD, "--out", str(out)]) == 2
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["build-failed"]


def test_a_successful_build_replaces_the_earlier_one_and_removes_the_failed_folder(
        model, earlier, monkeypatch):
    failed = earlier.with_name("build-failed")
    failed.mkdir()
    (failed / "build.log").write_text("an earlier failure")
    monkeypatch.setattr(structhw.boards.flow, "build_board", FakeBoardBuild())
    assert main(["build", str(model), "--board", BOARD, "--out", str(earlier)]) == 0
    after = _snapshot(earlier)
    assert sorted(after) == ["build.log", "nextpnr.log", "notes.txt", "plan.json", "report.json",
                             "top.bit"]
    assert after["notes.txt"] == EARLIER["notes.txt"]
    assert after["top.bit"] == b"stand-in bitstream of " + BOARD.encode()
    assert json.loads(after["plan.json"])["target"] == BOARD
    assert not failed.exists()


def test_a_real_tool_failure_names_the_folder_that_keeps_its_log(model, earlier, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv("YOSYS", "false")
    assert main(["build", str(model), "--board", BOARD, "--out", str(earlier)]) == 2
    assert _snapshot(earlier) == EARLIER
    failed = earlier.with_name("build-failed")
    [line] = _error_lines(capsys)
    assert "synth failed on ulx3s-85f" in line and str(failed) in line
    assert (failed / "build.log").exists() and (failed / "plan.json").exists()
    assert not (failed / "top.bit").exists()
