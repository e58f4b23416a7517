"""The hardware of each graph op as the compiler plans it: parameter choices, cycles per image,
latency, resources and which input pixels each output pixel waits for.

One class per op (:data:`NODE_HARDWARE`, keyed by the op's ``kind``), each a
:class:`~structhw.balance.Stage` the balancer can size. Conv/linear nodes are the
:class:`~structhw.rtl_gen.engine.LayerEngine` or the memory-window engine with their own analytic
models; the other ops follow
the throughput contract of their components (one input pixel per cycle, ``lanes`` channels per
cycle where they multiply). Their resource formulas (in each class) have coefficients fitted to
``benchmarks/bench_graph_ops_synth.py``.

Pixels are numbered in raster order, ``row · width + column``; :meth:`NodeHardware.need_map`
gives, for every output pixel, the last input pixel it needs — what the FIFO-depth rule of
``docs/plan-format.md`` composes along the paths that re-join at an add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from structhw.balance import Choice, Stage
from structhw.errors import ConfigError
from structhw.graph.ops import (AddOp, AvgPoolOp, ConvOp, GlobalAvgPoolOp, MaxPoolOp,
                                PadShortcutOp, ReluOp)
from structhw.qnet import QuantLayer, ceil_log2
from structhw.resources import Resources

from .engine_variants import engine_variant
from .memory_style import memory_cost
from .memory_window_model import memory_window_refusal
from .params import EngineParams
from .pooling import AvgPool, GlobalAvgPool, MaxPool
from .residual import ResidualAdd
from .shortcut import PadShortcut, Relu
from .sumpool import choose_sumpool_arch


class EngineModel:
    """Cycles and resources of a layer engine from the generator's analytic models (the variant
    of ``params.window``, :mod:`~structhw.rtl_gen.engine_variants`); tests substitute their own
    (same methods) to plan against another model. ``dsp_primitive``: the budget's multiplier
    cell, which holds the multipliers' registers of the engines that count them so."""

    def __init__(self, dsp_primitive: str | None = None):
        self.dsp_primitive = dsp_primitive

    def check(self, layer: QuantLayer, params: EngineParams) -> None:
        """Raise :class:`ConfigError` naming the layer if the engine cannot implement it."""
        engine_variant(params).check(layer, params)

    def cycles(self, layer: QuantLayer, params: EngineParams, **map_in) -> int:
        """Cycles the engine needs per image in steady state (``map_in``: ``in_shape`` of a
        memory-window linear engine that flattens its input map itself, only then given)."""
        return engine_variant(params).cycles(layer, params, **map_in)

    def cycles_lower_bound(self, layer: QuantLayer, params: EngineParams) -> int:
        """A cheap bound the engine cannot beat (the planner skips candidates with it)."""
        return engine_variant(params).cycles_lower_bound(layer, params)

    def cost(self, layer: QuantLayer, params: EngineParams, **map_in) -> Resources:
        """Resources of the engine for ``layer`` with ``params``."""
        total = Resources()
        for part in engine_variant(params).cost_breakdown(layer, params, self.dsp_primitive,
                                                           **map_in).values():
            total = total + part
        return total

    def latency(self, layer: QuantLayer, params: EngineParams, **map_in) -> int:
        """Cycles from the first input beat to the first output pixel, no stalls."""
        return engine_variant(params).latency(layer, params, **map_in)

    def sumpool_arch(self, layer: QuantLayer) -> str | None:
        """The cheaper sum-pool microarchitecture for ``layer``; ``None`` for a dense layer."""
        return None if layer.is_dense else choose_sumpool_arch(layer)


@dataclass(frozen=True)
class LaneParams:
    """Channels an op processes per cycle (its requantisers or multipliers), 1 ≤ lanes ≤ C;
    ops without a choice have ``lanes = 1``."""

    lanes: int = 1

    def to_json(self) -> dict:
        return {"lanes": self.lanes}


