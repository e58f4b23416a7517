"""The report's PNG plots (matplotlib, Agg): accuracy, nextpnr resources, throughput and the
paper's complexity counts. A missing figure is drawn as an absent bar labelled "missing"."""

from __future__ import annotations

import os
from pathlib import Path

from .tables import accuracy_rows, fmt
from .variants import MODELS, RESOURCE_KEYS, SUMPOOL_ARCH_LABELS, VARIANTS, variant_entry

PLOTS = ("accuracy.png", "resources.png", "throughput.png", "complexity.png")
COLOURS = {"structured": "#2b8cbe", "structured_equal": "#7bccc4", "dense": "#999999",
           "tree": "#fdae6b", "separable": "#2b8cbe"}
SHORT_LABELS = {"structured": "structured (max)",
                "structured_equal": "structured @ dense throughput", "dense": "dense"}
PAIR_WIDTH = 0.38
"""Bar width (x-axis units, one group per unit) of a two-bar group: sum-pool archs, models."""
VARIANT_WIDTH = 0.8 / len(VARIANTS)
"""Bar width of a group with one bar per :data:`VARIANTS`."""


def write_plots(report: dict, out_dir) -> list:
    """Write :data:`PLOTS` into ``out_dir`` (atomically); the resource and throughput plots have
    one bar per :data:`VARIANTS`. Returns the paths written."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = (_accuracy_figure, _resources_figure, _throughput_figure, _complexity_figure)
    return [_save(plt, draw(plt, report), out_dir / name) for name, draw in zip(PLOTS, figures)]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path: Path) -> Path:
    """Save ``fig`` to ``path`` through a temporary file (110 dpi) and close it."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _bars(ax, labels, values, colours, spec):
    """One labelled bar per value (None: an absent bar labelled "missing")."""
    xs = range(len(labels))
    heights = [0 if v is None else v for v in values]
    ax.bar(xs, heights, color=colours)
    for x, v in zip(xs, values):
        ax.text(x, 0 if v is None else v, "missing" if v is None else format(v, spec),
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), labels, rotation=20, ha="right", fontsize=8)


def _offset(k: int) -> float:
    """x offset of variant number ``k``'s bar within its group."""
    return (k - (len(VARIANTS) - 1) / 2) * VARIANT_WIDTH


def _accuracy_figure(plt, report: dict):
    """Top-1 accuracy (%) of each model on the test split of the report's data set."""
    rows = accuracy_rows(report)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    values = [None if v is None else 100 * v for _, v in rows]
    _bars(ax, [r[0].split(" (")[0] for r in rows], values,
          ["#999999", "#74a9cf", "#2b8cbe", "#045a8d", "#f16913"], ".1f")
    present = [v for v in values if v is not None]
    if present:
        ax.set_ylim(max(0, min(present) - 5), 100.5)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"Accuracy on the {report.get('data', 'digits')} test split")
    return fig


def _resources_figure(plt, report: dict):
    """nextpnr utilisation (% of the board) of the variants; LUT4 and FF of the sum-pool
    archs."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    _variant_resources(left, report)
    _sumpool_resources(right, report)
    return fig


def _variant_resources(ax, report: dict) -> None:
    builds = {v: variant_entry(report, v).get("build") or {} for v in VARIANTS}
    for k, v in enumerate(VARIANTS):
        b = builds[v]
        shares = [100 * b[key] / b[f"{key}_total"]
                  if b.get(key) is not None and b.get(f"{key}_total") else 0
                  for key in RESOURCE_KEYS]
        xs = [i + _offset(k) for i in range(len(RESOURCE_KEYS))]
        ax.bar(xs, shares, VARIANT_WIDTH, label=SHORT_LABELS[v], color=COLOURS[v])
        for x, key, share in zip(xs, RESOURCE_KEYS, shares):
            ax.text(x, share, fmt(b.get(key), ",", "missing"), ha="center", va="bottom",
                    fontsize=7)
    ax.set_xticks(range(len(RESOURCE_KEYS)), ["LUT4", "FF", "DSP", "EBR"])
    ax.set_ylabel(f"% of {report['board']}")
    ax.set_title("nextpnr utilisation; Fmax (MHz): " + ", ".join(
        f"{fmt(builds[v].get('fmax_mhz'), '.1f', 'missing')}" for v in VARIANTS)
        + " (" + ", ".join(SHORT_LABELS[v] for v in VARIANTS) + ")", fontsize=8)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)


def _sumpool_resources(ax, report: dict) -> None:
    sp = report.get("sumpool") or {}
    keys = (("LUT4", "lut4"), ("FF", "ff"))
    for k, arch in enumerate(SUMPOOL_ARCH_LABELS):
        built = (sp.get(arch) or {}).get("build") or {}
        vals = [built.get(key) for _, key in keys]
        xs = [i + (k - 0.5) * PAIR_WIDTH for i in range(len(keys))]
        fmax = fmt(built.get("fmax_mhz"), ".1f", "missing")
        ax.bar(xs, [0 if v is None else v for v in vals], PAIR_WIDTH,
               label=f"{SUMPOOL_ARCH_LABELS[arch]} ({fmax} MHz)", color=COLOURS[arch])
        for x, v in zip(xs, vals):
            ax.text(x, 0 if v is None else v, fmt(v, ",", "missing"), ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(range(len(keys)), [k for k, _ in keys])
    ax.set_title("sum-pool arch, structured (max) plan (nextpnr)", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)


def _throughput_figure(plt, report: dict):
    """Images per second (achieved at Fmax and DSP-bound ideal) and dense-equivalent mults per
    DSP per cycle of the variants."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    t = {v: variant_entry(report, v).get("throughput") or {} for v in VARIANTS}
    for k, v in enumerate(VARIANTS):
        vals = [t[v].get("images_per_s"), t[v].get("ideal_images_per_s")]
        xs = [i + _offset(k) for i in range(2)]
        left.bar(xs, [0 if x is None else x / 1e3 for x in vals], VARIANT_WIDTH,
                 label=SHORT_LABELS[v], color=COLOURS[v])
        for x, val in zip(xs, vals):
            left.text(x, 0 if val is None else val / 1e3, fmt(None if val is None else val / 1e3,
                      ",.0f", "missing"), ha="center", va="bottom", fontsize=7)
    left.set_xticks(range(2), ["achieved at Fmax", "DSP-bound ideal"])
    left.set_ylabel("thousand images / s")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    left.set_title("Throughput", fontsize=9)
    _bars(right, [SHORT_LABELS[v] for v in VARIANTS],
          [t[v].get("dense_ops_per_dsp_cycle") for v in VARIANTS],
          [COLOURS[v] for v in VARIANTS], ".3f")
    right.set_ylabel("dense-equivalent mults / DSP / cycle")
    right.set_title("DSP efficiency", fontsize=9)
    return fig


def _complexity_figure(plt, report: dict):
    """The paper's params, mults and adds per layer, dense and structured."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    counts = report.get("complexity")
    for ax, key in zip(axes, ("params", "mults", "adds")):
        if counts:
            names = [layer["name"] for layer in counts["dense"]["layers"]]
            for k, v in enumerate(MODELS):
                vals = [layer[key] for layer in counts[v]["layers"]]
                ax.bar([i + (k - 0.5) * PAIR_WIDTH for i in range(len(names))], vals, PAIR_WIDTH,
                       label=v, color=COLOURS[v])
            ax.set_xticks(range(len(names)), names)
            ax.set_xlabel("layer")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "missing", ha="center", transform=ax.transAxes)
        ax.set_title(f"{key} per image" if key != "params" else "params", fontsize=9)
    return fig
