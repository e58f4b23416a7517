"""The report's figures as text: number formatting, markdown tables, and the rows of the
accuracy, resource and throughput tables (one value per :data:`VARIANTS` column)."""

from __future__ import annotations

from .variants import RESOURCE_KEYS, VARIANTS, variant_entry


def fmt(value, spec: str = "", missing: str = "—") -> str:
    """``value`` formatted with ``spec``; a string as it is; None as ``missing``."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    return format(value, spec)


def pct(value) -> str:
    """A fraction as a percentage with two decimals (``"97.50 %"``), None as "—"."""
    return fmt(None if value is None else 100 * value, ".2f") + ("" if value is None else " %")


def table(head, rows) -> list:
    """The lines of a markdown table with the column headings ``head``."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


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
    builds = {v: variant_entry(report, v).get("build") or {} for v in VARIANTS}
    rows = []
    for key, label in zip(RESOURCE_KEYS, ("LUT4", "FF", "DSP (MULT18X18D)", "EBR (DP16KD)")):
        rows.append((label, *[builds[v].get(key) for v in VARIANTS]))
    rows.append(("Fmax (MHz)", *[builds[v].get("fmax_mhz") for v in VARIANTS]))
    return rows


def throughput_rows(report: dict) -> list:
    """(label, one formatted value per :data:`VARIANTS`) rows of the throughput table."""
    t = {v: variant_entry(report, v).get("throughput") or {} for v in VARIANTS}
    spec = [("cycles / image (simulated)", "cycles_per_image", ".1f"),
            ("images / s at Fmax", "images_per_s", ",.0f"),
            ("DSP-bound ideal images / s", "ideal_images_per_s", ",.0f"),
            ("achieved ÷ ideal", "dsp_efficiency", ".2f"),
            ("DSP × cycles per image", "dsp_cycles_per_image", ",.0f"),
            ("dense-equivalent ops / DSP / cycle", "dense_ops_per_dsp_cycle", ".3f")]
    return [(label, *[fmt(t[v].get(key), f) for v in VARIANTS]) for label, key, f in spec]