def useful_steps(total: int) -> list:
    """The useful parallelism values for ``total`` work items: the smallest k for every distinct
    number of passes ⌈total / k⌉, ascending."""
    return sorted({math.ceil(total / p) for p in {math.ceil(total / k)
                                                   for k in range(1, total + 1)}})


def window_need(in_hw: tuple, out_hw: tuple, kernel: int, stride: int, padding: int,
                dilation: int = 1) -> np.ndarray:
    """Last input pixel (raster index) each output pixel of a k×k window op needs."""
    H, W = in_hw
    Ho, Wo = out_hw
    extent = dilation * (kernel - 1) - padding
    rows = np.clip(stride * np.arange(Ho) + extent, 0, H - 1)
    cols = np.clip(stride * np.arange(Wo) + extent, 0, W - 1)
    return (rows[:, None] * W + cols[None, :]).reshape(-1)


class NodeHardware(Stage):
    """Base: the op, its one-parameter-free candidate, streaming at one input pixel per cycle."""

    latency_cycles = 1
    takes_map = False
    """A linear layer fed an H·W > 1 map (see :class:`ConvNode`); no other op is."""
    flatten_overhead = False
    """Every candidate has a Flatten in front, which the plan counts with the FIFOs."""

    def __init__(self, op):
        self.op = op

    def flatten_for(self, params) -> bool:
        """Whether the node with ``params`` has a Flatten in front."""
        return False

    @property
    def in_pixels(self) -> int:
        return self.op.in_shape[1] * self.op.in_shape[2]

    @property
    def out_pixels(self) -> int:
        return self.op.out_shape[1] * self.op.out_shape[2]

    def candidates(self) -> list:
        return [LaneParams(1)]

    def cycles(self, params) -> int:
        return self.in_pixels

    def cost(self, params) -> Resources:
        raise NotImplementedError

    def evaluate(self, params) -> Choice:
        return Choice(params, self.cycles(params), self.cost(params))

    def latency(self, params) -> int:
        return self.latency_cycles

    def need_map(self, k: int) -> np.ndarray:
        """For input ``k``: the last input pixel each output pixel needs (identity here)."""
        return np.arange(self.out_pixels)

    def component(self, params, dsp_primitive: str | None = None):
        """The node's Amaranth component with ``params`` (``dsp_primitive``: the budget's
        multiplier cell, used by the nodes that multiply in DSPs)."""
        raise NotImplementedError

    def input_ports(self, component) -> list:
        """The component's input streams, in the op's ``inputs`` order."""
        return [component.i]

    def params_from_json(self, obj, where: str):
        lanes = obj.get("lanes") if isinstance(obj, dict) else None
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
            raise ConfigError(f"{where}: params need an integer lanes ≥ 1, got {obj!r}")
        if lanes not in {p.lanes for p in self.candidates()}:
            raise ConfigError(f"{where}: lanes={lanes} is not a choice of this op")
        return LaneParams(lanes)


