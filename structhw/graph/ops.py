"""The integer ops of a quantized graph: one class per op, each owning its checks, its golden
computation, its JSON form and its quantization from a calibrated float node
(:meth:`QuantOp.from_float`); the hardware side — cycles, latency, cost, component — is one
class per op in :mod:`structhw.rtl_gen.nodes`.

Every tensor between ops is int8 (values −128…127, held in int64 tensors), symmetric with zero
point 0 and one real scale; shapes are ``(C, H, W)`` for one image, ``[B, C, H, W]`` batched (a
linear layer's output is ``(P, 1, 1)``). The integer spec of each op is in
``docs/qnet-format.md`` ("Graph ops"); :mod:`structhw.golden` holds the conv/linear arithmetic.

An op is built from its fields, validated against the shapes of its inputs by
:meth:`QuantOp.check_inputs` (the graph calls it), and computes :meth:`QuantOp.golden` on batched
int64 tensors. :data:`OPS` maps the ``op`` field of the JSON form to the class,
:data:`FLOAT_OPS_TO_QUANT` each float op to the class that quantizes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .. import golden
from ..errors import ConfigError
from ..qnet import ACT_MAX, ACT_MIN, QuantLayer, check_name
from ..quant.layers import float_layer
from ..quant.ptq import quant_layer
from .jsonfields import (as_bool, as_int, as_number, as_shape, check_requant, requant_json,
                         shape_json)

__all__ = ["QuantOp", "ConvOp", "AddOp", "MaxPoolOp", "AvgPoolOp", "GlobalAvgPoolOp",
           "PadShortcutOp", "ReluOp", "OPS", "FLOAT_OPS_TO_QUANT", "op_from_json"]

RELU6_MAX = 6.0
"""The upper clamp of ReLU6, in the float model's units."""


@dataclass(eq=False)
class QuantOp:
    """Base of the graph's integer ops.

    Attributes
    ----------
    name : str
        Unique node name (the float model's module path where there is one).
    inputs : tuple of str
        Names of the producer nodes; the graph input is ``"input"``.
    in_shapes : tuple of (C, H, W)
        Shape of each input, in ``inputs`` order.
    out_scale : float
        Real value of one int8 step of the output.
    """

    kind: ClassVar[str] = ""
    arity: ClassVar[int] = 1
    float_ops: ClassVar[tuple] = ()
    """The float ops (:data:`~structhw.graph.float_graph.FLOAT_OPS`) this op quantizes."""
    name: str
    inputs: tuple
    in_shapes: tuple

    def __post_init__(self):
        self.inputs = tuple(str(i) for i in self.inputs)
        self.in_shapes = tuple(tuple(int(v) for v in s) for s in self.in_shapes)
        if len(self.inputs) != self.arity or len(self.in_shapes) != self.arity:
            self.fail(f"takes {self.arity} input(s), got {len(self.inputs)} inputs and "
                      f"{len(self.in_shapes)} shapes")
        for shape in self.in_shapes:
            if len(shape) != 3 or min(shape) < 1:
                self.fail(f"input shape {shape} is not a (C, H, W) of positive sizes")
        self.validate()

    def fail(self, msg: str):
        raise ConfigError(f"{self.kind} {self.name!r}: {msg}")

    @property
    def in_shape(self) -> tuple:
        """The (first) input's (C, H, W)."""
        return self.in_shapes[0]

    @property
    def out_shape(self) -> tuple:
        """(C, H, W) of the output for one image."""
        raise NotImplementedError

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming this op and the first violated constraint."""

    def check_inputs(self, shapes: list) -> None:
        """The graph's producer shapes must equal the recorded ``in_shapes``."""
        if tuple(tuple(s) for s in shapes) != self.in_shapes:
            self.fail(f"inputs {self.inputs} have shapes {tuple(shapes)}, the op records "
                      f"{self.in_shapes}")

    def golden(self, *xs: torch.Tensor) -> torch.Tensor:
        """Batched int64 inputs [B, C, H, W] (int8 values) → int64 output [B, *out_shape]."""
        raise NotImplementedError

    def fields_json(self) -> dict:
        """The op's own fields (everything but op, name, inputs, in_shapes)."""
        return {}

    def to_json(self) -> dict:
        return {"op": self.kind, "name": self.name, "inputs": list(self.inputs),
                "in_shapes": [shape_json(s) for s in self.in_shapes], **self.fields_json()}

    @classmethod
    def fields_from_json(cls, obj: dict, where: str) -> dict:
        """Constructor keyword arguments of the op's own fields from its JSON object."""
        return {}

    @classmethod
    def from_float(cls, step) -> "QuantOp":
        """The integer op of the calibrated float node ``step``
        (:class:`~structhw.graph.float_step.FloatStep`; the spec: docs/qnet-format.md);
        ConfigError when an integer does not fit its width."""
        raise NotImplementedError


