"""Post-training int8 quantization of a traced float graph (:class:`FloatGraph`) into a
:class:`~structhw.graph.quant_graph.QuantGraph`.

1. **Fusion.** A ReLU / ReLU6 whose input is a conv, linear or add read by nothing else is fused
   into that op's requantiser (lower clamp 0; ReLU6 also caps the calibrated range at 6, so the
   upper clamp 127 is 6). Any other ReLU is a :class:`~structhw.graph.ops.ReluOp`. A flatten is
   dropped: a linear op flattens its input itself.
2. **Calibration.** The float graph runs on the calibration images; the input and the output of
   every op that requantises (conv, linear, add, average pools) gets ``s = max|x| / 127`` over the
   whole set (or that percentile of |x|). Max pool, the option-A shortcut and an unfused ReLU keep
   their input's scale: their integer outputs are exact.
3. **Integers.** Conv/linear as :func:`structhw.quant.ptq.quant_layer` (GPTQ or nearest α);
   add: ``M_i = round(s_i / s_y · 2^S)`` with one shift S from the larger ratio; average pools:
   ``(M, S)`` of ``s_x / (window · s_y)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..errors import ConfigError
from ..quant.fixed_point import symmetric_scale
from ..quant.layers import float_layer
from ..quant.ptq import check_images, check_percentile, check_rounding
from ..quant.rounding import check_covariance_size, input_covariance
from .float_step import FloatStep
from .ops import FLOAT_OPS_TO_QUANT, RELU6_MAX
from .quant_graph import INPUT, QuantGraph

REQUANTISING = ("conv", "linear", "add", "avgpool", "global_avgpool")


@dataclass
class _Step:
    """One float node as the quantizer sees it after fusion: ``node`` the float node, ``inputs``
    the producer steps' names (flattens and fused ReLUs resolved), ``relu`` / ``cap`` the fused
    activation (``cap`` = 6 for ReLU6), ``value`` the float node whose output this step stands
    for (the fused ReLU's when there is one)."""

    node: object
    inputs: tuple
    value: str
    relu: bool = False
    cap: float | None = None
    stats: dict = field(default_factory=dict)


def check_gptq_sizes(graph) -> None:
    """Refuse GPTQ rounding of a float graph with a conv/linear node whose input covariance
    is too large to build (:func:`~structhw.quant.rounding.check_covariance_size`)."""
    for node in graph.nodes:
        if node.op in ("conv", "linear"):
            check_covariance_size(float_layer(node.name, node.module))


def _plan_steps(graph) -> tuple[list, dict]:
    """Fuse ReLUs and drop flattens: the ordered steps and float name → step name."""
    alias = {INPUT: INPUT}
    steps, by_name = [], {}
    for node in graph.nodes:
        inputs = tuple(alias[i] for i in node.inputs)
        if node.op == "flatten":
            alias[node.name] = inputs[0]
            continue
        if node.op in ("relu", "relu6"):
            prev = by_name.get(inputs[0])
            fusable = prev is not None and prev.node.op in ("conv", "linear", "add") \
                and not prev.relu and len(graph.consumers(prev.value)) == 1
            if fusable:
                prev.relu, prev.value = True, node.name
                prev.cap = RELU6_MAX if node.op == "relu6" else None
                alias[node.name] = prev.node.name
                continue
        step = _Step(node, inputs, node.name)
        steps.append(step)
        by_name[node.name] = step
        alias[node.name] = node.name
    return steps, alias


def _magnitude(x: torch.Tensor, percentile: float) -> torch.Tensor:
    a = x.detach().abs().flatten().to(torch.float64)
    if percentile >= 100:
        return a.max()
    return torch.quantile(a[torch.randperm(a.numel(), generator=torch.Generator().manual_seed(0))
                            [:1 << 24]], percentile / 100)


def _calibrate(graph, steps, images, percentile, batch_size, covariances) -> float:
    """Run the float graph batch by batch; fill each step's ``stats`` (``max`` of its output,
    ``hessian`` for conv/linear when ``covariances``); return the input's magnitude."""
    input_max = 0.0
    batches = torch.split(images, batch_size)
    for batch in tqdm(batches, desc="calibrating", unit="batch", leave=False, disable=None):
        values = graph.forward(batch, return_all=True)
        values[INPUT] = batch
        input_max = max(input_max, float(_magnitude(batch, percentile)))
        for step in steps:
            out = values[step.value]
            step.stats["max"] = max(step.stats.get("max", 0.0), float(_magnitude(out, percentile)))
            if covariances and step.node.op in ("conv", "linear"):
                layer = float_layer(step.node.name, step.node.module)
                h = input_covariance(layer, values[step.node.inputs[0]])
                step.stats["hessian"] = h + step.stats.get("hessian", 0)
    return input_max


def _make_op(step: _Step, shapes: dict, scales: dict, rounding_hessian: bool):
    """The integer op of one step, given its inputs' shapes and scales and its own scale: made
    by the op class that quantizes the step's float op (:data:`FLOAT_OPS_TO_QUANT`)."""
    node = step.node
    cls = FLOAT_OPS_TO_QUANT.get(node.op)
    if cls is None:
        raise ConfigError(f"{node.op} {node.name!r}: no integer op for it")
    return cls.from_float(FloatStep(
        node=node, inputs=step.inputs, in_shapes=tuple(shapes[i] for i in step.inputs),
        in_scales=tuple(scales[i] for i in step.inputs), out_scale=scales[node.name],
        relu=step.relu, hessian=step.stats.get("hessian") if rounding_hessian else None))


def quantize_graph(graph, calib_images, *, name: str = "model", percentile: float = 100.0,
                   rounding: str = "gptq", batch_size: int = 256) -> QuantGraph:
    """Quantize a traced float graph (see the module docstring).

    Parameters
    ----------
    graph : FloatGraph
        From :func:`structhw.graph.trace_model` (BatchNorm folded, ops typed).
    calib_images : torch.Tensor
        Float images [B, C, H, W] of the graph's input shape.
    name, percentile, rounding, batch_size
        As for :func:`structhw.quant.quantize`.

    Raises
    ------
    ConfigError
        Wrong calibration data, or an integer that would not fit its width.
    """
    check_percentile(percentile)
    check_rounding(rounding)
    images = check_images(calib_images, shape=graph.input_shape)
    if rounding == "gptq":
        check_gptq_sizes(graph)
    steps, alias = _plan_steps(graph)
    with torch.no_grad():
        input_max = _calibrate(graph, steps, images, float(percentile), batch_size,
                               covariances=rounding == "gptq")
    scales, shapes = {INPUT: symmetric_scale(input_max)}, {INPUT: tuple(graph.input_shape)}
    nodes = []
    for step in steps:
        if step.node.op in REQUANTISING:
            r = step.stats["max"]
            scales[step.node.name] = symmetric_scale(min(r, step.cap) if step.cap else r)
        else:
            scales[step.node.name] = scales[step.inputs[0]]
        op = _make_op(step, shapes, scales, rounding == "gptq")
        shapes[op.name] = op.out_shape
        nodes.append(op)
    rule = "max-abs" if percentile >= 100 else f"percentile {percentile:g} of |x|"
    return QuantGraph(tuple(graph.input_shape), scales[INPUT], nodes, alias[graph.output],
                      metadata={"name": name, "calibration": {
                          "rule": rule, "images": int(images.shape[0]), "rounding": rounding}})
