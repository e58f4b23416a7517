"""``report.md`` from the report dict, and the report's files (``report.json``, ``report.md``,
the plots)."""

from __future__ import annotations

from pathlib import Path

from ..jsonfile import write_json, write_text
from ..staging import staged_outputs
from .plots import write_plots
from .tables import accuracy_rows, fmt, pct, resource_rows, table, throughput_rows
from .targets import info_rows
from .variants import (SUMPOOL_ARCH_LABELS, VARIANT_HEAD, VARIANT_LABELS, VARIANTS,
                       variant_entry)


def target_lines(report: dict) -> list:
    """The targets as a markdown table: status, name, measured value, limit, basis."""
    rows = []
    for t in report["targets"]:
        value = t["value"] if isinstance(t["value"], str) else fmt(t["value"], ".3f")
        rows.append((f"**{t['status']}**", t["name"], value, t["limit"], t["basis"]))
    return table(("", "target", "measured", "limit", "how"), rows)


def info_lines(report: dict) -> list:
    """The comparisons for information as a markdown table (recomputed when the report has
    none)."""
    rows = [(i["name"], fmt(i["value"], ".3f"), i["basis"])
            for i in report.get("info") or info_rows(report)]
    return table(("for information (not a target)", "value", "how"), rows)


def render_markdown(report: dict, plot_dir: str = ".") -> str:
    """``report.md``: every table of the report (one column per :data:`VARIANTS`), the targets,
    the comparisons for information, the missing figures and the plots (linked relative to
    ``plot_dir``)."""
    lines = [f"# structhw report: {report.get('model', '?')} on {report['board']}", "",
             f"structhw {report['structhw']}; board builds at a "
             f"{fmt(report['target_mhz'], 'g')} MHz target; "
             "resources and Fmax from nextpnr, cycles per image and hardware accuracy from RTL "
             "simulation.", ""]
    lines += ["## Targets", ""] + target_lines(report) + [""]
    if report["missing"]:
        lines += ["## Missing measurements", ""]
        lines += [f"- **{what}**: {reason}" for what, reason in sorted(report["missing"].items())]
        lines.append("")
    lines += _accuracy_lines(report)
    lines += ["", f"![accuracy]({plot_dir}/accuracy.png)", ""]
    lines += _resource_lines(report, plot_dir)
    lines += _sumpool_lines(report)
    lines += _throughput_lines(report, plot_dir)
    lines += _complexity_lines(report, plot_dir)
    return "\n".join(lines) + "\n"


def _accuracy_lines(report: dict) -> list:
    """The accuracy table and what the simulations of the variants found."""
    lines = [f"## Accuracy ({report.get('data', 'digits')} test split)", ""]
    lines += table(("model", "top-1"), [(k, pct(v)) for k, v in accuracy_rows(report)])
    rel_rms = report["accuracy"].get("int8_logit_rel_rms")
    if rel_rms is not None:
        lines += ["", f"Relative RMS error of the int8 golden model's dequantized logits "
                  f"against the decomposed float model's: {rel_rms:.4f}."]
    sim = variant_entry(report, "structured").get("sim")
    if sim:
        lines += ["", f"Hardware: {sim['images']} test images simulated, {sim['mismatches']} of "
                  f"{sim['logits']} logits differ from the golden model (golden accuracy on the "
                  f"same images {pct(sim['accuracy_golden'])})."]
    equal_sim = (report["variants"].get("structured_equal") or {}).get("sim")
    if equal_sim:
        lines += [f"Structured at the dense throughput: hardware {pct(equal_sim['accuracy_hw'])} "
                  f"({equal_sim['mismatches']} of {equal_sim['logits']} logits differ)."]
    dense_sim = variant_entry(report, "dense").get("sim")
    if dense_sim:
        lines += [f"Dense engine: int8 golden {pct(report['accuracy'].get('dense_int8_golden'))}, "
                  f"hardware {pct(dense_sim['accuracy_hw'])} ({dense_sim['mismatches']} logits "
                  "differ)."]
    return lines


