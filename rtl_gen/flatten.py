"""Flatten: a raster pixel stream of a C×H×W map → one beat of C·H·W values in (C, H, W) order."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError


class Flatten(wiring.Component):
    """Collect the H·W pixel beats of one image into one beat, as PyTorch's ``x.flatten()``.

    Output element ``c·H·W + y·W + x`` is channel ``c`` of pixel (y, x). One shift register per
    channel fills as pixels arrive (pixel 0 ends at the low end); when full it is copied into the
    output register, and the next image starts filling at once, so images can follow back to back
    without a bubble as long as the consumer takes each output beat within H·W cycles.

    Parameters
    ----------
    channels, height, width : int
        C, H, W of the incoming map.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        One pixel per beat, raster order; exactly H·W beats per image.
    o : Out(stream.Signature(ArrayLayout(signed(8), C·H·W)))
        One beat per image.
    """

    def __init__(self, channels: int, height: int, width: int):
        for key, v in (("channels", channels), ("height", height), ("width", width)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"Flatten: {key} must be an integer ≥ 1, got {v!r}")
        self.channels, self.height, self.width = channels, height, width
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(8), channels * height * width))),
        })

    def elaborate(self, platform):
        m = Module()
        C, HW = self.channels, self.height * self.width
        shift = [Signal(data.ArrayLayout(signed(8), HW), name=f"shift_c{c}") for c in range(C)]
        count = Signal(range(HW + 1))

        full = count == HW
        out_free = ~self.o.valid | self.o.ready
        transfer = full & out_free
        m.d.comb += self.i.ready.eq(~full | out_free)
        take = self.i.valid & self.i.ready

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(transfer):
            m.d.sync += self.o.valid.eq(1)
            for c in range(C):
                for p in range(HW):
                    m.d.sync += self.o.payload[c * HW + p].eq(shift[c][p])

        with m.If(take):
            for c in range(C):
                for p in range(HW - 1):
                    m.d.sync += shift[c][p].eq(shift[c][p + 1])
                m.d.sync += shift[c][HW - 1].eq(self.i.payload[c])
            with m.If(transfer):
                m.d.sync += count.eq(1)
            with m.Else():
                m.d.sync += count.eq(count + 1)
        with m.Elif(transfer):
            m.d.sync += count.eq(0)
        return m
