"""Host side of the layer bench: generate layer engines' Verilog, feed random or given int8 inputs
through them in a Verilator (or Icarus) simulation, return what the RTL produced next to the
golden model's output.

Several layers can share ONE simulator build: :class:`EngineBank` puts their engines side by side
(ports ``i0``/``o0``, ``i1``/``o1``, …) and the bench drives every pair at once. A build is the
expensive part (≈15–30 s), so a wide random sample is run in banks.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from amaranth.lib import wiring

from structhw import golden
from structhw.qnet import QuantLayer
from structhw.rtl_gen.engine import images_in_flight
from structhw.rtl_gen.engine_variants import engine_variant
from structhw.rtl_gen.params import EngineParams

from .runner import default_build_root, run_stream_bench

LAYER_TOP = "structhw_layer_bench"
DEFAULT_IDLE = 0.25
DEFAULT_STALL = 0.25


class EngineBank(wiring.Component):
    """Independent layer engines in one design: engine k has ports ``i{k}`` and ``o{k}``.

    Parameters
    ----------
    cases : list of (QuantLayer, EngineParams)
    dsp : str or None
        Multiplier primitive of every engine (see :class:`~structhw.rtl_gen.LayerEngine`).
    """

    def __init__(self, cases, dsp: str | None = None):
        self.engines = [engine_variant(params).component(layer, params, dsp)
                        for layer, params in cases]
        members = {}
        for k, engine in enumerate(self.engines):
            members[f"i{k}"] = engine.signature.members["i"]
            members[f"o{k}"] = engine.signature.members["o"]
        super().__init__(members)

    def elaborate(self, platform):
        from amaranth import Module
        m = Module()
        for k, engine in enumerate(self.engines):
            m.submodules[f"engine{k}"] = engine
            wiring.connect(m, wiring.flipped(getattr(self, f"i{k}")), engine.i)
            wiring.connect(m, engine.o, wiring.flipped(getattr(self, f"o{k}")))
        return m


@dataclass
class LayerSimResult:
    """One layer through the RTL.

    Attributes
    ----------
    x : ndarray, int8 [B, C, H, W]
        The input images.
    y_ref, y_hw : ndarray, int8 [B, Cout, H', W']
        Golden model output and the RTL's output.
    mismatches : int
        Differing elements (over both bench phases).
    cycles_per_image : float or None
        Measured steady-state cycles per image (None with fewer than 2 images).
    predicted_cycles : int
        :func:`~structhw.rtl_gen.engine.engine_cycles` for the layer and parameters.
    """

    layer: QuantLayer
    params: EngineParams
    x: np.ndarray
    y_ref: np.ndarray
    y_hw: np.ndarray
    mismatches: int
    notes: list
    cycles_per_image: float | None
    latency_cycles: int | None
    predicted_cycles: int
    waves: Path | None = None


def map_to_beats(x: np.ndarray) -> np.ndarray:
    """[B, C, H, W] → [B·H·W, C] beats in raster order (one pixel per beat)."""
    b, c, h, w = x.shape
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1).reshape(b * h * w, c))


def beats_to_map(beats: np.ndarray, b: int, h: int, w: int) -> np.ndarray:
    """Inverse of :func:`map_to_beats`: [B·H·W, C] → [B, C, H, W]."""
    c = beats.shape[1]
    return np.ascontiguousarray(np.asarray(beats).reshape(b, h, w, c).transpose(0, 3, 1, 2))


def random_inputs(layer: QuantLayer, images: int, seed: int) -> np.ndarray:
    """Random int8 input images [images, C, H, W] for ``layer``."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(images, layer.in_channels, layer.in_height,
                                         layer.in_width)).astype(np.int8)


def golden_layer(layer: QuantLayer, x: np.ndarray) -> np.ndarray:
    """The golden model's int8 output [B, Cout, H', W'] of ``layer`` on ``x`` [B, C, H, W]."""
    y = golden.run_layer(torch.as_tensor(np.asarray(x, dtype=np.int64)), layer)
    return y.numpy().astype(np.int8)


STEADY_INTERVALS = 2
"""Image intervals the back-to-back phase times after the pipeline has filled."""


def _cycles(layer: QuantLayer, params) -> int:
    """The engine's cycles per image in steady state (its variant's model)."""
    return engine_variant(params).cycles(layer, params)


def _cycle_allowance(cases, images: list, idle: float, stall: float) -> int:
    """A hang bound: generous multiple of the predicted cycles under the given stall rates."""
    worst = 0
    for (layer, params), count in zip(cases, images):
        per_image = max(_cycles(layer, params), layer.in_height * layer.in_width)
        worst = max(worst, per_image * (count + 4))
    slow = 1.0 / max(1e-3, (1.0 - idle) * (1.0 - stall))
    return int(4 * slow * worst) + 20_000


