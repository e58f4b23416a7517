"""``structhw compile [MODEL] [--board B | --budget dsp=..,lut4=..,ebr=..] [--dense] --out DIR``:
plan the accelerator of a quantized model under a board's (or an explicit) budget, write
``DIR/plan.json`` and the Verilog of the whole network, and print the plan.

MODEL is anything :mod:`structhw.model_source` resolves (default the shipped demo model). A chain
of conv/linear layers gets plan.json version 1 and its Verilog; a graph network (residual adds,
pooling, shortcuts) gets plan.json version 2 and the Verilog of its graph accelerator.
Everything is written into a staging folder beside DIR and moved into place together
(:mod:`structhw.staging`), so a failure leaves DIR as it was; the Verilog files and plan.json
name each other's digests (:mod:`structhw.compiled`), which ``build`` and ``sim`` check when
given DIR.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tqdm import tqdm

from ..budget import Budget
from ..plan import BUDGET_RANGES
from ..compiled import PLAN_FILE, generated_names, write_compiled
from ..compiler import RESOURCES, HardwarePlan
from ..errors import ConfigError, check_output_dir, path_argument
from ..staging import staged_outputs
from .graph_table import format_graph_plan
from .model_args import add_model_arguments, is_file_model, model_source

DEFAULT_BOARD = "ulx3s-85f"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="plan the accelerator and write plan.json + Verilog",
        description="Balance one layer engine per layer under a board's DSP/LUT/BRAM budget, "
        "write DIR/plan.json and the Verilog of the whole network (image stream in, logits out), "
        "and print the plan.",
    )
    add_model_arguments(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--board", default=None,
                        help=f"board whose FPGA sets the budget (default {DEFAULT_BOARD})")
    target.add_argument("--budget", default=None, metavar="dsp=N,lut4=N,ebr=N[,ff=N]",
                        help="explicit budget (ECP5 18-kbit EBRs, 18×18 multipliers)")
    parser.add_argument("--dense", action="store_true",
                        help="the dense baseline (no sum-pool): a checkpoint's dense model, or a "
                        "zoo / .py model given --preset without its decomposition")
    parser.add_argument("--out", required=True, type=path_argument, metavar="DIR", help="output folder")
    parser.add_argument("--no-verilog", action="store_true", help="write plan.json only")
    parser.set_defaults(func=run)


BUDGET_ENTRY = re.compile(r"(lut4|ff|dsp|ebr)=[0-9]+")


def resolve_budget(board: str | None, budget: str | None) -> tuple[Budget, str]:
    """The budget and a name for it, from ``--budget`` text or a board name (default board)."""
    if budget is not None:
        seen = set()
        for part in (p.strip() for p in budget.split(",")):
            if not BUDGET_ENTRY.fullmatch(part):
                raise ConfigError(f"--budget entry {part!r}: expected lut4=N, ff=N, dsp=N or "
                                  f"ebr=N with N a decimal number (0-9), entries separated by "
                                  f"one comma")
            key = part.partition("=")[0].strip()
            if key in seen:
                raise ConfigError(f"--budget gives {key} twice ({budget!r})")
            seen.add(key)
        parsed = Budget.parse(budget)
        for key, (low, high) in BUDGET_RANGES.items():
            if not low <= getattr(parsed, key) <= high:
                raise ConfigError(f"--budget {key} must be between {low} and {high}, got "
                                  f"{getattr(parsed, key)}")
        return parsed, "custom budget"
    from structhw.boards.registry import get_board
    info = get_board(board or DEFAULT_BOARD)
    return info.budget, info.name


def check_model(model: str | None, graphs: bool = False) -> None:
    """Refuse a MODEL that does not exist, and read a checkpoint's or qnet file's format, before
    anything is quantized or planned; a graph network's qnet file only with ``graphs``."""
    if model is None:
        return
    if not Path(model).exists():
        hint = "" if is_file_model(model) else (
            "; this command takes a checkpoint or *.qnet.json: quantize a zoo or .py model with "
            "structhw quantize MODEL --out F.qnet.json first")
        raise ConfigError(f"model {model!r} does not exist{hint}")
    if str(model).endswith(".qnet.json"):
        if graphs:
            from ..graph.quant_graph import load_graph
            check_graph_sizes(load_graph(model), str(model))
        else:
            load_qnet_file(model)
    else:
        from ..checkpoint import load_checkpoint
        load_checkpoint(model)


def check_graph_sizes(graph, where: str) -> None:
    """Every conv/linear layer of ``graph`` within the size limits of the cycle and resource
    models."""
    from ..size_limits import check_layer_size

    for op in graph.nodes:
        layer = getattr(op, "layer", None)
        if layer is not None:
            check_layer_size(f"layer {layer.name!r} of {where}", C=layer.in_channels, c=layer.c,
                             n=layer.n, Cout=layer.out_channels, H=layer.in_height,
                             W=layer.in_width, pad=layer.padding)


