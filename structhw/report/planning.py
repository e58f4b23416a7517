"""Planning the report's variants: the plan reaching a cycle count under the fewest DSPs, and
the plan summaries the report records."""

from __future__ import annotations

import dataclasses

MAX_DSP_SEARCH = 4096
"""Largest DSP budget :func:`plan_at_cycles` tries by default."""


def plan_at_cycles(qnet, budget, cycles: float, *, dense: bool, max_dsp: int = MAX_DSP_SEARCH,
                   target: str | None = None, compile_plan=None):
    """The plan of ``qnet`` under the smallest DSP budget whose predicted cycles per image are
    ≤ ``cycles``.

    Only the DSP count of ``budget`` changes; its LUT4, FF and EBR counts still bound the plan. The
    DSP count is bisected between 1 and ``max_dsp`` (the board's DSPs for a design that is to be
    built; larger for the plan-level question of how many DSPs a dense engine would need),
    assuming, as the balancer's plans do, that more DSPs never cost cycles.

    Parameters
    ----------
    dense : bool
        Plan the dense baseline (``compile_plan(..., dense=True)``).
    target : str, optional
        Board name recorded in the plan.
    compile_plan : callable, optional
        The planner (default :func:`structhw.board_plan.plan_network`: a chain or a graph);
        tests substitute their own.

    Returns
    -------
    (plan, dsp_budget) or (None, None) when no budget up to ``max_dsp`` DSPs reaches ``cycles``.
    """
    from structhw.board_plan import plan_network
    from structhw.errors import ResourceError

    compile_plan = compile_plan or plan_network

    def plan_with(dsp):
        try:
            return compile_plan(qnet, dataclasses.replace(budget, dsp=dsp), dense=dense,
                                target=target)
        except ResourceError:
            return None

    if max_dsp < 1:
        return None, None
    high = min(max(1, budget.dsp), max_dsp)
    best = plan_with(high)
    while best is None or best.cycles_per_image > cycles:
        if high >= max_dsp:
            return None, None
        high = min(2 * high, max_dsp)
        best = plan_with(high)
    low = 0
    while high - low > 1:
        mid = (low + high) // 2
        candidate = plan_with(mid)
        if candidate is not None and candidate.cycles_per_image <= cycles:
            high, best = mid, candidate
        else:
            low = mid
    return best, high


def plan_summary(plan) -> dict:
    """The plan's predicted cycles per image, latency (cycles), estimated resources (LUT4, FF,
    DSP, block RAM bits) and the parameters of every stage (a chain's engines, a graph's
    nodes)."""
    totals = plan.totals
    return {
        "predicted_cycles_per_image": int(plan.cycles_per_image),
        "latency_cycles": int(plan.latency_cycles),
        "estimate": {k: getattr(totals, k) for k in ("lut4", "ff", "dsp", "bram_bits")},
        "stages": [unit.summary() for unit in plan.units],
    }


def plan_structured_equal(qnet, dense_plan, board_info, missing):
    """``(plan, planned_for)``: the structured plan under the smallest DSP budget (≤ the board's)
    that reaches ``dense_plan``'s predicted cycles per image, and
    ``{"cycles_per_image", "dsp_budget", "reachable", "reason"}``: ``reachable`` False when no
    budget within the board reaches the cycles, None when planning failed for another reason
    (then the plan is None and ``reason`` is also recorded in ``missing``, a
    :class:`~structhw.report.missing.Missing`)."""
    if qnet is None or dense_plan is None or board_info is None:
        missing.reasons.setdefault("structured_equal.plan",
                                   "needs the structured model, the dense plan and the board")
        return None, None
    cycles = int(dense_plan.cycles_per_image)
    planned_for = {"cycles_per_image": cycles, "dsp_budget": None, "reachable": None,
                   "reason": None}
    found = missing.attempt("structured_equal.plan", plan_at_cycles, qnet, board_info.budget,
                            cycles, dense=False, max_dsp=board_info.budget.dsp,
                            target=board_info.name)
    if found is None:
        planned_for["reason"] = missing.reasons["structured_equal.plan"]
        return None, planned_for
    plan, planned_for["dsp_budget"] = found
    planned_for["reachable"] = plan is not None
    if plan is None:
        planned_for["reason"] = (f"no structured plan within the board's {board_info.budget.dsp} "
                                 f"DSPs reaches the dense plan's {cycles} cycles/image")
        missing.reasons["structured_equal.plan"] = planned_for["reason"]
    return plan, planned_for
