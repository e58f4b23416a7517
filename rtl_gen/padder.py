"""Zero padding of a streamed feature map.

A :class:`Padder` turns the raster stream of an H×W image into the raster stream of the
(H+2p)×(W+2p) image with a border of ``p`` zero pixels, one output beat per cycle whenever the
consumer is ready (border beats are made up, interior beats are the input's beats passed through).
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError


def _check_positive(name: str, value, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"Padder: {name} must be an integer ≥ {minimum}, got {value!r}")


class Padder(wiring.Component):
    """Zero-pad a raster stream of pixels by ``padding`` pixels on every side.

    Parameters
    ----------
    channels : int
        Values per pixel (beat).
    height, width : int
        Input image size in pixels; an input image is exactly ``height·width`` beats.
    padding : int
        Border width in pixels (≥ 0). ``padding == 0`` is a plain wire-through.
    width_bits : int
        Bits of each signed value (8 for int8 activations).

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(width_bits), channels)))
        Input pixels in raster order.
    o : Out(stream.Signature(ArrayLayout(signed(width_bits), channels)))
        ``(height+2·padding)·(width+2·padding)`` output pixels per image, raster order. Border
        pixels are all zero. Back-to-back images are handled by counting beats.

    The interior beats pass combinationally (``i.ready`` follows ``o.ready``), border beats need
    no input, so the unit sustains one output beat per cycle and keeps full backpressure.
    """

    def __init__(self, channels: int, height: int, width: int, padding: int, width_bits: int = 8):
        _check_positive("channels", channels)
        _check_positive("height", height)
        _check_positive("width", width)
        _check_positive("padding", padding, minimum=0)
        _check_positive("width_bits", width_bits)
        self.channels = channels
        self.height = height
        self.width = width
        self.padding = padding
        self.width_bits = width_bits
        layout = data.ArrayLayout(signed(width_bits), channels)
        super().__init__({
            "i": In(stream.Signature(layout)),
            "o": Out(stream.Signature(layout)),
        })

    @property
    def out_height(self) -> int:
        """Output rows, height + 2·padding."""
        return self.height + 2 * self.padding

    @property
    def out_width(self) -> int:
        """Output columns, width + 2·padding."""
        return self.width + 2 * self.padding

    def elaborate(self, platform):
        m = Module()
        if self.padding == 0:
            wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
            return m

        p = self.padding
        row = Signal(range(self.out_height))
        col = Signal(range(self.out_width))
        row_last = row == self.out_height - 1
        col_last = col == self.out_width - 1
        interior = ((row >= p) & (row < p + self.height)
                    & (col >= p) & (col < p + self.width))

        with m.If(interior):
            m.d.comb += [
                self.o.payload.eq(self.i.payload),
                self.o.valid.eq(self.i.valid),
                self.i.ready.eq(self.o.ready),
            ]
        with m.Else():
            m.d.comb += [
                self.o.payload.eq(0),
                self.o.valid.eq(1),
                self.i.ready.eq(0),
            ]

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += col.eq(col + 1)
            with m.If(col_last):
                m.d.sync += [col.eq(0), row.eq(row + 1)]
                with m.If(row_last):
                    m.d.sync += row.eq(0)
        return m
