"""Serial channel sums into words of a row memory: the sum-pool of the memory-window engine.

For a layer whose sum-pool box is along the channels only, E channel k of a pixel is
x[k] + … + x[k+cw−1] (cw = C − c + 1). :class:`SerialChannelSum` takes one padded pixel of C
int8 values, then spends C cycles on it: in step j it adds x[j] and, from step cw on, subtracts
x[j−cw] (a running sum, one add and one subtract whatever the window), and from step cw−1 on
it has E[j−cw+1]. The pixel sits in a register rotated by one value per step, so x[j] is always
its value 0 and x[j−cw] its value c−1: no multiplexer. E values are packed T to a word and each
word is written to the next address of the row memory (a counter modulo its depth).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .memory_window_model import MemoryWindowGeometry


class SerialChannelSum(wiring.Component):
    """Channel sums of a padded pixel stream, written T values per word.

    Parameters
    ----------
    geometry : MemoryWindowGeometry
        Layer, T, memory depth and row width.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        Padded pixels, raster order (Wp per row).
    room : In(1)
        High while the writer may take a pixel (the row it would write is free).
    w_addr : Out(range(depth)), w_data : Out(word_bits), w_en : Out(1)
        Write port drive: one word of T E values (value t in bits [t·w, (t+1)·w)).
    row_done : Out(1)
        High in the cycle the last word of a padded row is written.

    ``i.ready`` depends only on registers and ``room``: the writer is idle or in its last step.
    """

    def __init__(self, geometry: MemoryWindowGeometry):
        self.geometry = geo = geometry
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), geo.layer.in_channels))),
            "room": In(1),
            "w_addr": Out(range(max(geo.depth, 2))),
            "w_data": Out(geo.word_bits),
            "w_en": Out(1),
            "row_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo, layer = self.geometry, self.geometry.layer
        C, c, bits = layer.in_channels, layer.c, geo.value_bits
        cw = C - c + 1
        wp = geo.padded[1]

        pix = Signal(data.ArrayLayout(signed(8), C), name="pixel")
        busy = Signal()
        j = Signal(range(max(C, 2)))
        col = Signal(range(max(wp, 2)))
        last_step = busy & (j == C - 1)
        take = Signal()
        m.d.comb += [self.i.ready.eq((~busy | last_step) & self.room),
                     take.eq(self.i.valid & self.i.ready)]
        with m.If(busy):
            m.d.sync += [j.eq(j + 1), pix.eq(Cat(*(pix[(v + 1) % C] for v in range(C))))]
        with m.If(last_step):
            m.d.sync += [j.eq(0), busy.eq(0), col.eq(Mux(col == wp - 1, 0, col + 1))]
        with m.If(take):
            m.d.sync += [pix.eq(self.i.payload), busy.eq(1)]

        value = Signal(signed(bits), name="e_value")
        if cw == 1:
            m.d.comb += value.eq(pix[0])
        else:
            acc = Signal(signed(bits), name="e_sum")
            leaving = Mux(j >= cw, pix[c - 1], 0)
            m.d.comb += value.eq(Mux(j == 0, 0, acc) + pix[0] - leaving)
            with m.If(busy):
                m.d.sync += acc.eq(value)

        pack_words(m, self, value, busy & (j >= cw - 1), j == C - 1)
        m.d.comb += self.row_done.eq(last_step & (col == wp - 1))
        return m


def pack_words(m: Module, writer, value, emits, last) -> None:
    """Pack the E values a serial channel sum makes into words of the row memory and drive
    ``writer``'s ``w_addr``, ``w_data`` and ``w_en``: E[e] (``value`` in a cycle ``emits`` is
    high, e counting from 0 in each pixel) goes to value e mod T of the word being packed; a word
    is written when full or on the pixel's ``last`` value, to the next address (modulo depth)."""
    geo = writer.geometry
    T, bits = geo.mults, geo.value_bits
    lane = Signal(range(max(T, 2)))
    packed = Signal(data.ArrayLayout(signed(bits), T), name="packed")
    word_full = emits & ((lane == T - 1) | last)
    word = Signal(data.ArrayLayout(signed(bits), T), name="word")
    m.d.comb += word.eq(packed)
    with m.Switch(lane):
        for t in range(T):
            with m.Case(t):
                m.d.comb += word[t].eq(value)
    with m.If(emits):
        m.d.sync += [packed.eq(word), lane.eq(lane + 1)]
    with m.If(word_full):
        m.d.sync += [packed.eq(0), lane.eq(0)]
        m.d.sync += writer.w_addr.eq(Mux(writer.w_addr == geo.depth - 1, 0, writer.w_addr + 1))
    m.d.comb += [writer.w_data.eq(word), writer.w_en.eq(word_full)]
