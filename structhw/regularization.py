"""Structure plans and the Structural Regularization loss (paper Eq. 3).

A *structure plan* is ``dict[str, tuple[int, int]]``: a module name (as in
``model.named_modules()``) → ``(c, n)``. For an ``nn.Conv2d`` with ``groups`` g each kernel is
``C × N × N`` with ``C = in_channels / g``, ``N = kernel_size``; for an ``nn.Linear`` P×Q each
row is a ``Q × 1 × 1`` kernel and the entry is ``(R, 1)`` (paper §4.3). Layers absent from the plan
are left alone.

Presets (:func:`make_plan`)
    ``dense``  every Conv2d / Linear with ``c = C``, ``n = N`` (no compression; the baseline).
    ``A``      compression ratio 2 on every Conv2d / Linear (paper §6.1).
    ``B``      ratio 2 in stages 1–2, ratio 4 in stages 3–4 (paper §6.1), for models with four
               residual stages (ImageNet ResNets) and models without residual stages. A ResNet
               with three residual stages (the CIFAR ResNets) gets ratio 2 on its stem and ratio
               4 on every residual stage and the classifier: the paper's Table 1 counts for
               Struct-20/32/56-B (mults ≈ dense ÷ 3.8, params ≈ dense ÷ 4) are reached only so.
               ``structhw count``: 20-B 10.41M mults / 0.069M params (paper 10.59 / 0.067),
               32-B 17.60 / 0.118 (18.18 / 0.11), 56-B 31.99 / 0.216 (33.87 / 0.21); mapping
               "stages 1–2" onto the stem and layer1 instead gives 20-B 17.20M mults.

Stages (:func:`layer_stages`)
    ResNets (modules named ``layerK.…``): ``layerK`` is stage K; the stem (the layers before
    ``layer1``) is stage 1; the classifier (after the last ``layerK``) is stage 4. The CIFAR ResNets
    have three residual stages, so their classifier is the only stage-4 layer. Any other model,
    e.g. ``digits-cnn``: its L structurable layers in definition order, the k-th (1-based) in stage
    ``ceil(4·k / L)`` — for digits-cnn "0" → 1, "2" → 2, "4" → 3, "7" → 4.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .structure import check_structure, relative_residual_norm, structure_matrix

__all__ = [
    "PRESETS",
    "choose_cn",
    "kernel_geometry",
    "layer_stages",
    "make_plan",
    "validate_plan",
    "load_plan",
    "sr_loss",
    "sr_loss_naive",
]

PRESETS = ("dense", "A", "B")
_STAGE_RATIO_B = {1: 2.0, 2: 2.0, 3: 4.0, 4: 4.0}


def _ratio_b(name: str, stages: dict, residual_stages: int) -> float:
    """Preset B's compression ratio of layer ``name`` (module docstring)."""
    if residual_stages == 3:
        is_stem = stages[name] == 1 and not re.match(r"layer\d+\.", name)
        return 2.0 if is_stem else 4.0
    return _STAGE_RATIO_B[min(stages[name], 4)]


def residual_stage_count(model: nn.Module) -> int:
    """Number of residual stages (``layerK`` modules) of a ResNet-style ``model``; 0 otherwise."""
    return len({int(m.group(1)) for name, _ in model.named_modules()
                if (m := re.match(r"layer(\d+)$", name))})


def kernel_geometry(name: str, module: nn.Module) -> tuple[int, int]:
    """(C, N) of the kernels of a structurable layer: (in_channels/groups, kernel size) for a
    Conv2d, (in_features, 1) for a Linear. Raises :class:`ConfigError` naming the layer if it
    cannot be structured (other module types, non-square kernels/strides/dilations, asymmetric
    or string padding, a padding mode other than zeros)."""
    if isinstance(module, nn.Linear):
        return module.in_features, 1
    if not isinstance(module, nn.Conv2d):
        raise ConfigError(
            f"layer {name!r} is a {type(module).__name__}; only Conv2d and Linear can be structured"
        )
    kh, kw = module.kernel_size
    if kh != kw:
        raise ConfigError(f"layer {name!r}: kernel {kh}×{kw} is not square")
    for what in ("stride", "dilation", "padding"):
        value = getattr(module, what)
        if isinstance(value, str) or value[0] != value[1]:
            raise ConfigError(f"layer {name!r}: {what}={value!r} must be one integer for both axes")
    if module.padding_mode != "zeros":
        raise ConfigError(f"layer {name!r}: padding_mode={module.padding_mode!r}; only 'zeros' can be structured")
    return module.in_channels // module.groups, kh


