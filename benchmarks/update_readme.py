"""Regenerate the README's results section from a ``structhw report`` output folder.

Copies the report's plots, ``report.md`` and ``report.json`` into ``docs/results/`` and replaces
the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in README.md with
:func:`structhw.report.render_readme_fragment` (the markers are appended under a "## Results"
heading if missing). Nothing outside the markers changes.

Usage: ``python benchmarks/update_readme.py [--report build/report-demo] [--readme README.md]
[--results docs/results]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from structhw.jsonfile import write_json, write_text
from structhw.report import PLOTS, render_markdown, render_readme_fragment, replace_results_section


def copy_atomically(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def update(report_dir: Path, readme: Path, results: Path) -> list:
    """Copy the report into ``results`` and rewrite ``readme``'s results section; returns the
    files written."""
    report_path = report_dir / "report.json"
    if not report_path.exists():
        raise FileNotFoundError(f"{report_path} does not exist: run `structhw report --out "
                                f"{report_dir}` (or benchmarks/report_demo.py) first")
    report = json.loads(report_path.read_text())
    results.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PLOTS:
        if (report_dir / name).exists():
            copy_atomically(report_dir / name, results / name)
            written.append(results / name)
    write_json(results / "report.json", report)
    write_text(results / "report.md", render_markdown(report))
    plot_dir = os.path.relpath(results.resolve(), readme.resolve().parent).replace(os.sep, "/")
    text = replace_results_section(readme.read_text(), render_readme_fragment(report, plot_dir))
    write_text(readme, text)
    return written + [results / "report.json", results / "report.md", readme]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("build/report-demo"),
                        help="folder written by `structhw report --out`")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--results", type=Path, default=Path("docs/results"),
                        help="where the README's plots and the full report go")
    args = parser.parse_args(argv)
    for path in update(args.report, args.readme, args.results):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
