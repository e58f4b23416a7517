"""Simulation benchmark of the demo network accelerator: Verilator build time, simulation
throughput (cycles/s, images/s), time to verify the whole digits test split cold (empty
simulation cache: Verilog generation, Verilator's runtime and the design compiled) and warm
(Verilog and build reused), and measured cycles per image against the plan's prediction, the
DSP-bound ideal and the input-bound floor.

Usage: ``python benchmarks/bench_sim.py [--images N] [--out benchmarks/results/sim.json]``.
The cold run uses a fresh cache folder; the test split is verified under random idle/backpressure
(25 % each) plus 16 back-to-back images for timing, then verified again warm. CPU seconds
(this process and its children: make, the compiler, the simulator) are printed next to wall
seconds, and the load average with them, because the machine may be shared: the wall figure
depends on what else runs, the CPU figure much less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from structhw.jsonfile import write_json


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def multiplies_per_image(qnet) -> int:
    """Multiplies of the small convolutions (the DSP work) for one image."""
    return sum(l.out_height * l.out_width * l.out_channels * l.mults_per_output for l in qnet.layers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="default: the whole test split")
    parser.add_argument("--board", default=None, help="default ulx3s-85f")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sim.json"))
    args = parser.parse_args()

    from structhw.commands.compile import load_model, resolve_budget
    from structhw.compiler import compile_plan
    from structhw.quant import quantized_test_split
    from structhw.sim.network import cached_network_verilog, simulate_network
    from structhw.sim.runner import build

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    qnet = load_model(None, dense=False)
    budget, target = resolve_budget(args.board, None)
    plan = compile_plan(qnet, budget, target=target)
    images, labels = quantized_test_split(qnet, args.images)
    count = len(images)
    prep_s = time.perf_counter() - t0

    root = Path(tempfile.mkdtemp(prefix="structhw-bench-sim-"))
    cache = root / "cache"
    t1, c1 = time.perf_counter(), cpu_seconds()
    sources = cached_network_verilog(plan, cache)
    verilog_s, verilog_cpu = time.perf_counter() - t1, cpu_seconds() - c1
    t2, c2 = time.perf_counter(), cpu_seconds()
    build(sources, "structhw_network", build_root=cache)
    build_s, build_cpu = time.perf_counter() - t2, cpu_seconds() - c2

    t3, c3 = time.perf_counter(), cpu_seconds()
    result = simulate_network(plan, images, labels, seed=0, build_root=cache,
                              work_dir=root / "run-cold")
    verify_s, verify_cpu = time.perf_counter() - t3, cpu_seconds() - c3

    t4, c4 = time.perf_counter(), cpu_seconds()
    warm = simulate_network(plan, images, labels, seed=0, build_root=cache,
                            work_dir=root / "run-warm")
    warm_s, warm_cpu = time.perf_counter() - t4, cpu_seconds() - c4
    load_end = os.getloadavg()
    if warm.build_seconds != 0.0:
        raise RuntimeError("the warm run rebuilt the design: the build cache is not reused")

    macs = multiplies_per_image(qnet)
    ideal_board = macs / budget.dsp
    ideal_plan = macs / max(plan.totals.dsp, 1)
    input_floor = qnet.input_height * qnet.input_width
    dev = 100 * (result.cycles_per_image - result.predicted_cycles) / result.predicted_cycles
    cold_s = verilog_s + build_s + verify_s
    cold_cpu = verilog_cpu + build_cpu + verify_cpu
    report = {
        "target": target, "images": count,
        "mismatches": result.mismatches + warm.mismatches,
        "accuracy_hw": result.accuracy_hw, "accuracy_golden": result.accuracy_ref,
        "prepare_s": prep_s, "verilog_s": verilog_s, "verilog_cpu_s": verilog_cpu,
        "build_cold_s": build_s, "build_cold_cpu_s": build_cpu,
        "verify_s": verify_s, "verify_cpu_s": verify_cpu,
        "whole_split_s": cold_s, "whole_split_cpu_s": cold_cpu,
        "whole_split_warm_s": warm_s, "whole_split_warm_cpu_s": warm_cpu,
        "sim_process_s": result.run_seconds, "sim_process_warm_s": warm.run_seconds,
        "sim_cycles": result.sim_cycles, "sim_loop_s": result.sim_seconds,
        "cycles_per_s": result.cycles_per_second, "images_per_s": result.images_per_second,
        "cycles_per_s_warm": warm.cycles_per_second, "images_per_s_warm": warm.images_per_second,
        "cycles_per_image_measured": result.cycles_per_image,
        "cycles_per_image_predicted": result.predicted_cycles,
        "cycles_per_image_deviation_pct": dev,
        "latency_cycles": result.latency_cycles,
        "multiplies_per_image": macs, "dsp_board": budget.dsp, "dsp_plan": plan.totals.dsp,
        "ideal_cycles_board_dsps": ideal_board, "ideal_cycles_plan_dsps": ideal_plan,
        "input_floor_cycles": input_floor,
        "load_average_start": load_start, "load_average_end": load_end, "cpus": os.cpu_count(),
    }
    within = abs(dev) <= 5.0
    print(f"demo network on {target}, {count} test images, Verilator "
          f"(load average {load_start[0]:.1f} → {load_end[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  mismatching logits        {result.mismatches} of {result.logits_ref.size} cold, "
          f"{warm.mismatches} warm")
    print(f"  hardware accuracy         {100 * result.accuracy_hw:.2f}% "
          f"(golden {100 * result.accuracy_ref:.2f}%)")
    print(f"  model + plan + data       {prep_s:.1f} s")
    print(f"  Verilog generation        {verilog_s:.1f} s wall, {verilog_cpu:.1f} s CPU")
    print(f"  Verilator build (cold)    {build_s:.1f} s wall, {build_cpu:.1f} s CPU")
    print(f"  verification run          {verify_s:.1f} s wall, {verify_cpu:.1f} s CPU "
          f"(simulator process {result.run_seconds:.1f} s)")
    print(f"  whole split, cold cache   {cold_s:.1f} s wall, {cold_cpu:.1f} s CPU "
          f"(Verilog → build → verified)")
    print(f"  whole split, warm cache   {warm_s:.1f} s wall, {warm_cpu:.1f} s CPU "
          f"(simulator process {warm.run_seconds:.1f} s)")
    print(f"  simulation speed          {result.cycles_per_second:,.0f} cycles/s in the bench loop, "
          f"{result.images_per_second:.1f} images/s per simulator process ({result.sim_cycles} "
          f"cycles, random stalls 25 %/25 % + 16 back-to-back images); warm "
          f"{warm.cycles_per_second:,.0f} cycles/s, {warm.images_per_second:.1f} images/s")
    print(f"  cycles per image          measured {result.cycles_per_image:.1f}, plan "
          f"{result.predicted_cycles} ({dev:+.1f}%, {'within' if within else 'OUTSIDE'} 5 %), "
          f"latency {result.latency_cycles}")
    print(f"  DSP-bound ideal           {ideal_board:.1f} cycles/image with all {budget.dsp} DSPs "
          f"of the board, {ideal_plan:.1f} with the plan's {plan.totals.dsp}; "
          f"input floor {input_floor} (one pixel per beat)")
    write_json(args.out, report, indent=1)
    print(f"wrote {args.out}")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if report["mismatches"] == 0 and within else 1


if __name__ == "__main__":
    sys.exit(main())
