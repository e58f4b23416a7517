"""``structhw report``: build cache, throughput/target arithmetic, the report files, the missing-
measurement path (real RTL simulation of a tiny network), and the README results updater."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from structhw import report as rp
from structhw.cli import main
from structhw.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_qnet_path(tmp_path_factory):
    """A two-layer structured network on 1×8×8 digits images, saved as ``*.qnet.json``."""
    from structhw.data import digits_split
    from structhw.decompose import StructuredConv2d, StructuredLinear
    from structhw.qnet import save
    from structhw.quant import quantize

    torch.manual_seed(0)
    model = nn.Sequential(StructuredConv2d(1, 2, 3, c=1, n=2, stride=2, padding=1), nn.ReLU(),
                          nn.Flatten(), StructuredLinear(32, 10, c=16))
    train, _ = digits_split()
    qnet = quantize(model, train.tensors[0][:64], name="tiny", rounding="nearest")
    return save(qnet, tmp_path_factory.mktemp("tiny") / "tiny.qnet.json")


@pytest.fixture(scope="module")
def tiny_plan(tiny_qnet_path):
    from structhw.boards.registry import get_board
    from structhw.commands.build import plan_for_board
    from structhw.qnet import load
    return plan_for_board(load(tiny_qnet_path), get_board("ulx3s"), False)


class FakeBuilder:
    """Stands in for the board build: writes a report.json like nextpnr's, counts calls."""

    def __init__(self, dsp: int = 10, lut4: int = 2000, fmax: float = 123.4):
        self.calls, self.dsp, self.lut4, self.fmax = [], dsp, lut4, fmax

    def __call__(self, board, plan, out_dir, target_mhz):
        self.calls.append((board, Path(out_dir), target_mhz))
        report = {"board": board, "device": "LFE5U-85F", "lut4": self.lut4, "lut4_total": 83640,
                  "ff": 1500, "ff_total": 83640, "dsp": self.dsp, "dsp_total": 156, "ebr": 2,
                  "ebr_total": 208, "fmax_mhz": self.fmax, "target_mhz": target_mhz,
                  "timing_met": self.fmax >= target_mhz}
        rp.write_json(Path(out_dir) / "report.json", report)
        return report


def test_build_cache_reused_only_under_the_same_key(tiny_plan, tmp_path):
    import dataclasses

    builder = FakeBuilder()
    first, reused = rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 100.0, builder=builder)
    assert not reused and len(builder.calls) == 1 and first["dsp"] == 10
    again, reused = rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 100.0, builder=builder)
    assert reused and again == first and len(builder.calls) == 1

    rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 90.0, builder=builder)
    assert len(builder.calls) == 2, "another clock target must rebuild"
    stage = tiny_plan.stages[0]
    other = dataclasses.replace(tiny_plan, stages=[dataclasses.replace(
        stage, params=dataclasses.replace(stage.params, lanes=1, mults=1))] + tiny_plan.stages[1:])
    with pytest.raises(ConfigError, match="--no-build"):
        rp.cached_board_build("ulx3s-85f", other, tmp_path, 90.0, build=False, builder=builder)
    rp.cached_board_build("ulx3s-85f", other, tmp_path, 90.0, builder=builder)
    assert len(builder.calls) == 3, "another plan must rebuild"
    key = json.loads((tmp_path / rp.BUILD_KEY).read_text())
    assert key["key"] == rp.build_key(tmp_path / "plan.json", "ulx3s-85f", 90.0)


def test_build_key_depends_on_plan_board_target_and_version(tmp_path, monkeypatch):
    plan = tmp_path / "plan.json"
    plan.write_text('{"a": 1}')
    base = rp.build_key(plan, "ulx3s-85f", 100.0)
    assert rp.build_key(plan, "ulx3s-45f", 100.0) != base
    assert rp.build_key(plan, "ulx3s-85f", 50.0) != base
    monkeypatch.setattr(rp, "__version__", "9.9.9")
    assert rp.build_key(plan, "ulx3s-85f", 100.0) != base
    monkeypatch.undo()
    plan.write_text('{"a": 2}')
    assert rp.build_key(plan, "ulx3s-85f", 100.0) != base


