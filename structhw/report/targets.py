"""The issue's acceptance targets, the comparisons shown for information, and the exit code.

A target is ``{"name", "value", "limit", "status", "basis"}``: ``status`` PASS, FAIL or MISSING
(a figure it needs was not measured), ``basis`` how the value was measured. An information row
is ``{"name", "value", "basis"}`` (value None when a figure is missing).
"""

from __future__ import annotations

from .tables import fmt
from .variants import VARIANTS

EQUAL_DSP_NAME = "structured DSPs / dense DSPs at equal throughput"
EQUAL_OPS_NAME = "dense-equivalent ops/DSP/cycle, structured ÷ dense (equal throughput)"
DSP_RATIO_LIMIT = 0.55
"""Most structured ÷ dense nextpnr DSPs at equal throughput that passes."""
OPS_GAIN_LIMIT = 1.8
"""Least structured ÷ dense dense-equivalent ops per DSP per cycle that passes."""
ACCURACY_POINTS_LIMIT = 1.5
"""Most accuracy loss, dense float − hardware, in percentage points, that passes."""


def _target(name: str, value, limit: str, ok, basis: str) -> dict:
    status = "MISSING" if value is None or ok is None else ("PASS" if ok else "FAIL")
    return {"name": name, "value": value, "limit": limit, "status": status, "basis": basis}


def _ratio(a, b):
    return a / b if a and b else None


def check_targets(report: dict) -> list:
    """The issue's targets (see the module docstring).

    The two DSP targets compare the ``structured_equal`` build with the ``dense`` build: nextpnr
    DSPs and simulated cycles per image. Equal throughput means the structured build's simulated
    cycles per image are ≤ the dense build's; otherwise the DSP target fails, saying so."""
    variants = report["variants"]
    e, d = variants.get("structured_equal") or {}, variants.get("dense") or {}
    return [_dsp_target(e, d), _ops_target(e, d), _bit_exact_target(variants),
            _accuracy_target(report["accuracy"])]


def _dsp_target(e: dict, d: dict) -> dict:
    """Structured-at-dense-throughput ÷ dense nextpnr DSPs, ≤ :data:`DSP_RATIO_LIMIT`."""
    et, dt = e.get("throughput") or {}, d.get("throughput") or {}
    eb, db = e.get("build") or {}, d.get("build") or {}
    planned_for = e.get("planned_for") or {}
    e_cycles, d_cycles = et.get("cycles_per_image"), dt.get("cycles_per_image")
    ratio = _ratio(eb.get("dsp"), db.get("dsp"))
    ok = None if ratio is None or not (e_cycles and d_cycles) else ratio <= DSP_RATIO_LIMIT
    basis = (f"nextpnr DSPs: the structured build planned for the dense plan's "
             f"{fmt(planned_for.get('cycles_per_image'))} cycles/image "
             f"({fmt(planned_for.get('dsp_budget'))}-DSP budget), {fmt(eb.get('dsp'))} DSPs at "
             f"{fmt(e_cycles, '.1f')} simulated cycles/image, ÷ the dense build, "
             f"{fmt(db.get('dsp'))} DSPs at {fmt(d_cycles, '.1f')} simulated cycles/image")
    if planned_for.get("reachable") is False:
        ratio, ok, basis = "no plan", False, planned_for["reason"]
    elif e_cycles and d_cycles and e_cycles > d_cycles:
        ok = False
        basis = (f"not equal throughput: the structured build's simulated {e_cycles:.1f} "
                 f"cycles/image exceed the dense build's {d_cycles:.1f}; " + basis)
    return _target(EQUAL_DSP_NAME, ratio, f"≤ {DSP_RATIO_LIMIT}", ok, basis)


def _ops_target(e: dict, d: dict) -> dict:
    """Structured-at-dense-throughput ÷ dense dense-equivalent ops per DSP per cycle,
    ≥ :data:`OPS_GAIN_LIMIT`."""
    et, dt = e.get("throughput") or {}, d.get("throughput") or {}
    gain = _ratio(et.get("dense_ops_per_dsp_cycle"), dt.get("dense_ops_per_dsp_cycle"))
    return _target(
        EQUAL_OPS_NAME, gain, f"≥ {OPS_GAIN_LIMIT}",
        None if gain is None else gain >= OPS_GAIN_LIMIT,
        "dense mults per image ÷ (nextpnr DSPs × simulated cycles/image): the structured build "
        f"at the dense throughput ({fmt(et.get('dense_ops_per_dsp_cycle'), '.3f')}) ÷ the dense "
        f"build ({fmt(dt.get('dense_ops_per_dsp_cycle'), '.3f')})")