def _write_streams(cases, inputs, refs, work: Path) -> list[dict]:
    """Write each case's input and expected beats to ``work/stream{k}.npz``; the bench's
    description of each stream (port names, files, beats per image in and out)."""
    single = len(cases) == 1
    streams = []
    for k, ((layer, _params), x, y) in enumerate(zip(cases, inputs, refs)):
        data = work / f"stream{k}.npz"
        np.savez(data, x=map_to_beats(x), y=map_to_beats(y))
        streams.append({"in": "i" if single else f"i{k}", "out": "o" if single else f"o{k}",
                        "data": str(data), "result": str(work / f"result{k}.npz"),
                        "beats_in": layer.in_height * layer.in_width,
                        "beats_out": layer.out_height * layer.out_width})
    return streams


def _read_results(cases, inputs, refs, streams, result) -> list:
    """One :class:`LayerSimResult` per case from the bench's report and result files (an
    incomplete output stream reads as zeros)."""
    report = result.data
    out = []
    for k, ((layer, lp), x, y, entry) in enumerate(zip(cases, inputs, refs, report["streams"])):
        with np.load(streams[k]["result"]) as f:
            got = f["y_hw"]
        complete = got.shape[0] == len(x) * streams[k]["beats_out"]
        y_hw = (beats_to_map(got, len(x), layer.out_height, layer.out_width) if complete
                else np.zeros_like(y))
        out.append(LayerSimResult(
            layer=layer, params=lp, x=x, y_ref=y, y_hw=y_hw, mismatches=entry["mismatches"],
            notes=[n for n in report["notes"] if n.startswith(streams[k]["out"] + " ")],
            cycles_per_image=entry.get("cycles_per_image"),
            latency_cycles=entry.get("latency_cycles"),
            predicted_cycles=_cycles(layer, lp), waves=result.waves))
    return out


def simulate_layers(cases, inputs=None, *, images: int = 2, seed: int = 0,
                    idle: float = DEFAULT_IDLE, stall: float = DEFAULT_STALL,
                    simulator: str = "verilator", waves: bool = False,
                    build_root: Path | None = None, work_dir: Path | None = None,
                    quiet: bool = True, check: bool = True, dsp: str | None = None) -> list:
    """Simulate one or more layer engines in one build.

    Parameters
    ----------
    cases : list of (QuantLayer, EngineParams)
    dsp : str or None
        Multiplier primitive of the engines (``"MULT18X18D"``: ECP5 instances, simulated with
        their behavioural model); None: inferred multiplies.
    inputs : list of ndarray int8 [B, C, H, W], optional
        Per case; random images (``images`` of them, from ``seed``) when not given.
    idle, stall : float
        Probability of an idle input cycle / a cycle of output backpressure.
    check : bool
        Raise :class:`SimulationError` on any mismatch (else return them in the results).
    work_dir : path-like, optional
        Keep Verilog, stimulus, results and logs here; by default a temporary folder in the
        build cache, removed after a clean run without waves.

    Returns
    -------
    list of LayerSimResult, one per case.
    """
    cases = [(layer, params) for layer, params in cases]
    if inputs is None:
        inputs = [random_inputs(layer, images, seed + 7919 * k) for k, (layer, _) in enumerate(cases)]
    inputs = [np.asarray(x).astype(np.int8) for x in inputs]
    refs = [golden_layer(layer, x) for (layer, _), x in zip(cases, inputs)]
    from structhw.rtl_gen.verilog import simulation_sources, write_verilog

    root = Path(build_root).absolute() if build_root is not None else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir).absolute() if work_dir is not None else Path(tempfile.mkdtemp(dir=root, prefix="layers-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        single = len(cases) == 1
        component = (engine_variant(cases[0][1]).component(*cases[0], dsp) if single
                     else EngineBank(cases, dsp))
        verilog = write_verilog(component, work / "rtl", LAYER_TOP)
        sources = simulation_sources(verilog)

        streams = _write_streams(cases, inputs, refs, work)
        counts = [len(x) for x in inputs]
        skip = max(images_in_flight(engine_variant(lp).latency(layer, lp), _cycles(layer, lp))
                   for layer, lp in cases)
        timing = skip + STEADY_INTERVALS + 1 if max(counts) >= 2 else 0
        params = {"streams": streams, "seed": seed, "idle": idle, "stall": stall,
                  "timing_images": timing, "timing_skip": skip,
                  "max_cycles": _cycle_allowance(cases, [c + timing for c in counts], idle, stall)}
        result = run_stream_bench("structhw.sim.layer_bench", sources, LAYER_TOP, check=check, params=params,
                                  simulator=simulator, waves=waves, seed=seed, build_root=root,
                                  work_dir=work / "run", quiet=quiet)
        out = _read_results(cases, inputs, refs, streams, result)
    except BaseException:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if work_dir is None and not waves and all(r.mismatches == 0 for r in out):
        shutil.rmtree(work, ignore_errors=True)
    return out
