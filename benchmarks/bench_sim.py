"""Simulation benchmark of the demo network accelerator, native bench against cocotb bench in one
run: the whole digits test split verified from a cold cache (Verilog generation, the native
simulator's Verilator build, the run), then warm; simulated cycles/s of both benches; measured
cycles per image against the plan's prediction, the DSP-bound ideal and the input-bound floor.

Then (unless ``--resnet20-images 0``) Struct-ResNet20-A the way a user runs it,
``structhw sim resnet20 --preset A --data random --images N --json`` in a fresh cache: its wall
time from start to verdict (tracing, quantization, plan, Verilog, simulator build, simulation).

Usage: ``python benchmarks/bench_sim.py [--images N] [--cocotb-images N] [--resnet20-images N]
[--out benchmarks/results/sim.json]``. Every run uses a fresh cache folder. Both benches verify under
random idle/backpressure (25 % each) plus back-to-back images for timing. CPU seconds (this
process and its children: make, the compiler, the simulator) are printed next to wall seconds,
and the load average with them, because the machine may be shared: the wall figure depends on
what else runs, the CPU figure much less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


def timed(action):
    """(result, wall seconds, CPU seconds) of ``action()``."""
    t, c = time.perf_counter(), cpu_seconds()
    result = action()
    return result, time.perf_counter() - t, cpu_seconds() - c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="default: the whole test split")
    parser.add_argument("--cocotb-images", type=int, default=None,
                        help="images for the cocotb bench (default: as --images)")
    parser.add_argument("--resnet20-images", type=int, default=100,
                        help="images for the Struct-ResNet20-A run (0: skip it)")
    parser.add_argument("--board", default=None, help="default ulx3s-85f")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sim.json"))
    args = parser.parse_args()

    from structhw.commands.compile import load_model, resolve_budget
    from structhw.compiler import compile_plan
    from structhw.quant import quantized_test_split
    from structhw.sim.native import simulate_network_native
    from structhw.sim.network import simulate_network

    load_start = os.getloadavg()
    qnet = load_model(None, dense=False)
    budget, target = resolve_budget(args.board, None)
    plan = compile_plan(qnet, budget, target=target)
    images, labels = quantized_test_split(qnet, args.images)
    c_images, c_labels = quantized_test_split(qnet, args.cocotb_images or args.images)

    root = Path(tempfile.mkdtemp(prefix="structhw-bench-sim-"))
    cache = root / "cache"

    def native():
        return simulate_network_native(plan, images, labels, seed=0, build_root=cache)

    cold, cold_s, cold_cpu = timed(native)
    warm, warm_s, warm_cpu = timed(native)
    if warm.build_seconds != 0.0:
        raise RuntimeError("the warm run rebuilt the simulator: the build cache is not reused")
    coco, coco_s, coco_cpu = timed(lambda: simulate_network(plan, c_images, c_labels, seed=0,
                                                            build_root=cache))
    load_end = os.getloadavg()
    shutil.rmtree(root, ignore_errors=True)

    macs = multiplies_per_image(qnet)
    dev = 100 * (cold.cycles_per_image - cold.predicted_cycles) / cold.predicted_cycles
    report = {
        "target": target, "images": len(images), "bench": "native",
        "mismatches": cold.mismatches + warm.mismatches, "logits": int(cold.logits_ref.size),
        "accuracy_hw": cold.accuracy_hw, "accuracy_golden": cold.accuracy_ref,
        "whole_split_cold_s": cold_s, "whole_split_cold_cpu_s": cold_cpu,
        "build_s": cold.build_seconds, "whole_split_warm_s": warm_s,
        "whole_split_warm_cpu_s": warm_cpu, "sim_process_warm_s": warm.run_seconds,
        "sim_cycles": warm.sim_cycles, "sim_loop_s": warm.sim_seconds,
        "cycles_per_s": warm.cycles_per_second, "images_per_s": warm.images_per_second,
        "cycles_per_image_measured": cold.cycles_per_image,
        "cycles_per_image_predicted": cold.predicted_cycles,
        "cycles_per_image_deviation_pct": dev, "latency_cycles": cold.latency_cycles,
        "cocotb": {"images": coco.images, "mismatches": coco.mismatches,
                   "build_s": coco.build_seconds, "wall_s": coco_s, "cpu_s": coco_cpu,
                   "sim_cycles": coco.sim_cycles, "sim_loop_s": coco.sim_seconds,
                   "cycles_per_s": coco.cycles_per_second,
                   "cycles_per_image_measured": coco.cycles_per_image,
                   "latency_cycles": coco.latency_cycles},
        "native_over_cocotb_cycles_per_s": warm.cycles_per_second / coco.cycles_per_second,
        "multiplies_per_image": macs, "dsp_board": budget.dsp, "dsp_plan": plan.totals.dsp,
        "ideal_cycles_board_dsps": macs / budget.dsp,
        "ideal_cycles_plan_dsps": macs / max(plan.totals.dsp, 1),
        "input_floor_cycles": qnet.input_height * qnet.input_width,
        "load_average_start": load_start, "load_average_end": load_end, "cpus": os.cpu_count(),
    }
    if args.resnet20_images > 0:
        report["resnet20_a"] = resnet20_run(args.resnet20_images)
    print_report(report)
    write_json(args.out, report, indent=1)
    print(f"wrote {args.out}")
    ok = report["mismatches"] == 0 and coco.mismatches == 0 and abs(dev) <= 5.0
    ok = ok and report.get("resnet20_a", {}).get("mismatches", 0) == 0
    return 0 if ok else 1


def resnet20_run(images: int) -> dict:
    """``structhw sim resnet20 --preset A --data random --images N --json`` in a fresh cache:
    its JSON verdict with the command's wall and CPU seconds added."""
    with tempfile.TemporaryDirectory(prefix="structhw-bench-r20-") as cache:
        env = dict(os.environ, STRUCTHW_SIM_CACHE=cache)
        cmd = [sys.executable, "-m", "structhw", "sim", "resnet20", "--preset", "A", "--data",
               "random", "--images", str(images), "--json"]
        proc, wall, cpu = timed(lambda: subprocess.run(cmd, env=env, capture_output=True,
                                                       text=True))
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {proc.stderr[-800:]}")
    result = json.loads(proc.stdout)
    result.update(command="structhw " + " ".join(cmd[3:]), wall_s=wall, cpu_s=cpu,
                  load_average_end=os.getloadavg())
    return result