class ConvNode(NodeHardware):
    """A conv/linear layer engine: candidates are every useful (lanes P, multipliers T), P
    outer, for the register engine and, with ``memory_windows`` and a layer it can take, first
    for the memory-window engine (T ≤ c; its (1, 1) is the smallest candidate).

    A linear layer fed an H·W > 1 map (:attr:`takes_map`) needs a Flatten in front with a
    register engine; a memory-window engine flattens the map in its own pixel memory instead
    (:class:`~structhw.rtl_gen.flat_sumpool.FlatChannelSum`), with its own cycles, latency and
    cost (:meth:`flatten_for`). Where every candidate needs the Flatten (register engines only)
    the plan counts it with the FIFOs (:attr:`flatten_overhead`); otherwise its cost is in each
    register candidate's."""

    def __init__(self, op: ConvOp, model=None, memory_windows: bool = False):
        super().__init__(op)
        self.layer, self.model = op.layer, model or EngineModel()
        self.arch = self.model.sumpool_arch(self.layer)
        self.memory_windows = memory_windows and memory_window_refusal(self.layer) is None

    @property
    def takes_map(self) -> bool:
        """A linear layer fed an H·W > 1 map (its input is flattened, in front or inside)."""
        return self.layer.kind == "linear" and self.in_pixels > 1

    def flatten_for(self, params) -> bool:
        return self.takes_map and params.window != "memory"

    @property
    def flatten_overhead(self) -> bool:
        return self.takes_map and not self.memory_windows

    def _map_in(self, params) -> dict:
        """``in_shape`` for the engine models and component when the engine flattens its map."""
        if self.takes_map and params.window == "memory":
            return {"in_shape": tuple(self.op.in_shape)}
        return {}

    def _params(self, candidate) -> EngineParams:
        if len(candidate) == 3:
            return EngineParams(lanes=candidate[0], mults=candidate[1], window="memory")
        return EngineParams(lanes=candidate[0], mults=candidate[1], sumpool=self.arch)

    def candidates(self) -> list:
        lanes = useful_steps(self.layer.out_channels)
        memory = ([(p, t, "memory") for p in lanes for t in useful_steps(self.layer.c)]
                  if self.memory_windows else [])
        return memory + [(p, t) for p in lanes for t in useful_steps(self.layer.mults_per_output)]

    def evaluate(self, candidate) -> Choice:
        params = self._params(candidate)
        self.model.check(self.layer, params)
        map_in = self._map_in(params)
        cost = self.model.cost(self.layer, params, **map_in)
        if self.flatten_for(params) and not self.flatten_overhead:
            cost = cost + flatten_cost(*self.op.in_shape)
        return Choice(params, self.model.cycles(self.layer, params, **map_in), cost)

    def cycles_lower_bound(self, candidate):
        bound = getattr(self.model, "cycles_lower_bound", None)
        return None if bound is None else bound(self.layer, self._params(candidate))

    def latency(self, params) -> int:
        return int(self.model.latency(self.layer, params, **self._map_in(params)))

    def need_map(self, k: int) -> np.ndarray:
        if self.layer.kind == "linear":
            return np.full(self.out_pixels, self.in_pixels - 1)
        L = self.layer
        return window_need(self.op.in_shape[1:], self.op.out_shape[1:], L.kernel, L.stride,
                           L.padding, L.dilation)

    def component(self, params, dsp_primitive=None):
        return engine_variant(params).component(self.layer, params, dsp_primitive,
                                                **self._map_in(params))

    def params_from_json(self, obj, where: str):
        try:
            params = EngineParams(lanes=obj["lanes"], mults=obj["mults"], sumpool=obj["sumpool"],
                                  window=obj.get("window", "registers"))
        except (KeyError, TypeError, AttributeError):
            raise ConfigError(f"{where}: params need lanes, mults and sumpool") from None
        engine_variant(params).check(self.layer, params)
        return params


def flatten_cost(channels: int, height: int, width: int) -> Resources:
    """A :class:`~structhw.rtl_gen.flatten.Flatten`: C·H·W int8 values held twice (a shift
    buffer filling while the output register waits), in flip-flops whose clock enables do the
    loading, so LUTs only for the pixel counter and handshake."""
    bits = 8 * channels * height * width
    count = max(ceil_log2(height * width + 1), 1)
    return Resources(lut4=2 * count + 8, ff=2 * bits + count + 1)


def _counter_bits(*sizes: int) -> int:
    return sum(max(ceil_log2(s), 1) for s in sizes)


