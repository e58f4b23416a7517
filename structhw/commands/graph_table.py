"""A :class:`~structhw.graph.plan.GraphPlan` as the text table ``structhw compile`` prints."""

from __future__ import annotations

from ..resources import RESOURCES, budget_limits


def _params(params) -> str:
    if hasattr(params, "mults"):
        kind = params.sumpool or ("memory" if params.window == "memory" else "")
        return f"P={params.lanes} T={params.mults}" + (f" {kind}" if kind else "")
    return f"P={params.lanes}"


def format_graph_plan(plan) -> str:
    """One row per node (op, input → output shape, parameters, cycles, DSP, LUT4, FF), the
    skip FIFOs deeper than the chain rule, then totals against the budget."""
    head = ("node", "op", "in", "out", "params", "cycles/img", "DSP", "LUT4", "FF")
    rows = [head]
    for node, op in zip(plan.nodes, plan.graph.nodes):
        shape = "×".join(str(v) for v in op.in_shape)
        rows.append((("⊣ " if node.flatten_before else "") + node.name, node.kind, shape,
                     "×".join(str(v) for v in op.out_shape), _params(node.params),
                     str(node.cycles), str(node.cost.dsp), str(node.cost.lut4),
                     str(node.cost.ff)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i < 5 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    forks = [e for e in plan.edges if len(plan.graph.consumers(e.src)) > 1]
    if forks:
        lines.append("")
        lines.append("fork FIFOs: " + ", ".join(f"{e.src}→{e.dst} {e.depth}" for e in forks))
    total, have = plan.totals, budget_limits(plan.budget)
    lines.append("")
    lines.append("resources (estimate) " + ", ".join(
        f"{k} {getattr(total, k)}/{getattr(have, k)} "
        f"({100 * getattr(total, k) / max(getattr(have, k), 1):.0f}%)" for k in RESOURCES))
    lines.append(f"FIFOs, forks and Flattens: {plan.overhead.lut4} LUT4, {plan.overhead.ff} FF, "
                 f"{plan.overhead.bram_bits} block-RAM bits")
    lines.append(f"bottleneck {plan.bottleneck.name}: {plan.cycles_per_image} cycles/image, "
                 f"latency ≤ {plan.latency_cycles} cycles")
    return "\n".join(lines)
