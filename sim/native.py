"""The network bench without cocotb: the accelerator Verilated with a C++ testbench
(``native_bench.cpp``, built and cached by :mod:`structhw.sim.native_build`), every logit
compared with :func:`structhw.golden.logits` here, in Python.

Same two phases and the same measurement as the cocotb bench (:mod:`structhw.sim.stream_check`):
every image under seeded random idle input cycles and output backpressure, then
``timing_images`` images back to back; cycles per image is the mean spacing of the last output
beats of consecutive back-to-back images after the first
:func:`~structhw.rtl_gen.engine.images_in_flight`. The testbench draws its own coin flips
(splitmix64 from the seed), so the stall pattern differs from the cocotb bench's for the same
seed; the logits and the back-to-back cycles do not.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structhw.rtl_gen.engine import images_in_flight

from .layer import DEFAULT_IDLE, DEFAULT_STALL, map_to_beats
from .native_build import build_native, run_process
from .network import (DEFAULT_TIMING_IMAGES, NETWORK_TOP, NetworkSimResult,
                      cached_network_verilog, images_and_reference)
from .runner import SimulationError, default_build_root

STUCK_EXIT = 3
MAX_NOTES = 10


def network_sources(plan, root: Path) -> list:
    """The accelerator's simulation sources (Verilog generated once per plan and generator)."""
    return cached_network_verilog(plan, root)


@dataclass
class PhaseOutput:
    """What the testbench wrote for one phase: ``y`` int8 [beats, channels] (the output beats
    taken, in order), ``cycles`` int64 [images, 2] (cycle of each image's first input beat taken
    and of its last output beat taken, from 1 at the phase's first cycle; -1: never)."""

    y: np.ndarray
    cycles: np.ndarray
    cycles_run: int
    finished: bool
    resets: int


