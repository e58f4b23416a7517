"""``structhw report [MODEL] --board B --out DIR [--images N] [--no-build]``: the structured and the
dense accelerator of the same model, measured side by side.

Builds (or reuses cached builds of) three accelerators on the board — structured at maximum
throughput, structured planned for the dense plan's cycles/image under the fewest DSPs, and dense
— simulates them on the test images, builds and synthesizes the structured plan with each
sum-pool arch, and writes ``DIR/report.md``, ``DIR/report.json`` and PNG plots. Prints the
targets with PASS/FAIL and the comparisons shown for information. Exit code 0 when every figure
was measured and every target passes; 1 when a figure is missing (the report still holds the
rest, and the reason) or a target fails; 2 on bad input.
"""

from __future__ import annotations

import shutil
import sys

from ..errors import ConfigError, check_output_dir, path_argument
from ..model_source import parse_shape
from .model_args import add_model_arguments

DEFAULT_BOARD = "ulx3s"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="structured vs dense, measured side by side",
        description="Build (or reuse cached builds of) the structured accelerator (at maximum "
        "throughput, and at the dense one's throughput with the fewest DSPs) and the dense "
        "accelerator of one model, simulate them, and write DIR/report.md, DIR/report.json and "
        "plots: accuracy, nextpnr resources and Fmax, throughput, complexity, and the targets.",
    )
    add_model_arguments(parser, "training checkpoint (default: the shipped demo model; shipped "
                        "models by name: digits-cnn-A, …), a zoo "
                        "or path/to/file.py:callable model with --preset A|B (its undecomposed "
                        "self is the dense baseline), a *.qnet.json (structured side only) or a "
                        "structhw compile output folder for --board (structured side only: its "
                        "plan, simulated from its own Verilog)")
    parser.add_argument("--board", default=DEFAULT_BOARD, help=f"target board (default {DEFAULT_BOARD})")
    parser.add_argument("--out", type=path_argument, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--images", type=int, default=None, metavar="N",
                        help="test images to simulate (default: the whole test split, 360 "
                        "digits)")
    parser.add_argument("--no-build", action="store_true",
                        help="use cached builds and syntheses only; what is not cached is missing")
    parser.add_argument("--target-mhz", type=float, default=None, metavar="F",
                        help="clock target of the builds; ECP5 boards reach it with a PLL "
                        "(default: the board's default_mhz, as structhw build: 100 MHz on ULX3S)")
    parser.add_argument("--no-sumpool-synth", action="store_true",
                        help="skip the adder-tree vs separable comparison (a board build of "
                        "the structured plan with the other sum-pool arch, two syntheses)")
    parser.set_defaults(func=run)


def check_arguments(args):
    """Every check on the arguments before anything is measured or written: the board and its
    clock, the model (its file read, a float model traced), its options and data set, the image
    count and the output folder; returns the report's source
    (:func:`structhw.report.pick_source.model_source`). Bad input is exit 2 with nothing written;
    exit 1 is kept for a report that was measured but misses a target."""
    from structhw.boards.registry import get_board

    from ..compiled import is_compiled
    from ..datasets import parse_data
    from ..report.pick_source import model_source
    from .build import check_clock
    from .compile import check_model

    board = get_board(args.board)
    check_clock(board, args.target_mhz)
    if args.model is not None and not is_compiled(args.model) and \
            str(args.model).endswith((".pt", ".qnet.json")):
        check_model(args.model, graphs=True)
    source = model_source(args.model, board.name, data=args.data, preset=args.preset,
                          input_shape=parse_shape(args.input_shape) if args.input_shape else None,
                          weights=args.weights)
    available = parse_data(source.data).test_size
    if args.images is not None and not 2 <= args.images <= available:
        raise ConfigError(f"--images must be between 2 (cycles per image are measured on "
                          f"back-to-back images) and {available} (the {source.data} test "
                          f"split), got {args.images}")
    check_output_dir(args.out)
    return source


def run(args) -> int:
    from ..report import collect_report, exit_code, write_report

    source = check_arguments(args)
    new_out = not args.out.exists()
    try:
        report = collect_report(source, args.board, args.out, images=args.images,
                                build=not args.no_build, target_mhz=args.target_mhz,
                                sumpool_synth=not args.no_sumpool_synth)
        paths = write_report(report, args.out)
    except BaseException:
        if new_out:
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    for target in report["targets"]:
        value = target["value"]
        shown = value if isinstance(value, str) or value is None else f"{value:.3f}"
        print(f"{target['status']:<8}{target['name']}: {shown} (limit {target['limit']})")
    for row in report["info"]:
        shown = "—" if row["value"] is None else f"{row['value']:.3f}"
        print(f"{'INFO':<8}{row['name']}: {shown}")
    for what, reason in sorted(report["missing"].items()):
        print(f"MISSING {what}: {reason}", file=sys.stderr)
    print(f"wrote {paths[1]}")
    return exit_code(report)
