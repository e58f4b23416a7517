"""The layer-engine microarchitectures behind one interface, keyed by ``EngineParams.window``.

Each variant owns its checks, cycle and latency models, resource model and component, so the
planner and the network elaboration ask :func:`engine_variant` and never branch on the kind.
"""

from __future__ import annotations

from structhw.qnet import QuantLayer

from .cost import engine_cost_breakdown, memory_engine_cost_breakdown
from .engine import (LayerEngine, check_engine, engine_cycles, engine_latency,
                     engine_throughput_bound)
from .memory_engine import MemoryWindowEngine, check_memory_engine
from .memory_window_model import (MemoryWindowGeometry, memory_window_cycles, memory_window_latency,
                                  memory_window_steps)
from .params import EngineParams


class RegisterWindows:
    """:class:`~structhw.rtl_gen.engine.LayerEngine`: windows in registers, parallel sum-pool."""

    name = "registers"

    @staticmethod
    def check(layer: QuantLayer, params: EngineParams) -> None:
        check_engine(layer, params)

    @staticmethod
    def cycles(layer: QuantLayer, params: EngineParams) -> int:
        return int(engine_cycles(layer, params))

    @staticmethod
    def cycles_lower_bound(layer: QuantLayer, params: EngineParams) -> int:
        return int(engine_throughput_bound(layer, params))

    @staticmethod
    def latency(layer: QuantLayer, params: EngineParams) -> int:
        return int(engine_latency(layer, params))

    @staticmethod
    def cost_breakdown(layer: QuantLayer, params: EngineParams, dsp_primitive=None) -> dict:
        """Per component; flip-flops an upper bound with MULT18X18D instances (cost.py)."""
        return engine_cost_breakdown(layer, params)

    @staticmethod
    def component(layer: QuantLayer, params: EngineParams, dsp=None):
        return LayerEngine(layer, params, dsp)


class MemoryWindows:
    """:class:`~structhw.rtl_gen.memory_engine.MemoryWindowEngine`: rows in a block-RAM memory,
    serial channel sums; for channel-only sum-pools with one conv group. ``in_shape`` (cycles,
    latency, cost, component): the C×H×W map a linear layer is fed and flattens itself."""

    name = "memory"

    @staticmethod
    def check(layer: QuantLayer, params: EngineParams) -> None:
        check_memory_engine(layer, params)

    @staticmethod
    def cycles(layer: QuantLayer, params: EngineParams, in_shape=None) -> int:
        return int(memory_window_cycles(layer, params.lanes, params.mults, in_shape))

    @staticmethod
    def cycles_lower_bound(layer: QuantLayer, params: EngineParams) -> int:
        geo = MemoryWindowGeometry(layer, params.mults)
        pixels = geo.padded[0] * geo.padded[1]
        outputs = layer.out_height * layer.out_width
        return max(pixels * geo.writer_cycles,
                   outputs * memory_window_steps(layer, params.lanes, params.mults))

    @staticmethod
    def latency(layer: QuantLayer, params: EngineParams, in_shape=None) -> int:
        return int(memory_window_latency(layer, params.lanes, params.mults, in_shape))

    @staticmethod
    def cost_breakdown(layer: QuantLayer, params: EngineParams, dsp_primitive=None,
                       in_shape=None) -> dict:
        return memory_engine_cost_breakdown(layer, params, dsp_primitive, in_shape)

    @staticmethod
    def component(layer: QuantLayer, params: EngineParams, dsp=None, in_shape=None):
        return MemoryWindowEngine(layer, params, dsp, in_shape)


ENGINE_VARIANTS = {v.name: v for v in (RegisterWindows, MemoryWindows)}


def engine_variant(params: EngineParams):
    """The variant class implementing ``params.window``."""
    return ENGINE_VARIANTS[params.window]
