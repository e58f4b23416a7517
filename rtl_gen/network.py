"""The whole-network accelerator: the plan's layer engines chained into one dataflow pipeline."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.plan import HardwarePlan
from structhw.errors import ConfigError

from .engine import LayerEngine
from .flatten import Flatten


RAM_STYLES = (None, "block", "distributed")


class _StyledFIFO(fifo.SyncFIFOBuffered):
    """``SyncFIFOBuffered`` whose storage memory carries ``ram_style`` for synthesis."""

    def __init__(self, width: int, depth: int, ram_style: str | None):
        super().__init__(width=width, depth=depth)
        self.ram_style = ram_style

    def elaborate(self, platform):
        m = super().elaborate(platform)
        storage = m._named_submodules.get("storage")
        if self.ram_style is not None and storage is not None:
            storage[0].attrs["ram_style"] = self.ram_style
        return m


class StreamFIFO(wiring.Component):
    """A first-in first-out queue of ``depth`` beats between two streams of ``layout``.

    Parameters
    ----------
    layout : ShapeCastable
        Payload layout of both streams.
    depth : int
        Entries (beats), ≥ 1. Storage is a ``SyncFIFOBuffered`` (synchronous RAM read, so block or
        distributed RAM), which adds one cycle of latency on an empty queue.
    ram_style : str or None
        ``"block"`` or ``"distributed"``: the RAM synthesis must use (the plan's cost model
        decided it); None leaves the choice to synthesis (which takes block RAM even for a
        60-deep, 512-bit queue).

    Attributes
    ----------
    i : In(stream.Signature(layout))
    o : Out(stream.Signature(layout))
    """

    def __init__(self, layout, depth: int, ram_style: str | None = None):
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"StreamFIFO: depth must be an integer ≥ 1, got {depth!r}")
        if ram_style not in RAM_STYLES:
            raise ConfigError(f"StreamFIFO: ram_style must be one of {RAM_STYLES}, "
                              f"got {ram_style!r}")
        self.layout, self.depth, self.ram_style = layout, depth, ram_style
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self.layout).width
        m.submodules.queue = queue = _StyledFIFO(width, self.depth, self.ram_style)
        m.d.comb += [
            queue.w_data.eq(self.i.payload.as_value()),
            queue.w_en.eq(self.i.valid),
            self.i.ready.eq(queue.w_rdy),
            self.o.payload.as_value().eq(queue.r_data),
            self.o.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.o.ready),
        ]
        return m


class Network(wiring.Component):
    """The accelerator of a :class:`~structhw.plan.HardwarePlan`: image in, logits out.

    Stage k is ``[Flatten →] LayerEngine(layer k, plan params) [→ StreamFIFO(plan depth)]``, with
    the Flatten where the plan says (a linear layer fed a C×H×W map, H·W > 1) and a FIFO after
    every stage whose ``fifo_depth`` is non-zero (every stage but the last). The multipliers are
    the budget's ``dsp_primitive`` instances (ECP5 budgets: MULT18X18D with its own registers).

    Parameters
    ----------
    plan : HardwarePlan

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C0)))
        The input image: H0·W0 pixel beats of C0 int8 channels, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(8), num_classes)))
        One beat per image: the int8 logits, equal to :func:`structhw.golden.logits`.
    """

    def __init__(self, plan: HardwarePlan):
        self.plan = plan
        qnet = plan.qnet
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), qnet.input_channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(8), qnet.num_classes))),
        })

    def elaborate(self, platform):
        m = Module()
        qnet = self.plan.qnet
        shape = qnet.input_shape
        source = wiring.flipped(self.i)
        for stage, layer in zip(self.plan.stages, qnet.layers):
            if stage.flatten_before:
                flatten = Flatten(*shape)
                m.submodules[f"flatten_{stage.index}"] = flatten
                wiring.connect(m, source, flatten.i)
                source = flatten.o
            engine = LayerEngine(layer, stage.params, self.plan.budget.dsp_primitive)
            m.submodules[f"engine_{stage.index}"] = engine
            wiring.connect(m, source, engine.i)
            source = engine.o
            if stage.fifo_depth:
                queue = StreamFIFO(data.ArrayLayout(signed(8), layer.out_channels), stage.fifo_depth)
                m.submodules[f"fifo_{stage.index}"] = queue
                wiring.connect(m, source, queue.i)
                source = queue.o
            shape = (layer.out_channels, layer.out_height, layer.out_width)
        wiring.connect(m, source, wiring.flipped(self.o))
        return m
