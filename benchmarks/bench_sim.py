"""Simulation benchmark of the demo network accelerator: Verilator build time, simulation
throughput (cycles/s, images/s), time to verify the whole digits test split, and measured cycles
per image against the plan's prediction, the DSP-bound ideal and the input-bound floor.

Usage: ``python benchmarks/bench_sim.py [--images N] [--out benchmarks/results/sim.json]``.
Builds into a fresh folder (a cold build: Verilator's runtime compiled too), then verifies the
test split under random idle/backpressure (25 % each) plus 16 back-to-back images for timing.
CPU seconds are printed next to wall seconds because the machine may be shared: the wall figure
depends on what else runs, the CPU figure much less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def write_json_atomically(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


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
    from structhw.data import digits_split
    from structhw.quant import quantize_input
    from structhw.sim.network import simulate_network, write_network_verilog
    from structhw.sim.runner import build

    t0, c0 = time.perf_counter(), cpu_seconds()
    qnet = load_model(None, dense=False)
    budget, target = resolve_budget(args.board, None)
    plan = compile_plan(qnet, budget, target=target)
    _, test_ds = digits_split()
    test_x, test_y = test_ds.tensors
    count = len(test_x) if args.images is None else min(args.images, len(test_x))
    images = quantize_input(test_x[:count], qnet).numpy()
    prep_s = time.perf_counter() - t0

    root = Path(tempfile.mkdtemp(prefix="structhw-bench-sim-"))
    t1, c1 = time.perf_counter(), cpu_seconds()
    sources = write_network_verilog(plan, root / "rtl")
    verilog_s = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), cpu_seconds()
    build(sources, "structhw_network", build_root=root / "cache")
    build_s, build_cpu = time.perf_counter() - t2, cpu_seconds() - c2

    t3, c3 = time.perf_counter(), cpu_seconds()
    result = simulate_network(plan, images, test_y[:count].numpy(), seed=0,
                              build_root=root / "cache", work_dir=root / "run")
    verify_s, verify_cpu = time.perf_counter() - t3, cpu_seconds() - c3

    macs = multiplies_per_image(qnet)
    ideal_board = macs / budget.dsp
    ideal_plan = macs / max(plan.totals.dsp, 1)
    input_floor = qnet.input_height * qnet.input_width
    report = {
        "target": target, "images": count, "mismatches": result.mismatches,
        "accuracy_hw": result.accuracy_hw, "accuracy_golden": result.accuracy_ref,
        "prepare_s": prep_s, "verilog_s": verilog_s,
        "build_cold_s": build_s, "build_cold_cpu_s": build_cpu,
        "verify_s": verify_s, "verify_cpu_s": verify_cpu,
        "whole_split_s": verilog_s + build_s + verify_s,
        "whole_split_cpu_s": cpu_seconds() - c1,
        "sim_cycles": result.sim_cycles, "sim_loop_s": result.sim_seconds,
        "cycles_per_s": result.cycles_per_second, "images_per_s": result.images_per_second,
        "cycles_per_image_measured": result.cycles_per_image,
        "cycles_per_image_predicted": result.predicted_cycles,
        "latency_cycles": result.latency_cycles,
        "multiplies_per_image": macs, "dsp_board": budget.dsp, "dsp_plan": plan.totals.dsp,
        "ideal_cycles_board_dsps": ideal_board, "ideal_cycles_plan_dsps": ideal_plan,
        "input_floor_cycles": input_floor,
    }
    dev = 100 * (result.cycles_per_image - result.predicted_cycles) / result.predicted_cycles
    print(f"demo network on {target}, {count} test images, Verilator")
    print(f"  mismatching logits        {result.mismatches} of {result.logits_ref.size}")
    print(f"  hardware accuracy         {100 * result.accuracy_hw:.2f}% "
          f"(golden {100 * result.accuracy_ref:.2f}%)")
    print(f"  Verilog generation        {verilog_s:.1f} s")
    print(f"  Verilator build (cold)    {build_s:.1f} s wall, {build_cpu:.1f} s CPU")
    print(f"  verification run          {verify_s:.1f} s wall, {verify_cpu:.1f} s CPU "
          f"(simulator process {result.run_seconds:.1f} s)")
    print(f"  whole split, Verilog→done {report['whole_split_s']:.1f} s wall, "
          f"{report['whole_split_cpu_s']:.1f} s CPU")
    print(f"  simulation speed          {result.cycles_per_second:,.0f} cycles/s, "
          f"{result.images_per_second:.1f} images/s ({result.sim_cycles} cycles, random stalls "
          f"25 %/25 % + 16 back-to-back images)")
    print(f"  cycles per image          measured {result.cycles_per_image:.1f}, plan "
          f"{result.predicted_cycles} ({dev:+.1f}%), latency {result.latency_cycles}")
    print(f"  DSP-bound ideal           {ideal_board:.1f} cycles/image with all {budget.dsp} DSPs "
          f"of the board, {ideal_plan:.1f} with the plan's {plan.totals.dsp}; "
          f"input floor {input_floor} (one pixel per beat)")
    write_json_atomically(report, args.out)
    print(f"wrote {args.out}")
    return 0 if result.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
