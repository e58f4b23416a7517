"""From a resolved MODEL (:class:`~structhw.model_source.ModelSource`) to a quantized graph
with its accuracy figures, and from a quantized graph to its plan: the steps the CLI commands
share."""

from __future__ import annotations

import torch

from ..compiler import compile_plan
from ..errors import ConfigError, ResourceError
from ..model_source import ModelSource, calibration_images
from ..quant.fixed_point import quantize_symmetric
from .plan import compile_graph
from .quant_graph import QuantGraph
from .quantize import check_gptq_sizes, quantize_graph
from .trace import trace_model


def logit_error(graph: QuantGraph, model, images: torch.Tensor) -> float:
    """Relative RMS error of the golden graph's dequantized logits against the float model's
    on float ``images`` [B, C, H, W]: RMS(int·s − float) / RMS(float)."""
    got = graph.logits(quantize_symmetric(images, graph.input_scale)).double()
    got = got * graph.scale_of(graph.output)
    with torch.no_grad():
        want = model(images).double().reshape(len(images), -1)
    ref = want.pow(2).mean().sqrt()
    return float((got - want).pow(2).mean().sqrt() / ref) if ref > 0 else 0.0


def _accuracy(logits: torch.Tensor, labels) -> float | None:
    return None if labels is None else float((logits.argmax(1) == labels).double().mean())


def quantize_source(source: ModelSource, *, data: str | None = None, dense: bool = False,
                    rounding: str = "gptq", percentile: float = 100.0) -> tuple:
    """(QuantGraph, metrics) for ``source``: a qnet file as it is; a checkpoint through the
    chain quantizer (its dense or decomposed model); a float model traced and quantized,
    calibrated on ``data`` (default: the data set the source was trained on, else digits);
    ``dense``: a checkpoint's dense baseline. ``metrics`` has ``float_acc`` / ``int8_acc`` (None without labels,
    e.g. on random data) and ``logit_rel_rms`` on the data set's test images."""
    if source.graph is not None:
        return source.graph, {}
    data = data if data is not None else (source.data or "digits")
    if source.checkpoint is not None:
        if data != "digits":
            raise ConfigError(f"a structhw checkpoint is calibrated on digits, not {data!r}")
        from ..quant import quantize_checkpoint
        qnet, metrics = quantize_checkpoint(source.checkpoint, dense=dense, rounding=rounding,
                                            percentile=percentile)
        return QuantGraph.from_qnet(qnet), metrics
    if dense and source.dense_model is None:
        raise ConfigError("--dense plans the dense baseline of a checkpoint or of a model "
                          "decomposed with --preset A|B; this model is dense as it is")
    model = source.dense_model if dense else source.model
    float_graph = trace_model(model, source.input_shape)
    if rounding == "gptq":
        check_gptq_sizes(float_graph)
    calib, test, labels = calibration_images(data, source.input_shape)
    graph = quantize_graph(float_graph, calib,
                           name=source.name, rounding=rounding, percentile=percentile)
    with torch.no_grad():
        float_logits = model(test).reshape(len(test), -1)
    int8_logits = graph.logits(quantize_symmetric(test, graph.input_scale))
    metrics = {"float_acc": _accuracy(float_logits, labels),
               "int8_acc": _accuracy(int8_logits, labels),
               "logit_rel_rms": logit_error(graph, model, test),
               "test_images": int(len(test)), "data": data}
    graph.metadata.update({k: v for k, v in metrics.items() if v is not None})
    return graph, metrics


def plan_graph(graph: QuantGraph, budget, *, dense: bool = False, target: str | None = None):
    """The chain compiler's :class:`~structhw.compiler.HardwarePlan` (plan.json version 1,
    register engines: the board-verified demo path) for a chain of conv/linear layers that
    fits with them, else the graph compiler's :class:`~structhw.graph.plan.GraphPlan`
    (version 2), whose nodes may also be memory-window engines."""
    if graph.is_chain():
        try:
            return compile_plan(graph.to_qnet(), budget, dense=dense, target=target)
        except ResourceError:
            pass
    return compile_graph(graph, budget, dense=dense, target=target)
