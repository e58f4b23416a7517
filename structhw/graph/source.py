"""Where an fx node came from (module path, source line) and the one-line refusal naming it.

fx records, per node, ``meta["nn_module_stack"]`` (the modules being called when the node was
created, outermost first: ``{key: (qualified path, type)}``) and, with the tracer's
``record_stack_traces``, ``node.stack_trace`` (the Python stack, torch's own frames included).
The source line reported is the innermost frame outside the torch package: the user's line.
"""

from __future__ import annotations

import os
import re

import torch
import torch.fx as fx

from ..errors import ConfigError
from .float_graph import FLOAT_OPS

__all__ = ["module_path", "source_line", "describe", "refuse"]

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_PLUMBING = ("fx" + os.sep, "overrides.py", os.path.join("modules", "module.py"))
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ')


def module_path(node: fx.Node, root: str) -> str:
    """The qualified path of the module whose forward created ``node`` (the called module itself
    for ``call_module``); ``root`` (the model's class name in angle brackets) at the top level."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return root
    path = list(stack.values())[-1][0]
    return path or root


def frames_line(frames) -> str:
    """``file:line`` of the innermost of ``(filename, lineno)`` pairs outside torch — or, when
    every frame is torch's (a layer of an ``nn.Sequential``), outside its tracing and module-call
    machinery — or ``""``."""
    def plumbing(f):
        return any(part in f for part in _PLUMBING)

    frames = [(os.path.abspath(f), n) for f, n in frames]
    user = [(f, n) for f, n in frames if not f.startswith(_TORCH_DIR)]
    user = user or [(f, n) for f, n in frames if not plumbing(f[len(_TORCH_DIR):])]
    if not user:
        return ""
    filename, lineno = user[-1]
    return f"{os.path.basename(filename)}:{lineno}"


def _traced_near(node: fx.Node) -> str:
    """The stack trace of ``node``, or for a placeholder (no trace) its first user's, for the
    output the last traced node before it."""
    if node.stack_trace:
        return node.stack_trace
    near = list(node.users) if node.op == "placeholder" else []
    if node.op == "output":
        prev = node.prev
        while prev.op != "root" and not prev.stack_trace:
            prev = prev.prev
        near = [prev]
    return next((n.stack_trace for n in near if n.stack_trace), "")


def source_line(node: fx.Node) -> str:
    """``file:line`` of the user's code that created ``node``, or ``"unknown line"``."""
    frames = [(f, int(n)) for f, n in _FRAME.findall(_traced_near(node))]
    return frames_line(frames) or "unknown line"


def source(node: fx.Node, root: str) -> str:
    """``"module path (file:line)"``, the form of :attr:`FloatNode.source`."""
    return f"{module_path(node, root)} ({source_line(node)})"


def describe(target) -> str:
    """A readable name of an fx target: ``torch.sigmoid``, ``F.relu``, ``operator.mul``,
    ``Tensor.permute``, a module's class name."""
    if isinstance(target, str):
        return f"Tensor.{target}"
    name = getattr(target, "__name__", repr(target))
    module = getattr(target, "__module__", None) or ""
    if module == "torch.nn.functional" or module.startswith("torch._C._nn"):
        return f"F.{name}"
    if module == "_operator" or module == "operator":
        return f"operator.{name}"
    if getattr(torch, name, None) is target:
        return f"torch.{name}"
    if getattr(torch.nn.functional, name, None) is target:
        return f"F.{name}"
    return f"{module}.{name}" if module else name


def refuse(op: str, what: str, node: fx.Node, root: str, why: str = "") -> ConfigError:
    """The one-line :class:`ConfigError` for an op the frontend cannot take.

    ``op`` is the short name (``'sigmoid'``), ``what`` the call (``torch.sigmoid``), ``why`` an
    optional reason replacing the list of supported ops.
    """
    reason = why or f"supported ops are {', '.join(FLOAT_OPS)} (plus BatchNorm folded into " \
                    f"the conv/linear before it, Identity and eval-mode Dropout)"
    message = f"unsupported op {op!r} ({what}) at {module_path(node, root)} — " \
              f"{source_line(node)}: {reason}"
    return ConfigError(" ".join(message.split()))
