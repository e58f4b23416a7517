"""Post-training quantization of a float model into a :class:`~structhw.qnet.QuantNet`.

Calibration: the float model runs on the calibration images (the training split); every
activation tensor the integer model passes between layers — the input image, each layer's output
after its fused ReLU, the logits — gets one symmetric scale from its largest magnitude over the
whole calibration set (``percentile=100``, the default) or from that percentile of its magnitudes.
Weights get one symmetric scale per output channel from their own largest magnitude; α is then
rounded to int8 by error-compensating rounding over the calibration data (GPTQ, the default) or
to nearest (see :mod:`structhw.quant.rounding`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..errors import ConfigError
from ..qnet import QuantLayer, QuantNet
from .fixed_point import REQUANT_WIDTH, quantize_symmetric, requant_multiplier, symmetric_scale
from .layers import FloatLayer, ends_with_flattened_conv, float_layers
from .rounding import check_covariance_size, gptq_round, input_covariance, nearest_round

ROUNDINGS = ("gptq", "nearest")

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def check_images(images, what: str = "calibration images", shape=None) -> torch.Tensor:
    """Validate a float image batch [B, C, H, W] and return it as a float32 tensor.

    ``shape``, if given, is the (C, H, W) the images must have.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"{what} must be a torch tensor [B, C, H, W], got {type(images).__name__}")
    if not images.dtype.is_floating_point:
        raise ConfigError(f"{what} must be a floating-point tensor, got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise ConfigError(f"{what} must have shape [B, C, H, W] with B ≥ 1, got {tuple(images.shape)}")
    if shape is not None and tuple(images.shape[1:]) != tuple(shape):
        raise ConfigError(f"{what} have shape (C, H, W) = {tuple(images.shape[1:])}, the model "
                          f"expects {tuple(shape)}")
    if not torch.isfinite(images).all():
        raise ConfigError(f"{what} contain NaN or infinite values")
    return images.detach().to(torch.float32)


def check_percentile(percentile) -> None:
    """The activation-range percentile must be a number in (50, 100]."""
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) \
            or not 50 < percentile <= 100:
        raise ConfigError(f"percentile must be a number in (50, 100], got {percentile!r}")


def check_rounding(rounding) -> None:
    """The α rounding must be one of :data:`ROUNDINGS`."""
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")


def _magnitude(x: torch.Tensor, percentile: float) -> float:
    a = x.detach().abs().flatten().to(torch.float64)
    if percentile >= 100:
        return float(a.max())
    return float(np.percentile(a.numpy(), percentile))


def _calibrate(layers: list[FloatLayer], images: torch.Tensor, percentile: float,
               batch_size: int, covariances: bool):
    """From a float run over ``images``: largest magnitudes (or percentiles) of the input and of
    every layer's output, each layer's input shape, and (if ``covariances``) each layer's input
    covariance per group (see :func:`~structhw.quant.rounding.input_covariance`), else None."""
    x = images
    ranges = [_magnitude(x, percentile)]
    shapes, hessians = [], []
    with torch.no_grad():
        for layer in tqdm(layers, desc="calibrating", unit="layer", leave=False, disable=None):
            shapes.append(tuple(x.shape[1:]))
            try:
                batches = torch.split(x, batch_size)
                hessians.append(sum(input_covariance(layer, b) for b in batches) if covariances else None)
                x = torch.cat([layer.forward(b) for b in batches])
            except RuntimeError as exc:
                raise ConfigError(f"layer {layer.name!r}: the float model fails on its input of "
                                  f"shape {tuple(x.shape[1:])}: {exc}") from None
            ranges.append(_magnitude(x, percentile))
    return ranges, shapes, hessians


def _round_alpha(alpha: torch.Tensor, s_alpha: torch.Tensor, hessian, groups: int) -> torch.Tensor:
    """int8 α_q [Cout, c, n, n]: nearest rounding, or GPTQ per group with its input covariance."""
    flat = alpha.reshape(alpha.shape[0], -1)
    if hessian is None:
        return nearest_round(flat, s_alpha).reshape(alpha.shape)
    per_group = alpha.shape[0] // groups
    rows = [gptq_round(flat[g * per_group:(g + 1) * per_group], s_alpha[g * per_group:(g + 1) * per_group],
                       hessian[g]) for g in range(groups)]
    return torch.cat(rows).reshape(alpha.shape)


