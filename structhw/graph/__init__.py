"""The compiler's graph: a traced model as typed float ops (:class:`FloatGraph`, from
:func:`trace_model`), then quantized integer ops.

``torch.fx`` traces any ``nn.Module`` — float, SR-trained or decomposed — into a
:class:`FloatGraph` of the ops in :data:`FLOAT_OPS`, BatchNorm folded, every other op refused by
name before any work (:mod:`structhw.graph.trace`).
"""

from .float_graph import FLOAT_OPS, FloatGraph, FloatNode
from .trace import trace_model

__all__ = ["FloatGraph", "FloatNode", "trace_model", "FLOAT_OPS"]
