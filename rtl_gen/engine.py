"""A whole quantized layer in hardware: Padder → skid → [SumPool] → windows → [window queue] → MAC
array (its output FIFO) → requantiser → collector. The window queue (depth from
:func:`window_queue_depth`) lets the input stream on through rows that complete no window while
the MAC array works. The input skid buffer registers the ready signal and the MAC array's issue
stage waits on credits of its output FIFO, not on the consumer's ready, so no combinational
ready path runs from the engine's output to its input (timing); neither adds a cycle while the
input is always valid and the output always ready (the cycle models stay exact).

The dense layer (``layer.is_dense``) comes from the same generator without the sum-pool: its
windows are taken directly over the zero-padded input.
"""

from __future__ import annotations

from functools import lru_cache

from amaranth import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer

from .dsp import check_primitive
from .mac import MULT_OPERAND_BITS, MacArray, ceil_div, group_layout, tree_stages
from .mac_pipeline import MAC_LATENCY_BESIDES_TREE
from .padder import Padder
from .params import EngineParams
from .requant import REQUANT_STAGES, Requantizer
from .streams import MIN_QUEUE_DEPTH, SkidBuffer, WindowQueue
from .sumpool import SumPool
from .window import WindowGenerator, window_positions


def check_engine(layer: QuantLayer, params: EngineParams) -> None:
    """Raise :class:`ConfigError` naming the parameter if ``params`` cannot implement ``layer``
    on the target (ECP5: 18-bit signed multiplier operands)."""
    params.check(layer)
    operand = layer.widths().sumpool
    if operand > MULT_OPERAND_BITS:
        raise ConfigError(f"layer {layer.name!r}: sum-pool output of {operand} bits (window "
                          f"{layer.window}) exceeds the {MULT_OPERAND_BITS}-bit signed multiplier "
                          f"operand; use a smaller window (larger c or n)")


class GroupCollector(wiring.Component):
    """Gather the ⌈Cout/P⌉ lane groups of one output pixel into one Cout-channel beat.

    Attributes
    ----------
    i : In(stream.Signature(group_layout(signed(8), P, G)))
        Lane groups 0..G−1 of each pixel, in order.
    o : Out(stream.Signature(ArrayLayout(signed(8), Cout)))
        One beat per output pixel.
    """

    def __init__(self, out_channels: int, lanes: int):
        self.out_channels, self.lanes = out_channels, lanes
        self.groups = -(-out_channels // lanes)
        super().__init__({
            "i": In(stream.Signature(group_layout(signed(8), lanes, self.groups))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(8), out_channels))),
        })

    def elaborate(self, platform):
        m = Module()
        P, G, Cout = self.lanes, self.groups, self.out_channels
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.Switch(self.i.payload.group):
                for g in range(G):
                    with (m.Case(g) if g < G - 1 else m.Default()):
                        for p in range(P):
                            if g * P + p < Cout:
                                m.d.sync += self.o.payload[g * P + p].eq(self.i.payload.values[p])
                        if g == G - 1:
                            m.d.sync += self.o.valid.eq(1)
        return m


def checked_engine(engine, check, layer: QuantLayer, params: EngineParams, dsp) -> dict:
    """For a layer engine's ``__init__``: ``check(layer, params)`` and the multiplier primitive
    (a :class:`ConfigError` marks the never-built component silent and propagates), the
    attributes ``layer``, ``params``, ``dsp``, and the members of its signature (``i``: C int8
    values per beat, ``o``: Cout)."""
    try:
        check(layer, params)
        check_primitive(dsp, signed(MULT_OPERAND_BITS), signed(8))
    except ConfigError:
        engine._MustUse__silence = True  # never built: no "created but never used" warning
        raise
    engine.layer, engine.params, engine.dsp = layer, params, dsp
    return {"i": In(stream.Signature(data.ArrayLayout(signed(8), layer.in_channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(8), layer.out_channels)))}


