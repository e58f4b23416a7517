"""``structhw count MODEL [--preset dense|A|B] [--json]``: parameters, multiplications and
additions of a zoo model, per layer and in total, for one input image (paper §4.2; see
:mod:`structhw.complexity`)."""

from __future__ import annotations

import json

from ..complexity import ModelCount, count_model
from ..regularization import PRESETS, make_plan
from ..zoo import MODELS, build_model, input_shape

_COLUMNS = ("name", "kind", "C", "N", "c", "n", "out_channels", "params", "mults", "adds", "sumpool_adds")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "count",
        help="count params, mults and adds of a zoo model",
        description="Count parameters, multiplications and additions per layer and in total "
        "(one input image; paper §4.2, sum-pool adds counted once per layer).",
    )
    parser.add_argument("model", metavar="MODEL", help=f"zoo model: {', '.join(MODELS)}")
    parser.add_argument("--preset", default="dense", help=f"structure preset: {', '.join(PRESETS)} (default dense)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def format_table(result: ModelCount) -> str:
    """The per-layer counts as an aligned text table followed by the totals."""
    rows = [list(_COLUMNS)]
    for layer in result.layers:
        row = layer.as_dict()
        rows.append([str(row[key]) if (row[key] or key in ("params", "mults", "adds")) else "-" for key in _COLUMNS])
    rows.append(["total", "", "", "", "", "", "", str(result.params), str(result.mults), str(result.adds), ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(
        f"params {result.params / 1e6:.2f} M, mults {result.mults / 1e6:.2f} M, adds {result.adds / 1e6:.2f} M"
    )
    return "\n".join(lines)


def run(args) -> int:
    model = build_model(args.model)
    plan = make_plan(model, args.preset)
    result = count_model(model, input_shape(args.model), plan)
    if args.json:
        print(json.dumps({"model": args.model, "preset": args.preset, **result.as_dict()}))
    else:
        print(f"{args.model}, preset {args.preset}, input {'×'.join(map(str, input_shape(args.model)))}")
        print(format_table(result))
    return 0