def _structurable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def layer_stages(model: nn.Module) -> dict[str, int]:
    """Stage (1–4) of every Conv2d / Linear of ``model``, by the rule in the module docstring."""
    layers = [name for name, _ in _structurable(model)]
    stage_of = {}
    for name in layers:
        match = re.match(r"layer(\d+)\.", name)
        if match:
            stage_of[name] = int(match.group(1))
    if not stage_of:
        return {name: math.ceil(4 * k / len(layers)) for k, name in enumerate(layers, start=1)}
    first = layers.index(next(n for n in layers if n in stage_of))
    for index, name in enumerate(layers):
        if name not in stage_of:
            stage_of[name] = 1 if index < first else 4
    return stage_of


def choose_cn(C: int, N: int, ratio: float) -> tuple[int, int]:
    """Pick (c, n) for kernels C×N×N so that the compression ratio ``C·N² / (c·n²)`` meets ``ratio``.

    Rule: among all 1 ≤ c ≤ C, 1 ≤ n ≤ N, take the *smallest ratio that is ≥ the target* — the
    mildest structure that still compresses at least as much as asked, so accuracy is not given
    away for compression nobody asked for. Ties (equal ratio) go to the larger n, i.e. keep the
    spatial extent and pool over channels: the sum-pool window is then smaller, which saves adds.
    If no (c, n) reaches the target (e.g. C = N = 1), take the largest ratio there is,
    ``c = n = 1``. Examples: C=16, N=3, ratio 2 → (8, 3), exactly 2; C=3, N=3, ratio 2 → (3, 2),
    ratio 2.25 (c = 2, n = 3 would give only 1.5); a 64→10 Linear, ratio 2 → (32, 1);
    a depthwise 1×3×3 kernel, ratio 2 → (1, 2), ratio 2.25.
    """
    C, N, _, _ = check_structure(C, N, 1, 1)
    if not (isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and ratio >= 1):
        raise ConfigError(f"compression ratio must be a number >= 1, got {ratio!r}")
    full = C * N * N
    candidates = [(full / (c * n * n), -n, c, n) for c in range(1, C + 1) for n in range(1, N + 1)]
    meeting = [cand for cand in candidates if cand[0] >= ratio - 1e-12]
    best = min(meeting) if meeting else max(candidates)
    return best[2], best[3]


