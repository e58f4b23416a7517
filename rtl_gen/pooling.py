"""Max, average and global average pooling on the pixel stream.

The window pools reuse the layer engine's front end: a :class:`~structhw.rtl_gen.padder.Padder`
makes the (H+2p)×(W+2p) padded map, one beat per cycle, and a
:class:`~structhw.rtl_gen.window.WindowGenerator` (k−1 rows of line buffer in one
``lib.memory.Memory``) presents each k×k window at stride s. The max pool compares all C channels
of a window at once; the average pool sums them exactly and requantises ``lanes`` channels per
cycle through :class:`~structhw.rtl_gen.residual.LaneRequant`, behind a window queue sized like
the engine's so that the input keeps streaming while the requantiser works.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.graph.ops import AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp
from structhw.qnet import ACT_MIN, ceil_log2

from .engine import _period, _queue_depth, _window_times
from .mac import ceil_div
from .padder import Padder
from .residual import LaneRequant, requant_latency
from .streams import WindowQueue
from .window import WindowGenerator

SIGN_FLIP = 0x80
"""int8 x ↦ x XOR 0x80 is the order-preserving map onto 0…255: the max pool compares the flipped
values unsigned, so the Padder's zero border is the smallest value (−128) and never wins."""


def _pixel(channels: int, bits: int = 8) -> data.ArrayLayout:
    return data.ArrayLayout(signed(bits), channels)


def _padded(op) -> tuple:
    _, H, W = op.in_shape
    return H + 2 * op.padding, W + 2 * op.padding


def _check_lanes(op, lanes) -> None:
    C = op.in_shape[0]
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= C:
        op.fail(f"lanes must be an integer in 1…{C}, got {lanes!r}")


def _window_front(m: Module, op, source, fill_mask: int) -> WindowGenerator:
    """Padder → WindowGenerator of ``op``'s k×k / stride s windows over ``source`` (a C-channel
    int8 pixel stream), every value XORed with ``fill_mask`` on the way in."""
    C, H, W = op.in_shape
    Hp, Wp = _padded(op)
    m.submodules.padder = padder = Padder(C, H, W, op.padding)
    mask = Const(sum(fill_mask << (8 * c) for c in range(C)), 8 * C)
    m.d.comb += [padder.i.payload.as_value().eq(source.payload.as_value() ^ mask),
                 padder.i.valid.eq(source.valid), source.ready.eq(padder.i.ready)]
    m.submodules.window = window = WindowGenerator(C, 8, Hp, Wp, op.kernel, op.stride)
    wiring.connect(m, padder.o, window.i)
    return window


def _taps(window: WindowGenerator, channel: int) -> list:
    k, C = window.size, window.channels
    return [window.o.payload[t * C + channel] for t in range(k * k)]


def _tree(values: list, combine):
    while len(values) > 1:
        values = [combine(values[j], values[j + 1]) if j + 1 < len(values) else values[j]
                  for j in range(0, len(values), 2)]
    return values[0]


class MaxPool(wiring.Component):
    """:class:`~structhw.graph.ops.MaxPoolOp`: k×k max at stride s, all C channels at once.

    Parameters
    ----------
    op : MaxPoolOp

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        H'·W' pixels per image, raster order, equal to ``op.golden``. One padded pixel per
        cycle: :func:`maxpool_cycles` = (H+2p)·(W+2p) cycles per image, latency
        :func:`maxpool_latency`.
    """

    def __init__(self, op: MaxPoolOp):
        self.op = op
        C = op.in_shape[0]
        super().__init__({"i": In(stream.Signature(_pixel(C))),
                          "o": Out(stream.Signature(_pixel(C)))})

    def elaborate(self, platform):
        m = Module()
        C = self.op.in_shape[0]
        window = _window_front(m, self.op, wiring.flipped(self.i), SIGN_FLIP)
        take = Signal()
        m.d.comb += [take.eq(~self.o.valid | self.o.ready), window.o.ready.eq(take)]
        with m.If(take):
            m.d.sync += self.o.valid.eq(window.o.valid)
        for c in range(C):
            taps = [t.as_unsigned() for t in _taps(window, c)]
            largest = _tree(taps, lambda a, b: Mux(a > b, a, b))
            with m.If(take & window.o.valid):
                m.d.sync += self.o.payload[c].eq((largest ^ SIGN_FLIP).as_signed())
        return m


