"""``structhw build [MODEL] --board B [--out DIR] [--dense] [--target-mhz F]``: the whole flow from a
model to a bitstream — quantize, plan under the board's budget, generate the network, wrap it in the
board top (PLL, UART host link, LEDs), synthesize with yosys, place and route with nextpnr, pack.

Writes ``DIR/plan.json``, ``DIR/top.bit`` (iCE40: ``top.bin``), ``DIR/report.json`` (nextpnr's own
utilisation and Fmax) and ``DIR/build.log``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..board_plan import plan_for_board
from ..errors import ConfigError, check_output_dir
from .compile import check_model, format_plan, load_model

DEFAULT_BOARD = "ulx3s"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="model → bitstream with nextpnr's utilisation/Fmax report",
        description="Quantize the model, plan the accelerator under the board's budget, wrap it "
        "in the board top (PLL, UART host link, LEDs) and build the bitstream with yosys/nextpnr "
        "(YoWASP from PyPI unless YOSYS/NEXTPNR_*/... are set).",
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", default=None,
                        help="training checkpoint or *.qnet.json (default: the shipped demo model)")
    parser.add_argument("--board", default=DEFAULT_BOARD,
                        help=f"target board (default {DEFAULT_BOARD}; see the list on a wrong name)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
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


def run(args) -> int:
    from structhw.boards.flow import build_board
    from structhw.boards.registry import get_board
    from structhw.rtl_gen.network import Network

    board = get_board(args.board)
    target_mhz = check_clock(board, args.target_mhz)
    out = check_output_dir(args.out or Path("build") / (board.name + ("-dense" if args.dense else "")))
    check_model(args.model)

    print(f"[1/3] quantize {'(dense baseline)' if args.dense else ''}".rstrip(), file=sys.stderr)
    qnet = load_model(args.model, args.dense)
    print(f"[2/3] plan for {board.name}", file=sys.stderr)
    plan = plan_for_board(qnet, board, args.dense)
    out.mkdir(parents=True, exist_ok=True)
    plan.save(out / "plan.json")
    print(format_plan(plan), file=sys.stderr)
    print("[3/3] bitstream (yosys → nextpnr → pack)", file=sys.stderr)
    report = build_board(board.name, lambda: Network(plan), out, target_mhz,
                         image_shape=qnet.input_shape)
    print(report.table())
    print(f"wrote {report.bitstream}" if getattr(report, "bitstream", None) else f"wrote {out}")
    return 0
