"""The compiler: a quantized network and a resource budget → a :class:`HardwarePlan`.

The accelerator is a dataflow pipeline with one :class:`~structhw.rtl_gen.engine.LayerEngine`
per layer, a :class:`~structhw.rtl_gen.flatten.Flatten` in front of a linear layer whose input is
a C×H×W map with H·W > 1, and a stream FIFO after every engine but the last. In steady state the
pipeline delivers one image per ``max(stage cycles)`` cycles, so the compiler spends the budget on
the slowest stage first (greedy balancing): starting from one lane × one multiplier everywhere,
it repeatedly gives the bottleneck stage the cheapest lanes P and multipliers T that make it
faster, as long as the whole accelerator still fits the budget, and gives back what stages that
are faster than the bottleneck do not need.

Cycles and resources come from a :class:`HardwareModel` — by default the engine generator's own
analytic models (``engine_cycles``, ``engine_cost``, ``choose_sumpool_arch``); tests substitute
their own. The plan is the single source of truth downstream: it embeds the quantized network
(the weight images α, bias, M, S of every layer) together with its SHA-256, the per-stage engine
parameters, FIFO depths, costs and the cycle prediction. ``plan.json`` is described in
``docs/plan-format.md``.
"""

from __future__ import annotations

import math

from structhw.rtl_gen.nodes import ConvNode, flatten_cost
from structhw.rtl_gen.nodes import EngineModel as HardwareModel

from .balance import Balancer
from .budget import Budget
from .errors import ConfigError
from .graph.quant_graph import QuantGraph
from .plan import (MAX_FIFO_DEPTH, MIN_FIFO_DEPTH, PLAN_FORMAT, PLAN_VERSION,  # noqa: F401
                   HardwarePlan, StagePlan, load_plan, needs_flatten, plan_from_json, qnet_digest,
                   save_plan_json)
from .qnet import QuantLayer, QuantNet, ceil_log2
from .resources import (RESOURCE_NAMES, RESOURCES, Resources, budget_limits,  # noqa: F401
                        format_shortfall, shortfalls)


# ----- resources ------------------------------------------------------------------------------
def fifo_cost(width: int, depth: int) -> Resources:
    """Estimated cost of a ``SyncFIFOBuffered`` of ``depth`` entries of ``width`` bits.

    Storage is ``depth − 1`` entries in distributed RAM (ECP5 DPR16X4: 16 words × 4 bits for
    about 3 LUT4s' worth of a slice) plus an output register of ``width`` flip-flops; pointers and
    the level counter add a few LUTs and flip-flops each.
    """
    ptr = max(ceil_log2(depth + 1), 1)
    words = max(depth - 1, 1)
    lutram = 3 * math.ceil(width / 4) * math.ceil(words / 16)
    return Resources(lut4=lutram + 4 * ptr + 4, ff=width + 3 * ptr + 1)


def fifo_depth_after(layer: QuantLayer, next_layer: QuantLayer, next_flattens: bool) -> int:
    """FIFO depth after ``layer``'s engine: ``next_layer``'s stride times one output row of
    ``layer``, between 3 and 64; 3 in front of a Flatten, which takes a beat every cycle.

    A consumer of stride s needs s new input rows per row of windows; while its MAC array works
    through a row of windows it takes them in a burst, faster than a producer as fast as itself
    delivers them, so the FIFO holds the s rows the producer makes meanwhile (one row is not
    enough for the demo's stride-2 layer: benchmarks/bench_pipeline_busy.py then measures 136
    cycles per image against the planned 128).
    (Three, not two: a ``SyncFIFOBuffered`` of depth 2 has zero-width pointers, which Verilator
    lints as ASCRANGE.)"""
    if next_flattens:
        return MIN_FIFO_DEPTH
    return min(max(next_layer.stride * layer.out_width, MIN_FIFO_DEPTH), MAX_FIFO_DEPTH)


def _overhead(qnet: QuantNet, depths: list) -> Resources:
    total = Resources()
    for i, layer in enumerate(qnet.layers):
        if needs_flatten(qnet, i):
            if i == 0:
                shape = qnet.input_shape
            else:
                prev = qnet.layers[i - 1]
                shape = (prev.out_channels, prev.out_height, prev.out_width)
            total = total + flatten_cost(*shape)
        if depths[i]:
            total = total + fifo_cost(8 * layer.out_channels, depths[i])
    return total


def compile_plan(qnet: QuantNet, budget: Budget, *, dense: bool = False,
                 target: str | None = None, model: HardwareModel | None = None) -> HardwarePlan:
    """Plan the accelerator for ``qnet`` under ``budget``, balancing the pipeline.

    Parameters
    ----------
    qnet : QuantNet
        The quantized network.
    budget : Budget
        Resources available (LUT4s, flip-flops, DSPs, block RAM).
    dense : bool
        Plan the dense baseline: every layer of ``qnet`` must then be dense (no sum-pool).
    target : str, optional
        Board or device name recorded in the plan.
    model : HardwareModel, optional
        Cycle and cost model; default: the engine generator's analytic models.

    Returns
    -------
    HardwarePlan

    Raises
    ------
    ConfigError
        A layer the engines cannot implement, a structured layer in a dense plan, or a network
        that does not fit even with one lane and one multiplier per layer (the message names
        every resource that is short and by how much).
    """
    model = model or HardwareModel()
    layers = qnet.layers
    if dense:
        for layer in layers:
            if not layer.is_dense:
                raise ConfigError(
                    f"layer {layer.name!r}: the dense baseline needs dense layers, but this one is "
                    f"structured (c={layer.c} of C/groups={layer.group_channels}, n={layer.n} of "
                    f"N={layer.kernel}); quantize the model with dense=True")
    last = layers[-1]
    if last.out_height * last.out_width != 1:
        raise ConfigError(f"layer {last.name!r}: the last layer must produce one pixel of logits, "
                          f"but it outputs {last.out_channels}×{last.out_height}×{last.out_width}")
    for layer in layers:
        operand = 8 if layer.is_dense else layer.widths().sumpool
        if operand > budget.dsp_width:
            raise ConfigError(f"layer {layer.name!r}: multiplier operand of {operand} bits (sum-pool "
                              f"window {layer.window}) exceeds the target's {budget.dsp_width}-bit "
                              f"signed multipliers; use a smaller window (larger c or n)")
    depths = [0 if i == len(layers) - 1 else
              fifo_depth_after(layer, layers[i + 1], needs_flatten(qnet, i + 1))
              for i, layer in enumerate(layers)]
    overhead = _overhead(qnet, depths)

    ops = QuantGraph.from_qnet(qnet).nodes
    chosen = Balancer([ConvNode(op, model) for op in ops], budget, overhead).balance()
    stages = [StagePlan(index=i, layer=layer.name, params=chosen[i].params,
                        cycles=chosen[i].cycles, cost=chosen[i].cost, flatten_before=needs_flatten(qnet, i),
                        fifo_depth=depths[i])
              for i, layer in enumerate(layers)]
    return HardwarePlan(qnet=qnet, budget=budget, stages=stages, overhead=overhead,
                        dense=dense, target=target)
