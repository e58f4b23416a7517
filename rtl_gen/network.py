"""The whole-network accelerator: the plan's layer engines chained into one dataflow pipeline."""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.plan import HardwarePlan

from .engine import LayerEngine
from .flatten import Flatten
from .streams import StreamFIFO


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