def _requant(acc: torch.Tensor, multiplier: int, shift: int, lo: int) -> torch.Tensor:
    """One (M, S) for every element: ``clamp((acc·M + 2^(S−1)) >> S, lo, 127)``."""
    y = (acc * int(multiplier) + (1 << (int(shift) - 1))) >> int(shift)
    return y.clamp(lo, ACT_MAX)


@dataclass(eq=False)
class ConvOp(QuantOp):
    """A structured (or dense) convolution or linear layer: :class:`~structhw.qnet.QuantLayer`'s
    sum-pool, small convolution and requantisation (a linear layer flattens its input in
    (C, H, W) order first)."""

    kind: ClassVar[str] = "conv"
    float_ops: ClassVar[tuple] = ("conv", "linear")
    layer: QuantLayer = None

    def validate(self) -> None:
        if not isinstance(self.layer, QuantLayer):
            self.fail("needs a QuantLayer")
        C, H, W = self.in_shape
        want = (C * H * W, 1, 1) if self.layer.kind == "linear" else (C, H, W)
        got = (self.layer.in_channels, self.layer.in_height, self.layer.in_width)
        if got != want:
            self.fail(f"layer geometry {got} does not match its input {self.in_shape}")

    def fail(self, msg: str):
        raise ConfigError(f"{self.layer.kind if isinstance(self.layer, QuantLayer) else 'conv'} "
                          f"{self.name!r}: {msg}")

    @property
    def out_shape(self) -> tuple:
        return (self.layer.out_channels, self.layer.out_height, self.layer.out_width)

    @property
    def out_scale(self) -> float:
        return float(self.layer.out_scale)

    def golden(self, x):
        return golden.run_layer(x, self.layer)

    def to_json(self) -> dict:
        body = self.layer.to_json()
        body.pop("name")
        return {"op": self.layer.kind, "name": self.name, "inputs": list(self.inputs),
                "in_shapes": [shape_json(s) for s in self.in_shapes], **body}

    @classmethod
    def fields_from_json(cls, obj: dict, where: str) -> dict:
        return {"layer": QuantLayer.from_json({**obj, "kind": obj.get("op")})}

    @classmethod
    def from_float(cls, step):
        layer = float_layer(step.node.name, step.node.module, relu=step.relu)
        return cls(**step.fields(), layer=quant_layer(layer, step.in_shapes[0], step.in_scales[0],
                                                      step.out_scale, step.hessian))


