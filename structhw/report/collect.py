"""Collecting the report: every figure of the three variants measured (or found cached) into
one JSON-able dict, with the reason for every figure that could not be."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from .. import __version__
from ..datasets import parse_data
from .cache import board_build, measured_build
from .missing import Missing
from .planning import MAX_DSP_SEARCH, plan_at_cycles, plan_structured_equal, plan_summary
from .pick_source import model_source
from .sources import CheckpointSource
from .sumpool import compare_sumpool_archs, synth_network
from .targets import check_targets, info_rows
from .variants import MODELS, VARIANTS

STEPS = 4 + 2 * len(VARIANTS) + 1
"""Progress steps of one report: quantize, complexity, the two planning steps, a build and a
simulation per variant, the sum-pool archs."""


@dataclasses.dataclass
class _Run:
    """How one report is measured: where, at which clock (MHz), with which tools, and what is
    missing so far."""

    out_dir: Path
    target_mhz: float | None
    images: int | None
    build: bool
    builder: Callable
    simulate: Callable
    synthesize: Callable
    missing: Missing
    progress: tqdm
    test_images: Callable
    """``(network, count) → (int8 images, labels or None)``: the images each variant is
    simulated on (:meth:`~structhw.report.sources.CheckpointSource.test_images`)."""
    structured_sources: tuple = ()
    """Verilog of the structured plan to simulate (a compile folder's); empty: generated."""

    def step(self, name: str) -> None:
        """Advance the progress bar to the step ``name``."""
        self.progress.set_postfix_str(name)
        self.progress.update()


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
    model : str, Path or CheckpointSource, optional
        Training checkpoint (default the shipped demo), a ``*.qnet.json`` or a compile folder
        (structured only: the dense side and the float accuracies are then missing), a zoo or
        ``.py`` model decomposed with a preset, or a source resolved already
        (:func:`~structhw.report.sources.model_source`, with its options).
    board : str
        Board name (:mod:`structhw.boards.registry`).
    out_dir : path
        Builds go to ``out_dir/builds/<variant>`` (:data:`VARIANTS`) and
        ``out_dir/builds/sumpool_<arch>``, the sum-pool syntheses to ``out_dir/synth/<arch>``.
    images : int, optional
        Test images to simulate (default the whole test split of the source's data set).
    build : bool
        Run missing board builds and syntheses; with False only cached ones are used.
    target_mhz : float, optional
        Clock target of the board builds; default the board's ``default_mhz``, as ``structhw
        build``.
    sumpool_synth : bool
        Compare the sum-pool archs: build the structured plan with every sum-pool forced to the
        arch the compiler did not choose (``out_dir/builds/sumpool_<arch>``) and synthesize the
        network with each arch (``out_dir/synth/<arch>``).
    builder, simulate, synthesize : callable
        The board build (:func:`~structhw.report.cache.board_build`), network simulation
        (:func:`structhw.sim.native.simulate_network_native`) and synthesis
        (:func:`~structhw.report.sumpool.synth_network`); tests substitute their own.

    Returns
    -------
    dict
        The report (see :mod:`structhw.report`); ``missing`` maps each absent figure to its
        reason.
    """
    missing = Missing()
    if simulate is None:
        from structhw.sim.native import simulate_network_native as simulate
    report = {"structhw": __version__, "board": board,
              "target_mhz": None if target_mhz is None else float(target_mhz),
              "images": images, "accuracy": {}, "variants": {}, "dense_equal_throughput": None,
              "sumpool": {}, "complexity": None, "targets": [], "info": [],
              "missing": missing.reasons}
    progress = tqdm(total=STEPS, desc="report", unit="step", file=sys.stderr, leave=False,
                    disable=None)
    board_info = missing.attempt("board", _board_info, board)
    if board_info is not None:
        report["board"] = board_info.name
        if target_mhz is None:
            target_mhz = report["target_mhz"] = float(board_info.default_mhz)
    source = (model if isinstance(model, CheckpointSource)
              else model_source(model, report["board"]))
    report["model"], report["data"] = source.name, source.data
    run = _Run(Path(out_dir), target_mhz, images, build, builder, simulate, synthesize, missing,
               progress, source.test_images, source.sources)
    run.step("quantize")
    qnets = _quantize_models(report, source, missing)
    run.step("complexity")
    counts = _complexity(report, source, qnets, missing)
    plans, planned_for = _plan_variants(report, source, qnets, board_info, run)
    for v in VARIANTS:
        entry = report["variants"][v] = {"plan": plan_summary(plans[v]) if plans[v] else None,
                                         "build": None, "build_reused": None, "sim": None}
        if v == "structured_equal":
            entry["planned_for"] = planned_for
        _measure_variant(entry, v, plans[v], qnets[v], counts, report["board"], run)
    _hardware_accuracy(report, source, images, missing)
    run.step("sum-pool archs")
    _sumpool(report, plans["structured"], sumpool_synth, run)
    progress.close()
    report["targets"] = check_targets(report)
    report["info"] = info_rows(report)
    return report


def _quantize_models(report: dict, source: dict, missing: Missing) -> dict:
    """Quantize the structured and dense models of ``source`` and record their accuracies in
    ``report["accuracy"]``; returns the qnet of each variant (None when missing)."""
    models = {v: missing.attempt(f"{v}.model", source.quantized, v == "dense") for v in MODELS}
    qnets = {v: q[0] if q else None for v, q in models.items()}
    qnets["structured_equal"] = qnets["structured"]
    metrics = (models["structured"] or (None, {}))[1]
    dense_metrics = (models["dense"] or (None, {}))[1]
    acc = report["accuracy"]
    acc["dense_float"] = metrics.get("dense_float_acc", dense_metrics.get("float_acc"))
    acc["decomposed_float"] = metrics.get("decomposed_float_acc")
    acc["int8_golden"] = metrics.get("int8_acc")
    acc["dense_int8_golden"] = dense_metrics.get("int8_acc")
    acc["structured_float"] = missing.attempt("accuracy.structured_float",
                                              source.structured_float_accuracy)
    acc["test_images"] = metrics.get("test_images")
    acc["int8_logit_rel_rms"] = metrics.get("logit_rel_rms")
    unlabelled = parse_data(source.data).num_classes is None
    for key in ("dense_float", "decomposed_float", "int8_golden", "dense_int8_golden"):
        if acc[key] is None:
            missing.reasons.setdefault(f"accuracy.{key}", (
                f"--data {source.data} has no labels: no accuracy" if unlabelled
                else "no model to evaluate (see the model entries)"))
    return qnets


def _complexity(report: dict, source: dict, qnets: dict, missing: Missing) -> dict:
    """Record the paper's counts in ``report["complexity"]``; returns them ({} when missing)."""
    input_shape = next((q.input_shape for q in qnets.values() if q is not None), None)
    report["complexity"] = (missing.attempt("complexity", source.complexity, input_shape)
                            if input_shape else None)
    return report["complexity"] or {}


def _plan_variants(report: dict, source, qnets: dict, board_info,
                   run: _Run) -> tuple[dict, dict | None]:
    """``(plans, planned_for)``: the plan of each variant (None when missing) and what
    ``structured_equal`` was planned for (:func:`~structhw.report.planning.plan_structured_equal`);
    the dense re-plan goes to ``report["dense_equal_throughput"]``."""
    missing = run.missing
    run.step("plan")
    plans = {}
    for v in MODELS:
        if qnets[v] is not None and board_info is not None:
            plans[v] = missing.attempt(f"{v}.plan", source.network_plan, qnets[v], board_info,
                                       v == "dense")
        else:
            plans[v] = None
            missing.reasons.setdefault(f"{v}.plan", "no model or no board to plan for")
    run.step("plan at the dense throughput")
    plans["structured_equal"], planned_for = plan_structured_equal(
        qnets["structured"], plans["dense"], board_info, missing)
    _plan_dense_equal(report, qnets["dense"], plans["structured"], board_info, missing)
    return plans, planned_for


def _plan_dense_equal(report: dict, dense_qnet, structured_plan, board_info,
                      missing: Missing) -> None:
    """Record in ``report["dense_equal_throughput"]`` the dense model planned for the structured
    plan's cycles per image under the fewest DSPs (up to :data:`MAX_DSP_SEARCH`)."""
    if structured_plan is None or dense_qnet is None:
        missing.reasons["dense_equal_throughput"] = "needs the structured plan and the dense model"
        return
    equal, dsp_budget = missing.attempt(
        "dense_equal_throughput", plan_at_cycles, dense_qnet, board_info.budget,
        structured_plan.cycles_per_image, dense=True) or (None, None)
    if equal is not None:
        report["dense_equal_throughput"] = {"dsp_budget": dsp_budget, **plan_summary(equal)}
    else:
        missing.reasons.setdefault("dense_equal_throughput",
                                   f"no dense plan up to {MAX_DSP_SEARCH} DSPs reaches "
                                   f"{structured_plan.cycles_per_image} cycles/image")


def _measure_variant(entry: dict, variant: str, plan, qnet, counts: dict, board: str,
                     run: _Run) -> None:
    """Fill ``entry`` (``report["variants"][variant]``) with the board build, the simulation and
    the throughput of ``plan``."""
    missing = run.missing
    run.step(f"build {variant}")
    if plan is not None:
        entry["build"], entry["build_reused"] = measured_build(
            missing, variant, board, plan, run.out_dir / "builds" / variant, run.target_mhz,
            build=run.build, builder=run.builder)
    else:
        missing.reasons.setdefault(f"{variant}.build", "no plan to build")
    run.step(f"simulate {variant}")
    if plan is not None:
        x, y = run.test_images(qnet, run.images)
        given = {"sources": run.structured_sources} if variant == "structured" and \
            run.structured_sources else {}
        sim = missing.attempt(f"{variant}.sim", run.simulate, plan, x, y, **given)
        entry["sim"] = _sim_summary(sim) if sim is not None else None
    else:
        missing.reasons.setdefault(f"{variant}.sim", "no plan to simulate")
    mults = counts.get("dense" if variant == "dense" else "structured", {}).get("mults")
    dense_mults = counts.get("dense", {}).get("mults")
    entry["throughput"] = throughput(entry["build"], entry["sim"], mults, dense_mults)


def _sim_summary(result) -> dict:
    """The report's ``sim`` entry from a :func:`structhw.sim.network.simulate_network` result:
    images and logits compared, mismatches, accuracies (fractions), measured and predicted
    cycles."""
    return {"images": int(result.images), "mismatches": int(result.mismatches),
            "logits": int(result.logits_ref.size),
            "accuracy_hw": result.accuracy_hw, "accuracy_golden": result.accuracy_ref,
            "cycles_per_image": result.cycles_per_image, "latency_cycles": result.latency_cycles,
            "predicted_cycles_per_image": int(result.predicted_cycles)}


def _hardware_accuracy(report: dict, source: dict, images: int | None, missing: Missing) -> None:
    """Record the simulated hardware's accuracies and the dense float model's on the same
    images in ``report["accuracy"]``."""
    struct_sim = report["variants"]["structured"]["sim"]
    dense_sim = report["variants"]["dense"]["sim"]
    acc = report["accuracy"]
    acc["hardware"] = struct_sim["accuracy_hw"] if struct_sim else None
    acc["hardware_images"] = struct_sim["images"] if struct_sim else None
    acc["dense_float_same_images"] = (missing.attempt("accuracy.dense_float_same_images",
                                                      source.dense_float_accuracy, images)
                                      if struct_sim else None)
    acc["hardware_golden_same_images"] = struct_sim["accuracy_golden"] if struct_sim else None
    acc["dense_hardware"] = dense_sim["accuracy_hw"] if dense_sim else None


def _sumpool(report: dict, structured_plan, requested: bool, run: _Run) -> None:
    """Record the sum-pool arch comparison of the structured plan in ``report["sumpool"]``."""
    if structured_plan is not None and requested:
        report["sumpool"] = compare_sumpool_archs(
            structured_plan, report["variants"]["structured"], report["board"], run.out_dir,
            run.target_mhz, run.missing, build=run.build, builder=run.builder,
            synthesize=run.synthesize)
    else:
        run.missing.reasons.setdefault("sumpool", "no structured plan" if structured_plan is None
                                       else "sum-pool comparison not requested")


def _board_info(name: str):
    from structhw.boards.registry import get_board
    return get_board(name)
