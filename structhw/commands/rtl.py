"""``structhw rtl --layer C,N,c,n,Cout,H,W,stride,pad [--dense] [--seed S] [--lanes P]
[--mults T] [--sumpool tree|separable] --out DIR``: the Verilog of one layer engine with random
quantized weights (reproducible from the seed), its Verilator waivers and the layer's weights
as JSON, for inspection, lint and synthesis experiments. The files are written together
(:mod:`structhw.staging`): a failure leaves DIR as it was."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError, check_output_dir, path_argument
from ..jsonfile import write_json
from ..rtl_gen.sumpool import ARCHS as SUMPOOL_ARCHS
from ..size_limits import check_fits_some_board, check_layer_size
from ..staging import staged_outputs

LAYER_FIELDS = ("C", "N", "c", "n", "Cout", "H", "W", "stride", "pad")
DEFAULT_MULTS = 18
"""Default multipliers per lane: min(c·n², this)."""
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rtl",
        help="write the Verilog of one (random-weight) layer engine",
        description="Generate a LayerEngine for one layer with random int8 weights and write "
        "NAME.v, NAME.vlt (Verilator waivers) and NAME.layer.json (the quantized layer) to DIR.",
    )
    parser.add_argument("--layer", required=True, metavar="C,N,c,n,Cout,H,W,stride,pad",
                        help="input channels, kernel, structure (c, n), output channels, input "
                        "height and width, stride, padding")
    parser.add_argument("--dense", action="store_true",
                        help="the dense baseline of this layer (c = C/groups, n = N)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random weights, ≥ 0 (default 0)")
    parser.add_argument("--dilation", type=int, default=1, help="dilation (default 1)")
    parser.add_argument("--groups", type=int, default=1, help="groups; C for depthwise (default 1)")
    parser.add_argument("--no-relu", action="store_true", help="no fused ReLU (clamp at −128)")
    parser.add_argument("--lanes", type=int, default=1, help="output-channel lanes P (default 1)")
    parser.add_argument("--mults", type=int, default=None,
                        help=f"multipliers per lane T (default min(c·n², {DEFAULT_MULTS}))")
    parser.add_argument("--sumpool", choices=SUMPOOL_ARCHS, default=None,
                        help="sum-pool microarchitecture (default: the cheaper by the cost model)")
    parser.add_argument("--name", default="layer_engine", help="top module name (default layer_engine)")
    parser.add_argument("--lint", action="store_true",
                        help="run verilator --lint-only -Wall; exit 1 if any warning remains")
    parser.add_argument("--out", required=True, type=path_argument, metavar="DIR", help="output folder")
    parser.set_defaults(func=run)


def parse_layer(text: str) -> dict:
    """``"C,N,c,n,Cout,H,W,stride,pad"`` → dict of ints; ConfigError naming the bad field."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(LAYER_FIELDS):
        raise ConfigError(f"--layer needs {len(LAYER_FIELDS)} comma-separated integers "
                          f"{','.join(LAYER_FIELDS)}, got {text!r}")
    values = {}
    for key, part in zip(LAYER_FIELDS, parts):
        try:
            values[key] = int(part)
        except ValueError:
            raise ConfigError(f"--layer: {key} must be an integer, got {part!r}") from None
    return values


def check_arguments(args) -> dict:
    """Every check on the arguments alone, before any weight or model is computed: the layer's
    geometry as a dict (``c``, ``n`` filled in for ``--dense``)."""
    geom = parse_layer(args.layer)
    for option, value, low in (("--seed", args.seed, 0), ("--groups", args.groups, 1),
                               ("--dilation", args.dilation, 1), ("--lanes", args.lanes, 1),
                               ("--mults", args.mults, 1)):
        if value is not None and value < low:
            raise ConfigError(f"{option} must be ≥ {low}, got {value}")
    if not re.fullmatch(NAME_PATTERN, args.name):
        shown = args.name if len(args.name) <= 40 else args.name[:40] + "…"
        raise ConfigError(f"--name {shown!r}: a Verilog module name must be an identifier of "
                          f"at most 128 characters ({NAME_PATTERN}; it also names the file)")
    if args.dense:
        if geom["C"] % args.groups:
            raise ConfigError(f"--groups={args.groups} must divide C={geom['C']}")
        geom["c"], geom["n"] = geom["C"] // args.groups, geom["N"]
    check_layer_size("--layer", **geom, groups=args.groups)
    check_output_dir(args.out)
    return geom


def build_layer_and_params(args):
    """The QuantLayer and EngineParams the arguments describe (every check, no file written)."""
    from ..rtl_gen.cost import engine_cost
    from ..rtl_gen.engine import check_engine
    from ..rtl_gen.params import EngineParams
    from ..rtl_gen.random_layer import random_quant_layer
    from ..rtl_gen.sumpool import choose_sumpool_arch

    geom = check_arguments(args)
    layer = random_quant_layer(**geom, seed=args.seed, dilation=args.dilation, groups=args.groups,
                               relu=not args.no_relu, name="layer")
    mults = args.mults if args.mults is not None else min(layer.mults_per_output, DEFAULT_MULTS)
    if layer.is_dense:
        if args.sumpool is not None:
            raise ConfigError(f"--sumpool {args.sumpool}: a dense layer (c = C/groups, n = N) has "
                              f"no sum-pool")
        arch = None
    else:
        check_engine(layer, EngineParams(args.lanes, mults, args.sumpool or "separable"))
        arch = args.sumpool or choose_sumpool_arch(layer)
    params = EngineParams(args.lanes, mults, arch)
    check_engine(layer, params)
    check_fits_some_board(engine_cost(layer, params), "this layer engine")
    return layer, params


def run(args) -> int:
    from ..rtl_gen.engine import engine_cycles
    from ..rtl_gen.verilog import generate_layer_verilog, lint

    layer, params = build_layer_and_params(args)
    steps = ["generate Verilog"] + (["lint"] if args.lint else [])
    warnings = []
    with tqdm(total=len(steps), desc="rtl", file=sys.stderr, leave=False) as bar:
        bar.set_postfix_str(steps[0])
        with staged_outputs(args.out) as stage:
            staged = generate_layer_verilog(layer, params, stage.folder, args.name)
            write_json(staged.with_name(f"{args.name}.layer.json"), layer.to_json(), indent=1,
                       sort_keys=True)
        path = Path(args.out) / staged.name
        bar.update()
        if args.lint:
            bar.set_postfix_str("lint")
            warnings = lint(path)
            bar.update()
    print(f"{path} (+ .vlt, .layer.json): lanes {params.lanes}, mults {params.mults}, "
          f"sumpool {params.sumpool or 'none'}, {engine_cycles(layer, params)} cycles/image")
    for line in warnings:
        print(line)
    if args.lint:
        print(f"lint: {len(warnings)} warning(s) left")
    return 1 if warnings else 0