@given(dsp_s=st.integers(1, 300), cyc_s=st.integers(2, 5000), dsp_d=st.integers(1, 300),
       cyc_d=st.integers(2, 5000), mults_s=st.integers(1, 10**6), mults_d=st.integers(1, 10**6),
       fmax=st.floats(1.0, 500.0))
def test_throughput_and_dsp_targets(dsp_s, cyc_s, dsp_d, cyc_d, mults_s, mults_d, fmax):
    ts = rp.throughput({"dsp": dsp_s, "fmax_mhz": fmax}, {"cycles_per_image": cyc_s}, mults_s, mults_d)
    td = rp.throughput({"dsp": dsp_d, "fmax_mhz": fmax}, {"cycles_per_image": cyc_d}, mults_d, mults_d)
    assert ts["images_per_s"] == pytest.approx(fmax * 1e6 / cyc_s)
    assert ts["ideal_images_per_s"] == pytest.approx(fmax * 1e6 * dsp_s / mults_s)
    assert ts["dense_ops_per_dsp_cycle"] == pytest.approx(mults_d / (dsp_s * cyc_s))
    report = synthetic_report()
    report["variants"]["structured"]["throughput"] = ts
    report["variants"]["dense"]["throughput"] = td
    targets = {t["name"]: t for t in rp.check_targets(report)}
    norm = targets["structured DSP·cycles / dense DSP·cycles per image"]
    gain = targets["dense-equivalent ops/DSP/cycle, structured ÷ dense"]
    assert norm["value"] == pytest.approx(dsp_s * cyc_s / (dsp_d * cyc_d))
    assert gain["value"] == pytest.approx(dsp_d * cyc_d / (dsp_s * cyc_s))
    assert norm["status"] == ("PASS" if dsp_s * cyc_s <= 0.55 * dsp_d * cyc_d else "FAIL")
    assert gain["status"] == ("PASS" if dsp_d * cyc_d >= 1.8 * dsp_s * cyc_s else "FAIL")


def test_throughput_with_a_missing_input_is_none():
    t = rp.throughput(None, {"cycles_per_image": 100.0}, 10, 20)
    assert t["cycles_per_image"] == 100.0
    assert t["images_per_s"] is None and t["dense_ops_per_dsp_cycle"] is None


def synthetic_report() -> dict:
    """A complete report with made-up measurements (what collect_report returns)."""
    def build(dsp, lut4, fmax):
        return {"board": "ulx3s-85f", "lut4": lut4, "lut4_total": 83640, "ff": 9000,
                "ff_total": 83640, "dsp": dsp, "dsp_total": 156, "ebr": 4, "ebr_total": 208,
                "fmax_mhz": fmax, "target_mhz": 100.0}

    def sim(cycles, acc):
        return {"images": 360, "mismatches": 0, "logits": 3600, "accuracy_hw": acc,
                "accuracy_golden": acc, "cycles_per_image": cycles, "latency_cycles": 500,
                "predicted_cycles_per_image": int(cycles)}

    def plan(cycles, dsp):
        return {"predicted_cycles_per_image": cycles, "latency_cycles": 600,
                "estimate": {"lut4": 1, "ff": 1, "dsp": dsp, "bram_bits": 1}, "stages": []}

    layers = lambda scale: [{"name": "0", "kind": "conv", "C": 1, "N": 3, "c": 1, "n": 2,  # noqa: E731
                             "params": 40 * scale, "mults": 2048 * scale, "adds": 2291 * scale}]
    report = {"structhw": "0.1.0", "board": "ulx3s-85f", "target_mhz": 100.0, "images": None,
              "model": "demo.pt",
              "accuracy": {"dense_float": 0.9667, "structured_float": 0.9778,
                           "decomposed_float": 0.9778, "int8_golden": 0.975, "hardware": 0.975,
                           "hardware_images": 360, "dense_float_same_images": 0.9667,
                           "dense_int8_golden": 0.9667, "dense_hardware": 0.9667},
              "variants": {"structured": {"plan": plan(172, 138), "build": build(130, 14000, 104.0),
                                          "build_reused": True, "sim": sim(172.0, 0.975)},
                           "dense": {"plan": plan(274, 147), "build": build(147, 11000, 101.0),
                                     "build_reused": False, "sim": sim(274.0, 0.9667)}},
              "dense_equal_throughput": {"dsp_budget": 260, **plan(172, 256)},
              "sumpool": {"tree": {"lut4_equivalent": 9000, "TRELLIS_FF": 7000},
                          "separable": {"lut4_equivalent": 8000, "TRELLIS_FF": 7500},
                          "chosen": ["separable"]},
              "complexity": {"structured": {"params": 40, "mults": 2048, "adds": 2291,
                                            "layers": layers(1)},
                             "dense": {"params": 80, "mults": 4096, "adds": 4582,
                                       "layers": layers(2)}},
              "targets": [], "missing": {}}
    for v, mults in (("structured", 2048), ("dense", 4096)):
        entry = report["variants"][v]
        entry["throughput"] = rp.throughput(entry["build"], entry["sim"], mults, 4096)
    report["targets"] = rp.check_targets(report)
    return report


