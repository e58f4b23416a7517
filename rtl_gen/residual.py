"""Residual add, and the lane requantiser it shares with the average pools.

:class:`LaneRequant` is the one "stall pipeline" of the graph ops: a pixel of C channels, each a
few exact integer terms, is requantised ``lanes`` channels per cycle with one set of constants,
``clamp((Σ_k term_k·M_k + 2^(S−1)) >> S, lo, 127)``, and the lane groups are gathered back into
one C-channel beat by the engine's :class:`~structhw.rtl_gen.engine.GroupCollector`. Every
register stage advances together (``advance``) whenever the last one can hand its beat on, so
backpressure holds the whole pipeline and no beat is lost.
"""

from __future__ import annotations

from amaranth import Module, Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.graph.ops import AddOp
from structhw.qnet import ACT_MIN

from .engine import GroupCollector
from .mac import ceil_div
from .requant import saturate_int8
from .streams import stall_enable

REQUANT_LATENCY = 3
"""Cycles :class:`LaneRequant` adds to the ⌈C/P⌉ group steps of a pixel: its four registers
(selected terms, products, rounded sum, and the collector's, which the shift by the constant S,
a wiring, and the clamp feed) less the cycle of the last group step itself."""


class LaneRequant(wiring.Component):
    """Requantise each C-channel pixel, ``lanes`` channels per cycle.

    Parameters
    ----------
    term_shapes : list of Shape
        Shape of each term of a channel (K terms; for example ``[signed(8)] * 2`` for an add).
    multipliers : list of int
        M_k ≥ 0 of each term (constants, plain ``*`` for synthesis to map).
    shift : int
        S ≥ 1.
    lo : int
        Lower clamp (0 after a fused ReLU, else −128); the upper one is 127.
    channels : int
        C, channels per pixel.
    lanes : int
        P, channels requantised per cycle, 1 ≤ P ≤ C.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"t0": ArrayLayout(term_shapes[0], C), …})))
        One beat per pixel: term k of channel c is ``payload[f"t{k}"][c]``. Held ⌈C/P⌉ cycles
        (one per lane group), accepted in the last.
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        One beat per pixel, :func:`requant_latency` = ⌈C/P⌉ + REQUANT_LATENCY cycles after the
        input beat arrived at an idle pipeline (no stalls).
    """

    def __init__(self, term_shapes, multipliers, shift: int, lo: int, channels: int, lanes: int):
        self.term_shapes = [Shape.cast(s) for s in term_shapes]
        self.multipliers = [int(v) for v in multipliers]
        self.shift, self.lo = int(shift), int(lo)
        self.channels, self.lanes = channels, lanes
        self.groups = ceil_div(channels, lanes)
        self.in_layout = data.StructLayout({f"t{k}": data.ArrayLayout(s, channels)
                                            for k, s in enumerate(self.term_shapes)})
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(data.ArrayLayout(signed(8), channels)))})

    @property
    def sum_bits(self) -> int:
        """Width of the exact Σ term·M + 2^(S−1), signed."""
        bound = (1 << (self.shift - 1)) + sum(
            (1 << (s.width - s.signed)) * mk for s, mk in zip(self.term_shapes, self.multipliers))
        return bound.bit_length() + 1

    def elaborate(self, platform):
        m = Module()
        P, G, C, K = self.lanes, self.groups, self.channels, len(self.term_shapes)
        m.submodules.collect = collect = GroupCollector(C, P)
        group = Signal(range(max(G, 2)))
        valid = [Signal(name=f"valid{j}") for j in range(3)]
        advance = stall_enable(m, valid[2], collect.i.ready)
        last_group = group == G - 1
        m.d.comb += self.i.ready.eq(advance & last_group)
        with m.If(self.i.valid & advance):
            m.d.sync += group.eq(Mux(last_group, 0, group + 1))

        def stage(name, shape):
            return [[Signal(shape(k), name=f"{name}_t{k}_p{p}") for k in range(K)]
                    for p in range(P)]

        terms = stage("term", lambda k: self.term_shapes[k])
        products = stage("product", lambda k: signed(self.term_shapes[k].width
                                                     + self.multipliers[k].bit_length() + 1))
        sums = [Signal(signed(self.sum_bits), name=f"sum_p{p}") for p in range(P)]
        groups = [Signal.like(collect.i.payload.group, name=f"group{j}") for j in range(3)]
        with m.If(advance):
            m.d.sync += [valid[0].eq(self.i.valid), groups[0].eq(group),
                         valid[1].eq(valid[0]), groups[1].eq(groups[0]),
                         valid[2].eq(valid[1]), groups[2].eq(groups[1])]
            with m.Switch(group):
                for g in range(G):
                    with m.Case(g):
                        for p in range(P):
                            c = g * P + p
                            for k in range(K):
                                value = self.i.payload[f"t{k}"][c] if c < C else 0
                                m.d.sync += terms[p][k].eq(value)
                with m.Default():  # never taken (group < G); holding costs less than a Case
                    m.d.sync += [t.eq(t) for lane in terms for t in lane]
            for p in range(P):
                for k in range(K):
                    m.d.sync += products[p][k].eq(terms[p][k] * self.multipliers[k])
                total = 1 << (self.shift - 1)
                for k in range(K):
                    total = products[p][k] + total
                m.d.sync += sums[p].eq(total)

        m.d.comb += [collect.i.valid.eq(valid[2]), collect.i.payload.group.eq(groups[2])]
        for p in range(P):
            m.d.comb += collect.i.payload.values[p].eq(saturate_int8(sums[p] >> self.shift, self.lo))
        wiring.connect(m, collect.o, wiring.flipped(self.o))
        return m


