"""``structhw build [MODEL] --board B [--out DIR] [--dense] [--target-mhz F]``: the whole flow from a
model to a bitstream — quantize, plan under the board's budget, generate the network, wrap it in the
board top (PLL, UART host link, LEDs), synthesize with yosys, place and route with nextpnr, pack.

Writes ``DIR/plan.json``, ``DIR/top.bit`` (iCE40: ``top.bin``), ``DIR/report.json`` (nextpnr's own
utilisation and Fmax), ``DIR/build.log``, ``DIR/nextpnr.log`` and ``DIR/nextpnr-report.json``, all
or nothing (:mod:`structhw.staging`): a build that fails (a tool error, the design does not fit,
timing missed) leaves ``DIR`` as it was and its own plan, report and logs in ``DIR-failed``
(:func:`failed_dir`), which the next successful build removes.

MODEL is anything ``structhw compile`` takes (a zoo name, a checkpoint, a ``*.qnet.json``, a
``file.py:callable``, with ``--preset/--input-shape/--weights/--data``): a checkpoint or chain
qnet file is planned as a chain (plan.json version 1), the others as ``compile`` plans them
(a graph plan, version 2, when the chain does not fit). MODEL may also be a ``structhw compile`` output folder (or its plan.json): its plan is built as it
is, after its Verilog files and plan.json have been checked against each other
(:func:`structhw.compiled.load_compiled`); a mismatch is refused before any tool runs.
Without MODEL the board's default model is built (``BoardInfo.default_model``: the demo
``digits-cnn``, or ``digits-tiny`` on the boards the demo does not fit).
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

from ..board_plan import plan_for_board
from ..checkpoint import shipped_checkpoint_path
from ..compiled import is_compiled
from ..errors import ConfigError, check_output_dir, path_argument
from .compile import check_model, format_plan, load_model, quantized_graph
from .graph_table import format_graph_plan
from .model_args import (add_model_arguments, is_file_model, is_graph_file, model_source,
                         refuse_model_options)

DEFAULT_BOARD = "ulx3s"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="model → bitstream with nextpnr's utilisation/Fmax report",
        description="Quantize the model, plan the accelerator under the board's budget, wrap it "
        "in the board top (PLL, UART host link, LEDs) and build the bitstream with yosys/nextpnr "
        "(YoWASP from PyPI unless YOSYS/NEXTPNR_*/... are set).",
    )
    add_model_arguments(parser, help="zoo name, shipped model (digits-cnn-A, …), training "
                        "checkpoint, *.qnet.json, "
                        "path/to/file.py:callable or a structhw compile output folder "
                        "(default: the board's shipped model, digits-cnn or, on the ULX3S-12F and "
                        "iCEBreaker, digits-tiny)")
    parser.add_argument("--board", default=DEFAULT_BOARD,
                        help=f"target board (default {DEFAULT_BOARD}; see the list on a wrong name)")
    parser.add_argument("--out", type=path_argument, default=None, metavar="DIR",
                        help="output folder (default build/BOARD[-dense])")
    parser.add_argument("--dense", action="store_true",
                        help="build the dense baseline (no sum-pool) of the same model")
    parser.add_argument("--target-mhz", type=float, default=None, metavar="F",
                        help="clock target; ECP5 boards reach it with a PLL (default: the board's "
                        "default_mhz: 100 MHz from the PLL on ULX3S, the oscillator elsewhere); "
                        "the report gives the Fmax reached")
    parser.set_defaults(func=run)


def check_clock(board, target_mhz: float | None) -> float:
    """The clock target for ``board`` (its default when None); refused unless it is a finite
    frequency > 0 that the board's clocking (the ECP5 PLL, or the oscillator) can make."""
    from structhw.boards.top import clock_plan

    if target_mhz is not None and not (math.isfinite(target_mhz) and target_mhz > 0):
        raise ConfigError(f"--target-mhz must be a finite frequency > 0, got {target_mhz:g}")
    target = target_mhz if target_mhz is not None else board.default_mhz
    clock_plan(board, target)
    return target


def compiled_plan(model, board, dense: bool):
    """The plan in the compile output folder ``model``, its Verilog checked against it,
    planned for ``board``; ConfigError otherwise."""
    from ..compiled import load_compiled

    if dense:
        raise ConfigError(f"--dense: {model} holds a finished plan; compile the dense baseline "
                          f"with structhw compile --dense and build that folder")
    plan = load_compiled(model)
    if plan.target != board.name:
        raise ConfigError(f"{model}: planned for {plan.target}, not {board.name}; compile it "
                          f"with --board {board.name}, or build with --board {plan.target}")
    return plan


