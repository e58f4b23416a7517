"""The ``structhw`` command line: one subcommand per stage, each in ``structhw.commands.<name>``.

A command module defines ``register(subparsers)`` which adds its parser and sets ``func`` to a
callable taking the parsed arguments and returning an exit code. Bad input (``ConfigError``,
a missing or unreadable file) becomes one line on stderr and exit code 2, never a traceback.
"""

import argparse
import importlib
import sys

from .errors import ConfigError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"structhw {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"structhw {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"structhw {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
