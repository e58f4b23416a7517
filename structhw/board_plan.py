"""The plan of a quantized network, a chain or a graph, under a budget or one board's."""

from __future__ import annotations

from .compiler import compile_plan
from .errors import ConfigError, ResourceError
from .graph.pipeline import plan_graph
from .graph.quant_graph import QuantGraph


def plan_network(net, budget, *, dense: bool = False, target: str | None = None):
    """The plan of ``net`` under ``budget``: the chain compiler's
    :class:`~structhw.plan.HardwarePlan` for a :class:`~structhw.qnet.QuantNet`,
    :func:`~structhw.graph.pipeline.plan_graph`'s for a :class:`QuantGraph`. Raises
    ResourceError when it does not fit."""
    if isinstance(net, QuantGraph):
        return plan_graph(net, budget, dense=dense, target=target)
    return compile_plan(net, budget, dense=dense, target=target)


def plan_for_board(qnet, board, dense: bool):
    """The plan (:func:`plan_network`) of ``qnet`` under ``board``'s budget.

    Parameters
    ----------
    qnet : structhw.qnet.QuantNet or structhw.graph.quant_graph.QuantGraph
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
        return plan_network(qnet, board.budget, dense=dense, target=board.name)
    except ResourceError as exc:
        fitting = None
        for other in sorted({get_board(n).name: get_board(n) for n in board_names()}.values(),
                            key=lambda b: (b.budget.lut4, b.budget.dsp)):
            try:
                plan_network(qnet, other.budget, dense=dense, target=other.name)
            except ResourceError:
                continue
            fitting = other
            break
        hint = (f"; the smallest board it fits is {fitting.name}" if fitting
                else "; it fits none of the known boards")
        raise ConfigError(f"{board.name}: {exc}{hint}") from None