class AddNode(NodeHardware):
    """Residual add: per pixel one beat of each input, ``lanes`` channels per cycle through two
    multipliers each (int8 × 16-bit M). cycles = H·W·⌈C/P⌉; dsp = 2P;
    ff = 8C (output pixel) + P·(2·24 + 26 + 8) (products, sum, result) + counters;
    lut4 = 16C·[P < C] (channel select) + P·(26 + 8) (rounding add, clamp) + counters."""

    latency_cycles = 4

    def candidates(self) -> list:
        return [LaneParams(p) for p in useful_steps(self.op.in_shape[0])]

    def passes(self, params) -> int:
        return math.ceil(self.op.in_shape[0] / params.lanes)

    def cycles(self, params) -> int:
        return self.in_pixels * self.passes(params)

    def latency(self, params) -> int:
        return self.latency_cycles + self.passes(params)

    def component(self, params, dsp_primitive=None):
        return ResidualAdd(self.op, params.lanes)

    def input_ports(self, component) -> list:
        return [component.a, component.b]

    def cost(self, params) -> Resources:
        C, P = self.op.in_shape[0], params.lanes
        counters = _counter_bits(self.passes(params))
        return Resources(lut4=(16 * C if P < C else 0) + P * 34 + 4 * counters,
                         ff=8 * C + P * 82 + counters, dsp=2 * P)


class MaxPoolNode(NodeHardware):
    """k×k max pool, all channels in parallel, one padded input pixel per cycle:
    cycles = (H+2p)·(W+2p); line buffer: W+2p words of (k−1)·8C bits in its RAM
    (:func:`~structhw.rtl_gen.memory_style.memory_cost`); ff = k²·8C (window) + 8C (output) +
    counters; lut4 = 2.2·(k²−1)·8C (comparators, muxes; fitted to bench_graph_ops_synth)."""

    def padded(self) -> tuple:
        _, H, W = self.op.in_shape
        p = self.op.padding
        return H + 2 * p, W + 2 * p

    def cycles(self, params) -> int:
        Hp, Wp = self.padded()
        return Hp * Wp

    def latency(self, params) -> int:
        _, Wp = self.padded()
        return (self.op.kernel - 1) * Wp + self.op.kernel + 2

    def component(self, params, dsp_primitive=None):
        return MaxPool(self.op)

    def window_cost(self) -> Resources:
        C, k = self.op.in_shape[0], self.op.kernel
        Hp, Wp = self.padded()
        counters = _counter_bits(Hp, Wp)
        return (Resources(lut4=4 * counters + 8, ff=k * k * 8 * C + counters)
                + Resources.of(memory_cost(Wp, (k - 1) * 8 * C)))

    def cost(self, params) -> Resources:
        C, k = self.op.in_shape[0], self.op.kernel
        return self.window_cost() + Resources(lut4=int(2.2 * (k * k - 1) * 8 * C), ff=8 * C)

    def need_map(self, k: int) -> np.ndarray:
        op = self.op
        return window_need(op.in_shape[1:], op.out_shape[1:], op.kernel, op.stride, op.padding)


class AvgPoolNode(MaxPoolNode):
    """k×k average pool: window sums, then ``lanes`` requantisers: cycles =
    max((H+2p)·(W+2p), H'·W'·⌈C/P⌉); dsp = P; the window as for max pool plus adder trees
    1.8·(k²−1)·(8+log2 k²)·C LUT4s, 8C + 20P LUT4s and 16C + 60P FFs (sums, requantisers;
    fitted to bench_graph_ops_synth)."""

    def candidates(self) -> list:
        return [LaneParams(p) for p in useful_steps(self.op.in_shape[0])]

    def cycles(self, params) -> int:
        passes = math.ceil(self.op.in_shape[0] / params.lanes)
        return max(super().cycles(params), self.out_pixels * passes)

    def latency(self, params) -> int:
        return super().latency(params) + math.ceil(self.op.in_shape[0] / params.lanes) + 4

    def component(self, params, dsp_primitive=None):
        return AvgPool(self.op, params.lanes)

    def cost(self, params) -> Resources:
        C, k = self.op.in_shape[0], self.op.kernel
        adders = int(1.8 * (k * k - 1) * (8 + ceil_log2(k * k)) * C)
        return self.window_cost() + Resources(lut4=adders + 20 * params.lanes + 8 * C,
                                              ff=60 * params.lanes + 16 * C, dsp=params.lanes)


