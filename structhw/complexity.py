"""Parameters, multiplications and additions per layer for one input image (paper §4.2).

For a conv layer with output ``Cout × H' × W'``, kernels ``C × N × N`` (C = in_channels/groups),
structured with (c, n) (dense: c = C, n = N):

* params = ``Cout·c·n²`` (+ Cout for a bias)
* mults  = ``Cout·c·n²·H'·W'``
* adds   = ``(c·n² − 1)·Cout·H'·W'`` (+ ``Cout·H'·W'`` for a bias)
  + sum-pool adds ``((C−c+1)(N−n+1)² − 1)·groups·c·H₁·W₁``, counted once per layer (amortised over
  the output channels, as in the paper), where ``H₁ × W₁`` is the stride-1 sum-pool output:
  ``H₁ = H + 2·padding − dilation·(N − n)``. Dense layers have a 1-element window: no sum-pool adds.

A Linear P×Q with parameter R is the case C, N, c, n = Q, 1, R, 1 with H' = W' = H₁ = W₁ = 1.

BatchNorm (inference: one scale and one shift per element) counts 1 mult and 1 add per output
element and its 2·C affine parameters. The paper does not spell this out, but its Table 1 baseline
numbers are reproduced exactly only with it: ResNet20's 40.74 M mults and 40.55 M adds are the
40.55 M conv/fc multiply-accumulates plus / minus the 0.19 M conv output elements. Residual adds,
ReLU, pooling and the shortcut are not counted (the paper does not count them either).

Already decomposed models (:class:`~structhw.decompose.StructuredConv2d` /
:class:`~structhw.decompose.StructuredLinear`) are counted with their own (c, n).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .decompose import StructuredConv2d, StructuredLinear
from .regularization import validate_plan

__all__ = ["LayerCount", "ModelCount", "count_model"]


@dataclass(frozen=True)
class LayerCount:
    """Counts of one layer for one input image. ``kind``: ``conv``, ``linear``, ``bn`` or
    ``other`` (parameters of modules that are not counted for operations). ``C, N, c, n`` are 0
    for ``bn``/``other``; ``sumpool_adds`` is included in ``adds``."""

    name: str
    kind: str
    C: int
    N: int
    c: int
    n: int
    out_channels: int
    out_height: int
    out_width: int
    params: int
    mults: int
    adds: int
    sumpool_adds: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelCount:
    """Per-layer counts (in execution order) and their totals (plain ints)."""

    layers: tuple[LayerCount, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def mults(self) -> int:
        return sum(layer.mults for layer in self.layers)

    @property
    def adds(self) -> int:
        return sum(layer.adds for layer in self.layers)

    def as_dict(self) -> dict:
        return {
            "params": self.params,
            "mults": self.mults,
            "adds": self.adds,
            "layers": [layer.as_dict() for layer in self.layers],
        }


def _conv_count(name, C, N, c, n, groups, cout, has_bias, in_hw, out_hw, padding, dilation) -> LayerCount:
    outputs = cout * out_hw[0] * out_hw[1]
    pooled = [size + 2 * padding - dilation * (N - n) for size in in_hw]
    sumpool = ((C - c + 1) * (N - n + 1) ** 2 - 1) * groups * c * pooled[0] * pooled[1]
    macs = c * n * n
    return LayerCount(
        name=name, kind="conv", C=C, N=N, c=c, n=n,
        out_channels=cout, out_height=out_hw[0], out_width=out_hw[1],
        params=cout * macs + (cout if has_bias else 0),
        mults=outputs * macs,
        adds=(macs - 1) * outputs + (outputs if has_bias else 0) + sumpool,
        sumpool_adds=sumpool,
    )


def _linear_count(name, Q, R, P, has_bias) -> LayerCount:
    layer = _conv_count(name, Q, 1, R, 1, 1, P, has_bias, (1, 1), (1, 1), 0, 1)
    return LayerCount(**{**asdict(layer), "kind": "linear"})


def count_model(model: nn.Module, input_shape, plan: dict | None = None) -> ModelCount:
    """Count ``model`` for one input of ``input_shape`` (C, H, W), with ``plan`` (name → (c, n))
    applied to its Conv2d / Linear layers (unplanned layers are dense).

    Runs one forward pass (batch 1, zeros, eval mode, no grad) to learn every layer's input and
    output size; the model's train/eval mode is restored afterwards. ``plan`` is validated
    (:class:`~structhw.errors.ConfigError` naming a bad layer).
    """
    plan = validate_plan(model, plan or {})
    counts: list[LayerCount] = []
    counted_params: set[int] = set()
    hooks = []

    def hook(name):
        def record(module, inputs, output):
            x = inputs[0]
            counted_params.update(id(p) for p in module.parameters())
            if isinstance(module, StructuredConv2d):
                counts.append(_conv_count(
                    name, module.in_channels // module.groups, module.kernel_size, module.c, module.n,
                    module.groups, module.out_channels, module.conv.bias is not None,
                    tuple(x.shape[-2:]), tuple(output.shape[-2:]), module.padding, module.dilation))
            elif isinstance(module, StructuredLinear):
                counts.append(_linear_count(name, module.in_features, module.c, module.out_features,
                                            module.linear.bias is not None))
            elif isinstance(module, nn.Conv2d):
                C, N = module.in_channels // module.groups, module.kernel_size[0]
                c, n = plan.get(name, (C, N))
                counts.append(_conv_count(
                    name, C, N, c, n, module.groups, module.out_channels, module.bias is not None,
                    tuple(x.shape[-2:]), tuple(output.shape[-2:]), module.padding[0], module.dilation[0]))
            elif isinstance(module, nn.Linear):
                R, _ = plan.get(name, (module.in_features, 1))
                layer = _linear_count(name, module.in_features, R, module.out_features, module.bias is not None)
                rows = output.numel() // module.out_features
                counts.append(LayerCount(**{**asdict(layer), "mults": layer.mults * rows,
                                            "adds": layer.adds * rows, "sumpool_adds": layer.sumpool_adds * rows}))
            else:  # batch norm
                elements = output.numel()
                params = sum(p.numel() for p in module.parameters())
                counts.append(LayerCount(name, "bn", 0, 0, 0, 0, output.shape[1], *_hw(output),
                                         params=params, mults=elements, adds=elements, sumpool_adds=0))
        return record

    skip_below = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip_below):
            continue
        if isinstance(module, (StructuredConv2d, StructuredLinear)):
            skip_below.append(name)
        if isinstance(module, (StructuredConv2d, StructuredLinear, nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        x = torch.zeros(1, *input_shape, dtype=p.dtype if p is not None else torch.float32,
                        device=p.device if p is not None else None)
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    other = sum(p.numel() for p in model.parameters() if id(p) not in counted_params)
    if other:
        counts.append(LayerCount("(other parameters)", "other", 0, 0, 0, 0, 0, 0, 0, other, 0, 0, 0))
    return ModelCount(tuple(counts))


def _hw(output: torch.Tensor) -> tuple[int, int]:
    return (output.shape[-2], output.shape[-1]) if output.dim() == 4 else (1, 1)
