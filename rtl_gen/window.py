"""Sliding n×n windows (stride, dilation) over a streamed feature map.

A :class:`WindowGenerator` keeps the last ``dilation·(n−1)`` rows of its input in a line buffer
(one :class:`amaranth.lib.memory.Memory` word per column holding that column's past rows) and the
last ``dilation·(n−1)+1`` columns of the dilated rows in registers. After accepting the pixel that
completes a window at a valid output position, it presents that window until the consumer takes it.
A :class:`WindowQueue` between it and the MAC array lets the input keep streaming (through rows
that complete no window) while the MAC array works on earlier windows.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError

from .memory_style import ram_style


def window_positions(size: int, span: int, stride: int) -> list:
    """Indices (along one axis of length ``size``) of the input pixels that complete a window of
    extent ``span`` at stride ``stride``: ``span−1, span−1+stride, …`` while the window fits."""
    if size < span:
        return []
    return list(range(span - 1, size, stride))


class WindowGenerator(wiring.Component):
    """Turn a raster stream of H×W pixels into the raster stream of its n×n windows.

    Parameters
    ----------
    channels : int
        Values per pixel.
    width_bits : int
        Bits of each signed value.
    height, width : int
        Input image size in pixels (an image is exactly ``height·width`` beats).
    size : int
        Window side n (taps per axis).
    stride, dilation : int
        Step between windows and between taps, in input pixels.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(width_bits), channels)))
        Input pixels in raster order.
    o : Out(stream.Signature(ArrayLayout(signed(width_bits), size·size·channels)))
        One beat per output position in raster order (``out_height·out_width`` per image); the
        flat index of tap (kh, kw) of channel ch is ``(kh·size + kw)·channels + ch``.

    A new input pixel is accepted whenever no window is pending or the pending one is taken in the
    same cycle, so with a consumer that is always ready it takes one input beat per cycle.
    """

    def __init__(self, channels: int, width_bits: int, height: int, width: int, size: int,
                 stride: int = 1, dilation: int = 1):
        for key, v in (("channels", channels), ("width_bits", width_bits), ("height", height),
                       ("width", width), ("size", size), ("stride", stride), ("dilation", dilation)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"WindowGenerator: {key} must be an integer ≥ 1, got {v!r}")
        span = dilation * (size - 1) + 1
        if span > height or span > width:
            raise ConfigError(f"WindowGenerator: window span {span} (size {size}, dilation "
                              f"{dilation}) exceeds the {height}×{width} input")
        self.channels, self.width_bits = channels, width_bits
        self.height, self.width = height, width
        self.size, self.stride, self.dilation = size, stride, dilation
        self.pixel_layout = data.ArrayLayout(signed(width_bits), channels)
        super().__init__({
            "i": In(stream.Signature(self.pixel_layout)),
            "o": Out(stream.Signature(data.ArrayLayout(signed(width_bits), size * size * channels))),
        })

    @property
    def span(self) -> int:
        """Extent of one window along an axis, in input pixels: dilation·(size−1)+1."""
        return self.dilation * (self.size - 1) + 1

    @property
    def out_height(self) -> int:
        return len(window_positions(self.height, self.span, self.stride))

    @property
    def out_width(self) -> int:
        return len(window_positions(self.width, self.span, self.stride))

    def elaborate(self, platform):
        m = Module()
        n, d = self.size, self.dilation
        pix_bits = self.channels * self.width_bits
        past_rows = self.span - 1

        x = Signal(range(max(self.width, 2)))
        y = Signal(range(max(self.height, 2)))
        accept = Signal()
        pending = Signal()
        m.d.comb += [
            accept.eq(self.i.valid & self.i.ready),
            self.i.ready.eq(~pending | self.o.ready),
            self.o.valid.eq(pending),
        ]
        x_last = x == self.width - 1
        x_next = Signal.like(x)
        m.d.comb += x_next.eq(x)
        with m.If(accept):
            m.d.comb += x_next.eq(Cat(x + 1)[:len(x)])
            with m.If(x_last):
                m.d.comb += x_next.eq(0)
        m.d.sync += x.eq(x_next)
        with m.If(accept & x_last):
            m.d.sync += y.eq(y + 1)
            with m.If(y == self.height - 1):
                m.d.sync += y.eq(0)

        new_pixel = self.i.payload.as_value()
        # column[r] is the pixel at row y − past_rows + r of the current column, r = 0..past_rows
        if past_rows:
            lines = Memory(shape=unsigned(past_rows * pix_bits), depth=self.width, init=[],
                           attrs={"ram_style": ram_style(self.width, past_rows * pix_bits)})
            m.submodules.lines = lines
            wr = lines.write_port()
            rd = lines.read_port(transparent_for=(wr,))
            m.d.comb += [
                rd.addr.eq(x_next),
                rd.en.eq(1),
                wr.addr.eq(x),
                wr.en.eq(accept),
                wr.data.eq(Cat(rd.data[pix_bits:], new_pixel)),
            ]
            column = [rd.data[r * pix_bits:(r + 1) * pix_bits] for r in range(past_rows)] + [new_pixel]
        else:
            column = [new_pixel]
        taps_column = Cat(*(column[kh * d] for kh in range(n)))

        # shift[j] holds the tap rows of column x − (span−1) + j after the last accepted pixel
        shift = [Signal(n * pix_bits, name=f"col{j}") for j in range(self.span)]
        with m.If(accept):
            m.d.sync += [shift[j].eq(shift[j + 1]) for j in range(self.span - 1)]
            m.d.sync += shift[-1].eq(taps_column)

        taps = []
        for kh in range(n):
            for kw in range(n):
                col = shift[kw * d]
                taps.append(col[kh * pix_bits:(kh + 1) * pix_bits])
        m.d.comb += self.o.payload.eq(Cat(*taps))

        row_ok = Signal()
        col_ok = Signal()
        m.d.comb += [
            row_ok.eq(_any_equal(y, window_positions(self.height, self.span, self.stride))),
            col_ok.eq(_any_equal(x, window_positions(self.width, self.span, self.stride))),
        ]
        completes = row_ok & col_ok
        with m.If(accept):
            m.d.sync += pending.eq(completes)
        with m.Elif(self.o.ready):
            m.d.sync += pending.eq(0)
        return m


def _any_equal(value, constants):
    """1 when ``value`` equals one of ``constants`` (an OR of comparators; 0 for none)."""
    result = Const(0, 1)
    for c in constants:
        # value == 0 would be written as a logical not of a vector, which Verilator flags
        result = result | (~value.any() if c == 0 else value == c)
    return result