class GlobalAvgPoolNode(NodeHardware):
    """Global average pool: C exact accumulators of 8 + log2(H·W) bits (double-buffered, so
    the next image accumulates while this one is requantised), then ``lanes`` requantisers:
    cycles = max(H·W, ⌈C/P⌉); latency = H·W + ⌈C/P⌉ + 4; dsp = P;
    ff = 2·C·(8 + log2 HW) + 8C + 60P; lut4 = 2.5·C·(8 + log2 HW) (adders, buffer select)
    + 20P + 8C (fitted to bench_graph_ops_synth)."""

    def candidates(self) -> list:
        return [LaneParams(p) for p in useful_steps(self.op.in_shape[0])]

    def cycles(self, params) -> int:
        return max(self.in_pixels, math.ceil(self.op.in_shape[0] / params.lanes))

    def latency(self, params) -> int:
        return self.in_pixels + math.ceil(self.op.in_shape[0] / params.lanes) + 4

    def component(self, params, dsp_primitive=None):
        return GlobalAvgPool(self.op, params.lanes)

    def cost(self, params) -> Resources:
        C = self.op.in_shape[0]
        acc = 8 + ceil_log2(self.in_pixels)
        P = params.lanes
        return Resources(lut4=int(2.5 * C * acc) + 20 * P + 8 * C,
                         ff=2 * C * acc + 8 * C + 60 * P, dsp=P)

    def need_map(self, k: int) -> np.ndarray:
        return np.full(1, self.in_pixels - 1)


class PadShortcutNode(NodeHardware):
    """Option-A shortcut: row/column counters keep every stride-th pixel; the extra channels
    are constant zeros, and the pixel passes through unregistered. cycles = H·W;
    lut4 = 2.5·counters; ff = counters + 2 (measured by bench_graph_ops_synth)."""

    def component(self, params, dsp_primitive=None):
        return PadShortcut(self.op)

    def cost(self, params) -> Resources:
        _, H, W = self.op.in_shape
        counters = _counter_bits(H, W)
        return Resources(lut4=5 * counters // 2, ff=counters + 2)

    def need_map(self, k: int) -> np.ndarray:
        _, H, W = self.op.in_shape
        _, Ho, Wo = self.op.out_shape
        s = self.op.stride
        return ((s * np.arange(Ho))[:, None] * W + (s * np.arange(Wo))[None, :]).reshape(-1)


class ReluNode(NodeHardware):
    """An unfused ReLU: a clamp per channel, combinational (no register). lut4 = 17C
    (measured by bench_graph_ops_synth), ff = 0."""

    def component(self, params, dsp_primitive=None):
        return Relu(self.op)

    def cost(self, params) -> Resources:
        C = self.op.in_shape[0]
        return Resources(lut4=17 * C)


NODE_HARDWARE = {"conv": ConvNode, "linear": ConvNode, "add": AddNode, "maxpool": MaxPoolNode,
                 "avgpool": AvgPoolNode, "global_avgpool": GlobalAvgPoolNode,
                 "pad_shortcut": PadShortcutNode, "relu": ReluNode}
"""The op's ``kind`` → its hardware class."""

_OP_TYPES = {ConvNode: ConvOp, AddNode: AddOp, MaxPoolNode: MaxPoolOp, AvgPoolNode: AvgPoolOp,
             GlobalAvgPoolNode: GlobalAvgPoolOp, PadShortcutNode: PadShortcutOp,
             ReluNode: ReluOp}


def node_hardware(op, model=None, memory_windows: bool = False) -> NodeHardware:
    """The hardware class of ``op``, built for it (``model`` replaces the engine models of a
    conv/linear node; ``memory_windows`` lets it choose the memory-window engine)."""
    cls = NODE_HARDWARE.get(op.kind if not isinstance(op, ConvOp) else op.layer.kind)
    if cls is None or not isinstance(op, _OP_TYPES[cls]):
        raise ConfigError(f"{op.kind} {op.name!r}: no hardware for this op")
    return cls(op, model, memory_windows) if cls is ConvNode else cls(op)
