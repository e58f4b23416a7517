"""Board registry: the boards structhw builds for, by name, with their platforms and budgets.

Each entry says which amaranth-boards platform describes the board, which FPGA it carries, the
resources the accelerator may use there (:data:`structhw.budget.DEVICES`), the frequency of the
board's own oscillator, and how to program it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from structhw.budget import DEVICES, Budget
from structhw.errors import ConfigError


@dataclass(frozen=True)
class BoardInfo:
    """One supported board.

    Attributes
    ----------
    name : str
        The canonical board name (``ulx3s-85f``, …).
    platform_factory : callable
        Returns a fresh amaranth-boards platform instance for this board.
    device : str
        The FPGA's part name as :data:`structhw.budget.DEVICES` keys it (``LFE5U-85F``).
    budget : Budget
        Resources of that FPGA.
    clock_mhz : float
        Frequency of the board's oscillator in MHz (the PLL's input).
    default_mhz : float
        The clock ``structhw build`` and ``structhw report`` target when not told: on the ULX3S
        100 MHz from the PLL (the demo network reaches 106 MHz on the 85F in nextpnr's report),
        elsewhere the oscillator.
    family : str
        ``"ecp5"`` or ``"ice40"``.
    uart_note : str
        Where the host link's UART is on this board.
    programmer : str
        How to program the board, for people.
    openfpgaloader_board : str
        The board name ``openFPGALoader -b`` knows it by (``structhw flash``).
    default_model : str
        The shipped model (a key of :data:`structhw.checkpoint.SHIPPED_CHECKPOINTS`) that
        ``structhw build --board B`` builds when given no MODEL: the demo ``digits-cnn`` where it
        fits, ``digits-tiny`` on the ULX3S-12F and the iCEBreaker, where it does not.
    """

    name: str
    platform_factory: Callable
    device: str
    budget: Budget
    clock_mhz: float
    family: str
    uart_note: str
    programmer: str
    openfpgaloader_board: str
    default_mhz: float
    default_model: str = "digits-cnn"

    def platform(self):
        """A new amaranth-boards platform instance for this board."""
        return self.platform_factory()


def _ulx3s(variant: str) -> BoardInfo:
    def factory():
        from amaranth_boards import ulx3s
        return getattr(ulx3s, f"ULX3S_{variant}_Platform")()
    return BoardInfo(
        name=f"ulx3s-{variant.lower()}", platform_factory=factory, device=f"LFE5U-{variant}",
        budget=DEVICES[f"LFE5U-{variant}"], clock_mhz=25.0, family="ecp5",
        uart_note="the on-board FTDI FT231X (US1 USB port), /dev/ttyUSB0 on Linux",
        programmer="openFPGALoader -b ulx3s (JTAG through the on-board FTDI)",
        openfpgaloader_board="ulx3s", default_mhz=100.0,
        default_model="digits-tiny" if variant == "12F" else "digits-cnn",
    )


def _orangecrab_85f() -> BoardInfo:
    def factory():
        from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
        from amaranth.build import Attrs
        from amaranth_boards.resources import UARTResource
        platform = OrangeCrabR0_2_85FPlatform()
        platform.add_resources([UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                             attrs=Attrs(IO_TYPE="LVCMOS33"))])
        return platform
    return BoardInfo(
        name="orangecrab-85f", platform_factory=factory, device="LFE5U-85F",
        budget=DEVICES["LFE5U-85F"], clock_mhz=48.0, family="ecp5",
        uart_note="no on-board UART: a 3.3 V USB-UART adapter on header pins 0 (RX, into the FPGA) "
                  "and 1 (TX)",
        programmer="DFU bootloader: hold the button while plugging in, then "
                   "dfu-util -a 0 -D top.bit (openFPGALoader -b orangecrab also works over DFU)",
        openfpgaloader_board="orangecrab", default_mhz=48.0,
    )


def _icebreaker() -> BoardInfo:
    def factory():
        from amaranth_boards.icebreaker import ICEBreakerPlatform
        platform = ICEBreakerPlatform()
        platform.add_resources(platform.break_off_pmod)
        return platform
    return BoardInfo(
        name="icebreaker", platform_factory=factory, device="iCE40UP5K",
        budget=DEVICES["iCE40UP5K"], clock_mhz=12.0, family="ice40",
        uart_note="the on-board FT2232H's second channel, /dev/ttyUSB1 on Linux",
        programmer="openFPGALoader -b ice40_generic (or iceprog) writes the SPI flash",
        openfpgaloader_board="ice40_generic", default_mhz=12.0, default_model="digits-tiny",
    )


BOARDS: dict[str, BoardInfo] = {
    info.name: info
    for info in (_ulx3s("12F"), _ulx3s("25F"), _ulx3s("45F"), _ulx3s("85F"),
                 _orangecrab_85f(), _icebreaker())
}
ALIASES = {"ulx3s": "ulx3s-85f"}


def board_names() -> list[str]:
    """Every name :func:`get_board` accepts, aliases included, sorted."""
    return sorted([*BOARDS, *ALIASES])


def get_board(name: str) -> BoardInfo:
    """The board called ``name`` (case-insensitive; ``ulx3s`` is the 85F).

    Raises
    ------
    ConfigError
        For an unknown name, listing the known boards.
    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in BOARDS:
        raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(board_names())}")
    return BOARDS[key]


RESOURCES = ("lut4", "ff", "dsp", "ebr")


def shortfall(need: dict, budget: Budget) -> dict:
    """Resources in ``need`` (keys among lut4, ff, dsp, ebr; used counts) that exceed ``budget``,
    as ``{resource: (needed, available)}``; empty when everything fits."""
    return {key: (int(need[key]), getattr(budget, key))
            for key in RESOURCES if key in need and int(need[key]) > getattr(budget, key)}


def smallest_fitting(need: dict, family: str | None = None) -> BoardInfo | None:
    """The board with the smallest FPGA (fewest LUT4s) whose budget covers ``need``.

    Parameters
    ----------
    need : dict
        Used counts by resource (any of ``lut4``, ``ff``, ``dsp``, ``ebr``).
    family : str, optional
        Only consider boards of this FPGA family (``"ecp5"``, ``"ice40"``).

    Returns
    -------
    BoardInfo or None
        None when no known board is large enough.
    """
    candidates = [b for b in BOARDS.values() if family is None or b.family == family]
    for board in sorted(candidates, key=lambda b: (b.budget.lut4, b.name)):
        if not shortfall(need, board.budget):
            return board
    return None