def load_qnet_file(path):
    """A ``*.qnet.json`` (version 1, or a version-2 chain) as a :class:`QuantNet`, every layer
    within the size limits of the cycle and resource models."""
    from ..graph.quant_graph import load_graph

    graph = load_graph(path)
    check_graph_sizes(graph, str(path))
    if not graph.is_chain():
        raise ConfigError(f"{path}: a graph network (residual adds, pooling, shortcuts); this "
                          f"command takes chains of conv/linear layers for now: graph networks "
                          f"go through structhw compile and structhw sim")
    return graph.to_qnet()


def load_model(model: str | None, dense: bool):
    """A :class:`QuantNet` from a ``*.qnet.json`` file, or by quantizing a checkpoint."""
    if model is not None and str(model).endswith(".qnet.json"):
        return load_qnet_file(model)
    if model is not None and not Path(model).exists():
        raise ConfigError(f"model {model!r} does not exist; zoo and .py models go through "
                          f"structhw quantize MODEL --out F.qnet.json first")
    from ..quant import quantize_checkpoint
    qnet, _metrics = quantize_checkpoint(model, dense=dense)
    return qnet


def format_plan(plan: HardwarePlan) -> str:
    """The plan as an aligned text table: one row per layer, then totals against the budget."""
    head = ("layer", "kind", "C", "N", "c", "n", "Cout", "P", "T", "sumpool", "cycles/img",
            "DSP", "LUT4")
    rows = [head]
    for stage, layer in zip(plan.stages, plan.qnet.layers):
        rows.append((
            ("⊣ " if stage.flatten_before else "") + layer.name, layer.kind,
            str(layer.in_channels), str(layer.kernel), str(layer.c), str(layer.n),
            str(layer.out_channels), str(stage.params.lanes), str(stage.params.mults),
            stage.params.sumpool or "-", str(stage.cycles), str(stage.cost.dsp),
            str(stage.cost.lut4)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 2 or i == 9 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    total, have = plan.totals, plan.budget
    avail = {"lut4": have.lut4, "ff": have.ff, "dsp": have.dsp, "bram_bits": have.bram_bits}
    lines.append("")
    lines.append("resources (estimate) " + ", ".join(
        f"{k} {getattr(total, k)}/{avail[k]} ({100 * getattr(total, k) / max(avail[k], 1):.0f}%)"
        for k in RESOURCES))
    lines.append(f"FIFOs and Flatten: {plan.overhead.lut4} LUT4, {plan.overhead.ff} FF"
                 + ("; ⊣ = Flatten in front" if any(s.flatten_before for s in plan.stages) else ""))
    lines.append(f"bottleneck {plan.bottleneck.layer}: {plan.cycles_per_image} cycles/image "
                 f"(throughput ≤ {plan.throughput:.3g} images/cycle), latency ≤ "
                 f"{plan.latency_cycles} cycles")
    return "\n".join(lines)


def quantized_graph(args, source=None):
    """(graph, name) of MODEL with ``args``' options, sizes checked; ``source``: MODEL already
    resolved (:func:`~structhw.commands.model_args.model_source`)."""
    from ..graph.pipeline import quantize_source

    source = source if source is not None else model_source(args)
    if source.graph is not None and args.data is not None:
        raise ConfigError("--data calibrates zoo and .py models; a qnet file is already "
                          "quantized and used as it is")
    graph, _ = quantize_source(source, data=args.data, dense=args.dense)
    check_graph_sizes(graph, source.name)
    return graph, graph.metadata.get("name", source.name)


def write_outputs(plan, out: Path, target: str, verilog: bool) -> list:
    """Write plan.json and (with ``verilog``) the Verilog into ``out`` all or nothing; returns
    the paths written, plan.json first. Verilog of an earlier compile that this one does not
    write is removed."""
    if verilog:
        from ..size_limits import check_fits_some_board
        check_fits_some_board(plan.totals, f"the plan under the {target}")
    with staged_outputs(out, last=(PLAN_FILE,), remove=generated_names()) as stage:
        names = write_compiled(plan, stage.folder, verilog=verilog)
    return [out / name for name in names]


def run(args) -> int:
    from ..graph.pipeline import plan_graph
    from ..graph.plan import GraphPlan

    budget, target = resolve_budget(args.board, args.budget)
    out = check_output_dir(args.out)
    check_model(args.model, graphs=True) if is_file_model(args.model) else None
    steps = ["quantize", "plan"] + ([] if args.no_verilog else ["verilog"]) + ["save"]
    with tqdm(total=len(steps), desc="compile", unit="step", file=sys.stderr, leave=False,
              disable=None) as bar:
        bar.set_postfix_str(steps[0])
        graph, name = quantized_graph(args)
        bar.update()
        bar.set_postfix_str("plan")
        plan = plan_graph(graph, budget, dense=args.dense, target=target)
        bar.update()
        bar.set_postfix_str("verilog and save" if not args.no_verilog else "save")
        written = write_outputs(plan, out, target, verilog=not args.no_verilog)
        bar.update(len(steps) - 2)
    variant = "dense baseline" if args.dense else "structured"
    print(f"{name} ({variant}) on {target}")
    print(format_graph_plan(plan) if isinstance(plan, GraphPlan) else format_plan(plan))
    for path in written:
        print(f"wrote {path}")
    return 0
