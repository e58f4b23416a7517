"""The plan of a quantized network under one board's resource budget."""

from __future__ import annotations

from .compiler import compile_plan
from .errors import ConfigError, ResourceError


def plan_for_board(qnet, board, dense: bool):
    """The :class:`~structhw.compiler.HardwarePlan` of ``qnet`` under ``board``'s budget.

    Parameters
    ----------
    qnet : structhw.qnet.QuantNet
        The quantized network.
    board : structhw.boards.registry.BoardInfo
        Its ``budget`` bounds the plan; its ``name`` is recorded in the plan as the target.
    dense : bool
        Plan the dense baseline (no sum-pool) instead of the structured engines.

    Raises
    ------
    ConfigError
        The network does not fit ``board``; the message also names the smallest known board it
        fits (ordered by LUT4, then DSP count), or says it fits none.
    """
    from structhw.boards.registry import board_names, get_board

    try:
        return compile_plan(qnet, board.budget, dense=dense, target=board.name)
    except ResourceError as exc:
        fitting = None
        for other in sorted({get_board(n).name: get_board(n) for n in board_names()}.values(),
                            key=lambda b: (b.budget.lut4, b.budget.dsp)):
            try:
                compile_plan(qnet, other.budget, dense=dense, target=other.name)
            except ResourceError:
                continue
            fitting = other
            break
        hint = (f"; the smallest board it fits is {fitting.name}" if fitting
                else "; it fits none of the known boards")
        raise ConfigError(f"{board.name}: {exc}{hint}") from None