def print_report(r: dict) -> None:
    c = r["cocotb"]
    print(f"demo network on {r['target']}, {r['images']} test images (load average "
          f"{r['load_average_start'][0]:.1f} → {r['load_average_end'][0]:.1f} on {r['cpus']} CPUs)")
    print(f"  mismatching logits        native {r['mismatches']} of {2 * r['logits']} (cold + warm), "
          f"cocotb {c['mismatches']} ({c['images']} images)")
    print(f"  hardware accuracy         {100 * r['accuracy_hw']:.2f}% "
          f"(golden {100 * r['accuracy_golden']:.2f}%)")
    print(f"  whole split, cold cache   {r['whole_split_cold_s']:.1f} s wall, "
          f"{r['whole_split_cold_cpu_s']:.1f} s CPU (Verilog → native build "
          f"{r['build_s']:.1f} s → verified)")
    print(f"  whole split, warm cache   {r['whole_split_warm_s']:.1f} s wall, "
          f"{r['whole_split_warm_cpu_s']:.1f} s CPU (simulator process "
          f"{r['sim_process_warm_s']:.2f} s)")
    print(f"  native bench              {r['cycles_per_s']:,.0f} cycles/s ({r['sim_cycles']} cycles in "
          f"{r['sim_loop_s']:.3f} s), {r['images_per_s']:.0f} images/s per simulator process")
    print(f"  cocotb bench              {c['cycles_per_s']:,.0f} cycles/s ({c['sim_cycles']} cycles), "
          f"build {c['build_s']:.1f} s, {c['wall_s']:.1f} s wall")
    print(f"  native ÷ cocotb           {r['native_over_cocotb_cycles_per_s']:.1f}× cycles/s")
    print(f"  cycles per image          measured {r['cycles_per_image_measured']:.1f} (cocotb "
          f"{c['cycles_per_image_measured']}), plan {r['cycles_per_image_predicted']} "
          f"({r['cycles_per_image_deviation_pct']:+.1f}%), latency {r['latency_cycles']} "
          f"(cocotb {c['latency_cycles']})")
    print(f"  DSP-bound ideal           {r['ideal_cycles_board_dsps']:.1f} cycles/image with all "
          f"{r['dsp_board']} DSPs of the board, {r['ideal_cycles_plan_dsps']:.1f} with the plan's "
          f"{r['dsp_plan']}; input floor {r['input_floor_cycles']} (one pixel per beat)")
    if "resnet20_a" in r:
        q = r["resnet20_a"]
        print(f"  Struct-ResNet20-A         {q['images']} images, {q['mismatches']} mismatching of "
              f"{q['logits']} logits, {q['wall_s']:.0f} s wall from a cold cache (simulator build "
              f"{q['build_s']:.0f} s, {q['cycles_per_s']:,.0f} cycles/s, "
              f"{q['cycles_per_image_measured']:.0f} cycles/image, plan "
              f"{q['cycles_per_image_predicted']})")


if __name__ == "__main__":
    sys.exit(main())
