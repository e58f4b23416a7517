"""The torch.fx frontend: any ``nn.Module`` → a typed :class:`FloatGraph`, checked against it.

:func:`trace_model` symbolically traces the model in eval mode (its own modes restored after),
with ``StructuredConv2d``, ``StructuredLinear``, ``SumPool3d`` and the zoo's ``PadShortcut`` kept
as leaves next to torch's own modules; runs the traced graph once on a random batch to learn every
tensor's shape (an op that is not supported by any of its spellings is refused before this
run); recognises every node (:mod:`~structhw.graph.recognise`) — refusing the first
unsupported one with one line naming the op, its module path and source line, before anything
else is done — then builds the graph (:mod:`~structhw.graph.build`: BatchNorm folded, Identity and
Dropout dropped, functional forms normalised) and, with ``check``, compares its output with the
model's own on random inputs, in float64.
"""

from __future__ import annotations

import copy
import numbers
import traceback
from contextlib import contextmanager

import torch
import torch.fx as fx
from torch import nn

from ..decompose import StructuredConv2d, StructuredLinear, SumPool3d
from ..errors import ConfigError
from ..zoo import PadShortcut
from .build import build_graph
from .float_graph import FloatGraph
from .recognise import check_vocabulary, recognise
from .source import frames_line, module_path, source_line

__all__ = ["trace_model", "LEAF_MODULES"]

#: structhw modules the tracer does not enter (torch.nn's own modules are leaves too).
LEAF_MODULES = (StructuredConv2d, StructuredLinear, SumPool3d, PadShortcut)

#: Images in the batch the shapes are propagated with and the check runs on.
BATCH = 2

#: The check's tolerance, relative to the largest output magnitude.
RTOL = 1e-5


class _Tracer(fx.Tracer):
    """fx's tracer, recording stack traces, with :data:`LEAF_MODULES` as leaves."""

    def __init__(self):
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, module_qualified_name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


@contextmanager
def _eval_mode(model: nn.Module):
    """Every module of ``model`` in eval mode inside, each one's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _trace(model: nn.Module, root: str) -> fx.GraphModule:
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:
        stack = list(tracer.module_stack.values())
        path = stack[-1][0] if stack and stack[-1][0] else root
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
        line = frames_line(frames) or "unknown line"
        raise ConfigError(" ".join(f"torch.fx cannot trace {root} at {path} — {line}: "
                                   f"{_first_line(exc)}".split())) from None
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


class _Shapes(fx.Interpreter):
    """Runs the traced graph once, storing each node's output shape as ``meta["shape"]`` (a
    tuple for a tensor, else None); a failure is one ConfigError line naming the node's module
    and source line."""

    def __init__(self, gm: fx.GraphModule, root: str):
        super().__init__(gm)
        self.extra_traceback = False
        self.root = root

    def run_node(self, n: fx.Node):
        try:
            result = super().run_node(n)
        except Exception as exc:
            raise ConfigError(" ".join(f"the model fails on its input at "
                                       f"{module_path(n, self.root)} — {source_line(n)}: "
                                       f"{_first_line(exc)}".split())) from None
        n.meta["shape"] = tuple(result.shape) if isinstance(result, torch.Tensor) else None
        return result


def _input_shape(input_shape) -> tuple:
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else ()
    if len(shape) != 3 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                  and v > 0 for v in shape):
        raise ConfigError(f"input_shape must be (C, H, W), three positive integers, got "
                          f"{input_shape!r}")
    return tuple(int(v) for v in shape)


def _random_input(shape: tuple, seed: int, dtype: torch.dtype) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, *shape, generator=generator, dtype=torch.float64).to(dtype)


def check_graph(graph: FloatGraph, model: nn.Module, seed: int = 0) -> None:
    """Compare ``graph`` with ``model`` (a float64 copy of it, in eval mode) on a random batch.

    Raises
    ------
    ConfigError
        Naming the largest difference, if it exceeds :data:`RTOL` × the largest output magnitude.
    """
    root = f"<{type(model).__name__}>"
    x = _random_input(tuple(graph.input_shape), seed + 1, torch.float64)
    reference = copy.deepcopy(model).to(torch.float64).eval()
    with torch.no_grad():
        want = reference(x.clone())
        got = graph.to(torch.float64).forward(x)
    if not isinstance(want, torch.Tensor) or got.shape != want.shape:
        raise ConfigError(f"the traced graph of {root} gives {list(got.shape)}, the model "
                          f"{list(getattr(want, 'shape', []))}")
    diff = (got - want).abs()
    tol = RTOL * float(want.abs().max()) + 1e-12
    if float(diff.max()) > tol:
        index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        raise ConfigError(f"the traced graph of {root} disagrees with the model: largest "
                          f"difference {float(diff.max()):.3g} at output {list(index)} (graph "
                          f"{float(got[index]):.6g}, model {float(want[index]):.6g}; tolerance "
                          f"{tol:.3g}): an op was not recognised correctly, please report it")


def trace_model(model: nn.Module, input_shape: tuple, *, check: bool = True,
                seed: int = 0) -> FloatGraph:
    """Trace ``model`` into a typed float graph.

    Parameters
    ----------
    model : nn.Module
        Float, SR-trained or decomposed; left untouched (its train/eval modes are restored).
    input_shape : tuple of int
        ``(C, H, W)`` of one input image.
    check : bool
        Compare the graph's output with the model's on random inputs (:func:`check_graph`).
    seed : int
        Seed of the random inputs.

    Returns
    -------
    FloatGraph
        BatchNorm folded into the conv / linear before it (running statistics, whatever mode the
        BatchNorm was in), Identity and Dropout dropped, functional forms normalised.

    Raises
    ------
    ConfigError
        One line: an unsupported op (its name, module path and source line), a model fx cannot
        trace, a model that fails on ``input_shape``, or a graph that disagrees with the model.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"trace_model takes an nn.Module, got {type(model).__name__}")
    shape = _input_shape(input_shape)
    root = f"<{type(model).__name__}>"
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    with _eval_mode(model), torch.no_grad():
        gm = _trace(model, root)
        check_vocabulary(gm, root)
        _Shapes(gm, root).run(_random_input(shape, seed, dtype))
        steps = recognise(gm, root, BATCH)
        graph = build_graph(steps, shape, root)
    if check:
        check_graph(graph, model, seed)
    return graph
