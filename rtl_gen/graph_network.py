"""The accelerator of a graph network: every node's component, a FIFO on every planned edge, a
fork wherever a stream feeds several node inputs — all as the :class:`GraphPlan` says."""

from __future__ import annotations

import re

from amaranth.hdl import Module, Shape, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.graph.plan import GraphPlan
from structhw.graph.quant_graph import INPUT

from .flatten import Flatten
from .fork import Fork
from .memory_style import ram_style
from .network import Network
from .streams import StreamFIFO
from .nodes import node_hardware


def _pixel(channels: int) -> data.ArrayLayout:
    return data.ArrayLayout(signed(8), channels)


def _ident(name: str) -> str:
    """A node name as a Verilog-friendly part of a submodule name (``layer1.0.conv1`` →
    ``layer1_0_conv1``); the node index kept beside it keeps names unique."""
    return re.sub(r"\W", "_", name)


class GraphNetwork(wiring.Component):
    """The accelerator of a :class:`~structhw.graph.plan.GraphPlan`: image in, logits out.

    Node ``n`` is ``[Flatten →] component(n, plan params)`` (the component from its hardware
    class, :meth:`~structhw.rtl_gen.nodes.NodeHardware.component`); the stream a node (or the
    input) produces goes through a :class:`~structhw.rtl_gen.fork.Fork` when several node inputs
    read it, then through a :class:`~structhw.rtl_gen.streams.StreamFIFO` of the plan's depth on
    every edge the plan lists. Multipliers are the budget's ``dsp_primitive`` cells.

    Parameters
    ----------
    plan : GraphPlan

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), C0)))
        The input image: H0·W0 pixel beats of C0 int8 channels, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(8), classes)))
        One beat per image: the int8 logits, equal to the graph's golden
        :meth:`~structhw.graph.quant_graph.QuantGraph.logits`.
    parts : dict
        After elaboration: node name → (its input streams, its output stream), for testbenches
        that watch where a stream stalls.
    """

    def __init__(self, plan: GraphPlan):
        self.plan = plan
        self.parts = {}
        graph = plan.graph
        super().__init__({"i": In(stream.Signature(_pixel(graph.input_shape[0]))),
                          "o": Out(stream.Signature(_pixel(graph.num_classes)))})

    def _edge_streams(self, m: Module, name: str, source) -> dict:
        """The stream of every edge leaving ``name`` (fork and FIFOs included), keyed
        ``(consumer, input index)``."""
        graph = self.plan.graph
        edges = graph.edges_from(name)
        layout = _pixel(graph.shape_of(name)[0])
        if len(edges) > 1:
            fork = Fork(layout, len(edges))
            m.submodules[f"fork_{self._tags[name]}"] = fork
            wiring.connect(m, source, fork.i)
            branches = list(fork.o)
        else:
            branches = [source]
        depths = {(e.dst, e.input): e.depth for e in self.plan.edges if e.src == name}
        streams, tag = {}, self._tags[name]
        for (dst, i), branch in zip(edges, branches):
            if (dst, i) in depths:
                depth = depths[dst, i]
                queue = StreamFIFO(layout, depth, ram_style(depth, Shape.cast(layout).width))
                m.submodules[f"fifo_{tag}__{self._tags[dst]}_{i}"] = queue
                wiring.connect(m, branch, queue.i)
                branch = queue.o
            streams[dst, i] = branch
        return streams

    def elaborate(self, platform):
        m = Module()
        graph, primitive = self.plan.graph, self.plan.budget.dsp_primitive
        self._tags = {INPUT: INPUT} | {op.name: f"{k}_{_ident(op.name)}"
                                       for k, op in enumerate(graph.nodes)}
        streams = self._edge_streams(m, INPUT, wiring.flipped(self.i))
        for op, node in zip(graph.nodes, self.plan.nodes):
            hardware = node_hardware(op)
            component = hardware.component(node.params, primitive)
            m.submodules[f"node_{self._tags[op.name]}"] = component
            ports = hardware.input_ports(component)
            self.parts[op.name] = (ports, component.o)
            for i, port in enumerate(ports):
                source = streams.pop((op.name, i))
                if node.flatten_before:
                    flatten = Flatten(*op.in_shape)
                    m.submodules[f"flatten_{self._tags[op.name]}"] = flatten
                    wiring.connect(m, source, flatten.i)
                    source = flatten.o
                wiring.connect(m, source, port)
            if op.name == graph.output:
                wiring.connect(m, component.o, wiring.flipped(self.o))
            else:
                streams.update(self._edge_streams(m, op.name, component.o))
        return m


def accelerator(plan):
    """The top component of a plan: a :class:`~structhw.rtl_gen.network.Network` for a chain
    plan (version 1), a :class:`GraphNetwork` for a graph plan (version 2). Both have the same
    ``i`` (pixels) and ``o`` (logits) streams."""
    return GraphNetwork(plan) if isinstance(plan, GraphPlan) else Network(plan)
