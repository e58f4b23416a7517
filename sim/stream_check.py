"""The cocotb side shared by the layer and network benches: feed int8 feature maps through one or
more stream ports of a DUT, compare every output element with the expected one, count cycles.

Parameters (the JSON the runner hands over, see :mod:`structhw.sim.runner`)::

    {"seed": int, "idle": float, "stall": float, "max_cycles": int, "timing_images": int,
     "timing_skip": int, "streams": [{"in": "i", "out": "o", "data": "x.npz", "result": "y.npz",
                  "beats_in": int, "beats_out": int}, ...]}

``data`` holds ``x`` [images·beats_in, C] int8 and ``y`` [images·beats_out, Cout] int8 (the
golden model's output); ``beats_in``/``beats_out`` are beats per image. The bench writes the
received ``y_hw`` (same shape as ``y``) to ``result``.

Two phases: first every image with random idle cycles on the input (probability ``idle``) and
random backpressure on the output (probability ``stall``); then ``timing_images`` images again
(the stream's images in order, repeated as often as needed), back to back with no idle and no
backpressure, to measure the steady-state cycles per image that the plan predicts: the mean
spacing of the last output beats of consecutive images after the first ``timing_skip`` images
(those that meet a pipeline still filling; see
:func:`structhw.rtl_gen.engine.images_in_flight`). Both phases are
checked element by element.
"""

from __future__ import annotations

import time

import numpy as np

from .streams import StreamBench, StreamSink, StreamSource, TB, pack_int8, unpack_int8

MAX_REPORTED_MISMATCHES = 10


def _mismatches(got: np.ndarray, want: np.ndarray, beats_out: int, phase: str) -> tuple[int, list]:
    if got.shape != want.shape:
        return int(want.size), [f"{phase}: received {got.shape[0]} beats, expected {want.shape[0]}"]
    bad = np.argwhere(got != want)
    notes = [f"{phase}: image {b // beats_out} output beat {b % beats_out} channel {ch}: "
             f"got {int(got[b, ch])}, expected {int(want[b, ch])}"
             for b, ch in bad[:MAX_REPORTED_MISMATCHES]]
    return int(len(bad)), notes


def _cycled(rows: np.ndarray, images: int, beats: int) -> np.ndarray:
    """The first ``images`` images of ``rows`` (``beats`` rows each), repeated in order."""
    have = len(rows) // beats
    reps = -(-images // have)
    return np.concatenate([rows[:have * beats]] * reps)[:images * beats]


def _steady_cycles(out_cycles: list, beats_out: int, skip: int = 0) -> float | None:
    """Mean cycles between the last output beats of consecutive images, leaving out the first
    ``skip`` images (None if fewer than 2 images remain)."""
    ends = np.asarray(out_cycles[beats_out - 1::beats_out], dtype=np.float64)[skip:]
    if len(ends) < 2:
        return None
    return float(np.mean(np.diff(ends)))


async def _phase(tb, dut, streams, datas, counts, idle, stall, rng, max_cycles):
    """Send images through every stream at once: all of them, or ``counts[in_prefix]`` first
    images of each. Returns (sources, sinks, cycles, wall seconds)."""
    sources, sinks = [], []
    for spec, (x, _y) in zip(streams, datas):
        count = None if counts is None else counts[spec["in"]]
        xs = x if count is None else _cycled(x, count, spec["beats_in"])
        sources.append(StreamSource(dut, spec["in"], pack_int8(xs), idle=idle, rng=rng))
        n_out = (len(xs) // spec["beats_in"]) * spec["beats_out"]
        sinks.append(StreamSink(dut, spec["out"], n_out, stall=stall, rng=rng))
    bench = StreamBench(tb, sources, sinks)
    start = time.perf_counter()
    cycles = await bench.run(max_cycles)
    return sources, sinks, cycles, time.perf_counter() - start


async def check_streams(dut, params: dict) -> dict:
    """Run both phases on every stream in ``params["streams"]``; returns the measurements
    (``mismatches`` is the total over every stream and phase, ``notes`` the first few)."""
    streams = params["streams"]
    rng = np.random.default_rng(int(params.get("seed", 0)))
    datas = []
    for spec in streams:
        with np.load(spec["data"]) as f:
            datas.append((f["x"].astype(np.int8), f["y"].astype(np.int8)))
    tb = TB(dut)
    await tb.reset()

    verify = await _phase(tb, dut, streams, datas, None, float(params.get("idle", 0.0)),
                          float(params.get("stall", 0.0)), rng, int(params["max_cycles"]))
    timing_images = int(params.get("timing_images", 0))
    timing_skip = int(params.get("timing_skip", 0))
    timing = None
    if timing_images >= 2:
        counts = {spec["in"]: timing_images for spec in streams}
        timing = await _phase(tb, dut, streams, datas, counts, 0.0, 0.0, rng,
                              int(params["max_cycles"]))

    report = {"streams": [], "mismatches": 0, "notes": [],
              "verify_cycles": verify[2], "verify_seconds": verify[3]}
    for k, (spec, (x, y)) in enumerate(zip(streams, datas)):
        c_out = y.shape[1]
        got = unpack_int8(verify[1][k].values, c_out)
        count, notes = _mismatches(got, y, spec["beats_out"], f"{spec['out']} random stalls")
        entry = {"in": spec["in"], "out": spec["out"], "images": len(x) // spec["beats_in"],
                 "mismatches": count}
        if timing is not None:
            t_got = unpack_int8(timing[1][k].values, c_out)
            t_ref = _cycled(y, timing_images, spec["beats_out"])
            t_count, t_notes = _mismatches(t_got, t_ref, spec["beats_out"],
                                           f"{spec['out']} back to back")
            count += t_count
            notes += t_notes
            entry["mismatches"] = count
            entry["cycles_per_image"] = _steady_cycles(timing[1][k].cycles, spec["beats_out"],
                                                       timing_skip)
            first_out = timing[1][k].cycles[spec["beats_out"] - 1] if timing[1][k].cycles else None
            entry["latency_cycles"] = first_out
            entry["timing_images"] = len(timing[1][k].values) // spec["beats_out"]
        if spec.get("result"):
            np.savez(spec["result"], y_hw=got)
        report["streams"].append(entry)
        report["mismatches"] += count
        report["notes"] += notes[:MAX_REPORTED_MISMATCHES]
    if timing is not None:
        report["timing_cycles"] = timing[2]
        report["timing_seconds"] = timing[3]
    total_cycles = verify[2] + (timing[2] if timing else 0)
    total_seconds = verify[3] + (timing[3] if timing else 0.0)
    report["cycles"] = total_cycles
    report["seconds"] = total_seconds
    report["cycles_per_second"] = total_cycles / total_seconds if total_seconds else None
    return report
