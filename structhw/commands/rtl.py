"""``structhw rtl --layer C,N,c,n,Cout,H,W,stride,pad [--dense] [--seed S] [--lanes P]
[--mults T] [--sumpool tree|separable] --out DIR``: the Verilog of one layer engine with random
quantized weights (reproducible from the seed), its Verilator waivers and the layer's weights
as JSON, for inspection, lint and synthesis experiments."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError
from ..jsonfile import write_json

LAYER_FIELDS = ("C", "N", "c", "n", "Cout", "H", "W", "stride", "pad")
DEFAULT_MULTS = 18
"""Default multipliers per lane: min(c·n², this)."""


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
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--dilation", type=int, default=1, help="dilation (default 1)")
    parser.add_argument("--groups", type=int, default=1, help="groups; C for depthwise (default 1)")
    parser.add_argument("--no-relu", action="store_true", help="no fused ReLU (clamp at −128)")
    parser.add_argument("--lanes", type=int, default=1, help="output-channel lanes P (default 1)")
    parser.add_argument("--mults", type=int, default=None,
                        help=f"multipliers per lane T (default min(c·n², {DEFAULT_MULTS}))")
    parser.add_argument("--sumpool", choices=("tree", "separable"), default=None,
                        help="sum-pool microarchitecture (default: the cheaper by the cost model)")
    parser.add_argument("--name", default="layer_engine", help="top module name (default layer_engine)")
    parser.add_argument("--lint", action="store_true",
                        help="run verilator --lint-only -Wall; exit 1 if any warning remains")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
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


def build_layer_and_params(args):
    """The QuantLayer and EngineParams the arguments describe (every check, no file written)."""
    from ..rtl_gen.params import EngineParams
    from ..rtl_gen.random_layer import random_quant_layer
    from ..rtl_gen.sumpool import choose_sumpool_arch

    geom = parse_layer(args.layer)
    if args.dense:
        if geom["C"] % args.groups:
            raise ConfigError(f"--groups={args.groups} must divide C={geom['C']}")
        geom["c"], geom["n"] = geom["C"] // args.groups, geom["N"]
    layer = random_quant_layer(**geom, seed=args.seed, dilation=args.dilation, groups=args.groups,
                               relu=not args.no_relu, name="layer")
    mults = args.mults if args.mults is not None else min(layer.mults_per_output, DEFAULT_MULTS)
    if layer.is_dense:
        if args.sumpool is not None:
            raise ConfigError(f"--sumpool {args.sumpool}: a dense layer (c = C/groups, n = N) has "
                              f"no sum-pool")
        arch = None
    else:
        arch = args.sumpool or choose_sumpool_arch(layer)
    return layer, EngineParams(args.lanes, mults, arch)


def run(args) -> int:
    from ..rtl_gen.engine import check_engine, engine_cycles
    from ..rtl_gen.verilog import generate_layer_verilog, lint

    layer, params = build_layer_and_params(args)
    check_engine(layer, params)
    steps = ["generate Verilog"] + (["lint"] if args.lint else [])
    warnings = []
    with tqdm(total=len(steps), desc="rtl", file=sys.stderr, leave=False) as bar:
        bar.set_postfix_str(steps[0])
        path = generate_layer_verilog(layer, params, args.out, args.name)
        write_json(path.with_name(f"{args.name}.layer.json"), layer.to_json(), indent=1,
                   sort_keys=True)
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
