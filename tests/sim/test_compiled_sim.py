"""``structhw sim DIR`` of a compile output folder simulates the folder's own Verilog files (the
ones plan.json records), not Verilog generated again: a weight changed in the folder's Verilog
(its digest re-recorded, so the folder checks out) makes the simulation fail; a folder compiled
with ``--no-verilog`` is simulated from generated Verilog."""

import json
import re

import pytest

import structhw.sim.native as native
from structhw.cli import main
from structhw.compiled import PLAN_FILE, file_sha256
from structhw.sim.runner import simulator_available
from structhw.qnet import save
from tests.tiny_models import digits_chain

pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
BOARD = "ulx3s-12f"
TOP = "structhw_network.v"


def _compile(model, out, *extra):
    assert main(["compile", str(model), "--board", BOARD, "--out", str(out), *extra]) == 0
    return out


def _sim(folder, capsys):
    capsys.readouterr()
    rc = main(["sim", str(folder), "--images", "6", "--json", "--seed", "3"])
    return rc, json.loads(capsys.readouterr().out)


def _flip_last_bias_sign(verilog):
    """Flip the sign bit of the first bias of the last engine (its first output channel's bias
    becomes a large number of the other sign: logit 0 of every image changes)."""
    text = verilog.read_text()
    last = list(re.finditer(r"bias_rom\[0\] = (\d+)'h([0-9a-f]+);", text))[-1]
    width, value = int(last.group(1)), int(last.group(2), 16)
    line = f"bias_rom[0] = {width}'h{value ^ (1 << (width - 1)):0{len(last.group(2))}x};"
    verilog.write_text(text[:last.start()] + line + text[last.end():])


@pytest.fixture
def qnet_file(tmp_path):
    return save(digits_chain(), tmp_path / "tiny.qnet.json")


@pytest.fixture
def no_generation(monkeypatch):
    """Fail the test if the native bench generates the accelerator's Verilog."""
    def generated(plan, root):
        raise AssertionError("sim generated Verilog instead of using the folder's files")
    monkeypatch.setattr(native, "network_sources", generated)


def test_the_folders_own_verilog_is_simulated(qnet_file, tmp_path, capsys,
                                              no_generation):
    folder = _compile(qnet_file, tmp_path / "out")
    rc, out = _sim(folder, capsys)
    assert rc == 0 and out["mismatches"] == 0 and out["images"] == 6, out["notes"]


def test_a_weight_changed_in_the_folders_verilog_fails_the_simulation(
        qnet_file, tmp_path, capsys, no_generation):
    folder = _compile(qnet_file, tmp_path / "out")
    _flip_last_bias_sign(folder / TOP)
    plan = json.loads((folder / PLAN_FILE).read_text())
    plan["verilog_sha256"][TOP] = file_sha256(folder / TOP)
    (folder / PLAN_FILE).write_text(json.dumps(plan))
    rc, out = _sim(folder, capsys)
    assert rc == 1 and out["mismatches"] > 0
    assert out["first_mismatch"]["logit"] == 0
    assert re.match(r"random stalls: image \d+ logit 0:", out["notes"][0])


def test_a_folder_without_verilog_is_simulated_from_generated_verilog(
        qnet_file, tmp_path, capsys, monkeypatch):
    folder = _compile(qnet_file, tmp_path / "out", "--no-verilog")
    generated, real = [], native.network_sources
    monkeypatch.setattr(native, "network_sources",
                        lambda plan, root: generated.append(plan) or real(plan, root))
    rc, out = _sim(folder, capsys)
    assert rc == 0 and out["mismatches"] == 0 and len(generated) == 1
