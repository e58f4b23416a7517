"""A tiny stream component for testing the simulation infrastructure: adds a constant to each
int8 channel of every beat, through a one-deep output buffer that honours backpressure."""

from amaranth import Module, signed
from amaranth.back import verilog
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


class StreamAdder(wiring.Component):
    """``o = i + addend`` per channel (int8, wrapping), one beat in, one beat out.

    Parameters
    ----------
    channels : int
        int8 channels per beat.
    addend : int
        Constant added to every channel.
    """

    def __init__(self, channels: int, addend: int):
        self.channels, self.addend = channels, addend
        layout = data.ArrayLayout(signed(8), channels)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(self.o.ready | ~self.o.valid)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            for k in range(self.channels):
                m.d.sync += self.o.payload[k].eq(self.i.payload[k] + self.addend)
        return m


def write_tiny_verilog(out_dir, channels: int = 4, addend: int = 3):
    """Write ``stream_adder.v`` into ``out_dir``; returns its path."""
    from pathlib import Path
    path = Path(out_dir) / "stream_adder.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verilog.convert(StreamAdder(channels, addend), name="stream_adder"))
    return path
