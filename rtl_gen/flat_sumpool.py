"""Serial channel sums of a linear layer fed a C×H×W map, flattened in a pixel memory: the
writer of a memory-window engine that needs no Flatten in front.

The linear layer sees the Q = C·H·W values of an image in PyTorch's flatten order, value
j = c·H·W + y·W + x being channel c of pixel p = y·W + x. :class:`FlatChannelSum` stores the H·W
pixel beats of an image, one word of C values per beat, in one half of a memory of 2·H·W words
(double-buffered by image, so the next image fills while this one is summed), then runs the
running channel sum of :class:`~structhw.rtl_gen.serial_sumpool.SerialChannelSum` over the
flattened order, one value per cycle: step j adds x[j] (word p = j mod H·W, value j div H·W) and,
from step cw on (cw = Q − c + 1), subtracts x[j − cw], which a second read port reads from the
same half (none is needed when cw = 1 or cw = Q). It writes exactly the word stream SerialChannelSum
writes for the flattened 1×1 input, Q cycles per image; the memory replaces the Flatten's two
copies of the image and SerialChannelSum's rotating register, all flip-flops.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .memory_style import ram_style
from .memory_window_model import MemoryWindowGeometry, flat_fill_beats
from .serial_sumpool import pack_words


def flat_read_ports(geometry: MemoryWindowGeometry) -> int:
    """Read ports of the pixel memory: 2 when the running sum subtracts (1 < cw < Q), else 1."""
    Q, c = geometry.layer.in_channels, geometry.layer.c
    return 2 if 1 < Q - c + 1 < Q else 1


class FlatChannelSum(wiring.Component):
    """Channel sums of a linear layer's flattened C×H×W input, written T values per word.

    Parameters
    ----------
    geometry : MemoryWindowGeometry
        The linear layer (Q = C·H·W inputs, a 1×1 map), T, memory depth.
    in_shape : tuple
        (C, H, W), H·W > 1: the map the layer is fed.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        Pixels of the map, raster order, H·W beats per image.
    room : In(1)
        High while the writer may start an image (the row-memory slot it would write is free).
    w_addr : Out(range(depth)), w_data : Out(word_bits), w_en : Out(1)
        Write port drive of the row memory, as :class:`SerialChannelSum`'s.
    row_done : Out(1)
        High in the cycle the last word of an image is written.

    ``i.ready`` is a register (the filling half is free).
    """

    def __init__(self, geometry: MemoryWindowGeometry, in_shape):
        self.geometry = geo = geometry
        flat_fill_beats(geo.layer, in_shape)
        self.in_shape = tuple(int(v) for v in in_shape)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), self.in_shape[0]))),
            "room": In(1),
            "w_addr": Out(range(max(geo.depth, 2))),
            "w_data": Out(geo.word_bits),
            "w_en": Out(1),
            "row_done": Out(1),
        })

    @property
    def pixel_depth(self) -> int:
        """Words of the pixel memory: two images of H·W pixels."""
        return 2 * self.in_shape[1] * self.in_shape[2]

    @property
    def pixel_bits(self) -> int:
        return 8 * self.in_shape[0]

    def elaborate(self, platform):
        m = Module()
        geo, layer = self.geometry, self.geometry.layer
        Q, bits = layer.in_channels, geo.value_bits
        cw = Q - layer.c + 1
        m.submodules.pixels = pixels = Memory(
            shape=unsigned(self.pixel_bits), depth=self.pixel_depth, init=[],
            attrs={"ram_style": ram_style(self.pixel_depth, self.pixel_bits)})
        full = self._fill(m, pixels)
        busy, j, sum_half, next_half, start, last_step = self._sum_control(m, full)

        p_in, ch_in = self._index_counter(m, "x_in", start, start | busy)
        read_in = pixels.read_port()
        m.d.comb += read_in.addr.eq(self._address(Mux(start, next_half, sum_half), p_in))
        x_in = Signal(signed(8), name="x_in")
        m.d.comb += x_in.eq(self._lane(read_in.data, ch_in))

        value = Signal(signed(bits), name="e_value")
        if cw == 1:
            m.d.comb += value.eq(x_in)
        else:
            acc = Signal(signed(bits), name="e_sum")
            leaving = 0
            if flat_read_ports(geo) == 2:
                # x[j − cw]: from (0, 0) at step cw on, one value a step
                p_out, ch_out = self._index_counter(m, "x_out", start | ~busy | (j < cw),
                                                    start | busy)
                read_out = pixels.read_port()
                m.d.comb += read_out.addr.eq(self._address(sum_half, p_out))
                x_out = Signal(signed(8), name="x_out")
                m.d.comb += x_out.eq(self._lane(read_out.data, ch_out))
                leaving = Mux(j >= cw, x_out, 0)
            m.d.comb += value.eq(Mux(j == 0, 0, acc) + x_in - leaving)
            with m.If(busy):
                m.d.sync += acc.eq(value)

        pack_words(m, self, value, busy & (j >= cw - 1), j == Q - 1)
        m.d.comb += self.row_done.eq(last_step)
        return m

    def _address(self, half, p):
        """Word of pixel ``p`` in memory half ``half``."""
        _, H, W = self.in_shape
        return Mux(half, H * W + p, p)

    def _lane(self, word, ch):
        """Value of channel ``ch`` in a pixel word."""
        C = self.in_shape[0]
        view = data.View(data.ArrayLayout(signed(8), C), word)
        return view[ch] if C > 1 else view[0]

    def _fill(self, m, pixels):
        """H·W input beats into the free half, which is then marked full; returns the two
        halves' full flags (cleared by the sum control)."""
        _, H, W = self.in_shape
        HW = H * W
        write = pixels.write_port()
        fill_half = Signal(name="fill_half")
        fill_pix = Signal(range(HW), name="fill_pixel")
        full = [Signal(name=f"full{h}") for h in range(2)]
        m.d.comb += self.i.ready.eq(~Mux(fill_half, full[1], full[0]))
        take = self.i.valid & self.i.ready
        m.d.comb += [write.addr.eq(self._address(fill_half, fill_pix)),
                     write.data.eq(self.i.payload), write.en.eq(take)]
        with m.If(take):
            m.d.sync += fill_pix.eq(fill_pix + 1)
            with m.If(fill_pix == HW - 1):
                m.d.sync += [fill_pix.eq(0), fill_half.eq(~fill_half)]
                for h in range(2):
                    with m.If(fill_half == h):
                        m.d.sync += full[h].eq(1)
        return full

    def _sum_control(self, m, full):
        """Steps j = 0 … Q−1 over a full half (the read address is the next step's); returns
        ``(busy, j, sum_half, next_half, start, last_step)``."""
        Q = self.geometry.layer.in_channels
        busy = Signal()
        j = Signal(range(max(Q, 2)))
        sum_half, next_half = Signal(name="sum_half"), Signal(name="next_half")
        last_step = busy & (j == Q - 1)
        start = Signal()
        m.d.comb += start.eq(Mux(next_half, full[1], full[0]) & self.room & (~busy | last_step))
        with m.If(busy):
            m.d.sync += j.eq(j + 1)
        with m.If(last_step):
            m.d.sync += [j.eq(0), busy.eq(0)]
            for h in range(2):
                with m.If(sum_half == h):
                    m.d.sync += full[h].eq(0)
        with m.If(start):
            m.d.sync += [busy.eq(1), sum_half.eq(next_half), next_half.eq(~next_half)]
        return busy, j, sum_half, next_half, start, last_step

    def _index_counter(self, m, name, restart, advance):
        """(pixel, channel) of a step's value, registered when ``advance``; returns the next
        step's pixel (comb) and this step's channel."""
        C, H, W = self.in_shape
        HW = H * W
        p = Signal(range(HW), name=f"{name}_pixel")
        ch = Signal(range(max(C, 2)), name=f"{name}_channel")
        p_next = Signal.like(p, name=f"{name}_pixel_next")
        ch_next = Signal.like(ch, name=f"{name}_channel_next")
        with m.If(restart):
            m.d.comb += [p_next.eq(0), ch_next.eq(0)]
        with m.Elif(p == HW - 1):
            m.d.comb += [p_next.eq(0), ch_next.eq(ch + 1)]
        with m.Else():
            m.d.comb += [p_next.eq(p + 1), ch_next.eq(ch)]
        with m.If(advance):
            m.d.sync += [p.eq(p_next), ch.eq(ch_next)]
        return p_next, ch
