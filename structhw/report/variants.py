"""The accelerators the report compares, the models behind them, and their labels."""

from __future__ import annotations

from structhw.rtl_gen.sumpool import ARCH_REGISTRY

VARIANTS = ("structured", "structured_equal", "dense")
"""The accelerators the report builds (see :mod:`structhw.report`)."""
MODELS = ("structured", "dense")
"""The quantized models behind them (``structured_equal`` is the structured model)."""
VARIANT_LABELS = {"structured": "structured (max throughput)",
                  "structured_equal": "structured (dense's throughput)", "dense": "dense"}
"""Column heading of each variant in ``report.md`` and the README."""
VARIANT_HEAD = tuple(VARIANT_LABELS[v] for v in VARIANTS)
SUMPOOL_ARCH_LABELS = {name: arch.label for name, arch in ARCH_REGISTRY.items()}
"""Display name of each sum-pool arch, from :data:`structhw.rtl_gen.sumpool.ARCH_REGISTRY`."""
RESOURCE_KEYS = ("lut4", "ff", "dsp", "ebr")
"""The nextpnr resources reported per build (keys of its ``report.json``, each with a
``<key>_total``: the board's count)."""


def variant_entry(report: dict, name: str) -> dict:
    """The report's entry for variant ``name`` ({} when absent, e.g. a report from before it)."""
    return report["variants"].get(name) or {}
