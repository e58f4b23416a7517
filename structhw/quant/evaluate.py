"""The float path next to the golden integer path: per-layer outputs, errors and accuracies."""

from __future__ import annotations

import torch
from torch import nn

from .. import golden
from ..errors import ConfigError
from ..qnet import QuantNet
from .layers import float_layers
from .ptq import check_images, quantize_input


def float_reference(model: nn.Module, x) -> list[torch.Tensor]:
    """Every weight layer's float output (after its fused ReLU) for float images x [B, C, H, W].

    Returns tensors in the golden model's layout: [B, Cout, H', W'] for a convolution,
    [B, P, 1, 1] for a linear layer, one per :class:`~structhw.qnet.QuantLayer`.
    """
    x = check_images(x, "input images")
    was_training = model.training
    model.eval()
    outs = []
    try:
        with torch.no_grad():
            for layer in float_layers(model):
                x = layer.forward(x)
                outs.append(x)
    finally:
        model.train(was_training)
    return outs


def quantization_error(model: nn.Module, qnet: QuantNet, x) -> list[dict]:
    """Per layer, how far the golden int8 output (dequantized with the layer's output scale) is
    from the float model's output on the same float images x [B, C, H, W].

    Returns one dict per layer: ``name``, ``rel_rms`` = RMS(y_int·s_y − y_float) / RMS(y_float)
    (errors accumulate from the input on, as in the hardware; None when the float output is all
    zero), ``max_abs`` = largest |y_int·s_y − y_float| in float units, ``scale`` = s_y.
    """
    floats = float_reference(model, x)
    return layer_errors(qnet, floats, golden.run_network(qnet, quantize_input(x, qnet)))


def layer_errors(qnet: QuantNet, floats: list, ints: list) -> list[dict]:
    """:func:`quantization_error` from already computed float outputs (:func:`float_reference`)
    and golden int8 outputs (:func:`structhw.golden.run_network`) of the same images."""
    if not len(floats) == len(ints) == len(qnet.layers):
        raise ConfigError(f"the model has {len(floats)} weight layers, the quantized network "
                          f"{len(qnet.layers)}")
    rows = []
    for layer, yf, yq in zip(qnet.layers, floats, ints):
        yf = yf.to(torch.float64)
        diff = yq.to(torch.float64) * layer.out_scale - yf
        ref = yf.pow(2).mean().sqrt()
        rows.append({
            "name": layer.name,
            "rel_rms": float(diff.pow(2).mean().sqrt() / ref) if ref > 0 else None,
            "max_abs": float(diff.abs().max()),
            "scale": float(layer.out_scale),
        })
    return rows


def float_accuracy(model: nn.Module, images, labels: torch.Tensor) -> float:
    """Fraction of ``images`` [B, C, H, W] the float model classifies as ``labels`` [B]."""
    logits = float_reference(model, images)[-1].reshape(len(labels), -1)
    return float((logits.argmax(dim=1) == labels).double().mean())


def int8_accuracy(qnet: QuantNet, images, labels: torch.Tensor) -> float:
    """Fraction of float ``images`` [B, C, H, W] the golden integer model classifies as ``labels``
    (argmax of the int8 logits, the lowest index on ties)."""
    logits = golden.logits(qnet, quantize_input(images, qnet))
    return float((logits.argmax(dim=1) == labels).double().mean())


def quantized_test_split(qnet: QuantNet, count: int | None = None):
    """The first ``count`` images of the digits test split (all 360 by default) as the golden
    model's int8 input: (images int64 numpy [B, C, H, W] with int8 values, labels int64 [B])."""
    from ..data import digits_split
    _, test_ds = digits_split()
    x, y = test_ds.tensors
    count = len(x) if count is None else min(count, len(x))
    return quantize_input(x[:count], qnet).numpy(), y[:count].numpy()
