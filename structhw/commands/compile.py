"""``structhw compile [MODEL] [--board B | --budget dsp=..,lut4=..,ebr=..] [--dense] --out DIR``:
plan the accelerator of a quantized model under a board's (or an explicit) budget, write
``DIR/plan.json`` and the Verilog of the whole network, and print the per-layer plan.

MODEL is a training checkpoint (quantized here; default the shipped demo model) or a
``*.qnet.json`` file. The Verilog is written before ``plan.json``, so a failure while generating
it leaves no new ``plan.json`` behind.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tqdm import tqdm

from ..budget import Budget
from ..compiler import RESOURCES, HardwarePlan, compile_plan
from ..errors import ConfigError, check_output_dir

DEFAULT_BOARD = "ulx3s-85f"
TOP_NAME = "structhw_network"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="plan the accelerator and write plan.json + Verilog",
        description="Balance one layer engine per layer under a board's DSP/LUT/BRAM budget, "
        "write DIR/plan.json and the Verilog of the whole network (image stream in, logits out), "
        "and print the plan.",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", default=None,
                        help="training checkpoint or *.qnet.json (default: the shipped demo model)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--board", default=None,
                        help=f"board whose FPGA sets the budget (default {DEFAULT_BOARD})")
    target.add_argument("--budget", default=None, metavar="dsp=N,lut4=N,ebr=N[,ff=N]",
                        help="explicit budget (ECP5 18-kbit EBRs, 18×18 multipliers)")
    parser.add_argument("--dense", action="store_true",
                        help="the dense baseline (no sum-pool): quantize the checkpoint's dense model")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--no-verilog", action="store_true", help="write plan.json only")
    parser.set_defaults(func=run)


BUDGET_ENTRY = re.compile(r"(lut4|ff|dsp|ebr)=[0-9]+")


def resolve_budget(board: str | None, budget: str | None) -> tuple[Budget, str]:
    """The budget and a name for it, from ``--budget`` text or a board name (default board)."""
    if budget is not None:
        for part in filter(None, (p.strip() for p in budget.split(","))):
            if not BUDGET_ENTRY.fullmatch(part):
                raise ConfigError(f"--budget entry {part!r}: expected lut4=N, ff=N, dsp=N or "
                                  f"ebr=N with N a decimal number (0-9)")
        return Budget.parse(budget), "custom budget"
    from structhw.boards.registry import get_board
    info = get_board(board or DEFAULT_BOARD)
    return info.budget, info.name


def check_model(model: str | None) -> None:
    """Refuse a MODEL that does not exist, and read a checkpoint's or qnet file's format, before
    anything is quantized or planned."""
    if model is None:
        return
    if not Path(model).exists():
        raise ConfigError(f"model {model!r} does not exist")
    if str(model).endswith(".qnet.json"):
        load_qnet_file(model)
    else:
        from ..checkpoint import load_checkpoint
        load_checkpoint(model)


def load_qnet_file(path):
    """A ``*.qnet.json`` as a :class:`QuantNet`, its metadata an object and every layer within
    the size limits of the cycle and resource models."""
    from ..qnet import load
    from .rtl import check_layer_size

    qnet = load(path)
    if not isinstance(qnet.metadata, dict):
        raise ConfigError(f"{path}: 'metadata' must be an object, got "
                          f"{type(qnet.metadata).__name__}")
    for layer in qnet.layers:
        check_layer_size(f"layer {layer.name!r} of {path}", C=layer.in_channels, c=layer.c, n=layer.n,
                         Cout=layer.out_channels, H=layer.in_height, W=layer.in_width,
                         pad=layer.padding)
    return qnet


def load_model(model: str | None, dense: bool):
    """A :class:`QuantNet` from a ``*.qnet.json`` file, or by quantizing a checkpoint."""
    if model is not None and str(model).endswith(".qnet.json"):
        return load_qnet_file(model)
    if model is not None and not Path(model).exists():
        raise ConfigError(f"model {model!r} does not exist")
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


def run(args) -> int:
    budget, target = resolve_budget(args.board, args.budget)
    out = check_output_dir(args.out)
    check_model(args.model)
    steps = ["quantize" if not str(args.model or "").endswith(".qnet.json") else "load",
             "plan"] + ([] if args.no_verilog else ["verilog"]) + ["save"]
    with tqdm(total=len(steps), desc="compile", unit="step", file=sys.stderr, leave=False,
              disable=None) as bar:
        bar.set_postfix_str(steps[0])
        qnet = load_model(args.model, args.dense)
        bar.update()
        bar.set_postfix_str("plan")
        plan = compile_plan(qnet, budget, dense=args.dense, target=target)
        name = qnet.metadata.get("name", args.model or "demo model")
        bar.update()
        out.mkdir(parents=True, exist_ok=True)
        written = []
        if not args.no_verilog:
            from .rtl import check_fits_some_board
            check_fits_some_board(plan.totals, f"the plan under the {target}")
            bar.set_postfix_str("verilog")
            from structhw.rtl_gen.network import Network
            from structhw.rtl_gen.verilog import simulation_sources, write_verilog
            verilog = Path(write_verilog(Network(plan), out, TOP_NAME))
            written += simulation_sources(verilog)
            bar.update()
        bar.set_postfix_str("save")
        written.insert(0, plan.save(out / "plan.json"))
        bar.update()
    variant = "dense baseline" if args.dense else "structured"
    print(f"{name} ({variant}) on {target}")
    print(format_plan(plan))
    for path in written:
        print(f"wrote {path}")
    return 0
