"""The paper's graph networks and a user's model through quantization and the compiler: each
model traced, quantized, its golden graph compared with the float model, and planned for the
ULX3S-85F — or refused with the resource that is short and by how much.

Models: the CIFAR ResNets ``resnet20``, ``resnet32``, ``resnet56`` dense and with presets A
and B (``structhw.zoo``, option-A shortcuts), a MobileNetV2 inverted-residual stack and the
README's "Bring your own model" example (``benchmarks/scaling_models.py``), dense and preset A.
Weights are the zoo's fresh initialisation (BatchNorm statistics as initialised), calibrated and
tested on ``--data`` (default ``random``: 256 seeded random images; ``standin`` for the 3×32×32
models is slower and says the same about the integer arithmetic).

Per model it records: the ops of the quantized graph, the relative RMS error of its dequantized
logits against the float model's on the test images (:func:`structhw.graph.pipeline.logit_error`),
and the plan for the board (cycles/image, latency, estimated LUT4/FF/DSP/block-RAM bits, the
bottleneck node) or the "does not fit" line, with the seconds each step took.

Usage: ``python benchmarks/bench_graph_models.py [--data random] [--only resnet20]
[--out benchmarks/results/graph_models.json]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from structhw.board_plan import plan_for_board
from structhw.boards.registry import get_board
from structhw.errors import ConfigError
from structhw.graph.pipeline import quantize_source
from structhw.jsonfile import write_json
from structhw.model_source import resolve_model

BOARD = "ulx3s-85f"
HERE = Path(__file__).resolve().parent
SCALING = HERE / "scaling_models.py"
MODELS = tuple((f"resnet{d}", p) for d in (20, 32, 56) for p in (None, "A", "B")) + tuple(
    (f"{SCALING}:{name}", p) for name in ("mobilenet_v2_stack", "readme_net") for p in (None, "A"))


def measure(model: str, preset: str | None, data: str, board) -> dict:
    """One model's row: ops, logit error and its plan (or why it does not fit)."""
    start = time.perf_counter()
    source = resolve_model(model, preset=preset)
    graph, metrics = quantize_source(source, data=data)
    quantized = time.perf_counter()
    ops = {}
    for node in graph.nodes:
        kind = node.layer.kind if hasattr(node, "layer") else node.kind
        ops[kind] = ops.get(kind, 0) + 1
    name = model.rpartition(":")[2] if ".py:" in model else source.name
    row = {"model": name, "preset": preset or "dense", "data": data, "ops": ops,
           "logit_rel_rms": metrics.get("logit_rel_rms"), "quantize_s": quantized - start}
    try:
        plan = plan_for_board(graph, board, False)
    except ConfigError as exc:
        row.update(fits=False, refused=str(exc))
    else:
        totals = plan.totals
        row.update(fits=True, plan_version=plan.to_json()["version"],
                   cycles_per_image=int(plan.cycles_per_image),
                   latency_cycles=int(plan.latency_cycles),
                   bottleneck=getattr(plan.bottleneck, "name", None)
                   or getattr(plan.bottleneck, "layer", None),
                   estimate={k: getattr(totals, k) for k in ("lut4", "ff", "dsp", "bram_bits")})
    row["plan_s"] = time.perf_counter() - quantized
    return row


def format_row(row: dict, board) -> str:
    head = f"{row['model']:<20} {row['preset']:<5} rel_rms {row['logit_rel_rms']:.4f}  "
    if not row["fits"]:
        return head + f"refused: {row['refused']}"
    e, b = row["estimate"], board.budget
    return head + (f"{row['cycles_per_image']:>9,} cycles/img  LUT4 {e['lut4']:>6,}/{b.lut4:,}  "
                   f"FF {e['ff']:>6,}/{b.ff:,}  DSP {e['dsp']:>3}/{b.dsp}  "
                   f"BRAM {e['bram_bits'] / 1024:>6,.0f}/{b.bram_bits / 1024:,.0f} kbit  "
                   f"(plan v{row['plan_version']}, {row['quantize_s'] + row['plan_s']:.0f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="random")
    parser.add_argument("--only", default=None, help="models whose name contains this")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "graph_models.json")
    args = parser.parse_args(argv)
    board = get_board(BOARD)
    rows = []
    for model, preset in MODELS:
        if args.only and args.only not in model:
            continue
        row = measure(model, preset, args.data, board)
        print(format_row(row, board), flush=True)
        rows.append(row)
    write_json(args.out, {"board": board.name, "data": args.data, "rows": rows})
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