@dataclass(eq=False)
class AddOp(QuantOp):
    """Residual add of two int8 tensors of equal shape with their own scales:
    ``y = clamp((a·M_a + b·M_b + 2^(S−1)) >> S, lo, 127)``, exact before the shift;
    ``M_i / 2^S ≈ s_i / s_y``; ``lo = 0`` with a fused ReLU, else −128."""

    kind: ClassVar[str] = "add"
    float_ops: ClassVar[tuple] = ("add",)
    arity: ClassVar[int] = 2
    multipliers: tuple = (1, 1)
    shift: int = 1
    relu: bool = False
    out_scale: float = 1.0

    def validate(self) -> None:
        if self.in_shapes[0] != self.in_shapes[1]:
            self.fail(f"adds tensors of different shapes {self.in_shapes[0]} and {self.in_shapes[1]}")
        if len(self.multipliers) != 2:
            self.fail("needs one multiplier per input")
        self.multipliers = tuple(int(m) for m in self.multipliers)
        for m in self.multipliers:
            check_requant(m, self.shift, self.fail)

    @property
    def out_shape(self) -> tuple:
        return self.in_shape

    def golden(self, a, b):
        acc = a * self.multipliers[0] + b * self.multipliers[1]
        return _requant(acc, 1, self.shift, 0 if self.relu else ACT_MIN)

    def fields_json(self) -> dict:
        return {"multipliers": list(self.multipliers), "shift": int(self.shift),
                "relu": bool(self.relu), "out_scale": float(self.out_scale)}

    @classmethod
    def fields_from_json(cls, obj, where):
        m = obj.get("multipliers")
        if not isinstance(m, list) or len(m) != 2:
            raise ConfigError(f"{where}: multipliers must be a list of two integers")
        return {"multipliers": tuple(as_int(v, f"{where}: multipliers") for v in m),
                "shift": as_int(obj.get("shift"), f"{where}: shift"),
                "relu": as_bool(obj.get("relu"), f"{where}: relu"),
                "out_scale": as_number(obj.get("out_scale"), f"{where}: out_scale")}

    @classmethod
    def from_float(cls, step):
        """``M_i = round(s_i / s_y · 2^S)``, one shift S from the larger ratio."""
        ratios = tuple(s / step.out_scale for s in step.in_scales)
        _, shift = step.requant(max(ratios))
        return cls(**step.fields(), multipliers=tuple(int(round(r * (1 << shift))) for r in ratios),
                   shift=shift, relu=step.relu, out_scale=step.out_scale)


def _pool_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(eq=False)
class _WindowPool(QuantOp):
    """Common geometry of the k×k / stride s pools (square, zero-based padding, floor mode)."""

    kernel: int = 1
    stride: int = 1
    padding: int = 0

    def validate(self) -> None:
        for key in ("kernel", "stride"):
            if as_int(getattr(self, key), f"{self.name!r}: {key}") < 1:
                self.fail(f"{key} must be ≥ 1, got {getattr(self, key)}")
        if not 0 <= self.padding <= self.kernel // 2:
            self.fail(f"padding must be in 0…kernel/2 = {self.kernel // 2}, got {self.padding}")
        _, H, W = self.in_shape
        if min(_pool_out(H, self.kernel, self.stride, self.padding),
               _pool_out(W, self.kernel, self.stride, self.padding)) < 1:
            self.fail(f"a {self.kernel}×{self.kernel} window does not fit the {H}×{W} input")

    @property
    def out_shape(self) -> tuple:
        C, H, W = self.in_shape
        return (C, _pool_out(H, self.kernel, self.stride, self.padding),
                _pool_out(W, self.kernel, self.stride, self.padding))

    def fields_json(self) -> dict:
        return {"kernel": int(self.kernel), "stride": int(self.stride), "padding": int(self.padding)}

    @classmethod
    def fields_from_json(cls, obj, where):
        return {k: as_int(obj.get(k), f"{where}: {k}") for k in ("kernel", "stride", "padding")}


@dataclass(eq=False)
class MaxPoolOp(_WindowPool):
    """k×k max pool at stride s, exact on int8 (padding never wins: every window holds at least
    one input value, since padding ≤ k/2). The output keeps the input's scale."""

    kind: ClassVar[str] = "maxpool"
    float_ops: ClassVar[tuple] = ("maxpool",)
    out_scale: float = 1.0

    def golden(self, x):
        y = F.max_pool2d(x.to(torch.float64), self.kernel, self.stride, self.padding)
        return y.to(torch.int64)

    def fields_json(self) -> dict:
        return {**super().fields_json(), "out_scale": float(self.out_scale)}

    @classmethod
    def fields_from_json(cls, obj, where):
        return {**super().fields_from_json(obj, where),
                "out_scale": as_number(obj.get("out_scale"), f"{where}: out_scale")}

    @classmethod
    def from_float(cls, step):
        a = step.node.attrs
        return cls(**step.fields(), kernel=a["kernel"], stride=a["stride"],
                   padding=a["padding"], out_scale=step.out_scale)


