"""Every registered board's default model built to a bitstream: nextpnr's Fmax and utilisation,
the build's wall time per stage, the plan's estimate beside it.

Usage: ``python benchmarks/bench_boards.py [--work DIR] [--reuse] [--board B ...]
[--out benchmarks/results/boards.json]``. For each board (default: all in
:mod:`structhw.boards.registry`) it runs ``structhw build --board B --out DIR/B`` (no MODEL: the
board's default model) unless ``--reuse`` is given and ``DIR/B/report.json`` exists, then reads
``report.json`` (nextpnr's own report, as the build wrote it) and ``plan.json``. The results go to
``--out`` (merged by board, each with the commit and date) and a Markdown table is printed, one
row per board, as the README's board table shows it. On iCE40 ``lut4`` is nextpnr-ice40's count
of logic cells (a LUT4 and a flip-flop each).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from structhw.boards.registry import BOARDS, get_board  # noqa: E402
from structhw.plan import load_plan  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "boards.json"
COMMIT_FILE = "bench-commit.txt"
"""Written into a build folder this script built: the commit it was built at (``--reuse`` reads
it; a folder without it is recorded with commit ``null``)."""


def _commit() -> str:
    return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, text=True,
                          capture_output=True).stdout.strip() or "unknown"


def build(board: str, out: Path) -> None:
    """``structhw build --board board --out out``; its output goes to ``out``'s sibling log."""
    log = out.with_name(out.name + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-m", "structhw", "build", "--board", board,
                             "--out", str(out)], stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise SystemExit(f"{board}: structhw build failed (exit {rc}); see {log}")
    (out / COMMIT_FILE).write_text(_commit() + "\n")


def record(board: str, out: Path) -> dict:
    """The figures of the build in ``out``: nextpnr's report and the plan's estimate."""
    report = json.loads((out / "report.json").read_text())
    plan = load_plan(out / "plan.json")
    return {
        "board": board, "device": report["device"], "family": get_board(board).family,
        "model": plan.qnet.metadata.get("name"), "target_mhz": report["target_mhz"],
        "fmax_mhz": round(report["fmax_mhz"], 2), "timing_met": report["timing_met"],
        **{k: report[k] for k in ("lut4", "ff", "dsp", "ebr")},
        **{f"{k}_total": report[f"{k}_total"] for k in ("lut4", "ff", "dsp", "ebr")},
        "estimate": {k: getattr(plan.totals, k) for k in ("lut4", "ff", "dsp")},
        "cycles_per_image": plan.cycles_per_image, "seconds": report["seconds"],
        "critical_path": (report.get("critical_path") or [{}])[0],
    }


def table(rows: list) -> str:
    """The rows as the README's Markdown board table."""
    lines = ["| board | device | default model | clock (MHz) | Fmax (MHz) | LUT4 | FF | DSP | "
             "EBR | build (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lut = f"{r['lut4']:,} / {r['lut4_total']:,}" + (" LC" if r["family"] == "ice40" else "")
        lines.append(f"| {r['board']} | {r['device']} | {r['model']} | {r['target_mhz']:g} | "
                     f"{r['fmax_mhz']:.1f} | {lut} | {r['ff']:,} | {r['dsp']} / {r['dsp_total']} | "
                     f"{r['ebr']} / {r['ebr_total']} | {r['seconds']['total']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "boards")
    parser.add_argument("--reuse", action="store_true",
                        help="read a board's existing DIR/B/report.json instead of building")
    parser.add_argument("--board", nargs="+", choices=sorted(BOARDS), default=sorted(BOARDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for board in args.board:
        out = args.work / board
        if not (args.reuse and (out / "report.json").exists()):
            print(f"building {board} …", file=sys.stderr)
            build(board, out)
        row = record(board, out)
        commit = (out / COMMIT_FILE).read_text().strip() if (out / COMMIT_FILE).exists() else None
        results = {**(json.loads(args.out.read_text()) if args.out.exists() else {}),
                   board: {**row, "commit": commit,
                          "recorded": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}}
        rows.append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