def requant_latency(channels: int, lanes: int) -> int:
    """Cycles of :class:`LaneRequant` from a pixel's beat arriving (pipeline idle) to its
    output beat: ⌈C/P⌉ group steps + REQUANT_LATENCY + the collector's register."""
    return ceil_div(channels, lanes) + REQUANT_LATENCY


class ResidualAdd(wiring.Component):
    """:class:`~structhw.graph.ops.AddOp`: ``clamp((a·M_a + b·M_b + 2^(S−1)) >> S, lo, 127)``.

    Parameters
    ----------
    op : AddOp
    lanes : int
        Channels computed per cycle (two multiplies each), 1 ≤ lanes ≤ C.

    Attributes
    ----------
    a, b : In(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image each, raster order; one beat of each is taken together, in the
        last of the pixel's ⌈C/lanes⌉ cycles.
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image equal to ``op.golden(a, b)``. Cycles per image H·W·⌈C/lanes⌉;
        latency (both inputs valid → output valid, no stalls) :func:`add_latency`.
    """

    def __init__(self, op: AddOp, lanes: int):
        C = op.in_shape[0]
        if not isinstance(lanes, int) or not 1 <= lanes <= C:
            raise ConfigError(f"ResidualAdd {op.name!r}: lanes must be in 1…{C}, got {lanes!r}")
        self.op, self.lanes = op, lanes
        pixel = data.ArrayLayout(signed(8), C)
        super().__init__({"a": In(stream.Signature(pixel)), "b": In(stream.Signature(pixel)),
                          "o": Out(stream.Signature(pixel))})

    def elaborate(self, platform):
        m = Module()
        op = self.op
        m.submodules.requant = rq = LaneRequant(
            [signed(8), signed(8)], op.multipliers, op.shift, 0 if op.relu else ACT_MIN,
            op.in_shape[0], self.lanes)
        m.d.comb += [
            rq.i.payload.t0.eq(self.a.payload), rq.i.payload.t1.eq(self.b.payload),
            rq.i.valid.eq(self.a.valid & self.b.valid),
            self.a.ready.eq(rq.i.ready & self.b.valid),
            self.b.ready.eq(rq.i.ready & self.a.valid),
        ]
        wiring.connect(m, rq.o, wiring.flipped(self.o))
        return m


def add_latency(op: AddOp, lanes: int) -> int:
    """Cycles from both inputs valid (idle unit) to the output beat valid: ⌈C/lanes⌉ + 3."""
    return requant_latency(op.in_shape[0], lanes)