@dataclass(eq=False)
class AvgPoolOp(_WindowPool):
    """k×k average pool at stride s (zero padding counted in the divisor, PyTorch's
    ``count_include_pad=True``): the exact integer window sum, then
    ``clamp((sum·M + 2^(S−1)) >> S, −128, 127)`` with ``M / 2^S ≈ s_x / (k²·s_y)``."""

    kind: ClassVar[str] = "avgpool"
    float_ops: ClassVar[tuple] = ("avgpool",)
    multiplier: int = 1
    shift: int = 1
    out_scale: float = 1.0

    def validate(self) -> None:
        super().validate()
        check_requant(self.multiplier, self.shift, self.fail)

    def window_sum(self, x: torch.Tensor) -> torch.Tensor:
        """Exact k×k window sums [B, C, H', W'] int64 (float64 is exact for these sizes)."""
        C = x.shape[1]
        ones = torch.ones(C, 1, self.kernel, self.kernel, dtype=torch.float64)
        s = F.conv2d(x.to(torch.float64), ones, stride=self.stride, padding=self.padding, groups=C)
        return s.round().to(torch.int64)

    def golden(self, x):
        return _requant(self.window_sum(x), self.multiplier, self.shift, ACT_MIN)

    def fields_json(self) -> dict:
        return {**super().fields_json(), **requant_json(self)}

    @classmethod
    def fields_from_json(cls, obj, where):
        return {**super().fields_from_json(obj, where), **_requant_fields(obj, where)}

    @classmethod
    def from_float(cls, step):
        a = step.node.attrs
        if a.get("padding") and not a.get("count_include_pad", True):
            raise ConfigError(f"avgpool {step.node.name!r}: count_include_pad=False with padding "
                              f"divides border windows by fewer values; only "
                              f"count_include_pad=True is supported")
        m, s = step.requant(step.in_scales[0] / (a["kernel"] ** 2 * step.out_scale))
        return cls(**step.fields(), kernel=a["kernel"], stride=a["stride"],
                   padding=a["padding"], multiplier=m, shift=s, out_scale=step.out_scale)


def _requant_fields(obj: dict, where: str) -> dict:
    return {"multiplier": as_int(obj.get("multiplier"), f"{where}: multiplier"),
            "shift": as_int(obj.get("shift"), f"{where}: shift"),
            "out_scale": as_number(obj.get("out_scale"), f"{where}: out_scale")}


@dataclass(eq=False)
class GlobalAvgPoolOp(QuantOp):
    """Global average pool: the exact sum over H·W per channel, then
    ``clamp((sum·M + 2^(S−1)) >> S, −128, 127)`` with ``M / 2^S ≈ s_x / (H·W·s_y)``; output
    (C, 1, 1)."""

    kind: ClassVar[str] = "global_avgpool"
    float_ops: ClassVar[tuple] = ("global_avgpool",)
    multiplier: int = 1
    shift: int = 1
    out_scale: float = 1.0

    def validate(self) -> None:
        check_requant(self.multiplier, self.shift, self.fail)

    @property
    def out_shape(self) -> tuple:
        return (self.in_shape[0], 1, 1)

    def golden(self, x):
        return _requant(x.sum(dim=(2, 3), keepdim=True), self.multiplier, self.shift, ACT_MIN)

    def fields_json(self) -> dict:
        return requant_json(self)

    @classmethod
    def fields_from_json(cls, obj, where):
        return _requant_fields(obj, where)

    @classmethod
    def from_float(cls, step):
        _, H, W = step.in_shapes[0]
        m, s = step.requant(step.in_scales[0] / (H * W * step.out_scale))
        return cls(**step.fields(), multiplier=m, shift=s, out_scale=step.out_scale)