def _read_summary(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        values[key] = float(value) if "." in value else int(value)
    return values


def _read_phase(folder: Path, name: str, images: int, channels: int, summary: dict) -> PhaseOutput:
    received = int(summary[f"{name}_received"])
    y = np.fromfile(folder / f"{name}_y.bin", dtype=np.int8).reshape(-1, channels)[:received]
    cycles = np.fromfile(folder / f"{name}_cycles.bin", dtype=np.int64).reshape(images, 2)
    return PhaseOutput(y=y, cycles=cycles, cycles_run=int(summary[f"{name}_cycles"]),
                       finished=bool(summary[f"{name}_finished"]),
                       resets=int(summary[f"{name}_resets"]))


def compare(got: np.ndarray, want: np.ndarray, phase: str) -> tuple[int, list]:
    """Differing logits of ``got`` against ``want`` (int8 [images, classes]; a missing image
    counts as all of its logits) and one note per difference, the first first."""
    n = min(len(got), len(want))
    bad = np.argwhere(got[:n] != want[:n])
    notes = [f"{phase}: image {i} logit {k}: got {int(got[i, k])}, expected {int(want[i, k])}"
             for i, k in bad[:MAX_NOTES]]
    missing = len(want) - n
    if missing:
        notes.append(f"{phase}: {missing} of {len(want)} images produced no output")
    return int(len(bad)) + missing * want.shape[1], notes


def steady_cycles(ends: np.ndarray, skip: int) -> float | None:
    """Mean spacing of consecutive images' last output beats after the first ``skip`` images."""
    ends = np.asarray(ends, dtype=np.float64)[skip:]
    ends = ends[ends >= 0]
    return float(np.mean(np.diff(ends))) if len(ends) >= 2 else None


def simulate_network_native(plan, images, labels=None, *, seed: int = 0,
                            idle: float = DEFAULT_IDLE, stall: float = DEFAULT_STALL,
                            timing_images: int = DEFAULT_TIMING_IMAGES, waves: bool = False,
                            build_root: Path | None = None, work_dir: Path | None = None,
                            reset_at: int | None = None, x_seed: int | None = None,
                            sources=()) -> NetworkSimResult:
    """Run ``plan``'s accelerator on ``images`` (int8 values [B, C, H, W]) in the native bench.

    Parameters as :func:`structhw.sim.network.simulate_network`, plus

    reset_at : int, optional
        Pulse the reset at this cycle of the verify phase; every image whose logits had not
        come out is sent again, and all must still match.
    x_seed : int, optional
        Start every variable Verilator left without an initial value (memories) from random
        values drawn with this seed instead of zero.
    sources : sequence of paths, optional
        The accelerator's Verilog to simulate (e.g. a compile folder's own files, checked
        against ``plan`` by :func:`structhw.compiled.open_compiled`); by default generated for
        ``plan`` (:func:`network_sources`).
    """
    start = time.perf_counter()
    x, ref = images_and_reference(plan, images)
    root = Path(build_root).absolute() if build_root is not None else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    sources = [Path(s) for s in sources] or network_sources(plan, root)
    build = build_native(sources, NETWORK_TOP, 8 * plan.input_shape[0], 8 * plan.num_classes,
                         waves=waves, build_root=root)
    keep = work_dir is not None
    work = Path(work_dir).absolute() if keep else Path(tempfile.mkdtemp(dir=root,
                                                                        prefix="native-run-"))
    try:
        result = _run(plan, x, ref, labels, build, work, start, seed=seed, idle=idle,
                      stall=stall, timing_images=timing_images, waves=waves, reset_at=reset_at,
                      x_seed=x_seed)
    except BaseException:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if not keep and not waves and result.mismatches == 0:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _command(build, x, work: Path, beats_in: int, *, seed, idle, stall, timing, max_cycles,
             reset_at, x_seed, waves, out_bytes) -> list:
    cmd = [str(build.executable), "--in", str(work / "x.bin"), "--images", str(len(x)),
           "--beats-in", str(beats_in), "--in-bytes", str(x.shape[1]), "--beats-out", "1",
           "--out-bytes", str(out_bytes), "--out", str(work), "--seed", str(seed),
           "--idle", repr(float(idle)), "--stall", repr(float(stall)), "--timing", str(timing),
           "--max-cycles", str(max_cycles)]
    if reset_at is not None:
        cmd += ["--reset-at", str(int(reset_at))]
    if x_seed is not None:
        cmd += ["--x-seed", str(int(x_seed))]
    if waves:
        cmd += ["--vcd", str(work / "dump.vcd")]
    return cmd


def _run(plan, x, ref, labels, build, work: Path, start: float, *, seed, idle, stall,
         timing_images, waves, reset_at, x_seed) -> NetworkSimResult:
    work.mkdir(parents=True, exist_ok=True)
    beats = map_to_beats(x.astype(np.int8))
    beats.tofile(work / "x.bin")
    beats_in = plan.input_shape[1] * plan.input_shape[2]
    skip = images_in_flight(plan.latency_cycles, plan.cycles_per_image)
    timing = max(int(timing_images), skip + 3) if len(x) >= 2 else 0
    slow = 1.0 / max(1e-3, (1.0 - idle) * (1.0 - stall))
    per_image = max(plan.cycles_per_image, beats_in)
    max_cycles = int(4 * slow * per_image * (len(x) + 4) + 4 * plan.latency_cycles) + 20_000
    cmd = _command(build, x, work, beats_in, seed=seed, idle=idle, stall=stall, timing=timing,
                   max_cycles=max_cycles, reset_at=reset_at, x_seed=x_seed, waves=waves,
                   out_bytes=plan.num_classes)
    run_start = time.perf_counter()
    with open(work / "sim.log", "w") as log:
        code = run_process(cmd, cwd=work, stdout=log)
    run_seconds = time.perf_counter() - run_start
    if code not in (0, STUCK_EXIT) or not (work / "summary.txt").is_file():
        log_text = (work / "sim.log").read_text(errors="replace")
        raise SimulationError(f"native simulator exited with {code}: {log_text.strip()[-500:]}",
                              [log_text], work / "sim.log")
    summary = _read_summary(work / "summary.txt")
    classes = plan.num_classes
    verify = _read_phase(work, "verify", len(x), classes, summary)
    mismatches, notes = compare(verify.y[:len(x)], ref, "random stalls")
    if not verify.finished:
        notes.append(f"random stalls: stuck after {verify.cycles_run} cycles")
    if reset_at is not None and not verify.resets:
        notes.append(f"reset at cycle {reset_at} never applied: the run ended after "
                     f"{verify.cycles_run} cycles")
    cycles_per_image = latency = None
    sim_cycles = verify.cycles_run
    if timing:
        phase = _read_phase(work, "timing", timing, classes, summary)
        want = ref[np.arange(timing) % len(x)]
        count, t_notes = compare(phase.y[:timing], want, "back to back")
        mismatches, notes = mismatches + count, notes + t_notes
        cycles_per_image = steady_cycles(phase.cycles[:, 1], skip)
        latency = int(phase.cycles[0, 1]) if phase.cycles[0, 1] >= 0 else None
        sim_cycles += phase.cycles_run
    hw = np.zeros_like(ref)
    hw[:min(len(verify.y), len(x))] = verify.y[:len(x)]
    acc_hw = acc_ref = None
    if labels is not None:
        labels = np.asarray(labels)
        acc_hw = float((hw.argmax(axis=1) == labels).mean())
        acc_ref = float((ref.argmax(axis=1) == labels).mean())
    return NetworkSimResult(
        images=len(x), logits_ref=ref, logits_hw=hw, mismatches=mismatches, notes=notes,
        accuracy_hw=acc_hw, accuracy_ref=acc_ref, cycles_per_image=cycles_per_image,
        latency_cycles=latency, predicted_cycles=int(plan.cycles_per_image),
        sim_cycles=int(sim_cycles), sim_seconds=float(summary["seconds"]),
        build_seconds=build.seconds, run_seconds=run_seconds,
        total_seconds=time.perf_counter() - start, work_dir=work,
        waves=work / "dump.vcd" if waves else None, bench="native",
        image_cycles=verify.cycles, resets=verify.resets)
