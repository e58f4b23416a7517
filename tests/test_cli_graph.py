"""A user's own model through quantize and compile: a .py file, its weights, the data set, and
the one-line refusals (unsupported op, bad file, wrong data) that write nothing."""

import json

import numpy as np
import pytest
import torch

from structhw.cli import main
from structhw.graph.plan_json import load_graph_plan
from structhw.graph.quant_graph import load_graph
from tests.user_models import user_model_py

MODEL_PY = user_model_py()


@pytest.fixture()
def model_py(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(MODEL_PY)
    return path


def test_a_py_model_quantizes_and_compiles_to_a_graph_plan(model_py, tmp_path, capsys):
    qnet_path = tmp_path / "my.qnet.json"
    assert main(["quantize", f"{model_py}:build", "--data", "random", "--out", str(qnet_path)]) == 0
    printed = capsys.readouterr().out
    assert "add" in printed and "maxpool" in printed and "global_avgpool" in printed
    graph = load_graph(qnet_path)
    assert [n.kind for n in graph.nodes] == ["conv", "conv", "add", "maxpool", "global_avgpool",
                                             "conv"]
    out = tmp_path / "plan"
    assert main(["compile", f"{model_py}:build", "--data", "random", "--no-verilog",
                 "--out", str(out)]) == 0
    plan = load_graph_plan(out / "plan.json")
    assert plan.graph.to_json()["nodes"] == graph.to_json()["nodes"]
    assert "fork FIFOs: stem→body" in capsys.readouterr().out


def test_weights_are_loaded_from_a_state_dict(model_py, tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location("mynet_for_test", model_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build()
    with torch.no_grad():
        net.fc.bias.fill_(3.0)
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    out = tmp_path / "w.qnet.json"
    assert main(["quantize", f"{model_py}:build", "--data", "random", "--weights", str(weights),
                 "--out", str(out)]) == 0
    fc = load_graph(out).node("fc").layer
    assert (fc.bias * fc.in_scale * fc.alpha_scale).round().tolist() == [3.0] * 10
    torch.save({"fc.weight": torch.zeros(1)}, weights)
    capsys.readouterr()
    assert main(["quantize", f"{model_py}:build", "--data", "random", "--weights",
                 str(weights)]) == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_a_graph_compiles_to_the_verilog_of_its_graph_accelerator(model_py, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", f"{model_py}:build", "--data", "random", "--out", str(out)]) == 0
    verilog = (out / "structhw_network.v").read_text()
    plan = load_graph_plan(out / "plan.json")
    for k, op in enumerate(plan.graph.nodes):
        assert f"node_{k}_{op.name}" in verilog
    assert "fork_0_stem" in verilog and "fifo_0_stem__2_add_0" in verilog
    assert f"wrote {out / 'structhw_network.v'}" in capsys.readouterr().out


@pytest.mark.parametrize("suffix, argv, message", [
    (":sigmoid_net", [], r"unsupported op 'sigmoid' .* at .*mynet\.py:\d+"),
    (":not_a_module", [], "returned a int, not an nn.Module"),
    (":broken", [], "broken\\(\\) raised RuntimeError: no weights here"),
    (":missing", [], "has no callable 'missing'"),
    (":build", ["--data", "digits"], r"takes \(3, 12, 12\) images, the digits are"),
    (":build", ["--input-shape", "3,12"], "expected C,H,W"),
    (":build", ["--dense"], "this model is dense as it is"),
    (":build", ["--weights", "/nonexistent.pt"], "no such file"),
])
def test_bad_user_models_are_one_line_exit_2(model_py, tmp_path, capsys, suffix, argv, message):
    out = tmp_path / "out"
    rc = main(["compile", f"{model_py}{suffix}", "--data", "random", *argv, "--no-verilog",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    import re
    assert re.search(message, err), err
    assert not out.exists()


def test_a_missing_py_file_is_one_line(tmp_path, capsys):
    assert main(["quantize", f"{tmp_path}/nope.py:build", "--data", "random"]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_resnet20_on_random_data_is_refused_by_a_small_board(tmp_path, capsys):
    out = tmp_path / "r20"
    rc = main(["compile", "resnet20", "--board", "ulx3s-12f", "--data", "random", "--no-verilog",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "flip-flops: needs" in err and "short by" in err
    assert not (out / "plan.json").exists()
    report = json.dumps(err)
    assert "Traceback" not in report


def test_sim_runs_a_py_graph_model_bit_exact_at_the_planned_rate(model_py, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.setenv("STRUCTHW_SIM_CACHE", str(tmp_path / "cache"))
    dump = tmp_path / "run.npz"
    assert main(["sim", f"{model_py}:build", "--data", "random", "--images", "4", "--json",
                 "--dump", str(dump)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 4 and result["mismatches"] == 0 and result["bench"] == "native"
    assert result["logits"] == 4 * 10
    assert result["cycles_per_image_measured"] == result["cycles_per_image_predicted"]
    with np.load(dump) as f:
        arrays = {k: f[k] for k in f.files}
    assert arrays["x"].dtype == np.int8 and arrays["x"].shape[0] == 4
    assert arrays["logits_hw"].dtype == arrays["logits_golden"].dtype == np.int8
    assert (arrays["logits_hw"] == arrays["logits_golden"]).all()
    assert arrays["logits_float"].shape == (4, 10) and float(arrays["logit_scale"]) > 0
    dequantized = arrays["logits_golden"] * float(arrays["logit_scale"])
    error = np.abs(dequantized - arrays["logits_float"]).max()
    assert error < 0.25 * np.abs(arrays["logits_float"]).max(), error


def test_sim_refuses_data_for_a_checkpoint(capsys):
    assert main(["sim", "--data", "random"]) == 2
    err = capsys.readouterr().err
    assert "--data apply to zoo, .py and graph models" in err and len(err.splitlines()) == 1
