"""``structhw quantize [MODEL] [--json] [--report] [--out FILE.qnet.json] [--dense]``: int8
post-training quantization of a training checkpoint, measured with the golden integer model on
the digits test split (see :mod:`structhw.quant`)."""

from __future__ import annotations

import json
import sys

from .. import qnet as qnet_io
from ..errors import ConfigError, check_output_file
from ..quant import ROUNDINGS, quantize_checkpoint
from ..quant.ptq import check_percentile
from .model_args import add_model_arguments, is_file_model, model_source

_HEADER = ("layer", "kind", "C", "N", "c", "n", "Cout", "s", "p", "d", "g", "relu",
           "E", "prod", "acc", "acc·M", "s_in", "s_out", "s_α min", "s_α max", "rel_rms")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quantize",
        help="int8 post-training quantization and the golden integer model",
        description="Quantize a checkpoint's decomposed model (or, with --dense, its dense baseline) "
        "to int8, calibrated on the digits training split, and measure float and golden-integer "
        "accuracy on the test split.",
    )
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (float_acc, int8_acc, per-layer widths and error)")
    parser.add_argument("--report", action="store_true",
                        help="print the per-layer table: geometry, exact bit widths, scales, error "
                        "(to stderr when --json is given)")
    parser.add_argument("--out", metavar="FILE.qnet.json", help="save the quantized network (atomic)")
    parser.add_argument("--dense", action="store_true",
                        help="quantize the dense baseline model (for the dense hardware)")
    parser.add_argument("--percentile", type=float, default=100.0,
                        help="activation range: this percentile of |x| over the training split "
                        "(default 100 = largest magnitude)")
    parser.add_argument("--rounding", choices=ROUNDINGS, default="gptq",
                        help="α rounding: error-compensating over the training split (gptq, default) "
                        "or to nearest")
    parser.set_defaults(func=run)


def _sci(v) -> str:
    return "-" if v is None else f"{v:.3e}"


def format_report(metrics: dict) -> str:
    """Per-layer table: geometry, exact signed widths in bits of the sum-pool output E, one product,
    the accumulator and acc·M + 2^(S−1), the scales and the relative RMS error vs float."""
    rows = [list(_HEADER)]
    for r in metrics["layers"]:
        w = r["widths"]
        rows.append([r["name"], r["kind"] + ("/dense" if r["dense"] else ""), r["C"], r["N"], r["c"],
                     r["n"], r["Cout"], r["stride"], r["padding"], r["dilation"], r["groups"],
                     "y" if r["relu"] else "n", w["sumpool"], w["product"], w["accumulator"],
                     w["requant_product"], _sci(r["in_scale"]), _sci(r["out_scale"]),
                     _sci(r["alpha_scale_min"]), _sci(r["alpha_scale_max"]),
                     "-" if r.get("rel_rms") is None else f"{r['rel_rms']:.4f}"])
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("widths in bits (signed); E = sum-pool output, acc·M = acc·M + 2^(S−1); "
                 "rel_rms = RMS(int·s_out − float) / RMS(float) on the test split")
    return "\n".join(lines)


def _summary(metrics: dict) -> str:
    return (f"{metrics['checkpoint']} ({metrics['variant']}), {metrics['test_images']} test images: "
            f"float_acc {metrics['float_acc']:.4f}, int8_acc {metrics['int8_acc']:.4f}, "
            f"int8/float agreement {metrics['agreement']:.4f} "
            f"(dense float {metrics['dense_float_acc']:.4f}, decomposed float "
            f"{metrics['decomposed_float_acc']:.4f})")


def _graph_summary(name: str, graph, metrics: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{v:.4f}"
    kinds = {}
    for node in graph.nodes:
        kind = getattr(getattr(node, "layer", None), "kind", node.kind)
        kinds[kind] = kinds.get(kind, 0) + 1
    ops = ", ".join(f"{v} {k}" for k, v in kinds.items())
    return (f"{name}: {len(graph.nodes)} integer ops ({ops}); {metrics['test_images']} "
            f"{metrics['data']} test images: float_acc {pct(metrics['float_acc'])}, int8_acc "
            f"{pct(metrics['int8_acc'])}, logit relative RMS error {metrics['logit_rel_rms']:.4f}")


def run_graph(args) -> int:
    """A zoo / .py model: trace, quantize as a graph, save qnet.json (version 1 for a chain of
    conv/linear layers, else version 2)."""
    from ..graph.pipeline import quantize_source
    from ..graph.quant_graph import save_graph

    source = model_source(args)
    graph, metrics = quantize_source(source, data=args.data, dense=args.dense,
                                     rounding=args.rounding, percentile=args.percentile)
    if args.out is not None:
        path = qnet_io.save(graph.to_qnet(), args.out) if graph.is_chain() else \
            save_graph(graph, args.out)
        metrics["out"] = str(path)
    if args.json:
        print(json.dumps({"model": source.name, "nodes": len(graph.nodes), **metrics}))
        return 0
    print(_graph_summary(source.name, graph, metrics))
    if args.out:
        print(f"wrote {metrics['out']}")
    return 0


def run(args) -> int:
    check_percentile(args.percentile)
    if args.out is not None:
        check_output_file(args.out, suffix=".qnet.json")
    if not is_file_model(args.model):
        return run_graph(args)
    model_source(args)
    if args.data not in (None, "digits"):
        raise ConfigError(f"a structhw checkpoint is calibrated on digits, not {args.data!r}")
    qnet, metrics = quantize_checkpoint(args.model, dense=args.dense, percentile=args.percentile,
                                        rounding=args.rounding)
    if args.out is not None:
        metrics["out"] = str(qnet_io.save(qnet, args.out))
    if args.json:
        print(json.dumps(metrics))
        if args.report:
            print(format_report(metrics), file=sys.stderr)
        return 0
    print(_summary(metrics))
    if args.report:
        print(format_report(metrics))
    if args.out:
        print(f"wrote {metrics['out']}")
    return 0
