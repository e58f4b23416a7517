"""Small random quantized networks that plan, generate and simulate in seconds."""

from __future__ import annotations

from structhw.qnet import QuantNet
from structhw.rtl_gen.random_layer import random_quant_layer


def digits_chain() -> QuantNet:
    """conv 1→4 (3×3 kernel, c=1, n=2, stride 2) on the digits' 1×8×8 images, flatten, linear
    64→3 (structured, c=8): random int8 weights from fixed seeds."""
    layers = [random_quant_layer(1, 3, 1, 2, 4, 8, 8, 2, 1, 11, name="conv0"),
              random_quant_layer(64, 1, 8, 1, 3, 1, 1, 1, 0, 12, kind="linear", relu=False,
                                 name="fc")]
    return QuantNet(1, 8, 8, 1.0, layers)


def tiny_chain(**metadata) -> QuantNet:
    """conv 1→4 on 1×6×6 (stride 2), flatten, linear 36→3: plans in milliseconds; ``metadata``
    goes into the qnet."""
    layers = [random_quant_layer(1, 3, 1, 2, 4, 6, 6, 2, 1, 11, name="conv0"),
              random_quant_layer(36, 1, 6, 1, 3, 1, 1, 1, 0, 12, kind="linear", relu=False,
                                 name="fc")]
    return QuantNet(1, 6, 6, 1.0, layers, metadata=metadata)
