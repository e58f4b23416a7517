"""The comparative report for the shipped demo model on the ULX3S (ECP5-85F): runs
``structhw report`` (the structured, structured-at-dense-throughput, dense and adder-tree sum-pool
builds cached in ``build/report-demo/builds/``), prints the key figures, and with ``--update-readme``
regenerates the README's results section.

Usage: ``python benchmarks/report_demo.py [--out build/report-demo] [--images N] [--no-build]
[--target-mhz F] [--update-readme]``. The first run builds four bitstreams (10–25 minutes each
on a 2-core machine); later runs reuse them while the designs (the tools' input files) are
unchanged. The figures are in ``OUT/report.json``; exit code as ``structhw report``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from structhw.cli import main as structhw_main
from structhw.report import VARIANTS
from structhw.rtl_gen.sumpool import ARCHS


def key_figures(report: dict) -> list:
    """One line per headline figure of a report."""
    lines = []
    for variant in VARIANTS:
        entry = report["variants"].get(variant) or {}
        build, t = entry.get("build") or {}, entry.get("throughput") or {}
        lines.append(f"{variant:>16}: DSP {build.get('dsp')}, LUT4 {build.get('lut4')}, "
                     f"FF {build.get('ff')}, EBR {build.get('ebr')}, Fmax {build.get('fmax_mhz')} MHz, "
                     f"{t.get('cycles_per_image')} cycles/image, {t.get('images_per_s')} images/s, "
                     f"{t.get('dense_ops_per_dsp_cycle')} dense ops/DSP/cycle")
    sumpool = report.get("sumpool") or {}
    for arch in ARCHS:
        build = (sumpool.get(arch) or {}).get("build") or {}
        lines.append(f"  sum-pool {arch:>9}: LUT4 {build.get('lut4')}, FF {build.get('ff')}, "
                     f"Fmax {build.get('fmax_mhz')} MHz (build "
                     f"{(sumpool.get(arch) or {}).get('build_of')})")
    for target in report["targets"]:
        value = target["value"]
        shown = value if isinstance(value, str) or value is None else f"{value:.3f}"
        lines.append(f"  {target['status']:<8}{target['name']}: {shown} (limit {target['limit']})")
    acc = report["accuracy"]
    lines.append(f"  accuracy: dense float {acc.get('dense_float')}, structured float "
                 f"{acc.get('structured_float')}, decomposed {acc.get('decomposed_float')}, int8 "
                 f"{acc.get('int8_golden')}, hardware {acc.get('hardware')}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/report-demo"))
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--target-mhz", type=float, default=None,
                        help="clock target of the builds (default: the board's default_mhz, "
                        "100 MHz on ULX3S, as `structhw build`)")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    argv = ["report", "--board", "ulx3s", "--out", str(args.out)]
    argv += ["--target-mhz", str(args.target_mhz)] if args.target_mhz is not None else []
    argv += ["--images", str(args.images)] if args.images is not None else []
    argv += ["--no-build"] if args.no_build else []
    code = structhw_main(argv)
    report_path = args.out / "report.json"
    if report_path.exists():
        print("\n".join(key_figures(json.loads(report_path.read_text()))))
        print(f"figures: {report_path}")
    if args.update_readme and report_path.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        import update_readme
        update_readme.main(["--report", str(args.out)])
    return code


if __name__ == "__main__":
    sys.exit(main())
