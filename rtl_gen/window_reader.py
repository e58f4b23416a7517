"""The read side of the memory-window engine: one row-memory address per MAC step.

For each output pixel (raster order) and each lane group g, the reader walks the window's taps
(kh, kw) and, within a tap, the ⌈c/T⌉ chunks of T channels: pass k = (kh·n + kw)·chunks + chunk.
The word of tap (kh, kw), chunk ch of output (oy, ox) is at
``slot(oy·stride + kh·dilation)·Wp·chunks + (ox·stride + kw·dilation)·chunks + ch``; the reader
keeps the slot and the column offset of the next step in registers, so an address is one add.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .memory_window_model import MemoryWindowGeometry


class WindowReader(wiring.Component):
    """Step counters and row-memory addresses of the memory-window engine.

    Parameters
    ----------
    geometry : MemoryWindowGeometry
    lanes : int
        P, output channels per lane group (G = ⌈Cout/P⌉ groups).

    Attributes
    ----------
    advance : In(1)
        The MAC pipeline moves this cycle.
    rows_ready : In(1)
        The rows of the next output row are in memory (``ahead ≥ span``).
    issue : Out(1)
        A step issues this cycle: read ``addr``, α word ``step``.
    addr, step : Out
    first, last : Out(1)
        The step is its lane group's first / last pass.
    group : Out(range(G))
    release : Out(1)
        The step is the last of an output row: its rows may be overwritten from the next cycle.
    image_end : Out(1)
        With ``release``: the row was the image's last (release ``tail_rows`` rows, not stride).
    """

    def __init__(self, geometry: MemoryWindowGeometry, lanes: int):
        self.geometry, self.lanes = geometry, lanes
        self.groups = -(-geometry.layer.out_channels // lanes)
        steps = self.groups * geometry.passes
        super().__init__({
            "advance": In(1), "rows_ready": In(1), "issue": Out(1),
            "addr": Out(range(max(geometry.depth, 2))), "step": Out(range(max(steps, 2))),
            "first": Out(1), "last": Out(1), "group": Out(range(max(self.groups, 2))),
            "release": Out(1), "image_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo, L = self.geometry, self.geometry.layer
        n, d, s, R, chunks = L.n, L.dilation, L.stride, geo.rows, geo.chunks
        hp, wp = geo.padded
        ho, wo, G = L.out_height, L.out_width, self.groups
        row_words = wp * chunks

        def counter(limit, name):
            return Signal(range(max(limit, 2)), name=name)

        g, kh, kw, ch = counter(G, "g"), counter(n, "kh"), counter(n, "kw"), counter(chunks, "ch")
        step = counter(G * geo.passes, "step_count")
        ox, oy = counter(wo, "ox"), counter(ho, "oy")
        kh_slot, row_slot, img_slot = counter(R, "kh_slot"), counter(R, "row_slot"), counter(R, "img_slot")
        col_off = Signal(range(max(row_words, 2)), name="col_off")
        ox_off = Signal(range(max(row_words, 2)), name="ox_off")
        in_row = Signal()

        slot_base = Signal.like(self.addr)
        with m.Switch(kh_slot):
            for slot in range(R):
                with m.Case(slot):
                    m.d.comb += slot_base.eq(slot * row_words)
        last_ch, last_kw, last_kh = ch == chunks - 1, kw == n - 1, kh == n - 1
        last_pass = last_ch & last_kw & last_kh
        last_output = last_pass & (g == G - 1)
        row_end = last_output & (ox == wo - 1)
        m.d.comb += [
            self.issue.eq(self.advance & (in_row | self.rows_ready)),
            self.addr.eq(slot_base + col_off), self.step.eq(step),
            self.first.eq((ch == 0) & (kw == 0) & (kh == 0)), self.last.eq(last_pass),
            self.group.eq(g), self.release.eq(self.issue & row_end),
            self.image_end.eq(oy == ho - 1),
        ]

        def wrap(value, amount):
            return Mux(value + amount >= R, value + amount - R, value + amount)

        with m.If(self.issue):
            m.d.sync += [in_row.eq(1), ch.eq(ch + 1), col_off.eq(col_off + 1), step.eq(step + 1)]
            with m.If(last_ch):
                m.d.sync += [ch.eq(0), kw.eq(kw + 1), col_off.eq(col_off + d * chunks - chunks + 1)]
            with m.If(last_ch & last_kw):
                m.d.sync += [kw.eq(0), kh.eq(kh + 1), kh_slot.eq(wrap(kh_slot, d % R)),
                             col_off.eq(ox_off)]
            with m.If(last_pass):
                m.d.sync += [kh.eq(0), g.eq(g + 1), kh_slot.eq(row_slot)]
            with m.If(last_output):
                m.d.sync += [g.eq(0), step.eq(0), ox.eq(ox + 1), ox_off.eq(ox_off + s * chunks),
                             col_off.eq(ox_off + s * chunks)]
            with m.If(row_end):
                m.d.sync += [ox.eq(0), ox_off.eq(0), col_off.eq(0), in_row.eq(0), oy.eq(oy + 1),
                             row_slot.eq(wrap(row_slot, s % R)), kh_slot.eq(wrap(row_slot, s % R))]
                with m.If(oy == ho - 1):
                    nxt = wrap(img_slot, hp % R)
                    m.d.sync += [oy.eq(0), img_slot.eq(nxt), row_slot.eq(nxt), kh_slot.eq(nxt)]
        return m