def test_report_files_from_a_complete_fake_measurement(tmp_path):
    report = synthetic_report()
    statuses = {t["name"]: t["status"] for t in report["targets"]}
    assert statuses["structured DSPs / dense DSPs at equal throughput"] == (
        "PASS" if 138 / 256 <= 0.55 else "FAIL")
    gain = (147 * 274) / (130 * 172)
    assert statuses["dense-equivalent ops/DSP/cycle, structured ÷ dense"] == (
        "PASS" if gain >= 1.8 else "FAIL")
    assert statuses["hardware logits == golden model (bit-exact)"] == "PASS"
    assert statuses["accuracy loss: dense float − hardware (points)"] == "PASS"

    paths = rp.write_report(report, tmp_path)
    for name in ("report.json", "report.md", *rp.PLOTS):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(report))
    md = (tmp_path / "report.md").read_text()
    assert f"{1e6 * 104.0 / 172:,.0f}" in md  # images/s at the achieved Fmax
    assert "| DSP (MULT18X18D) | 130 | 147 |" in md
    assert "## Missing measurements" not in md
    assert len(paths) == 2 + len(rp.PLOTS)
    assert rp.exit_code(report) == (0 if all(t["status"] == "PASS" for t in report["targets"]) else 1)


def test_mismatching_hardware_fails_the_bit_exact_target():
    report = synthetic_report()
    sim = report["variants"]["structured"]["sim"]
    sim["mismatches"] = 3
    target = next(t for t in rp.check_targets(report) if "bit-exact" in t["name"])
    assert target["status"] == "FAIL" and target["value"].startswith("3 of 3600")


def test_tiny_network_simulated_dense_side_missing(tiny_qnet_path, tmp_path):
    """A quantized structured network alone: the structured side is built (fake) and really
    simulated; the dense side and float accuracies are missing with their reasons; exit 1."""
    builder = FakeBuilder(dsp=7, fmax=150.0)
    synth_calls = []

    def synthesize(plan, out_dir):
        synth_calls.append({s.params.sumpool for s in plan.stages})
        return {"lut4_equivalent": 100 * len(synth_calls), "TRELLIS_FF": 50}

    report = rp.collect_report(tiny_qnet_path, "ulx3s", tmp_path, images=6, builder=builder,
                               synthesize=synthesize)
    rp.write_report(report, tmp_path)
    s = report["variants"]["structured"]
    assert s["sim"]["images"] == 6 and s["sim"]["mismatches"] == 0
    assert s["sim"]["cycles_per_image"] > 0
    assert report["accuracy"]["hardware"] == s["sim"]["accuracy_golden"]
    assert s["throughput"]["images_per_s"] == pytest.approx(150e6 / s["sim"]["cycles_per_image"])
    assert synth_calls == [{"tree"}, {"separable"}]
    assert report["variants"]["dense"]["build"] is None
    assert "no dense baseline" in report["missing"]["dense.model"]
    assert "no float model" in report["missing"]["accuracy.structured_float"]
    assert rp.exit_code(report) == 1
    md = (tmp_path / "report.md").read_text()
    assert "## Missing measurements" in md and "no dense baseline" in md
    assert "MISSING" in md


