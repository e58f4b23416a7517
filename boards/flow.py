"""The board flow in one call: board top around an accelerator → bitstream + report.json."""

import sys

from .build import BuildReport, build_bitstream, design_digest
from .registry import get_board
from .top import DEFAULT_BAUD, BoardTop


def build_board(board_name: str, accelerator_factory, out_dir, target_mhz: float | None = None, *,
                image_shape=None, baud: int = DEFAULT_BAUD, print_table: bool = False,
                tool_options: dict | None = None) -> BuildReport:
    """Wrap the accelerator in :class:`BoardTop` for ``board_name`` and build it into ``out_dir``.

    Parameters
    ----------
    board_name : str
        A name from :func:`structhw.boards.registry.board_names`.
    accelerator_factory : callable
        Returns a new accelerator component (ports ``i``/``o``).
    out_dir : path
        Receives ``top.bit`` (iCE40: ``top.bin``), ``report.json``, ``build.log``.
    target_mhz : float, optional
        Clock target (made by the PLL on ECP5 boards); default the board's oscillator.
    image_shape : tuple, optional
        (C, H, W) of an input image when the accelerator does not carry it.
    baud : int
        Host-link UART rate.
    print_table : bool
        Also print :meth:`BuildReport.table` (used/total per resource, Fmax) on stderr.
    tool_options : dict, optional
        Extra Amaranth build overrides, e.g. ``{"synth_opts": "-noabc9"}`` (see
        :func:`structhw.boards.build.build_bitstream`).

    Raises
    ------
    ConfigError
        Unknown board, unreachable clock, design does not fit, timing missed, tool failure.
    """
    board = get_board(board_name)
    top = BoardTop(board, accelerator_factory, target_mhz=target_mhz, image_shape=image_shape,
                   baud=baud)
    clock = f"{top.clock_mhz:g} MHz " + (f"from EHXPLLL ({board.clock_mhz:g} MHz board clock)"
                                         if top.pll else "(board clock)")
    report = build_bitstream(board, top, out_dir, target_mhz=top.clock_mhz, clock=clock,
                             tool_options=tool_options)
    if print_table:
        print(report.table(), file=sys.stderr)
    return report


def board_design_digest(board_name: str, accelerator_factory, target_mhz: float | None = None, *,
                        image_shape=None, baud: int = DEFAULT_BAUD,
                        tool_options: dict | None = None) -> str:
    """The ``design_sha256`` that :func:`build_board` of the same arguments records in
    ``report.json`` (:func:`structhw.boards.build.design_digest`): no tool runs."""
    board = get_board(board_name)
    top = BoardTop(board, accelerator_factory, target_mhz=target_mhz, image_shape=image_shape,
                   baud=baud)
    return design_digest(board, top, tool_options=tool_options)
