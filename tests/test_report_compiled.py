"""``structhw report`` of a ``structhw compile`` output folder: the structured variant is the
folder's plan as it is, simulated from the folder's own Verilog; the dense side is missing, as for
a qnet file. A folder whose Verilog does not check out or planned for another board is bad input:
exit 2, one line, nothing written (a folder of a graph plan: tests/test_report_graph.py)."""

from __future__ import annotations

import pytest

import structhw.report as rp
from structhw.cli import main
from structhw.compiled import load_compiled
from structhw.report.planning import plan_summary
from structhw.sim.network import simulate_network
from structhw.qnet import save
from tests.test_report import FakeBuilder
from tests.tiny_models import digits_chain

BOARD = "ulx3s-85f"


def _compile(model, out, board=BOARD):
    assert main(["compile", str(model), "--board", board, "--out", str(out)]) == 0
    return out


@pytest.fixture
def qnet_file(tmp_path):
    return save(digits_chain(), tmp_path / "tiny.qnet.json")


@pytest.fixture
def folder(qnet_file, tmp_path):
    return _compile(qnet_file, tmp_path / "compiled")


def test_the_structured_variant_is_the_folders_plan_simulated_from_its_verilog(folder, tmp_path):
    simulated = []

    def simulate(plan, images, labels, **given):
        simulated.append((plan.to_json(), given.get("sources")))
        return simulate_network(plan, images, labels, **given)

    report = rp.collect_report(folder, "ulx3s", tmp_path / "report", images=4,
                               builder=FakeBuilder(), simulate=simulate, sumpool_synth=False)
    plan = load_compiled(folder)
    structured = report["variants"]["structured"]
    assert report["model"] == folder.name
    assert structured["plan"] == plan_summary(plan)
    assert structured["sim"]["mismatches"] == 0 and structured["sim"]["images"] == 4
    [(planned, sources)] = simulated
    assert planned == plan.to_json()
    assert sorted(sources) == sorted(p for p in folder.iterdir() if p.suffix in (".v", ".vlt"))
    assert "no dense baseline" in report["missing"]["dense.model"]


def _report_refused(model, out, capsys, *extra):
    capsys.readouterr()
    assert main(["report", str(model), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [line for line in err.split("\n") if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not out.exists()
    return lines[0]


def test_a_folder_whose_verilog_was_edited_is_refused(folder, tmp_path, capsys):
    verilog = folder / "structhw_network.v"
    verilog.write_text(verilog.read_text() + "// edited\n")
    line = _report_refused(folder, tmp_path / "report", capsys)
    assert "structhw_network.v was edited after compile" in line


def test_a_folder_planned_for_another_board_is_refused(qnet_file, tmp_path, capsys):
    other = _compile(qnet_file, tmp_path / "small", board="ulx3s-45f")
    line = _report_refused(other, tmp_path / "report", capsys, "--board", BOARD)
    assert "planned for ulx3s-45f, not ulx3s-85f" in line