def maxpool_cycles(op: MaxPoolOp) -> int:
    """Cycles per image in steady state, no stalls: (H+2p)·(W+2p)."""
    Hp, Wp = _padded(op)
    return Hp * Wp


def maxpool_latency(op: MaxPoolOp) -> int:
    """Cycles from the unit's first padded beat of an image (the first input beat when p = 0;
    no stalls) to the first output beat valid: (k−1)·(W+2p) + k + 1."""
    _, Wp = _padded(op)
    return (op.kernel - 1) * Wp + op.kernel + 1


def _avg_schedule(op: AvgPoolOp, lanes: int) -> tuple:
    """The engine's window-schedule arguments for this pool: padded map, no sum-pool, k×k
    windows at stride s, ⌈C/lanes⌉ steps per window (:func:`~structhw.rtl_gen.engine._window_times`)."""
    Hp, Wp = _padded(op)
    return (Hp, Wp, 1, op.kernel, op.stride, ceil_div(op.in_shape[0], lanes))


def avgpool_queue_depth(op: AvgPoolOp, lanes: int) -> int:
    """Window-sum queue entries between window generator and requantiser: 0 when a queue
    would not shorten :func:`avgpool_cycles`, else the smallest depth (2…16) with the period of
    16 entries (the engine's rule)."""
    _, Ho, Wo = op.out_shape
    return _queue_depth(_avg_schedule(op, lanes), Ho * Wo)


def avgpool_cycles(op: AvgPoolOp, lanes: int) -> int:
    """Cycles per image in steady state, no stalls: the period of the window schedule with the
    queue of :func:`avgpool_queue_depth`; max((H+2p)·(W+2p), H'·W'·⌈C/lanes⌉) whenever the
    queue covers the input's window-less stretches."""
    _, Ho, Wo = op.out_shape
    return _period(_avg_schedule(op, lanes), Ho * Wo, avgpool_queue_depth(op, lanes))


def avgpool_latency(op: AvgPoolOp, lanes: int) -> int:
    """Cycles from the unit's first padded beat of an image (no stalls) to the first output
    beat valid: arrival of the first window (k−1)·(W+2p) + k, the sum register, then the lane
    requantiser (⌈C/lanes⌉ + 3)."""
    first_window = _window_times(*_avg_schedule(op, lanes), 1)[0]
    return first_window + 1 + requant_latency(op.in_shape[0], lanes)


class AvgPool(wiring.Component):
    """:class:`~structhw.graph.ops.AvgPoolOp`: exact k×k window sums (zero padding counted),
    then ``clamp((sum·M + 2^(S−1)) >> S, −128, 127)``, ``lanes`` channels per cycle.

    Parameters
    ----------
    op : AvgPoolOp
    lanes : int
        Requantisers (channels per cycle), 1 ≤ lanes ≤ C.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        H'·W' pixels per image, raster order, equal to ``op.golden``; :func:`avgpool_cycles`
        per image, latency :func:`avgpool_latency`.
    """

    def __init__(self, op: AvgPoolOp, lanes: int):
        _check_lanes(op, lanes)
        self.op, self.lanes = op, lanes
        C = op.in_shape[0]
        self.sum_bits = 8 + ceil_log2(op.kernel * op.kernel)
        super().__init__({"i": In(stream.Signature(_pixel(C))),
                          "o": Out(stream.Signature(_pixel(C)))})

    def elaborate(self, platform):
        m = Module()
        op, C = self.op, self.op.in_shape[0]
        window = _window_front(m, op, wiring.flipped(self.i), 0)
        sums = stream.Signature(_pixel(C, self.sum_bits)).create()
        m.d.comb += [sums.valid.eq(window.o.valid), window.o.ready.eq(sums.ready)]
        for c in range(C):
            m.d.comb += sums.payload[c].eq(_tree(_taps(window, c), lambda a, b: a + b))
        depth = avgpool_queue_depth(op, self.lanes)
        if depth:
            m.submodules.queue = queue = WindowQueue(sums.payload.shape(), depth)
            wiring.connect(m, sums, queue.i)
            sums = queue.o
        m.submodules.requant = rq = LaneRequant([signed(self.sum_bits)], [op.multiplier],
                                                op.shift, ACT_MIN, C, self.lanes)
        held = Signal()
        m.d.comb += [sums.ready.eq(~held | rq.i.ready), rq.i.valid.eq(held)]
        with m.If(sums.ready):
            m.d.sync += [held.eq(sums.valid), rq.i.payload.t0.eq(sums.payload)]
        wiring.connect(m, rq.o, wiring.flipped(self.o))
        return m


