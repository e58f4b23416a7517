"""Line buffer: the last few rows of a raster stream, in one on-chip memory.

The buffer is one :class:`amaranth.lib.memory.Memory` of ``depth`` (image width) words; word
``col`` holds the values of column ``col`` in the last ``rows`` rows, newest first. Reading column
``col`` and writing it back with the new pixel pushed in front is a row shift register of
``rows × depth`` entries that costs one read and one write per pixel.
"""

from __future__ import annotations

from amaranth import Module, Shape, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError

from .memory_style import ram_style


class LineBuffer(wiring.Component):
    """The last ``rows`` rows of an image of ``depth`` columns, one pixel word per column.

    Usage, one pixel per step, in two pipeline stages:

    1. while pixel P at column ``col`` is offered, drive ``read_col = col`` and ``read_en``
       high when the pipeline advances;
    2. the next cycle (and for as long as ``read_en`` stays low), ``taps[j]`` holds column
       ``col`` of row r−1−j (r = P's row). Push P with ``write_en`` high (for one cycle, when the
       pipeline advances), ``write_col = col``, ``write_data = P``: the word becomes
       ``[P, taps[0], …, taps[rows−2]]``.

    In this use the next read never hits the column being written unless the image is one column
    wide; only then is the read port made transparent to the write port (so it sees the newest
    row). Contents are not reset: rows of a
    previous image show up in ``taps`` during the first ``rows`` rows of the next one, so the user
    must ignore windows that reach above row 0 (the sum-pool emits no output there).

    Parameters
    ----------
    shape : ShapeLike
        Shape of one pixel word (for example ``ArrayLayout(signed(8), C)``).
    depth : int
        Columns per row (image width), ≥ 1.
    rows : int
        Rows kept, ≥ 1.

    Attributes
    ----------
    read_col : In(range(depth))
    read_en : In(1)
    taps : Out(ArrayLayout(shape, rows))
        ``taps[j]``: the pixel j+1 rows above the one being written.
    write_col : In(range(depth))
    write_en : In(1)
    write_data : In(shape)
    """

    def __init__(self, shape, depth: int, rows: int):
        for name, value in (("depth", depth), ("rows", rows)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"LineBuffer: {name} must be an integer ≥ 1, got {value!r}")
        self.shape = shape
        self.depth = depth
        self.rows = rows
        col = range(max(depth, 2))
        super().__init__({
            "read_col": In(col),
            "read_en": In(1),
            "taps": Out(data.ArrayLayout(shape, rows)),
            "write_col": In(col),
            "write_en": In(1),
            "write_data": In(shape),
        })

    @property
    def bits(self) -> int:
        """Memory bits: depth · rows · width of one pixel word."""
        return self.depth * self.rows * Shape.cast(self.shape).width

    def elaborate(self, platform):
        m = Module()
        word = data.ArrayLayout(self.shape, self.rows)
        m.submodules.memory = memory = Memory(shape=unsigned(word.size), depth=self.depth, init=[],
                                              attrs={"ram_style": ram_style(self.depth, word.size)})
        write = memory.write_port()
        # Only a one-column image reads the address being written (the next pixel is in the same
        # column); wider images never do, and a transparent port would cost a bypass register.
        read = memory.read_port(transparent_for=(write,) if self.depth == 1 else ())
        pushed = data.View(word, write.data)
        m.d.comb += [
            read.addr.eq(self.read_col),
            read.en.eq(self.read_en),
            self.taps.eq(read.data),
            write.addr.eq(self.write_col),
            write.en.eq(self.write_en),
            pushed[0].eq(self.write_data),
        ]
        for j in range(1, self.rows):
            m.d.comb += pushed[j].eq(self.taps[j - 1])
        return m
