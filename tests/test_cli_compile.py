"""``structhw compile``: plan.json + Verilog from a *.qnet.json, errors as one line and exit 2."""

import json

import pytest

from structhw.cli import main
from structhw.compiler import load_plan
from structhw.errors import ConfigError
from structhw.qnet import save
from tests.tiny_models import tiny_chain


@pytest.fixture
def qnet_file(tmp_path):
    return save(tiny_chain(), tmp_path / "tiny.qnet.json")


def test_compile_writes_plan_and_prints_summary(qnet_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(qnet_file), "--budget", "dsp=8,lut4=20000,ebr=10",
                 "--out", str(out), "--no-verilog"]) == 0
    plan = load_plan(out / "plan.json")
    assert [s.layer for s in plan.stages] == ["conv0", "fc"]
    assert plan.budget.dsp == 8 and plan.totals.dsp <= 8
    text = capsys.readouterr().out
    assert "conv0" in text and "⊣ fc" in text
    assert f"bottleneck {plan.bottleneck.layer}: {plan.cycles_per_image} cycles/image" in text


def test_compile_board_budget_and_verilog(qnet_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(qnet_file), "--board", "ulx3s-12f", "--out", str(out)]) == 0
    plan = load_plan(out / "plan.json")
    assert plan.target == "ulx3s-12f" and plan.budget.dsp == 28
    verilog = list(out.glob("*.v"))
    assert verilog and "module structhw_network" in verilog[0].read_text()


@pytest.mark.parametrize("extra, message", [
    (["--budget", "dsp=1,lut4=20000,ebr=10"], "short by"),
    (["--budget", "dsp=1,lut=5"], "budget entry"),
    (["--board", "no-such-board"], "unknown board"),
])
def test_compile_bad_input_is_one_line_and_exit_2(qnet_file, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["compile", str(qnet_file), *extra, "--out", str(out), "--no-verilog"]) == 2
    lines = capsys.readouterr().err.replace("\r", "\n").split("\n")
    errors = [line for line in lines if line.startswith("structhw compile: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert not (out / "plan.json").exists()


def test_compile_missing_model_is_exit_2(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_compile_dense_rejects_structured_qnet(qnet_file, tmp_path, capsys):
    assert main(["compile", str(qnet_file), "--dense", "--budget", "dsp=20,lut4=20000,ebr=10",
                 "--out", str(tmp_path / "o"), "--no-verilog"]) == 2
    assert "dense baseline needs dense layers" in capsys.readouterr().err


@pytest.mark.parametrize("dense", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_compile_default_model_is_the_shipped_demo(tmp_path, capsys, dense):
    out = tmp_path / "out"
    assert main(["compile", *(["--dense"] if dense else []), "--out", str(out),
                 "--no-verilog"]) == 0
    plan = load_plan(out / "plan.json")
    assert plan.target == "ulx3s-85f" and plan.dense == dense
    assert [s.layer for s in plan.stages] == ["0", "2", "4", "7"]
    assert [s.flatten_before for s in plan.stages] == [False, False, False, True]
    assert all((s.params.sumpool is None) == dense for s in plan.stages)
    assert plan.totals.dsp <= plan.budget.dsp
    assert "digits_cnn_A" in capsys.readouterr().out


@pytest.fixture
def plan_json(qnet_file, tmp_path):
    """The JSON object of a plan ``structhw compile`` wrote for the tiny network."""
    out = tmp_path / "planned"
    assert main(["compile", str(qnet_file), "--budget", "dsp=8,lut4=20000,ebr=10",
                 "--out", str(out), "--no-verilog"]) == 0
    return json.loads((out / "plan.json").read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda o: o["stages"][0].__setitem__("fifo_depth", 10**12), "fifo_depth must be between 3 and 64"),
    (lambda o: o["stages"][0].__setitem__("fifo_depth", 2), "fifo_depth must be between 3 and 64"),
    (lambda o: o["budget"].__setitem__("dsp", -5), "budget.dsp must be between 0"),
    (lambda o: o["budget"].__setitem__("lut4", 10**12), "budget.lut4 must be between 0"),
    (lambda o: o["budget"].__setitem__("ebr_bits", 0), "budget.ebr_bits must be between 1"),
    (lambda o: o["budget"].__setitem__("dsp", 1), "totals exceed its budget: DSPs"),
    (lambda o: o["stages"][0]["cost"].__setitem__("lut4", 10**6), "totals exceed its budget: LUT4"),
    (lambda o: o["stages"][0]["cost"].__setitem__("dsp", -3), "stage 0.cost.dsp must be ≥ 0"),
    (lambda o: o["overhead"].__setitem__("ff", -1), "overhead.ff must be ≥ 0"),
    (lambda o: o["stages"][1].__setitem__("cycles_per_image", 0), "cycles_per_image must be ≥ 1"),
])
def test_load_plan_refuses_values_out_of_range(plan_json, tmp_path, edit, message):
    assert load_plan_json(plan_json, tmp_path / "ok.json").totals.dsp <= 8
    edit(plan_json)
    with pytest.raises(ConfigError, match=message):
        load_plan_json(plan_json, tmp_path / "edited.json")


def load_plan_json(obj, path):
    path.write_text(json.dumps(obj))
    return load_plan(path)