class GlobalAvgPool(wiring.Component):
    """:class:`~structhw.graph.ops.GlobalAvgPoolOp`: exact per-channel sums over an image's
    H·W beats, then ``clamp((sum·M + 2^(S−1)) >> S, −128, 127)``, ``lanes`` channels per cycle.

    The sums of a finished image move to a hold register that the requantiser reads, so the
    next image accumulates meanwhile (two banks of C sums of 8 + ⌈log2 H·W⌉ bits).

    Parameters
    ----------
    op : GlobalAvgPoolOp
    lanes : int
        Requantisers (channels per cycle), 1 ≤ lanes ≤ C.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        H·W pixels per image; accepted one per cycle, except that an image's last pixel waits
        until the hold register is free.
    o : Out(stream.Signature(ArrayLayout(signed(8), C)))
        One beat (C, 1, 1) per image, equal to ``op.golden``; :func:`global_avgpool_cycles`
        per image, latency :func:`global_avgpool_latency`.
    """

    def __init__(self, op: GlobalAvgPoolOp, lanes: int):
        _check_lanes(op, lanes)
        self.op, self.lanes = op, lanes
        C, H, W = op.in_shape
        self.sum_bits = 8 + ceil_log2(H * W)
        super().__init__({"i": In(stream.Signature(_pixel(C))),
                          "o": Out(stream.Signature(_pixel(C)))})

    def elaborate(self, platform):
        m = Module()
        op = self.op
        C, H, W = op.in_shape
        m.submodules.requant = rq = LaneRequant([signed(self.sum_bits)], [op.multiplier],
                                                op.shift, ACT_MIN, C, self.lanes)
        count = Signal(range(max(H * W, 2)))
        last = count == H * W - 1
        acc = Signal(_pixel(C, self.sum_bits))
        hold_free = ~rq.i.valid | rq.i.ready
        m.d.comb += self.i.ready.eq(~last | hold_free)
        with m.If(rq.i.ready):
            m.d.sync += rq.i.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += count.eq(Mux(last, 0, count + 1))
            for c in range(C):
                total = acc[c] + self.i.payload[c]
                with m.If(last):
                    m.d.sync += [acc[c].eq(0), rq.i.payload.t0[c].eq(total)]
                with m.Else():
                    m.d.sync += acc[c].eq(total)
            with m.If(last):
                m.d.sync += rq.i.valid.eq(1)
        wiring.connect(m, rq.o, wiring.flipped(self.o))
        return m


def global_avgpool_cycles(op: GlobalAvgPoolOp, lanes: int) -> int:
    """Cycles per image in steady state, no stalls: max(H·W, ⌈C/lanes⌉)."""
    _, H, W = op.in_shape
    return max(H * W, ceil_div(op.in_shape[0], lanes))


def global_avgpool_latency(op: GlobalAvgPoolOp, lanes: int) -> int:
    """Cycles from an idle unit accepting an image's first beat (no stalls) to its output beat
    valid: H·W (the beats) + ⌈C/lanes⌉ + 3 (the lane requantiser)."""
    _, H, W = op.in_shape
    return H * W + requant_latency(op.in_shape[0], lanes)
