"""One stream to several consumers, each with its own backpressure.

A beat is offered to every output at once; an output that takes it is marked "taken" and sees no
valid until the next beat, and the input beat is consumed in the cycle the last output takes it.
No register sits in the data path: a beat reaches every output in the cycle it arrives, and with
all consumers ready the fork passes one beat per cycle.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError


class Fork(wiring.Component):
    """Broadcast a stream to ``count`` consumers with independent backpressure.

    Parameters
    ----------
    layout : ShapeCastable
        Payload of one beat (for example ``ArrayLayout(signed(8), C)``: one pixel).
    count : int
        Number of consumers, ≥ 1.

    Attributes
    ----------
    i : In(stream.Signature(layout))
        The beats to broadcast.
    o : Out(stream.Signature(layout)).array(count)
        ``o[k]`` carries every input beat exactly once, in order, whatever the others do. A
        consumer that stalls holds the input (and so the others, after they took the current
        beat) back; cycles added: none (latency 0, one beat per cycle with no stalls).
    """

    def __init__(self, layout, count: int):
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(f"Fork: count must be an integer ≥ 1, got {count!r}")
        self.layout, self.count = layout, count
        super().__init__({"i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout)).array(count)})

    def elaborate(self, platform):
        m = Module()
        taken = Signal(self.count)
        done = Signal(self.count)
        for k, out in enumerate(self.o):
            m.d.comb += [
                out.payload.eq(self.i.payload),
                out.valid.eq(self.i.valid & ~taken[k]),
                done[k].eq(taken[k] | out.ready),
            ]
        m.d.comb += self.i.ready.eq(done.all())
        with m.If(self.i.valid):
            with m.If(self.i.ready):
                m.d.sync += taken.eq(0)
            with m.Else():
                m.d.sync += taken.eq(done)
        return m