class LayerEngine(wiring.Component):
    """One quantized layer (conv, depthwise, pointwise or linear; dense or structured).

    Parameters
    ----------
    layer : QuantLayer
        The layer: geometry, α, bias, M, S (all stored in on-chip ROM).
    params : EngineParams
        Lanes P, multipliers per lane T, sum-pool microarchitecture (None for a dense layer).
    dsp : str or None
        Hard multiplier the MAC array and requantiser instantiate with its own registers
        (``"MULT18X18D"``, from the plan's budget), or None to leave the multiplies to synthesis.
        Same cycles either way.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C)))
        ``in_height·in_width`` input pixels per image, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(8), Cout)))
        ``out_height·out_width`` output pixels per image, raster order, equal to
        :func:`structhw.golden.run_layer`.
    """

    def __init__(self, layer: QuantLayer, params: EngineParams, dsp: str | None = None):
        super().__init__(checked_engine(self, check_engine, layer, params, dsp))

    def elaborate(self, platform):
        m = Module()
        layer, params = self.layer, self.params
        padded_h = layer.in_height + 2 * layer.padding
        padded_w = layer.in_width + 2 * layer.padding
        m.submodules.padder = padder = Padder(layer.in_channels, layer.in_height, layer.in_width,
                                              layer.padding)
        wiring.connect(m, wiring.flipped(self.i), padder.i)
        m.submodules.input_skid = input_skid = SkidBuffer(padder.o.payload.shape())
        wiring.connect(m, padder.o, input_skid.i)
        source = input_skid.o
        if layer.is_dense:
            operand_bits = 8
        else:
            m.submodules.sumpool = sumpool = SumPool(layer, params.sumpool)
            wiring.connect(m, source, sumpool.i)
            source = sumpool.o
            operand_bits = layer.widths().sumpool
        m.submodules.window = window = WindowGenerator(
            layer.sumpool_channels, operand_bits, layer.sumpool_height, layer.sumpool_width,
            layer.n, layer.stride, layer.dilation)
        assert (window.out_height, window.out_width) == (layer.out_height, layer.out_width)
        assert not layer.is_dense or (layer.sumpool_height, layer.sumpool_width) == (padded_h, padded_w)
        wiring.connect(m, source, window.i)
        m.submodules.mac = mac = MacArray(layer, params.lanes, params.mults, operand_bits, self.dsp)
        depth = window_queue_depth(layer, params)
        if depth:
            m.submodules.window_queue = queue = WindowQueue(window.o.payload.shape(), depth)
            wiring.connect(m, window.o, queue.i)
            wiring.connect(m, queue.o, mac.i)
        else:
            wiring.connect(m, window.o, mac.i)
        connect_output_stages(m, mac.o, wiring.flipped(self.o), layer, params.lanes, self.dsp)
        return m


def connect_output_stages(m: Module, accumulators, out, layer: QuantLayer, lanes: int,
                          dsp) -> None:
    """MAC lane-group beats (``accumulators``, the MAC's output FIFO) → requantiser →
    collector → ``out``."""
    m.submodules.requant = requant = Requantizer(layer, lanes, dsp)
    wiring.connect(m, accumulators, requant.i)
    m.submodules.collect = collect = GroupCollector(layer.out_channels, lanes)
    wiring.connect(m, requant.o, collect.i)
    wiring.connect(m, collect.o, out)


def engine_steps(layer: QuantLayer, params: EngineParams) -> int:
    """Cycles the MAC array spends per output pixel: ⌈Cout/P⌉ · ⌈c·n²/T⌉."""
    return ceil_div(layer.out_channels, params.lanes) * ceil_div(layer.mults_per_output, params.mults)


MAX_QUEUE_DEPTH = 16
"""Deepest window queue :func:`window_queue_depth` considers (one ECP5 LUT-RAM word column)."""

MODEL_IMAGES = 4
"""Back-to-back images the window schedule is computed for; the period is read off the last."""


@lru_cache(maxsize=16384)
def _window_times(pad_h: int, pad_w: int, sumpool_span: int, window_span: int, stride: int,
                  steps: int, images: int, queue: int = 0) -> tuple:
    """Cycle at which the MAC array takes each window, for ``images`` back-to-back images with
    an always-valid input and an always-ready output (cycle 0: first padded pixel), with a
    window queue of ``queue`` entries (0: none) between the window generator and the MAC array.

    Model: the padded map (pad_h × pad_w) arrives one pixel per cycle; padded pixels that
    complete no sum-pool box (the first ``sumpool_span − 1`` rows and columns) are bubbles that
    pass without waiting; window i arrives the cycle after its last pixel (A_i) and the MAC array
    takes it at T_i = max(A_i, T_{i−1} + steps). The generator holds window i, and no further
    pixel enters, until it leaves: at T_i without a queue, else at max(A_i, T_{i−queue} + 1)
    (the queue has room once fewer than ``queue`` earlier windows wait in it).
    """
    sp = sumpool_span - 1
    rows = set(window_positions(pad_h - sp, window_span, stride))
    cols = set(window_positions(pad_w - sp, window_span, stride))
    times = []
    t_pixel = -1
    blocked_until = 0
    for _ in range(images):
        for y in range(pad_h):
            for x in range(pad_w):
                ey, ex = y - sp, x - sp
                if ey < 0 or ex < 0:
                    t_pixel += 1
                    continue
                t_pixel = max(t_pixel + 1, blocked_until)
                if ey in rows and ex in cols:
                    arrive = t_pixel + 1
                    taken = arrive if not times else max(arrive, times[-1] + steps)
                    times.append(taken)
                    if not queue:
                        blocked_until = taken
                    elif len(times) > queue:
                        blocked_until = max(arrive, times[-1 - queue] + 1)
                    else:
                        blocked_until = arrive
    return tuple(times)