def make_plan(model: nn.Module, preset: str) -> dict[str, tuple[int, int]]:
    """A plan for every Conv2d / Linear of ``model`` from a preset (``dense``, ``A``, ``B``)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    stages, residual = layer_stages(model), residual_stage_count(model)
    plan = {}
    for name, module in _structurable(model):
        C, N = kernel_geometry(name, module)
        if preset == "dense":
            plan[name] = (C, N)
        else:
            ratio = 2.0 if preset == "A" else _ratio_b(name, stages, residual)
            plan[name] = choose_cn(C, N, ratio)
    return plan


def validate_plan(model: nn.Module, plan) -> dict[str, tuple[int, int]]:
    """Check ``plan`` against ``model`` and return it with plain-int values.

    Raises :class:`ConfigError` naming the layer when a name is not a module of ``model``, the
    module cannot be structured, the entry is not a pair of integers, ``c`` or ``n`` is < 1 or too
    large (``c > C/groups``, ``n > N``; for a Linear ``n`` must be 1).
    """
    if not isinstance(plan, dict):
        raise ConfigError(f"a structure plan must be a dict name -> (c, n), got {type(plan).__name__}")
    modules = dict(model.named_modules())
    clean = {}
    for name, entry in plan.items():
        if name not in modules:
            raise ConfigError(f"plan names layer {name!r}, which the model does not have")
        C, N = kernel_geometry(name, modules[name])
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise ConfigError(f"layer {name!r}: plan entry must be a pair (c, n), got {entry!r}")
        _, _, c, n = check_structure(C, N, entry[0], entry[1], where=f"layer {name!r}")
        clean[name] = (c, n)
    return clean


def load_plan(path, model: nn.Module) -> dict[str, tuple[int, int]]:
    """Read a plan written per layer name from a JSON file — one object
    ``{"layer name": [c, n], ...}`` — and validate it against ``model`` (:func:`validate_plan`).
    A missing file raises ``FileNotFoundError``; malformed JSON a :class:`ConfigError`."""
    text = Path(path).read_text()
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file {str(path)!r} is not valid JSON: {exc}") from None
    return validate_plan(model, plan)


def _kernels(module: nn.Module) -> torch.Tensor:
    """The layer's weight as kernels [Cout, C, N, N] (a Linear P×Q as [P, Q, 1, 1]); a view."""
    w = module.weight
    return w.reshape(w.shape[0], w.shape[1], 1, 1) if w.dim() == 2 else w


def sr_loss(model: nn.Module, plan: dict[str, tuple[int, int]]) -> torch.Tensor:
    """Structural Regularization loss Σ_l ‖(I − A_l A_l⁺) W_l‖_F / ‖W_l‖_F over the planned layers.

    Uses :func:`structhw.structure.relative_residual_norm`: the residual is computed axis by axis (tiny
    N×N projectors for the spatial axes, the O(C) periodic form for channels), never with a CN²×CN²
    matrix. A 0-d tensor on the weights' device, differentiable in the weights. Layers whose
    plan is dense contribute exactly 0 and are skipped. ``plan`` is assumed valid (see
    :func:`validate_plan`).
    """
    modules = dict(model.named_modules())
    total = None
    for name, (c, n) in plan.items():
        W = _kernels(modules[name])
        if c == W.shape[1] and n == W.shape[2]:
            continue
        term = relative_residual_norm(W, c, n)
        total = term if total is None else total + term
    if total is None:
        p = next(model.parameters(), None)
        return torch.zeros((), dtype=p.dtype, device=p.device) if p is not None else torch.zeros(())
    return total


def sr_loss_naive(model: nn.Module, plan: dict[str, tuple[int, int]], cache: dict | None = None) -> torch.Tensor:
    """The same loss, formulated naively: form A, ``torch.linalg.pinv(A)`` and the dense
    CN²×CN² matrix ``I − A A⁺`` for every layer. The reference for tests and the baseline of the
    overhead benchmark; ``cache`` (a dict) keeps the dense matrices between calls."""
    modules = dict(model.named_modules())
    p = next(model.parameters(), None)
    total = torch.zeros((), dtype=p.dtype, device=p.device) if p is not None else torch.zeros(())
    for name, (c, n) in plan.items():
        W = _kernels(modules[name])
        C, N = W.shape[1], W.shape[2]
        key = (C, N, c, n, W.dtype, W.device)
        residual_matrix = None if cache is None else cache.get(key)
        if residual_matrix is None:
            A = structure_matrix(C, N, c, n, torch.float64)
            residual_matrix = (torch.eye(C * N * N, dtype=torch.float64) - A @ torch.linalg.pinv(A))
            residual_matrix = residual_matrix.to(W.dtype).to(W.device)
            if cache is not None:
                cache[key] = residual_matrix
        flat = W.reshape(W.shape[0], -1)
        term = torch.linalg.vector_norm(flat @ residual_matrix.T) / torch.linalg.vector_norm(flat)
        total = total + term
    return total