def _save_plan(plan, model, out: Path, folder: Path) -> None:
    """``folder/plan.json`` (the staging folder of ``out``), unless ``out`` is the compile
    folder ``model`` it came from (whose plan.json, with its Verilog digests, stays as it is)."""
    from ..compiled import PLAN_FILE

    if model is not None and is_compiled(model):
        source = Path(model) if Path(model).is_dir() else Path(model).parent
        if source.resolve() == out.resolve():
            return
    plan.save(folder / PLAN_FILE)


def _model_plan(args, board):
    """The plan of a MODEL that is not a compile folder: a checkpoint or chain qnet file as a
    chain (the board-verified path), anything else quantized and planned as ``compile`` does."""
    from ..errors import ResourceError
    from ..graph.pipeline import plan_graph

    if is_file_model(args.model) and not is_graph_file(args.model):
        refuse_model_options(args, "a checkpoint or chain qnet file")
        check_model(args.model)
        print(f"[1/3] quantize {'(dense baseline)' if args.dense else ''}".rstrip(),
              file=sys.stderr)
        qnet = load_model(args.model, args.dense)
        print(f"[2/3] plan for {board.name}", file=sys.stderr)
        return plan_for_board(qnet, board, args.dense)
    source = model_source(args)
    print(f"[1/3] trace and quantize {args.model}", file=sys.stderr)
    graph, _ = quantized_graph(args, source)
    print(f"[2/3] plan for {board.name}", file=sys.stderr)
    try:
        return plan_graph(graph, board.budget, dense=args.dense, target=board.name)
    except ResourceError as exc:
        raise ConfigError(f"{board.name}: {exc}") from None


FAILED_SUFFIX = "-failed"
"""Suffix of the folder beside ``--out`` that keeps a failed build's plan, report and logs."""


def failed_dir(out: Path) -> Path:
    """Where a failed build into ``out`` leaves its files (``out`` itself is left as it was)."""
    out = Path(out).resolve()
    return out.parent / (out.name + FAILED_SUFFIX)


def _stale_outputs() -> tuple:
    """Files an earlier build may have left in ``--out`` that this build replaces or no longer
    makes (its own files are replaced anyway)."""
    from structhw.boards.build import BITSTREAM_SUFFIX, NEXTPNR_REPORT, YOSYS_LOG

    return (NEXTPNR_REPORT, YOSYS_LOG) + tuple(f"top{s}" for s in BITSTREAM_SUFFIX.values())


def run(args) -> int:
    from structhw.boards.flow import build_board
    from structhw.boards.registry import get_board
    from structhw.graph.plan import GraphPlan
    from structhw.rtl_gen.graph_network import accelerator

    from ..staging import staged_outputs

    board = get_board(args.board)
    target_mhz = check_clock(board, args.target_mhz)
    out = check_output_dir(args.out or Path("build") / (board.name + ("-dense" if args.dense else "")))
    check_output_dir(failed_dir(out))
    if args.model is None:
        args.model = str(shipped_checkpoint_path(board.default_model))
        print(f"model: {board.name}'s default, {Path(args.model).name}", file=sys.stderr)
    if is_compiled(args.model):
        refuse_model_options(args, "a compile folder")
        plan = compiled_plan(args.model, board, args.dense)
        print(f"[1-2/3] plan from {args.model}", file=sys.stderr)
    else:
        plan = _model_plan(args, board)
    print(format_graph_plan(plan) if isinstance(plan, GraphPlan) else format_plan(plan),
          file=sys.stderr)
    print("[3/3] bitstream (yosys → nextpnr → pack)", file=sys.stderr)
    with staged_outputs(out, remove=_stale_outputs()) as stage:
        _save_plan(plan, args.model, out, stage.folder)
        try:
            report = build_board(board.name, lambda: accelerator(plan), stage.folder, target_mhz,
                                 image_shape=plan.input_shape)
        except ConfigError as exc:
            kept = stage.keep_as(failed_dir(out))
            raise ConfigError(f"{exc} ({out} is as it was; this build's plan, report and logs "
                              f"are in {kept})") from None
    shutil.rmtree(failed_dir(out), ignore_errors=True)
    print(report.table())
    bitstream = out / Path(report.bitstream).name if report.bitstream else None
    print(f"wrote {bitstream}" if bitstream else f"wrote {out}")
    return 0