def test_cli_unknown_board_writes_what_it_could_and_exits_nonzero(tiny_qnet_path, tmp_path, capsys):
    rc = main(["report", str(tiny_qnet_path), "--board", "no-such-board", "--out", str(tmp_path),
               "--no-build"])
    captured = capsys.readouterr()
    assert rc == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert "no-such-board" in report["missing"]["board"]
    assert "structured.build" in report["missing"]
    assert "no-such-board" in (tmp_path / "report.md").read_text()
    assert "MISSING board" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["--images", "1"], "--images must be ≥ 2"),
    (["--target-mhz", "0"], "--target-mhz must be > 0"),
])
def test_cli_bad_options_are_one_line_exit_2(argv, message, tmp_path, capsys):
    rc = main(["report", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_readme_results_section_replaced_between_markers_only(tmp_path):
    update_readme = _load_script("update_readme")
    report_dir, results = tmp_path / "report", tmp_path / "docs" / "results"
    rp.write_report(synthetic_report(), report_dir)
    readme = tmp_path / "README.md"
    head = "# Project\n\nIntro.\n\n## Results\n\n"
    tail = "\n\n## After\n\nMore text.\n"
    readme.write_text(f"{head}{rp.RESULTS_START}\nold hand-typed numbers\n{rp.RESULTS_END}{tail}")

    update_readme.main(["--report", str(report_dir), "--readme", str(readme),
                        "--results", str(results)])
    text = readme.read_text()
    assert text.startswith(head + rp.RESULTS_START) and text.endswith(rp.RESULTS_END + tail)
    assert "old hand-typed numbers" not in text
    assert rp.render_readme_fragment(synthetic_report(), "docs/results").strip() in text
    for name in rp.PLOTS:
        assert (results / name).exists() and f"docs/results/{name}" in text
    assert (results / "report.md").exists() and (results / "report.json").exists()
    update_readme.main(["--report", str(report_dir), "--readme", str(readme),
                        "--results", str(results)])
    assert readme.read_text() == text, "regenerating from the same report changes nothing"


def test_readme_without_markers_gets_a_results_section():
    out = rp.replace_results_section("# P\n\ntext\n", "figures\n")
    assert out == f"# P\n\ntext\n\n## Results\n\n{rp.RESULTS_START}\nfigures\n{rp.RESULTS_END}\n"


@pytest.mark.parametrize("readme", [
    f"{rp.RESULTS_START}\n{rp.RESULTS_START}\n{rp.RESULTS_END}\n",
    f"{rp.RESULTS_END}\n{rp.RESULTS_START}\n",
    f"{rp.RESULTS_START}\nonly a start\n",
])
def test_readme_with_broken_markers_is_refused(readme):
    with pytest.raises(ConfigError, match="markers"):
        rp.replace_results_section(readme, "x")


def test_missing_report_names_the_command_to_run(tmp_path):
    update_readme = _load_script("update_readme")
    with pytest.raises(FileNotFoundError, match="structhw report"):
        update_readme.update(tmp_path / "none", tmp_path / "README.md", tmp_path / "res")


def test_dense_plan_at_cycles_is_the_fewest_dsps_reaching_them():
    """With a stand-in planner whose cycles fall as the DSP budget grows, the search returns the
    smallest budget that reaches the cycles."""
    from structhw.budget import Budget

    class Plan:
        def __init__(self, dsp):
            self.cycles_per_image = -(-1000 // dsp)

    def planner(qnet, budget, dense):
        assert dense
        return Plan(budget.dsp)

    budget = Budget(lut4=1000, ff=1000, dsp=8, ebr=4)
    for cycles in (1000, 300, 101, 7):
        plan, dsp = rp.dense_plan_at_cycles(None, budget, cycles, compile_plan=planner)
        fewest = next(d for d in range(1, 2000) if -(-1000 // d) <= cycles)
        assert dsp == fewest and plan.cycles_per_image <= cycles
