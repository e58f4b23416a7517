"""The ``structhw`` command line: one subcommand per stage, each in ``structhw.commands.<name>``.

A command module defines ``register(subparsers)`` which adds its parser and sets ``func`` to a
callable taking the parsed arguments and returning an exit code. Bad input — a ``ConfigError``,
an argument the parser refuses, any ``OSError`` (a missing, unreadable or unwritable path) —
becomes one line on stderr and exit code 2, never a traceback. A tool failing for a reason
outside the input (``ToolFailure``) or running out of memory is one line and exit code 1.
Ctrl-C (SIGINT) and SIGTERM unwind the command like an exception, so that its staging folders
and child processes are cleaned up, then print one line: exit codes 130 and 143. The executable
prints a command's Python warnings after it, one line each, and only when it did not fail.
"""

import argparse
import contextlib
import importlib
import signal
import sys
import threading
import warnings

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


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM while a command runs (SIGINT raises :class:`KeyboardInterrupt`)."""


def _interrupt(signum, frame):
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def signals_unwind():
    """Within the block, SIGINT and SIGTERM raise (:func:`_interrupt`); after the first, both
    are ignored while the command cleans up (a second Ctrl-C would break off the cleanup).
    A signal ignored when structhw started (a shell's background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sig, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(sig, _interrupt)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv=None, *, warnings_as_lines: bool = False) -> int:
    """Run one command; returns its exit code (see the module docstring). Signals unwind from
    the start, while the command modules are imported too (``structhw: interrupted``).

    ``warnings_as_lines`` (the executable's setting): the Python warnings the command emits, under
    the caller's warning filters, are held and printed after it returns, one line each
    (``structhw CMD: warning: …``); a command that fails prints its one error line alone."""
    command = "structhw"
    held = warnings.catch_warnings(record=True) if warnings_as_lines else contextlib.nullcontext([])
    try:
        with signals_unwind(), held as caught:
            parser = build_parser()
            try:
                args, extra = parser.parse_known_args(argv)
            except SystemExit as exc:
                return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            command = f"structhw {args.command}"
            if extra:
                print(f"{command}: error: unrecognized arguments: {' '.join(extra)} "
                      f"(see {command} -h)", file=sys.stderr)
                return 2
            code = int(args.func(args) or 0)
        for warning in caught:
            print(f"{command}: warning: {one_line(warning.message)}", file=sys.stderr)
        return code
    except ConfigError as exc:
        print(f"{command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{command}: error: {one_line(describe_os_error(exc))}", file=sys.stderr)
        return 2
    except ToolFailure as exc:
        print(f"{command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{command}: error: out of memory (the machine's or a ulimit's limit was "
              f"reached)", file=sys.stderr)
        return 1
    except Terminated:
        print(f"{command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``structhw`` executable: :func:`main` with warnings as lines; after an interrupted
    command, a late SIGINT or SIGTERM (a second Ctrl-C) is ignored while the interpreter exits,
    so the exit code stays."""
    code = main(warnings_as_lines=True)
    if code in (130, 143):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(console_main())
