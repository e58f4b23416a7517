"""Steady-state busy fraction of every stage's MAC array in the demo network accelerator.

Usage: ``python benchmarks/bench_pipeline_busy.py [--images N] [--out benchmarks/results/pipeline_busy.json]``.

Plans the shipped demo model twice (structured, and the dense baseline, ``structhw compile
[--dense]``), simulates each ``structhw.rtl_gen.network.Network`` in the Amaranth simulator with
N back-to-back images (input always valid, output always ready) and counts, per stage, the cycles
in which the MAC array issues a step (its ``issue`` signal). Over the steady-state interval between
consecutive logits beats (images near either end are skipped: the pipeline fills and drains) it prints
each stage's busy % (issue cycles / interval cycles), the measured cycles per image and the plan's
prediction, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from structhw.jsonfile import write_json

def steady_images(plan) -> int:
    """Images in flight at once, at most: ⌈plan latency / cycles per image⌉ + 1. Intervals
    between logits closer than this to the first or the last image are not steady (the pipeline
    is filling or draining) and are skipped."""
    from structhw.rtl_gen.engine import images_in_flight

    return images_in_flight(plan.latency_cycles, plan.cycles_per_image)


def _statement_lhs(stmts):
    """Signals assigned by ``stmts`` (Assign statements, also inside Switch cases)."""
    from amaranth.hdl._ast import Assign, Switch
    for stmt in stmts:
        if isinstance(stmt, Assign):
            yield stmt.lhs
        elif isinstance(stmt, Switch):
            for _patterns, case_stmts, _src_loc in stmt.cases:
                yield from _statement_lhs(case_stmts)


def find_signals(fragment, name: str, path: tuple = ()) -> dict:
    """{submodule path: signal} for every signal called ``name`` that is assigned in the
    elaborated ``fragment`` or any of its subfragments (``amaranth.hdl.Fragment``)."""
    from amaranth.hdl import Signal
    found = {}
    for stmts in fragment.statements.values():
        for lhs in _statement_lhs(stmts):
            if isinstance(lhs, Signal) and lhs.name == name:
                found[path] = lhs
    for sub, sub_name, *_ in fragment.subfragments:
        found.update(find_signals(sub, name, path + (sub_name,)))
    return found


def count_busy(fragment, ports, beats: list, out_beats: int, probes: dict) -> dict:
    """Simulate the elaborated ``fragment`` (``amaranth.hdl.Fragment.get`` of a design) whose
    input and output streams are ``ports.i`` and ``ports.o``: ``beats`` offered back to back
    (valid always high), ``o.ready`` always high, until ``out_beats`` output beats.

    ``probes`` maps a key to a 1-bit signal anywhere in the design (e.g. from
    :func:`find_signals` on ``fragment``). Returns ``{"out_cycles": [cycle of each output
    handshake], "high": {key: [cycles in which the signal was 1]}}``; cycle 1 ends at the first
    clock edge.
    """
    from amaranth.sim import Simulator

    out_cycles, high = [], {key: [] for key in probes}
    keys, signals = list(probes), [probes[k] for k in probes]

    async def producer(ctx):
        for payload in beats:
            ctx.set(ports.i.payload, payload)
            ctx.set(ports.i.valid, 1)
            await ctx.tick().until(ports.i.ready)
        ctx.set(ports.i.valid, 0)

    async def consumer(ctx):
        ctx.set(ports.o.ready, 1)
        cycle = 0
        async for _clk, _rst, valid, *values in ctx.tick().sample(ports.o.valid, *signals):
            cycle += 1
            for key, value in zip(keys, values):
                if value:
                    high[key].append(cycle)
            if valid:
                out_cycles.append(cycle)
                if len(out_cycles) == out_beats:
                    return

    sim = Simulator(fragment)
    sim.add_clock(1e-6)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    return {"out_cycles": out_cycles, "high": high}


def busy_per_interval(out_cycles: list, high: list, beats_per_image: int, skip: int) -> list:
    """[(interval cycles, cycles high in it)] per image interval, from the last output beat of
    image k (exclusive) to that of image k+1 (inclusive), leaving out ``skip`` images at either
    end (filling and draining pipeline)."""
    ends = out_cycles[beats_per_image - 1::beats_per_image]
    result = []
    for a, b in zip(ends[skip:len(ends) - skip], ends[skip + 1:len(ends) - skip]):
        result.append((b - a, sum(1 for c in high if a < c <= b)))
    return result


def measure_plan(plan, images) -> dict:
    skip = steady_images(plan)
    if len(images) < 2 * skip + 2:
        raise ValueError(f"need at least {2 * skip + 2} images for a steady interval, got {len(images)}")
    """Busy figures of every stage of ``Network(plan)`` over ``images`` ([B, C, H, W] ints)."""
    from amaranth import ClockDomain, Module
    from amaranth.hdl import Fragment

    from structhw.rtl_gen import engine
    from structhw.rtl_gen.network import Network

    net = Network(plan)
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.net = net
    fragment = Fragment.get(top, None)
    issues = find_signals(fragment, "issue")
    probes = {}
    for stage in plan.stages:
        path = ("net", f"engine_{stage.index}", "mac")
        if path not in issues:
            raise RuntimeError(f"no MAC issue signal at {'.'.join(path)}")
        probes[stage.index] = issues[path]
    beats = [[int(v) for v in img[:, y, x]] for img in images
             for y in range(img.shape[1]) for x in range(img.shape[2])]

    result = count_busy(fragment, net, beats, len(images), probes)
    stages = []
    for stage in plan.stages:
        layer = plan.qnet.layers[stage.index]
        intervals = busy_per_interval(result["out_cycles"], result["high"][stage.index], 1, skip)
        cycles = sum(c for c, _ in intervals)
        busy = sum(h for _, h in intervals)
        stages.append({
            "index": stage.index, "layer": stage.layer,
            "lanes": stage.params.lanes, "mults": stage.params.mults,
            "window_queue_depth": (engine.window_queue_depth(layer, stage.params)
                                   if hasattr(engine, "window_queue_depth") else 0),
            "issue_cycles_per_image": busy / len(intervals),
            "expected_issue_cycles_per_image":
                layer.out_height * layer.out_width * engine.engine_steps(layer, stage.params),
            "planned_cycles_per_image": stage.cycles,
            "busy_fraction": busy / cycles,
        })
    intervals = [c for c, _ in busy_per_interval(result["out_cycles"], [], 1, skip)]
    bottleneck = plan.bottleneck
    return {
        "skipped_images_each_end": skip,
        "planned_cycles_per_image": plan.cycles_per_image,
        "measured_cycles_per_image": intervals,
        "bottleneck": bottleneck.layer,
        "bottleneck_busy_fraction": next(s["busy_fraction"] for s in stages
                                         if s["index"] == bottleneck.index),
        "stages": stages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24,
                        help="back-to-back images per plan (the steady ones are in the middle)")
    parser.add_argument("--board", default=None, help="default ulx3s-85f")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline_busy.json"))
    args = parser.parse_args()

    from structhw.commands.compile import load_model, resolve_budget
    from structhw.compiler import compile_plan
    from structhw.data import digits_split
    from structhw.quant import quantize_input

    budget, target = resolve_budget(args.board, None)
    _, test_ds = digits_split()
    test_x, _ = test_ds.tensors
    report = {"images": args.images, "target": target, "plans": {}}
    for name, dense in (("structured", False), ("dense", True)):
        qnet = load_model(None, dense=dense)
        plan = compile_plan(qnet, budget, dense=dense, target=target)
        images = quantize_input(test_x[:args.images], qnet)
        figures = measure_plan(plan, images)
        report["plans"][name] = figures
        measured = figures["measured_cycles_per_image"]
        print(f"{name}: planned {figures['planned_cycles_per_image']} cycles/image, measured "
              f"{min(measured)}..{max(measured)} (steady intervals {measured}), bottleneck "
              f"{figures['bottleneck']} busy {100 * figures['bottleneck_busy_fraction']:.1f} %")
        print("  stage layer  P   T  queue  issue/img  planned  busy %")
        for s in figures["stages"]:
            print(f"  {s['index']:5d} {s['layer']:>5}  {s['lanes']:<2} {s['mults']:>3} "
                  f"{s['window_queue_depth']:>6} {s['issue_cycles_per_image']:>10.1f} "
                  f"{s['planned_cycles_per_image']:>8} {100 * s['busy_fraction']:>7.1f}")
    write_json(args.out, report, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
