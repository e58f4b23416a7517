"""Post-training int8 quantization of float (dense or decomposed) models into a QuantNet.

- :func:`quantize` — calibrate on float images, round α (GPTQ or nearest), build the
  :class:`~structhw.qnet.QuantNet`.
- :func:`quantize_input` — float images → int8 input of the golden model.
- :func:`float_reference`, :func:`quantization_error` — the float path and per-layer error.
- :func:`quantized_test_split` — the digits test split as the golden model's int8 input.
- :func:`quantize_checkpoint` — a training checkpoint → (QuantNet, accuracy metrics).

The integer spec the result follows is in ``docs/qnet-format.md``; the golden integer model that
runs it is :mod:`structhw.golden`.
"""

from .evaluate import (float_accuracy, float_reference, int8_accuracy, quantization_error,
                       quantized_test_split)
from .fixed_point import MULTIPLIER_BITS, REQUANT_WIDTH, requant_multiplier, symmetric_scale
from .layers import FloatLayer, float_layers
from .pipeline import quantize_checkpoint
from .ptq import ROUNDINGS, quantize, quantize_input

__all__ = [
    "quantize", "quantize_input", "quantize_checkpoint",
    "float_reference", "quantization_error", "float_accuracy", "int8_accuracy",
    "quantized_test_split",
    "float_layers", "FloatLayer", "requant_multiplier", "symmetric_scale",
    "MULTIPLIER_BITS", "REQUANT_WIDTH", "ROUNDINGS",
]
