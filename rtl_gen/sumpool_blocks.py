"""Building blocks of the sum-pool archs (:mod:`structhw.rtl_gen.sumpool`): the all-or-nothing
stall pipeline, line-buffer taps, delay lines, ``keep``-marked adder trees, and the widths and
LUT4 counts the archs' cost models are made of."""

from __future__ import annotations

from amaranth import Const, Module, Signal, signed

from structhw.qnet import signed_width

from .linebuffer import LineBuffer
from .streams import stall_enable

LUT4_PER_ADDER_BIT = 1
"""A two-operand ECP5 adder bit is one LUT4 of a CCU2C carry cell (a subtract too)."""
LUT4_PER_MUX_BIT = 1


def padded_size(layer) -> tuple:
    """(Hp, Wp): the layer's input map with its padding, in pixels."""
    return (layer.in_height + 2 * layer.padding, layer.in_width + 2 * layer.padding)


def sum_width(layer) -> int:
    """Bits of E: the exact sum of ``window`` int8 values (same as ``layer.widths().sumpool``)."""
    return signed_width(-128 * layer.window, 127 * layer.window)


def range_width(terms: int) -> int:
    """Bits of the exact sum of ``terms`` int8 values."""
    return signed_width(-128 * terms, 127 * terms)


class Pipeline:
    """Valid bits and position of an all-or-nothing pipeline: every register loads when
    ``advance`` is high. Stage 1 holds the accepted pixel and its (row, col); ``emit1`` says
    that its window lies inside the image (an output pixel exists for it). ``unit`` is the
    :class:`~structhw.rtl_gen.sumpool.SumPool` whose ``i``/``o`` streams the pipeline drives."""

    def __init__(self, m: Module, unit, pre_stages: int = 0):
        self.m = m
        self.unit = unit
        layer = unit.layer
        reach = (layer.spatial_window - 1) * layer.dilation
        self.advance = stall_enable(m, unit.o.valid, unit.o.ready)
        m.d.comb += unit.i.ready.eq(self.advance)
        accept = unit.i.valid & self.advance

        col_in = Signal(range(max(unit.width, 2)))
        row_in = Signal(range(max(unit.height, 2)))
        with m.If(accept):
            with m.If(col_in == unit.width - 1):
                m.d.sync += col_in.eq(0)
                with m.If(row_in == unit.height - 1):
                    m.d.sync += row_in.eq(0)
                with m.Else():
                    m.d.sync += row_in.eq(row_in + 1)
            with m.Else():
                m.d.sync += col_in.eq(col_in + 1)

        valid_in = unit.i.valid
        for k in range(pre_stages):
            valid_in = self.register(valid_in, f"valid_pre{k}")
            col_in = self.register(col_in, f"col_pre{k}")
            row_in = self.register(row_in, f"row_pre{k}")
        self.col_in = col_in

        valid1 = Signal()
        self.col1 = Signal.like(self.col_in)
        row1 = Signal.like(row_in)
        with m.If(self.advance):
            m.d.sync += [valid1.eq(valid_in), self.col1.eq(self.col_in), row1.eq(row_in)]
        self.valid = [valid1]
        self.shift1 = valid1 & self.advance
        self.emit1 = (row1 >= reach) & (self.col1 >= reach) if reach else Const(1)

    def register(self, value, name: str) -> Signal:
        """A copy of ``value`` loaded when the pipeline advances (one stage later)."""
        reg = Signal.like(value, name=name)
        with self.m.If(self.advance):
            self.m.d.sync += reg.eq(value)
        return reg

    def stage(self, *, emit=1) -> None:
        """Close a stage: the next valid bit is this one AND ``emit`` (bubbles for pixels
        that produce no output)."""
        nxt = Signal(name=f"valid{len(self.valid) + 1}")
        with self.m.If(self.advance):
            self.m.d.sync += nxt.eq(self.valid[-1] & emit)
        self.valid.append(nxt)

    def finish(self) -> None:
        """The last stage's valid bit drives ``o.valid``."""
        self.m.d.comb += self.unit.o.valid.eq(self.valid[-1])


def line_taps(m: Module, pipe: Pipeline, shape, current, width: int, sw: int, d: int) -> list:
    """Values of the pixel word ``current`` (stage 1) d, 2d, …, (sw−1)·d rows above, from a line
    buffer of (sw−1)·d rows (empty list when sw == 1)."""
    rows = (sw - 1) * d
    if rows == 0:
        return []
    m.submodules.line_buffer = lines = LineBuffer(shape, width, rows)
    m.d.comb += [
        lines.read_col.eq(pipe.col_in),
        lines.read_en.eq(pipe.advance),
        lines.write_col.eq(pipe.col1),
        lines.write_en.eq(pipe.shift1),
        lines.write_data.eq(current),
    ]
    return [lines.taps[j * d - 1] for j in range(1, sw)]


def delay_line(m: Module, value, length: int, shift, name: str) -> list:
    """``length`` registers; on ``shift`` element 0 loads ``value`` and element k loads k−1."""
    regs = [Signal.like(value, name=f"{name}{k}") for k in range(length)]
    with m.If(shift):
        for k, reg in enumerate(regs):
            m.d.sync += reg.eq(value if k == 0 else regs[k - 1])
    return regs


def kept_tree(m: Module, terms: list, unit: int, name: str):
    """Balanced pairwise sum of ``terms`` (each a sum of ``unit`` int8 values), every add a
    ``keep``-marked signal of its exact width so that synthesis keeps two-operand carry chains
    instead of carry-save rows."""
    level = [(term, 1) for term in terms]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
                continue
            (a, na), (b, nb) = level[i], level[i + 1]
            bits = range_width(unit * (na + nb))
            total = Signal(signed(bits), name=f"{name}_{len(level)}_{i}", attrs={"keep": 1})
            m.d.comb += total.eq(a + b)
            nxt.append((total, na + nb))
        level = nxt
    return level[0][0]


def kept_tree_adds(count: int, unit: int) -> list:
    """Widths of the adds of :func:`kept_tree` over ``count`` terms of ``unit`` int8 values."""
    level, widths = [1] * count, []
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
            else:
                nxt.append(level[i] + level[i + 1])
                widths.append(range_width(unit * nxt[-1]))
        level = nxt
    return widths


def add_lut4(bits: int) -> int:
    """LUT4-equivalents of one two-operand ``bits``-bit add: ⌈bits/2⌉ CCU2C of two LUT4s."""
    return 2 * -(-bits // 2)


def tree_adder_bits(count: int, width: int) -> tuple[int, list]:
    """Adder bits of a balanced tree summing ``count`` values of ``width`` bits (each add is
    one bit wider than its wider operand) and the operand widths alive after each level."""
    widths = [width] * count
    bits, alive = 0, []
    while len(widths) > 1:
        nxt = []
        for i in range(0, len(widths), 2):
            if i + 1 < len(widths):
                nxt.append(max(widths[i], widths[i + 1]) + 1)
                bits += nxt[-1]
            else:
                nxt.append(widths[i])
        widths = nxt
        alive.append(sum(widths))
    return bits, alive


def control_ff(layer, stages: int, pre_stages: int = 0) -> int:
    """Row/column counters of the input, of every stage in front of stage 1 and of stage 1, one
    column per further stage, valid bits."""
    hp, wp = padded_size(layer)
    position = max(hp, 2).bit_length() + max(wp, 2).bit_length()
    return (2 + pre_stages) * position + stages + pre_stages
