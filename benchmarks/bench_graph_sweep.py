"""The random-graph sweep: many random small graph networks (:mod:`structhw.graph.random_graph`:
residual adds, both shortcut kinds, max/avg/global pools, depthwise convs, stride 2, linear
heads, forking inputs) compiled, elaborated and simulated in the native Verilator bench, every
logit of every image compared with the golden graph under seeded random idle input and output
backpressure, then the measured back-to-back cycles/image compared with the plan.

A graph whose bench stops seeing output (the bench's cycle limit: several times the predicted
time) counts as stuck. Usage: ``python benchmarks/bench_graph_sweep.py [--graphs N] [--first S]
[--images N] [--jobs J] [--out benchmarks/results/graph_sweep.json]``; the tests run a small
sample of the same graphs (tests/rtl/test_graph_network.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from structhw.graph.plan import compile_graph
from structhw.graph.random_graph import RANDOM_GRAPH_BUDGET as BUDGET
from structhw.graph.random_graph import random_graph
from structhw.jsonfile import write_json

def run_one(seed: int, images: int, root: str) -> dict:
    """One graph: compile, simulate ``images`` random int8 images natively; a result row."""
    from structhw.sim.network import simulate_network

    graph = random_graph(seed)
    plan = compile_graph(graph, BUDGET)
    x = np.random.default_rng(seed).integers(-128, 128, size=(images, *graph.input_shape))
    result = simulate_network(plan, x, bench="native", seed=seed, idle=0.3, stall=0.3,
                              build_root=Path(root))
    stuck = any("stuck" in n or "produced no output" in n for n in result.notes)
    return {"seed": seed, "nodes": [op.kind if op.kind != "conv" else op.layer.kind
                                    for op in graph.nodes],
            "images": images, "mismatches": result.mismatches, "stuck": stuck,
            "notes": result.notes[:3], "cycles_predicted": plan.cycles_per_image,
            "cycles_measured": result.cycles_per_image,
            "build_s": round(result.build_seconds, 2), "total_s": round(result.total_seconds, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", type=int, default=40)
    parser.add_argument("--first", type=int, default=0, help="first seed")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/graph_sweep.json"))
    args = parser.parse_args(argv)
    if min(args.graphs, args.images, args.jobs) < 1 or args.first < 0:
        parser.error("--graphs, --images and --jobs must be ≥ 1, --first ≥ 0")
    from tqdm import tqdm

    start = time.perf_counter()
    seeds = range(args.first, args.first + args.graphs)
    with tempfile.TemporaryDirectory(prefix="graph-sweep-") as root, \
            ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, s, args.images, root) for s in seeds]
        rows = [f.result() for f in tqdm(futures, desc="graphs", unit="graph")]
    exact = [r for r in rows if r["cycles_measured"] == r["cycles_predicted"]]
    summary = {"graphs": len(rows), "images_per_graph": args.images,
               "mismatches": sum(r["mismatches"] for r in rows),
               "stuck": sum(r["stuck"] for r in rows),
               "cycles_equal_plan": len(exact),
               "worst_cycles_ratio": max((r["cycles_measured"] or 0) / r["cycles_predicted"]
                                         for r in rows),
               "wall_s": round(time.perf_counter() - start, 1)}
    for r in rows:
        flag = "" if r["cycles_measured"] == r["cycles_predicted"] else "  <- cycles"
        print(f"seed {r['seed']:4d} {'-'.join(r['nodes']):60s} mism {r['mismatches']:3d} "
              f"cycles {r['cycles_measured']} / plan {r['cycles_predicted']}{flag}")
    print(summary)
    write_json(args.out, {"summary": summary, "budget": BUDGET.to_json(), "rows": rows})
    print(f"wrote {args.out}")
    return 0 if summary["mismatches"] == 0 and summary["stuck"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
