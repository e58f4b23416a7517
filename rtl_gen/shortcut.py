"""The exact, scale-preserving ops: the option-A shortcut (subsample, zero channels) and an
unfused ReLU. Both pass beats combinationally: no register, no cycle added."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.graph.ops import PadShortcutOp, ReluOp


def _pixel(channels: int) -> data.ArrayLayout:
    return data.ArrayLayout(signed(8), channels)


class PadShortcut(wiring.Component):
    """:class:`~structhw.graph.ops.PadShortcutOp`: keep the pixels at every ``stride``-th row
    and column, append ``extra`` zero channels.

    Parameters
    ----------
    op : PadShortcutOp

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image, raster order; one accepted per cycle while the consumer is ready
        (dropped pixels need no consumer). Cycles per image: H·W; latency 0.
    o : Out(stream.Signature(ArrayLayout(signed(8), C + extra)))
        ⌈H/s⌉·⌈W/s⌉ pixels per image, raster order, equal to ``op.golden``.
    """

    def __init__(self, op: PadShortcutOp):
        self.op = op
        C = op.in_shape[0]
        super().__init__({"i": In(stream.Signature(_pixel(C))),
                          "o": Out(stream.Signature(_pixel(C + op.extra)))})

    def elaborate(self, platform):
        m = Module()
        _, H, W = self.op.in_shape
        s, extra = self.op.stride, self.op.extra
        col = Signal(range(max(W, 2)))
        row = Signal(range(max(H, 2)))
        # position modulo s along each axis (none for s = 1: every pixel is kept)
        col_phase = Signal(range(s)) if s > 1 else None
        row_phase = Signal(range(s)) if s > 1 else None
        keep = (col_phase == 0) & (row_phase == 0) if s > 1 else Const(1, 1)
        m.d.comb += [
            self.o.payload.as_value().eq(Cat(self.i.payload.as_value(), Const(0, 8 * extra))),
            self.o.valid.eq(self.i.valid & keep),
            self.i.ready.eq(self.o.ready | ~keep),
        ]

        def step(counter, phase, last):
            """Next position of one axis counter and its phase modulo s; reset at ``last``."""
            steps = [counter.eq(Mux(last, 0, counter + 1))]
            if phase is not None:
                steps.append(phase.eq(Mux(last | (phase == s - 1), 0, phase + 1)))
            return steps

        with m.If(self.i.valid & self.i.ready):
            col_last = col == W - 1
            m.d.sync += step(col, col_phase, col_last)
            with m.If(col_last):
                m.d.sync += step(row, row_phase, row == H - 1)
        return m


class Relu(wiring.Component):
    """:class:`~structhw.graph.ops.ReluOp`: ``clamp(x, 0, hi)`` per channel, combinational.

    Parameters
    ----------
    op : ReluOp

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        One beat per input beat in the same cycle (latency 0, one beat per cycle), equal to
        ``op.golden``.
    """

    def __init__(self, op: ReluOp):
        self.op = op
        C = op.in_shape[0]
        super().__init__({"i": In(stream.Signature(_pixel(C))),
                          "o": Out(stream.Signature(_pixel(C)))})

    def elaborate(self, platform):
        m = Module()
        hi = self.op.hi
        m.d.comb += [self.o.valid.eq(self.i.valid), self.i.ready.eq(self.o.ready)]
        for c in range(self.op.in_shape[0]):
            x = self.i.payload[c]
            m.d.comb += self.o.payload[c].eq(Mux(x < 0, 0, Mux(x > hi, hi, x)))
        return m
