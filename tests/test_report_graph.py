"""``structhw report`` of a graph network: a user's ``.py`` model (BatchNorm, a residual add,
max pool, global average pool) decomposed with a preset is compared with its undecomposed self,
every variant a graph plan, on a data set's test split; a compile folder of a graph plan is its
structured variant, simulated natively from its own Verilog; and the refusals (no preset, an
unsupported op, a data set that does not fit) are one line, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

import structhw.report as rp
from structhw.cli import main
from structhw.compiled import load_compiled
from structhw.graph.plan import GraphPlan
from structhw.report.pick_source import model_source
from structhw.report.planning import plan_summary
from structhw.sim.native import simulate_network_native
from tests.test_report import FakeBuilder, PlanBuilder, fake_simulate
from tests.user_models import user_model_py

BOARD = "ulx3s-85f"

DIGITS_NET = user_model_py(channels=1, size=8)


@pytest.fixture(scope="module")
def digits_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("usermodel") / "digitsnet.py"
    path.write_text(DIGITS_NET)
    return path


def test_a_py_model_with_a_preset_is_compared_with_its_dense_self(digits_net, tmp_path):
    """Three graph plans (structured at maximum and at the dense throughput, dense), each built
    (fake) and simulated (stand-in) on the digits test images; the sum-pool archs forced on the
    structured plan's nodes; accuracies, counts and the report files all present."""
    source = model_source(f"{digits_net}:build", BOARD, preset="A")
    builder = PlanBuilder()
    synthesized = []

    def synthesize(plan, out_dir):
        synthesized.append({u.params.sumpool for u in plan.units
                            if getattr(u.params, "sumpool", None)})
        return {"lut4_equivalent": 100, "TRELLIS_FF": 50}

    report = rp.collect_report(source, BOARD, tmp_path, images=6, builder=builder,
                               simulate=fake_simulate, synthesize=synthesize)
    assert report["model"] == "digitsnet" and report["data"] == "digits"
    acc = report["accuracy"]
    for key in ("dense_float", "decomposed_float", "int8_golden", "dense_int8_golden"):
        assert 0.0 <= acc[key] <= 1.0, key
    assert acc["test_images"] == 360 and acc["int8_logit_rel_rms"] > 0
    assert "no SR-trained float model" in report["missing"]["accuracy.structured_float"]
    variants = report["variants"]
    for v in rp.VARIANTS:
        ops = {row["op"] for row in variants[v]["plan"]["stages"]}
        assert {"add", "maxpool", "global_avgpool", "linear"} <= ops, (v, ops)
        assert variants[v]["sim"]["images"] == 6
        saved = json.loads((tmp_path / "builds" / v / "plan.json").read_text())
        assert saved["version"] == 2 and saved["dense"] == (v == "dense")
    dense_rows = variants["dense"]["plan"]["stages"]
    assert all(row["sumpool"] is None for row in dense_rows)
    equal = variants["structured_equal"]
    assert equal["planned_for"]["cycles_per_image"] == \
        variants["dense"]["plan"]["predicted_cycles_per_image"]
    if equal["planned_for"]["reachable"]:
        assert equal["plan"]["predicted_cycles_per_image"] <= \
            equal["planned_for"]["cycles_per_image"]
    chosen = set(report["sumpool"]["chosen"])
    assert chosen and synthesized == [{"tree"}, {"separable"}]
    for arch in {"tree", "separable"} - chosen:
        saved = json.loads((tmp_path / "builds" / f"sumpool_{arch}" / "plan.json").read_text())
        assert {n["params"]["sumpool"] for n in saved["nodes"]
                if n["params"].get("sumpool")} == {arch}
    counts = report["complexity"]
    assert counts["structured"]["mults"] < counts["dense"]["mults"]
    rp.write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Accuracy (digits test split)" in md and "Relative RMS error" in md


def test_a_compile_folder_of_a_graph_plan_is_simulated_from_its_own_verilog(digits_net,
                                                                            tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("STRUCTHW_SIM_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "compiled"
    assert main(["compile", f"{digits_net}:build", "--preset", "A", "--board", BOARD,
                 "--out", str(folder)]) == 0
    simulated = []

    def simulate(plan, images, labels, **given):
        simulated.append(given.get("sources"))
        return simulate_network_native(plan, images, labels, **given)

    report = rp.collect_report(folder, BOARD, tmp_path / "report", images=4,
                               builder=FakeBuilder(), simulate=simulate, sumpool_synth=False)
    plan = load_compiled(folder)
    assert isinstance(plan, GraphPlan)
    structured = report["variants"]["structured"]
    assert structured["plan"] == plan_summary(plan)
    assert structured["sim"]["mismatches"] == 0 and structured["sim"]["images"] == 4
    assert structured["sim"]["cycles_per_image"] == plan.cycles_per_image
    assert report["data"] == "digits" and report["accuracy"]["hardware"] is not None
    [sources] = simulated
    assert sorted(sources) == sorted(p for p in folder.iterdir() if p.suffix in (".v", ".vlt"))
    assert "no dense baseline" in report["missing"]["dense.model"]


def _refused(argv, out, capsys) -> str:
    capsys.readouterr()
    assert main(["report", *argv, "--out", str(out), "--no-build"]) == 2
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [line for line in err.split("\n") if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("suffix, argv, message", [
    (":build", [], "give --preset A or B"),
    (":sigmoid_net", ["--preset", "A"], "sigmoid"),
    (":build", ["--preset", "A", "--data", "standin"], "the model takes (1, 8, 8) images"),
    (":build", ["--preset", "A", "--data", "random", "--images", "257"],
     "and 256 (the random test split), got 257"),
])
def test_bad_graph_reports_are_one_line_exit_2(digits_net, tmp_path, capsys, suffix, argv,
                                               message):
    assert message in _refused([f"{digits_net}{suffix}", *argv], tmp_path / "report", capsys)


@pytest.mark.parametrize("argv, message", [
    (["--data", "random"], "is a chain network, tested on the digits test split"),
    (["--preset", "A"], "--preset apply to zoo and .py models"),
])
def test_chain_checkpoints_take_no_graph_options(tmp_path, capsys, argv, message):
    assert message in _refused(argv, tmp_path / "report", capsys)
