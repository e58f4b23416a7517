"""What the quantizer knows of one calibrated float node when the node's op class makes its
integer op (:meth:`structhw.graph.ops.QuantOp.from_float`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..quant.fixed_point import requant_multiplier


@dataclass(frozen=True)
class FloatStep:
    """One float node as the quantizer hands it to :meth:`QuantOp.from_float`: the float
    ``node`` (its ``op``, ``name``, ``attrs``, ``module``), its producers' names ``inputs``, their
    ``in_shapes`` (C, H, W) and ``in_scales``, its own ``out_scale``, whether a ReLU is fused
    into it, and the input covariance for GPTQ rounding (conv/linear; None: nearest)."""

    node: object
    inputs: tuple
    in_shapes: tuple
    in_scales: tuple
    out_scale: float
    relu: bool = False
    hessian: object = None

    def fields(self) -> dict:
        """The constructor arguments every op takes: name, inputs, in_shapes."""
        return {"name": self.node.name, "inputs": self.inputs, "in_shapes": self.in_shapes}

    def requant(self, ratio: float) -> tuple:
        """(M, S) with ``M / 2^S ≈ ratio``, an error naming this node if none fits."""
        return requant_multiplier(ratio, f"{self.node.op} {self.node.name!r}")