def _bit_exact_target(variants: dict) -> dict:
    """Every simulated logit of every variant equal to the golden model's."""
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
    return _target(
        "hardware logits == golden model (bit-exact)",
        f"{differ} of {logits} logits differ" if measured else None, "0 differ", exact,
        "RTL simulation, every logit compared: " + "; ".join(
            f"{v} {sim['mismatches']} of {sim['logits']} ({sim['images']} images)" if sim
            else f"{v} not simulated" for v, sim in sims.items()))


def _accuracy_target(acc: dict) -> dict:
    """Dense float − hardware accuracy on the simulated images, in percentage points,
    ≤ :data:`ACCURACY_POINTS_LIMIT`."""
    gap = None
    if acc.get("hardware") is not None and acc.get("dense_float_same_images") is not None:
        gap = 100 * (acc["dense_float_same_images"] - acc["hardware"])
    return _target(
        "accuracy loss: dense float − hardware (points)", gap, f"≤ {ACCURACY_POINTS_LIMIT}",
        None if gap is None else gap <= ACCURACY_POINTS_LIMIT,
        f"both on the {acc.get('hardware_images') or '-'} simulated test images (negative: the "
        "hardware is more accurate)")


def info_rows(report: dict) -> list:
    """Comparisons shown for information, not targets (see the module docstring): the two
    max-throughput builds' DSP efficiency and DSP·cycles, and the plan-level dense re-plan."""
    variants = report["variants"]
    s, d = variants.get("structured") or {}, variants.get("dense") or {}
    st, dt = s.get("throughput") or {}, d.get("throughput") or {}
    rows = [{"name": "dense-equivalent ops/DSP/cycle, structured (max throughput) ÷ dense",
             "value": _ratio(st.get("dense_ops_per_dsp_cycle"), dt.get("dense_ops_per_dsp_cycle")),
             "basis": f"the two max-throughput builds: {fmt(st.get('dsp'))} DSPs at "
                      f"{fmt(st.get('cycles_per_image'), '.1f')} cycles/image vs "
                      f"{fmt(dt.get('dsp'))} at {fmt(dt.get('cycles_per_image'), '.1f')} "
                      "(different throughputs)"},
            {"name": "DSP·cycles per image, structured (max throughput) ÷ dense",
             "value": _ratio(st.get("dsp_cycles_per_image"), dt.get("dsp_cycles_per_image")),
             "basis": "nextpnr DSPs × simulated cycles/image of the two max-throughput builds "
                      "(a linear normalisation to equal throughput)"}]
    rows.append(_plan_level_row(report.get("dense_equal_throughput"), s.get("plan")))
    return rows


def _plan_level_row(equal: dict | None, s_plan: dict | None) -> dict:
    """Structured plan DSPs ÷ the dense model re-planned at its cycles per image (compiler
    counts, never built)."""
    return {"name": "plan level: structured plan DSPs ÷ dense re-planned at its cycles/image",
            "value": _ratio(s_plan["estimate"]["dsp"], equal["estimate"]["dsp"])
            if equal and s_plan else None,
            "basis": "compiler DSP counts: " + (
                f"structured plan {s_plan['estimate']['dsp']} DSPs at "
                f"{s_plan['predicted_cycles_per_image']} cycles/image; dense model "
                f"re-planned under a {equal['dsp_budget']}-DSP budget: "
                f"{equal['estimate']['dsp']} DSPs at {equal['predicted_cycles_per_image']} "
                "cycles/image (never built: it may exceed the board)"
                if equal and s_plan else "missing")}


def exit_code(report: dict) -> int:
    """0 when every figure was measured and every target passes, else 1."""
    bad = report["missing"] or any(t["status"] != "PASS" for t in report["targets"])
    return 1 if bad else 0
