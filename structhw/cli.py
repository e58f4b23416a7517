"""The ``structhw`` command line: one subcommand per stage, each in ``structhw.commands.<name>``.

A command module defines ``register(subparsers)`` which adds its parser and sets ``func`` to a
callable taking the parsed arguments and returning an exit code. Bad input — a ``ConfigError``,
an argument the parser refuses, any ``OSError`` (a missing, unreadable or unwritable path) —
becomes one line on stderr and exit code 2, never a traceback. A tool failing for a reason
outside the input (``ToolFailure``) or running out of memory is one line and exit code 1.
"""

import argparse
import importlib
import sys

from .errors import ConfigError, ToolFailure

COMMANDS = (
    "count",
    "train",
    "quantize",
    "rtl",
    "compile",
    "sim",
    "build",
    "flash",
    "run",
    "report",
)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``PROG: error: MESSAGE (see PROG -h)``)
    instead of the usage text followed by the message."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="structhw",
        description="PyTorch CNN → structured-convolution FPGA accelerator.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = f"structhw.commands.{name}"
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return parser


def one_line(text) -> str:
    """``text`` with its lines joined by "; " (a message is printed as exactly one line)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def describe_os_error(exc: OSError) -> str:
    """``PATH: REASON`` (both paths for a rename or copy) from an ``OSError``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' → '.join(paths)}: {reason}" if paths else reason


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    if extra:
        print(f"structhw {args.command}: error: unrecognized arguments: {' '.join(extra)} "
              f"(see structhw {args.command} -h)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"structhw {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"structhw {args.command}: error: {one_line(describe_os_error(exc))}",
              file=sys.stderr)
        return 2
    except ToolFailure as exc:
        print(f"structhw {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"structhw {args.command}: error: out of memory (the machine's or a ulimit's "
              f"limit was reached)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"structhw {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
