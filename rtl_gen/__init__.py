"""structhw.rtl_gen: Amaranth 0.5 components of the accelerator.

Data moves on ``lib.stream`` interfaces, one pixel per beat in raster order (docs/INTERFACES.md).
A layer is ``LayerEngine(layer, EngineParams(lanes, mults, sumpool))``: Padder → [SumPool] →
WindowGenerator → MacArray → Requantizer → GroupCollector.
"""

from .engine import (GroupCollector, LayerEngine, check_engine, engine_cycles, engine_latency,
                     engine_steps, engine_throughput_bound)
from .cost import engine_cost, engine_cost_breakdown
from .mac import MULT_OPERAND_BITS, MacArray, MacSchedule
from .params import SUMPOOL_ARCHS, EngineParams
from .random_layer import random_quant_layer
from .requant import Requantizer
from .verilog import generate_layer_verilog, lint, write_verilog
from .window import WindowGenerator

__all__ = [
    "EngineParams", "SUMPOOL_ARCHS", "engine_cost", "engine_cost_breakdown",
    "LayerEngine", "GroupCollector", "check_engine", "engine_cycles", "engine_latency",
    "engine_steps", "engine_throughput_bound",
    "MacArray", "MacSchedule", "MULT_OPERAND_BITS", "Requantizer", "WindowGenerator",
    "random_quant_layer",
    "write_verilog", "lint", "generate_layer_verilog",
]
