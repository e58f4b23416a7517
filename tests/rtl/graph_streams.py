"""Simulating a :class:`~structhw.rtl_gen.graph_network.GraphNetwork` in Amaranth with random
idle input and output backpressure, under a deadlock watchdog that names the stalled node."""

from .streams import Deadlock, run_stream_dut

__all__ = ["Deadlock", "run_graph_dut", "stalled_node"]


def stalled_node(ctx, net) -> str:
    """The first node (graph order) holding an input beat it does not take while its own
    output is free: the place the stream stopped, with the state of every node's ports."""
    lines, first = [], None
    for name, (inputs, out) in net.parts.items():
        ins = [(ctx.get(p.valid), ctx.get(p.ready)) for p in inputs]
        o = (ctx.get(out.valid), ctx.get(out.ready))
        lines.append(f"{name}: in " + ", ".join(f"v{v}r{r}" for v, r in ins) +
                     f"; out v{o[0]}r{o[1]}")
        waiting = any(v and not r for v, r in ins) and not (o[0] and not o[1])
        if first is None and waiting:
            first = name
    return f"stalled at node {first!r}\n" + "\n".join(lines)


def run_graph_dut(net, beats: list, out_count: int, *, seed: int, idle: float, stall: float,
                  watchdog: int):
    """:func:`~.streams.run_stream_dut` on ``net`` with a watchdog of ``watchdog`` cycles whose
    :class:`Deadlock` names the stalled node (:func:`stalled_node`)."""
    return run_stream_dut(net, beats, out_count, seed=seed, idle=idle, stall=stall,
                          watchdog=watchdog, diagnose=lambda ctx: stalled_node(ctx, net))