def _resource_lines(report: dict, plot_dir: str) -> list:
    """The nextpnr resource table of the variants and whether each build was cached."""
    lines = ["## Resources (nextpnr)", ""]
    lines += table(("", *VARIANT_HEAD),
                   [(r[0], *[fmt(c, ",.1f" if r[0].startswith("Fmax") else ",") for c in r[1:]])
                    for r in resource_rows(report)])
    reused = {v: variant_entry(report, v).get("build_reused") for v in VARIANTS}
    lines += ["", "Builds: " + ", ".join(f"{v} {'cached' if reused[v] else 'built now'}"
                                         if reused[v] is not None else f"{v} missing"
                                         for v in VARIANTS) + "."]
    lines += ["", f"![resources]({plot_dir}/resources.png)", ""]
    return lines


def _sumpool_lines(report: dict) -> list:
    """The sum-pool arch tables: board builds (nextpnr) and network-alone syntheses (yosys)."""
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
    rows = [(label, *[fmt(builds[a].get(key), spec) for a in archs])
            for label, key, spec in (("LUT4", "lut4", ","), ("FF", "ff", ","), ("DSP", "dsp", ","),
                                     ("EBR", "ebr", ","), ("Fmax (MHz)", "fmax_mhz", ",.1f"))]
    rows.append(("build", *[sp[a].get("build_of") or "missing" for a in archs]))
    lines += table(head, rows)
    lines += ["", "The same networks synthesized alone (no board top), yosys `synth_ecp5` (abc "
              "instead of abc9) cell counts; LUT4-eq = LUT4 + 2·CCU2C:", ""]
    rows = []
    for label, key in (("LUT4-eq", "lut4_equivalent"), ("LUT4", "LUT4"), ("CCU2C", "CCU2C"),
                       ("FF", "TRELLIS_FF"), ("DSP", "MULT18X18D"), ("EBR", "DP16KD"),
                       ("LUTRAM (DPR16X4)", "TRELLIS_DPR16X4")):
        rows.append((label, *[fmt((sp[a].get("synth") or {}).get(key), ",") for a in archs]))
    lines += table(head, rows)
    lines += ["", f"The compiler chose: {', '.join(sp.get('chosen') or ['-'])}.", ""]
    return lines


def _throughput_lines(report: dict, plot_dir: str) -> list:
    """The throughput table, the equal-throughput planning and the comparisons for
    information."""
    lines = ["## Throughput", ""]
    lines += table(("", *VARIANT_HEAD), throughput_rows(report))
    lines += _equal_throughput_lines(report)
    lines += ["", *info_lines(report)]
    lines += ["", f"![throughput]({plot_dir}/throughput.png)", ""]
    return lines


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
    equal = report.get("dense_equal_throughput")
    s_plan = variant_entry(report, "structured").get("plan")
    if equal and s_plan:
        lines.append(f"Plan level only: the dense model re-planned for ≤ "
                     f"{s_plan['predicted_cycles_per_image']} cycles/image (the max-throughput "
                     f"structured plan's) needs {equal['estimate']['dsp']} DSPs (compiler count, "
                     f"{equal['predicted_cycles_per_image']} cycles/image; not built), the "
                     f"structured plan {s_plan['estimate']['dsp']}.")
    return [line for text in lines for line in ("", text)]


def _complexity_lines(report: dict, plot_dir: str) -> list:
    """The paper's per-layer counts, dense → structured."""
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
    lines += table(("layer", "c×n² of C×N²", "params dense → structured",
                    "mults dense → structured", "adds dense → structured"), rows)
    lines += ["", f"![complexity]({plot_dir}/complexity.png)", ""]
    return lines


def write_report(report: dict, out_dir) -> list:
    """Write ``report.json``, ``report.md`` and the plots into ``out_dir`` together
    (:mod:`structhw.staging`: a failure leaves the previous ones); returns the paths."""
    out_dir = Path(out_dir)
    with staged_outputs(out_dir, last=("report.json",)) as stage:
        plots = write_plots(report, stage.folder)
        write_json(stage.folder / "report.json", report)
        write_text(stage.folder / "report.md", render_markdown(report))
    return [out_dir / "report.json", out_dir / "report.md", *(out_dir / p.name for p in plots)]
