"""Per-channel requantisation of exact accumulators to int8 (DESIGN.md's integer spec).

``y = clamp((acc·M + 2^(S−1)) >> S, lo, hi)`` with ``>>`` an arithmetic (floor) shift, ``lo = 0``
after a fused ReLU else −128, ``hi = 127``. M, 2^(S−1) and S of every output channel sit in an
on-chip ROM addressed by the lane group.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import ACT_MAX, QuantLayer

from .dsp import (MULT18X18D_OPERAND_BITS, RegisteredMultiplier, check_primitive_name,
                  fits_primitive)
from .mac_pipeline import group_layout, rom_memory
from .streams import stall_enable


PRODUCT_CHUNK_BITS = 17
"""Low slices of the accumulator are this wide: unsigned, they fit an 18-bit signed DSP operand."""

REQUANT_STAGES = 7
"""Registers from accumulator to int8: operands and ROM word, twice; partial products (one DSP
each), twice; rounded sum; shift; clamp. Each stage is at most one DSP, one carry chain or one
barrel shifter deep, and the multipliers have a register of their own on each side: the
MULT18X18D sites lie in rows across the ECP5 die, and the route from a register placed among the
carry chains to a multiplier took 6.7 ns in the demo build (the critical path at 62 MHz)."""


def product_chunks(acc_bits: int) -> list:
    """Slices of an ``acc_bits``-wide signed accumulator for acc·M on 18×18 signed multipliers:
    (lowest bit, width, signed) per slice; unsigned PRODUCT_CHUNK_BITS-bit slices from bit 0,
    the signed top slice at most 18 bits. One slice when the accumulator fits 18 bits."""
    chunks, low = [], 0
    while acc_bits - low > MULT18X18D_OPERAND_BITS:
        chunks.append((low, PRODUCT_CHUNK_BITS, False))
        low += PRODUCT_CHUNK_BITS
    chunks.append((low, acc_bits - low, True))
    return chunks


class Requantizer(wiring.Component):
    """Requantise P accumulators per beat, lane p of group g being output channel g·P + p.

    Parameters
    ----------
    layer : QuantLayer
        Provides multiplier M, shift S [Cout], ``relu`` and the exact widths.
    lanes : int
        P, accumulators per beat.
    dsp : str or None
        The hard multiplier for acc·M (``"MULT18X18D"``) or None for inferred multiplies (see
        :class:`~structhw.rtl_gen.dsp.RegisteredMultiplier`); inferred anyway when M does not
        fit the primitive's operand (then ``self.dsp`` is None).

    Attributes
    ----------
    i : In(stream.Signature(group_layout(signed(acc_bits), P, G)))
        Accumulators of one lane group (G = ⌈Cout/P⌉).
    o : Out(stream.Signature(group_layout(signed(8), P, G)))
        The int8 outputs of that group, REQUANT_STAGES cycles later (lanes past Cout carry 0).
    """

    def __init__(self, layer: QuantLayer, lanes: int, dsp: str | None = None):
        self.layer, self.lanes, self.dsp = layer, lanes, dsp
        self.groups = -(-layer.out_channels // lanes)
        widths = layer.widths()
        self.acc_bits = widths.accumulator
        self.product_bits = widths.requant_product
        self.m_bits = max(1, max(int(v) for v in layer.multiplier).bit_length())
        self.s_max = max(int(v) for v in layer.shift)
        check_primitive_name(dsp)
        if dsp is not None and not fits_primitive(dsp, signed(MULT18X18D_OPERAND_BITS),
                                                  unsigned(self.m_bits)):
            # M of more than 17 bits (the qnet format allows up to 31; structhw quantize makes
            # 15): each acc slice · M spans several DSPs, which synthesis splits and registers.
            self.dsp = None
        super().__init__({
            "i": In(stream.Signature(group_layout(signed(self.acc_bits), lanes, self.groups))),
            "o": Out(stream.Signature(group_layout(signed(8), lanes, self.groups))),
        })

    def _rom_words(self):
        """One word per group: per lane (M, 2^(S−1), S); absent lanes (0, 0, 1)."""
        layer, P = self.layer, self.lanes
        entry = data.StructLayout({"m": unsigned(self.m_bits), "rnd": unsigned(self.s_max),
                                   "s": unsigned(self.s_max.bit_length())})
        layout = data.ArrayLayout(entry, P)
        words = []
        for g in range(self.groups):
            word, offset = 0, 0
            for p in range(P):
                o = g * P + p
                m, s = (int(layer.multiplier[o]), int(layer.shift[o])) if o < layer.out_channels else (0, 1)
                fields = ((m, self.m_bits), (1 << (s - 1), self.s_max), (s, self.s_max.bit_length()))
                for value, bits in fields:
                    word |= value << offset
                    offset += bits
            words.append(word)
        return layout, words

    def elaborate(self, platform):
        m = Module()
        P = self.lanes
        layout, words = self._rom_words()
        m.submodules.rom = rom = rom_memory(layout.size, words)
        rd = rom.read_port(domain="comb")
        m.d.comb += rd.addr.eq(self.i.payload.group)
        coef = data.View(layout, rd.data)

        advance = stall_enable(m, self.o.valid, self.o.ready)
        m.d.comb += self.i.ready.eq(advance)

        s0_valid = Signal()
        s0_group = Signal.like(self.i.payload.group)
        s0_acc = Signal.like(self.i.payload.values, name="acc_in")
        s0_coef = Signal(layout, name="coef")
        with m.If(advance):
            m.d.sync += [s0_valid.eq(self.i.valid), s0_group.eq(self.i.payload.group),
                         s0_acc.eq(self.i.payload.values), s0_coef.eq(coef)]

        # The multipliers' input registers take the place of a register stage here ("near"):
        # the round constant and shift travel beside them.
        near_valid = Signal()
        near_group = Signal.like(s0_group)
        near_coef = Signal(layout, name="coef_near")
        with m.If(advance):
            m.d.sync += [near_valid.eq(s0_valid), near_group.eq(s0_group), near_coef.eq(s0_coef)]

        chunks = product_chunks(self.acc_bits)
        part_bits = [bits + self.m_bits + 1 for _, bits, _ in chunks]

        def beside_products(stage, tag):
            """(valid, group, rnd [P], shift [P]) registers travelling beside the products."""
            return (Signal(name=f"{stage}_valid"), Signal.like(s0_group, name=f"{stage}_group"),
                    [Signal(coef[p].rnd.shape(), name=f"rnd{tag}_p{p}") for p in range(P)],
                    [Signal(coef[p].s.shape(), name=f"shift{tag}_p{p}") for p in range(P)])

        raw_valid, raw_group, raw_rnd, raw_shift = beside_products("raw", "_raw")
        raw_parts = [[None] * len(chunks) for _ in range(P)]
        for p in range(P):
            for j, (low, bits, is_signed) in enumerate(chunks):
                piece = s0_acc[p][low:low + bits]
                piece = piece.as_signed() if is_signed else piece
                mult = RegisteredMultiplier(piece.shape(), unsigned(self.m_bits), self.dsp)
                m.submodules[f"mult_p{p}_c{j}"] = mult
                m.d.comb += [mult.a.eq(piece), mult.b.eq(s0_coef[p].m), mult.en.eq(advance)]
                raw_parts[p][j] = mult.p
        s1_valid, s1_group, s1_rnd, s1_shift = beside_products("s1", "")
        s1_parts = [[Signal(signed(b), name=f"part{j}_p{p}") for j, b in enumerate(part_bits)]
                    for p in range(P)]
        with m.If(advance):
            m.d.sync += [raw_valid.eq(near_valid), raw_group.eq(near_group),
                         s1_valid.eq(raw_valid), s1_group.eq(raw_group)]
            for p in range(P):
                m.d.sync += [s1_parts[p][j].eq(raw_parts[p][j]) for j in range(len(chunks))]
                m.d.sync += [raw_rnd[p].eq(near_coef[p].rnd), raw_shift[p].eq(near_coef[p].s),
                             s1_rnd[p].eq(raw_rnd[p]), s1_shift[p].eq(raw_shift[p])]

        self._round_shift_clamp(m, advance, (s1_valid, s1_group, s1_parts, s1_rnd, s1_shift), chunks)
        return m

    def _round_shift_clamp(self, m: Module, advance, products, chunks) -> None:
        """The stages after the partial products: rounded sum, shift, clamp into ``o``;
        ``products`` = (valid, group, parts [P][chunk], rnd [P], shift [P]) registers."""
        P = self.lanes
        s1_valid, s1_group, s1_parts, s1_rnd, s1_shift = products
        s2_valid = Signal()
        s2_group = Signal.like(s1_group)
        s2_sum = [Signal(signed(self.product_bits), name=f"rounded_p{p}") for p in range(P)]
        s2_shift = [Signal.like(s1_shift[p], name=f"shift2_p{p}") for p in range(P)]
        with m.If(advance):
            m.d.sync += [s2_valid.eq(s1_valid), s2_group.eq(s1_group)]
            for p in range(P):
                total = s1_rnd[p]
                for (low, _, _), part in zip(chunks, s1_parts[p]):
                    total = total + (part << low)
                m.d.sync += [s2_sum[p].eq(total), s2_shift[p].eq(s1_shift[p])]

        s3_valid = Signal()
        s3_group = Signal.like(s2_group)
        s3_shifted = [Signal(signed(self.product_bits), name=f"shifted_p{p}") for p in range(P)]
        with m.If(advance):
            m.d.sync += [s3_valid.eq(s2_valid), s3_group.eq(s2_group)]
            for p in range(P):
                m.d.sync += s3_shifted[p].eq(s2_sum[p] >> s2_shift[p])

        out_valid = Signal()
        m.d.comb += self.o.valid.eq(out_valid)
        with m.If(advance):
            m.d.sync += [out_valid.eq(s3_valid), self.o.payload.group.eq(s3_group)]
            for p in range(P):
                m.d.sync += self.o.payload.values[p].eq(self._clamp(s3_shifted[p]))

    def _clamp(self, shifted):
        return saturate_int8(shifted, self.layer.lo)


def saturate_int8(value, lo: int):
    """``clamp(value, lo, ACT_MAX)`` of a signed ``value`` as an int8 value, ``lo`` 0 (after a
    fused ReLU) or −128. The bounds are tested on the bits above bit 6 (OR / AND trees a few
    LUTs deep), not with two comparators: a comparator is a carry chain as wide as ``value``,
    and its output drives the set/reset of the output registers (benchmarks/README.md: the
    dense demo's critical path)."""
    if lo not in (0, -(ACT_MAX + 1)):
        raise ConfigError(f"int8 clamp: lower bound must be 0 or {-(ACT_MAX + 1)}, got {lo}")
    sign, high = value[-1], value[7:]
    above = ~sign & high.any()
    below = sign if lo == 0 else sign & ~high.all()
    return Mux(below, lo, Mux(above, ACT_MAX, value[:8].as_signed()))