@dataclass(eq=False)
class PadShortcutOp(QuantOp):
    """Option-A shortcut: keep every ``stride``-th row and column, append ``extra`` zero channels;
    exact, the output keeps the input's scale."""

    kind: ClassVar[str] = "pad_shortcut"
    float_ops: ClassVar[tuple] = ("pad_shortcut",)
    stride: int = 1
    extra: int = 0
    out_scale: float = 1.0

    def validate(self) -> None:
        if as_int(self.stride, f"{self.name!r}: stride") < 1:
            self.fail(f"stride must be ≥ 1, got {self.stride}")
        if as_int(self.extra, f"{self.name!r}: extra") < 0:
            self.fail(f"extra must be ≥ 0, got {self.extra}")

    @property
    def out_shape(self) -> tuple:
        C, H, W = self.in_shape
        return (C + self.extra, math.ceil(H / self.stride), math.ceil(W / self.stride))

    def golden(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, 0, self.extra))

    def fields_json(self) -> dict:
        return {"stride": int(self.stride), "extra": int(self.extra),
                "out_scale": float(self.out_scale)}

    @classmethod
    def fields_from_json(cls, obj, where):
        return {"stride": as_int(obj.get("stride"), f"{where}: stride"),
                "extra": as_int(obj.get("extra"), f"{where}: extra"),
                "out_scale": as_number(obj.get("out_scale"), f"{where}: out_scale")}

    @classmethod
    def from_float(cls, step):
        return cls(**step.fields(), stride=step.node.attrs["stride"],
                   extra=step.node.attrs["extra"], out_scale=step.out_scale)


@dataclass(eq=False)
class ReluOp(QuantOp):
    """A ReLU (or ReLU6) not fused into a requantiser: ``clamp(x, 0, hi)``, exact; ``hi`` is 127,
    or ``min(127, round(6 / s))`` for ReLU6 at scale s. The output keeps the input's scale."""

    kind: ClassVar[str] = "relu"
    float_ops: ClassVar[tuple] = ("relu", "relu6")
    hi: int = ACT_MAX
    out_scale: float = 1.0

    def validate(self) -> None:
        if not 0 <= as_int(self.hi, f"{self.name!r}: hi") <= ACT_MAX:
            self.fail(f"hi must be in 0…{ACT_MAX}, got {self.hi}")

    @property
    def out_shape(self) -> tuple:
        return self.in_shape

    def golden(self, x):
        return x.clamp(0, self.hi)

    def fields_json(self) -> dict:
        return {"hi": int(self.hi), "out_scale": float(self.out_scale)}

    @classmethod
    def fields_from_json(cls, obj, where):
        return {"hi": as_int(obj.get("hi"), f"{where}: hi"),
                "out_scale": as_number(obj.get("out_scale"), f"{where}: out_scale")}

    @classmethod
    def from_float(cls, step):
        relu6 = step.node.op == "relu6"
        hi = min(ACT_MAX, round(RELU6_MAX / step.in_scales[0])) if relu6 else ACT_MAX
        return cls(**step.fields(), hi=hi, out_scale=step.out_scale)


_CLASSES = (ConvOp, AddOp, MaxPoolOp, AvgPoolOp, GlobalAvgPoolOp, PadShortcutOp, ReluOp)
OPS: dict = {cls.kind: cls for cls in _CLASSES}
OPS["linear"] = ConvOp
"""The ``op`` field of a node's JSON form → its class."""
FLOAT_OPS_TO_QUANT: dict = {op: cls for cls in _CLASSES for op in cls.float_ops}
"""A float op (:data:`~structhw.graph.float_graph.FLOAT_OPS`) → the class that quantizes it."""


def op_from_json(obj) -> QuantOp:
    """One node of a qnet v2 file → its op; anything malformed is a :class:`ConfigError`."""
    if not isinstance(obj, dict):
        raise ConfigError("a graph node must be a JSON object")
    name, kind = obj.get("name"), obj.get("op")
    check_name(name, "graph node")
    where = f"node {name!r}"
    cls = OPS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(f"{where}: unknown op {kind!r}; known ops: {', '.join(sorted(OPS))}")
    inputs, shapes = obj.get("inputs"), obj.get("in_shapes")
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ConfigError(f"{where}: inputs must be a list of node names")
    if not isinstance(shapes, list):
        raise ConfigError(f"{where}: in_shapes must be a list of [C, H, W]")
    shapes = [as_shape(s, f"{where}: in_shapes") for s in shapes]
    return cls(name=name, inputs=tuple(inputs), in_shapes=tuple(shapes),
               **cls.fields_from_json(obj, where))