def _schedule_args(layer: QuantLayer, params: EngineParams) -> tuple:
    return (layer.in_height + 2 * layer.padding, layer.in_width + 2 * layer.padding,
            layer.dilation * (layer.spatial_window - 1) + 1, layer.dilation * (layer.n - 1) + 1,
            layer.stride, engine_steps(layer, params))


def _period(args: tuple, per_image: int, queue: int) -> int:
    times = _window_times(*args, MODEL_IMAGES, queue)
    return times[MODEL_IMAGES * per_image - 1] - times[(MODEL_IMAGES - 1) * per_image - 1]


@lru_cache(maxsize=16384)
def _queue_depth(args: tuple, per_image: int) -> int:
    best = _period(args, per_image, MAX_QUEUE_DEPTH)
    if _period(args, per_image, 0) == best:
        return 0
    lo, hi = MIN_QUEUE_DEPTH, MAX_QUEUE_DEPTH
    while lo < hi:
        mid = (lo + hi) // 2
        if _period(args, per_image, mid) == best:
            hi = mid
        else:
            lo = mid + 1
    return lo


def window_queue_depth(layer: QuantLayer, params: EngineParams) -> int:
    """Entries of the window queue in front of the MAC array: 0 (no queue) when a queue would
    not shorten :func:`engine_cycles`, else the smallest depth in MIN_QUEUE_DEPTH..MAX_QUEUE_DEPTH
    whose period equals that of MAX_QUEUE_DEPTH (the period falls monotonically with depth)."""
    return _queue_depth(_schedule_args(layer, params), layer.out_height * layer.out_width)


def engine_cycles(layer: QuantLayer, params: EngineParams) -> int:
    """Cycles per image in steady state (back-to-back images, no stalls): the period of the
    window schedule of :func:`_window_times` with the engine's window queue. It is at least
    :func:`engine_throughput_bound`; above it when the queue cannot cover the input's
    window-less stretches (rows that complete no window, borders, the gap between images)."""
    return _period(_schedule_args(layer, params), layer.out_height * layer.out_width,
                   window_queue_depth(layer, params))


def engine_throughput_bound(layer: QuantLayer, params: EngineParams) -> int:
    """max(padded input pixels, output pixels · steps): the cycles per image no schedule beats."""
    padded = (layer.in_height + 2 * layer.padding) * (layer.in_width + 2 * layer.padding)
    return max(padded, layer.out_height * layer.out_width * engine_steps(layer, params))


PIPELINE_LATENCY = 1 + MAC_LATENCY_BESIDES_TREE + REQUANT_STAGES + 1
"""Cycles the dense engine adds after the MAC array's last step of a pixel, besides the
:func:`~structhw.rtl_gen.mac.tree_stages` of the product adder tree: the step register, the
MAC's :data:`~structhw.rtl_gen.mac_pipeline.MAC_LATENCY_BESIDES_TREE` (products, accumulate,
output FIFO), the requantiser's stages, the collector register (measured by
tests/rtl/test_engine.py)."""


def engine_latency(layer: QuantLayer, params: EngineParams) -> int:
    """Cycles from an idle engine accepting the first beat of an image (cycle 0; a border beat
    when padded) to handing out the first output pixel, with no stalls: the arrival of the first
    window, ⌈Cout/P⌉·⌈c·n²/T⌉ MAC steps, the sum-pool's pipeline, the MAC adder tree's
    stages and PIPELINE_LATENCY."""
    first_window = _window_times(*_schedule_args(layer, params), 1)[0]
    sumpool = 0
    if not layer.is_dense:
        unit = SumPool(layer, params.sumpool)
        unit._MustUse__silence = True  # built only to ask its pipeline depth
        sumpool = unit.latency
    return (first_window + engine_steps(layer, params) + sumpool + tree_stages(params.mults)
            + PIPELINE_LATENCY)


def images_in_flight(latency_cycles: int, cycles_per_image: float) -> int:
    """Images a pipeline of this latency and period holds at once, at most:
    ⌈latency / period⌉ + 1. The first this many images of a back-to-back run meet a pipeline
    still filling, so their spacing is not yet the steady-state period."""
    return -(-int(latency_cycles) // max(1, int(cycles_per_image))) + 1