def quant_layer(layer: FloatLayer, in_shape: tuple, s_in: float, s_out: float, hessian) -> QuantLayer:
    """``layer`` as a :class:`QuantLayer` for input (C, H, W) ``in_shape`` at scale ``s_in`` and
    output scale ``s_out``: per-channel α scales, α rounded (GPTQ with the per-group input
    covariance ``hessian``, or nearest when it is None), int32 bias, (M, S) per channel."""
    where = f"layer {layer.name!r}"
    alpha = layer.alpha()
    max_alpha = alpha.abs().amax(dim=(1, 2, 3))
    s_alpha = torch.tensor([symmetric_scale(v) for v in max_alpha.tolist()], dtype=torch.float64)
    alpha_q = _round_alpha(alpha, s_alpha, hessian, layer.groups)
    acc_scale = s_in * s_alpha
    bias_q = torch.round(layer.bias() / acc_scale)
    if bias_q.numel() and (bias_q.min() < INT32_MIN or bias_q.max() > INT32_MAX):
        o = int(torch.argmax(bias_q.abs()))
        raise ConfigError(f"{where}: bias of output channel {o} is {float(layer.bias()[o]):.6g}, "
                          f"{float(bias_q[o]):.6g} steps of s_x·s_α: beyond int32")
    ms = [requant_multiplier(float(a) / s_out, f"{where}, output channel {o}")
          for o, a in enumerate(acc_scale.tolist())]
    C, H, W = in_shape if layer.kind == "conv" else (int(np.prod(in_shape)), 1, 1)
    qlayer = QuantLayer(
        name=layer.name, kind=layer.kind, in_channels=C, in_height=H, in_width=W,
        out_channels=layer.out_channels, kernel=layer.kernel, c=layer.c, n=layer.n,
        stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
        relu=layer.relu, alpha=alpha_q.numpy(), bias=bias_q.to(torch.int64).numpy(),
        multiplier=np.array([m for m, _ in ms]), shift=np.array([s for _, s in ms]),
        in_scale=s_in, out_scale=s_out, alpha_scale=s_alpha.numpy(),
    )
    width = qlayer.widths().requant_product
    if width > REQUANT_WIDTH:
        raise ConfigError(f"{where}: acc·M needs {width} bits for the extreme int8 inputs, more than "
                          f"the declared requantisation width of {REQUANT_WIDTH} bits")
    return qlayer


def quantize(model: nn.Module, calib_images, *, name: str = "model", percentile: float = 100.0,
             rounding: str = "gptq", batch_size: int = 512) -> QuantNet:
    """Quantize ``model`` (see :func:`~structhw.quant.layers.float_layers`) to a QuantNet.

    Parameters
    ----------
    model : nn.Sequential
        Float model, dense and/or structured layers; it is run in eval mode (its mode is restored).
    calib_images : torch.Tensor
        Float images [B, C, H, W] the activation scales are calibrated on (the training split).
    name : str
        Stored in ``qnet.metadata["name"]``.
    percentile : float
        Activation range rule: 100 = largest magnitude, else that percentile of the magnitudes.
    rounding : {"gptq", "nearest"}
        How α is rounded to int8 at its scale: error-compensating over the calibration data
        (:func:`~structhw.quant.rounding.gptq_round`, default) or to nearest.

    Raises
    ------
    ConfigError
        Unsupported module, wrong calibration data, or an integer that would not fit its width.
    """
    check_percentile(percentile)
    check_rounding(rounding)
    layers = float_layers(model)
    if rounding == "gptq":
        for layer in layers:
            check_covariance_size(layer)
    images = check_images(calib_images)
    first = layers[0]
    if first.kind == "conv" and images.shape[1] != first.in_channels:
        raise ConfigError(f"calibration images have {images.shape[1]} channels, layer {first.name!r} "
                          f"expects {first.in_channels}")
    if first.kind == "linear" and int(np.prod(images.shape[1:])) != first.in_channels:
        raise ConfigError(f"calibration images hold {int(np.prod(images.shape[1:]))} values each, "
                          f"linear layer {first.name!r} expects {first.in_channels}")
    was_training = model.training
    model.eval()
    try:
        ranges, shapes, hessians = _calibrate(layers, images, float(percentile), batch_size,
                                              covariances=rounding == "gptq")
    finally:
        model.train(was_training)
    scales = [symmetric_scale(r) for r in ranges]
    qlayers = [quant_layer(layer, shape, scales[i], scales[i + 1], hessian)
               for i, (layer, shape, hessian) in enumerate(zip(layers, shapes, hessians))]
    last = qlayers[-1]
    if ends_with_flattened_conv(model) and last.out_height * last.out_width != 1:
        raise ConfigError(f"the model ends with a Flatten after convolution {last.name!r}, whose "
                          f"output is {last.out_channels}×{last.out_height}×{last.out_width}: "
                          "only a one-pixel output (the logits) may be flattened last; a linear "
                          "layer must follow it")
    rule = "max-abs" if percentile >= 100 else f"percentile {percentile:g} of |x|"
    return QuantNet(*images.shape[1:], scales[0], qlayers, metadata={
        "name": name,
        "calibration": {"rule": rule, "images": int(images.shape[0]), "rounding": rounding},
    })


def quantize_input(images, qnet: QuantNet) -> torch.Tensor:
    """Float images [B, C, H, W] → int64 tensor of int8 values ``clamp(round(x / s_in), −127, 127)``
    with the network's input scale."""
    images = check_images(images, "input images", qnet.input_shape)
    return quantize_symmetric(images, qnet.input_scale)
