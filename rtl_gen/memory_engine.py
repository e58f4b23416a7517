"""A layer engine whose windows live in block RAM: Padder → serial channel sums → row memory →
window reader → MAC (its output FIFO) → requantiser → collector.

The register engine (:class:`~structhw.rtl_gen.engine.LayerEngine`) holds every window in flip-flops
(the window generator's taps, the MAC array's copy) and sums channels with one adder chain per
output; that is what a fast engine needs, and what makes a slow one cost ~n²·c·w·3 flip-flops.
When the MAC array spends many steps on each output pixel, this engine is the cheap one: the sum
pool makes one E value per cycle, the rows live in one memory, and the MAC reads one word of T
values per step. Geometry and timing: :mod:`~structhw.rtl_gen.memory_window_model`.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer

from .engine import checked_engine, connect_output_stages
from .flat_sumpool import FlatChannelSum
from .mac import MULT_OPERAND_BITS
from .mac_pipeline import IssuedStep, alpha_rom, group_layout, multiply_accumulate, step_layout
from .memory_style import ram_style
from .memory_window_model import MemoryWindowGeometry, flat_fill_beats
from .padder import Padder
from .params import EngineParams
from .serial_sumpool import SerialChannelSum
from .window_reader import WindowReader


def memory_alpha(layer: QuantLayer, lanes: int, mults: int) -> list:
    """α[g][k][p][t] in the reader's order: pass k = (kh·n + kw)·chunks + ch, multiplier t
    takes channel ch·T + t, lane p output channel g·P + p (0 past c or Cout)."""
    geo = MemoryWindowGeometry(layer, mults)
    n, chunks = layer.n, geo.chunks
    groups = -(-layer.out_channels // lanes)
    table = [[[[0] * mults for _ in range(lanes)] for _ in range(geo.passes)] for _ in range(groups)]
    for g in range(groups):
        for p in range(lanes):
            o = g * lanes + p
            if o >= layer.out_channels:
                continue
            for k in range(geo.passes):
                tap, ch = divmod(k, chunks)
                kh, kw = divmod(tap, n)
                for t in range(mults):
                    ci = ch * mults + t
                    if ci < layer.c:
                        table[g][k][p][t] = int(layer.alpha[o, ci, kh, kw])
    return table


def check_memory_engine(layer: QuantLayer, params: EngineParams) -> None:
    """Raise :class:`ConfigError` naming the reason if ``params`` (window ``"memory"``) cannot
    implement ``layer``."""
    params.check(layer)
    MemoryWindowGeometry(layer, params.mults)
    if layer.widths().sumpool > MULT_OPERAND_BITS:
        raise ConfigError(f"layer {layer.name!r}: sum-pool output of {layer.widths().sumpool} "
                          f"bits exceeds the {MULT_OPERAND_BITS}-bit signed multiplier operand")


class MemoryWindowEngine(wiring.Component):
    """One quantized layer with its windows in a row memory (same interface and results as
    :class:`~structhw.rtl_gen.engine.LayerEngine`).

    Parameters
    ----------
    layer : QuantLayer
        Spatial sum-pool window 1, one conv group (see
        :func:`~structhw.rtl_gen.memory_window_model.memory_window_refusal`).
    params : EngineParams
        Lanes P, multipliers T (values per memory word), ``window="memory"``.
    dsp : str or None
        Hard multiplier primitive, as for the register engine.
    in_shape : tuple or None
        (C, H, W) with H·W > 1 for a linear layer of C·H·W inputs fed that map: the engine takes
        its H·W pixel beats and flattens them in a pixel memory
        (:class:`~structhw.rtl_gen.flat_sumpool.FlatChannelSum`), so no Flatten goes in front.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        C = the layer's input channels, or ``in_shape[0]``.
    o : Out(stream.Signature(ArrayLayout(signed(8), Cout)))
    """

    def __init__(self, layer: QuantLayer, params: EngineParams, dsp: str | None = None,
                 in_shape=None):
        members = checked_engine(self, check_memory_engine, layer, params, dsp)
        self.geometry = MemoryWindowGeometry(layer, params.mults)
        self.in_shape = None
        if in_shape is not None:
            try:
                flat_fill_beats(layer, in_shape)
            except ConfigError:
                self._MustUse__silence = True
                raise
            self.in_shape = tuple(int(v) for v in in_shape)
            members["i"] = In(stream.Signature(data.ArrayLayout(signed(8), self.in_shape[0])))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layer, params, geo = self.layer, self.params, self.geometry
        P, T = params.lanes, params.mults
        if self.in_shape is not None:
            m.submodules.writer = writer = FlatChannelSum(geo, self.in_shape)
            wiring.connect(m, wiring.flipped(self.i), writer.i)
        else:
            m.submodules.padder = padder = Padder(layer.in_channels, layer.in_height,
                                                  layer.in_width, layer.padding)
            wiring.connect(m, wiring.flipped(self.i), padder.i)
            m.submodules.writer = writer = SerialChannelSum(geo)
            wiring.connect(m, padder.o, writer.i)
        m.submodules.reader = reader = WindowReader(geo, P)

        m.submodules.rows = rows = Memory(shape=unsigned(geo.word_bits), depth=geo.depth, init=[],
                                          attrs={"ram_style": ram_style(geo.depth, geo.word_bits)})
        write = rows.write_port()
        read = rows.read_port()
        m.d.comb += [write.addr.eq(writer.w_addr), write.data.eq(writer.w_data),
                     write.en.eq(writer.w_en)]

        # rows the writer has finished beyond the first row of the reader's output row
        ahead = Signal(range(-geo.padded[0], geo.rows + 2), name="rows_ahead")
        done = writer.row_done
        released = Signal.like(ahead)
        m.d.comb += released.eq(Mux(reader.release,
                                    Mux(reader.image_end, geo.tail_rows, layer.stride), 0))
        m.d.sync += ahead.eq(ahead + done - released)
        m.d.comb += [writer.room.eq(ahead + done < geo.rows),
                     reader.rows_ready.eq(ahead >= geo.span)]

        groups = reader.groups
        mac_o = stream.Signature(group_layout(signed(layer.widths().accumulator), P, groups)).create()
        advance = Signal(name="advance")
        m.d.comb += [reader.advance.eq(advance), read.addr.eq(reader.addr), read.en.eq(advance)]
        flags = Signal(step_layout(groups), name="s1")
        with m.If(advance):
            m.d.sync += [flags.valid.eq(reader.issue), flags.first.eq(reader.first),
                         flags.last.eq(reader.last), flags.group.eq(reader.group)]
        word = data.View(data.ArrayLayout(signed(geo.value_bits), T), read.data)
        ops = [Signal(signed(geo.value_bits), name=f"op_t{t}") for t in range(T)]
        m.d.comb += [ops[t].eq(word[t]) for t in range(T)]
        issued = IssuedStep(flags, [ops] * P,
                            alpha_rom(m, memory_alpha(layer, P, T), advance, reader.step))
        multiply_accumulate(m, issued, layer=layer, groups=groups, passes=geo.passes,
                            operand_bits=geo.value_bits, dsp=self.dsp, advance=advance, out=mac_o)
        connect_output_stages(m, mac_o, wiring.flipped(self.o), layer, P, self.dsp)
        return m
