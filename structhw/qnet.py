"""The quantized network: the contract between quantization, the golden model, the compiler and RTL.

A :class:`QuantNet` is an input geometry plus a list of :class:`QuantLayer`. Every layer is a
structured layer (a dense layer is the case ``c == C/groups`` and ``n == N``): an exact integer
sum-pool of window ``(C/groups - c + 1) × (N - n + 1) × (N - n + 1)`` (box dilated by ``dilation``,
stride 1, after zero padding), then a small ``c × n × n`` convolution with int8 ``alpha``
(``dilation``, ``stride``, ``groups``), plus an int32 bias, then per-channel requantisation
``clamp((acc·M + 2^(S−1)) >> S, lo, hi)`` with ``lo = 0`` after a fused ReLU, else −128, ``hi = 127``.

A ``linear`` layer is a 1×1 layer on its input flattened in PyTorch's (C, H, W) order to
``Q × 1 × 1``: ``in_channels == Q``, ``in_height == in_width == 1``, ``kernel == n == 1``, ``c == R``.

File format (``*.qnet.json``, see ``docs/qnet-format.md``): one JSON object, integers as JSON numbers,
no code. :func:`load` validates every field and raises :class:`ConfigError` on anything malformed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .jsonfile import read_json
from .size_limits import check_layer_size

FORMAT_NAME = "structhw.qnet"
FORMAT_VERSION = 1
MAX_MULTIPLIER = (1 << 16) - 1
"""Largest requantisation multiplier M of the graph ops (add, pools: one unsigned 16-bit operand
in hardware); a conv/linear layer's M is bounded by :data:`REQUANT_WIDTH` instead."""
REQUANT_WIDTH = 48
"""Declared signed width of ``acc·M + 2^(S−1)``; a layer whose extreme accumulator would exceed it
is refused (:class:`ConfigError`) instead of wrapping around."""
ACT_MIN, ACT_MAX = -128, 127


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement integer holding every value in [lo, hi]."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


@dataclass(frozen=True)
class LayerWidths:
    """Exact signed bit widths of one layer's datapath, derived from value ranges.

    ``sumpool``: sum-pool output E; ``product``: one E·α product; ``accumulator``: the sum of all
    products plus bias; ``requant_product``: acc·M + rounding constant before the shift.
    """

    sumpool: int
    product: int
    accumulator: int
    requant_product: int


def _array_key(values) -> tuple:
    """A hashable key equal exactly when two arrays (or lists) hold the same values."""
    a = np.asarray(values)
    if a.dtype == object:
        return ("object", a.shape, tuple(a.ravel().tolist()))
    return (a.dtype.str, a.shape, a.tobytes())


@dataclass(eq=False)
class QuantLayer:
    """One quantized structured layer. Shapes: ``alpha`` int8 [Cout, c, n, n]; ``bias`` int32,
    ``multiplier`` and ``shift`` int64, each [Cout]. Scales are real numbers (information for the
    float path; the integer path uses only the integers)."""

    name: str
    kind: str  # "conv" or "linear"
    in_channels: int
    in_height: int
    in_width: int
    out_channels: int
    kernel: int
    c: int
    n: int
    stride: int
    padding: int
    dilation: int
    groups: int
    relu: bool
    alpha: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    in_scale: float = 1.0
    out_scale: float = 1.0
    alpha_scale: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        self.alpha = np.asarray(self.alpha, dtype=np.int64)
        self.bias = np.asarray(self.bias, dtype=np.int64)
        self.multiplier = np.asarray(self.multiplier, dtype=np.int64)
        self.shift = np.asarray(self.shift, dtype=np.int64)
        self.alpha_scale = np.asarray(self.alpha_scale, dtype=np.float64)
        self.validate()

    # ----- geometry -------------------------------------------------------------------------
    @property
    def group_channels(self) -> int:
        """Input channels per group, C/groups."""
        return self.in_channels // self.groups

    @property
    def channel_window(self) -> int:
        """Sum-pool window along channels, C/groups − c + 1."""
        return self.group_channels - self.c + 1

    @property
    def spatial_window(self) -> int:
        """Sum-pool window along rows and along columns, N − n + 1 (before dilation)."""
        return self.kernel - self.n + 1

    @property
    def window(self) -> int:
        """Number of input values summed into one sum-pool output."""
        return self.channel_window * self.spatial_window**2

    @property
    def is_dense(self) -> bool:
        """True when there is no sum-pool (window of one): the dense baseline layer."""
        return self.window == 1

    @property
    def sumpool_channels(self) -> int:
        """Channels of the sum-pool output E: groups · c."""
        return self.groups * self.c

    @property
    def sumpool_height(self) -> int:
        return self.in_height + 2 * self.padding - self.dilation * (self.spatial_window - 1)

    @property
    def sumpool_width(self) -> int:
        return self.in_width + 2 * self.padding - self.dilation * (self.spatial_window - 1)

    @property
    def out_height(self) -> int:
        return (self.in_height + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.in_width + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) // self.stride + 1

    @property
    def lo(self) -> int:
        """Lower clamp of the requantised output: 0 after a fused ReLU, else −128."""
        return 0 if self.relu else ACT_MIN

    @property
    def mults_per_output(self) -> int:
        """Multiplies per output element, c·n²."""
        return self.c * self.n * self.n

    # ----- arithmetic widths ----------------------------------------------------------------
    def widths(self) -> LayerWidths:
        """Exact widths from the ranges the int8 input and this layer's integers allow.

        Remembered for the integers they were computed from (the compiler asks for every
        candidate engine of the layer): a layer whose α, bias, M, S or window changed since is
        computed anew."""
        key = (self.window, *(_array_key(v) for v in (self.alpha, self.bias, self.multiplier,
                                                      self.shift)))
        cached = self.__dict__.get("_widths_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        widths = self._compute_widths()
        self.__dict__["_widths_cache"] = (key, widths)
        return widths

    def _compute_widths(self) -> LayerWidths:
        e_lo, e_hi = ACT_MIN * self.window, ACT_MAX * self.window
        # exact in Python integers (E may exceed int64 for a huge window): per output channel,
        # the extreme sums take E = e_lo on positive weights and e_hi on negative ones
        a = self.alpha.reshape(self.out_channels, -1)
        pos = np.where(a > 0, a, 0).sum(axis=1).tolist()
        neg = np.where(a < 0, a, 0).sum(axis=1).tolist()
        amax = int(a.max()) if a.size else 0
        amin = int(a.min()) if a.size else 0
        prod_lo = min(amax * e_lo, amin * e_hi, 0)
        prod_hi = max(amax * e_hi, amin * e_lo, 0)
        bias = [int(v) for v in self.bias]
        acc_lo = [p * e_lo + q * e_hi + b for p, q, b in zip(pos, neg, bias)]
        acc_hi = [p * e_hi + q * e_lo + b for p, q, b in zip(pos, neg, bias)]
        acc_lo_all, acc_hi_all = min(min(acc_lo), 0), max(max(acc_hi), 0)
        m = [int(v) for v in self.multiplier]
        s = [int(v) for v in self.shift]
        rq_lo = min(min(lo * mi + (1 << (si - 1)) for lo, mi, si in zip(acc_lo, m, s)), 0)
        rq_hi = max(max(hi * mi + (1 << (si - 1)) for hi, mi, si in zip(acc_hi, m, s)), 0)
        return LayerWidths(
            sumpool=signed_width(e_lo, e_hi),
            product=signed_width(prod_lo, prod_hi),
            accumulator=signed_width(acc_lo_all, acc_hi_all),
            requant_product=signed_width(rq_lo, rq_hi),
        )

    # ----- validation -----------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming this layer and the first violated constraint."""

        def bad(msg):
            raise ConfigError(f"layer {self.name!r}: {msg}")

        if self.kind not in ("conv", "linear"):
            bad(f"kind must be 'conv' or 'linear', got {self.kind!r}")
        for key in ("in_channels", "in_height", "in_width", "out_channels", "kernel", "c", "n",
                    "stride", "dilation", "groups"):
            v = getattr(self, key)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                bad(f"{key} must be an integer ≥ 1, got {v!r}")
        if not isinstance(self.padding, (int, np.integer)) or self.padding < 0:
            bad(f"padding must be an integer ≥ 0, got {self.padding!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            bad(f"groups={self.groups} must divide in_channels={self.in_channels} and "
                f"out_channels={self.out_channels}")
        if self.c > self.group_channels:
            bad(f"c={self.c} exceeds C/groups={self.group_channels}")
        if self.n > self.kernel:
            bad(f"n={self.n} exceeds N={self.kernel}")
        if self.kind == "linear" and not (self.in_height == self.in_width == self.kernel == self.n == 1):
            bad("a linear layer is 1×1: in_height, in_width, kernel and n must all be 1")
        if self.out_height < 1 or self.out_width < 1:
            bad(f"output {self.out_height}×{self.out_width} is smaller than 1×1 for input "
                f"{self.in_height}×{self.in_width}, kernel {self.kernel}, padding {self.padding}, "
                f"stride {self.stride}, dilation {self.dilation}")
        shape = (self.out_channels, self.c, self.n, self.n)
        if self.alpha.shape != shape:
            bad(f"alpha has shape {tuple(self.alpha.shape)}, expected {shape}")
        if self.alpha.size and (self.alpha.min() < ACT_MIN or self.alpha.max() > ACT_MAX):
            bad("alpha values must be int8")
        for key in ("bias", "multiplier", "shift"):
            if getattr(self, key).shape != (self.out_channels,):
                bad(f"{key} must have shape ({self.out_channels},)")
        if self.bias.size and (self.bias.min() < -(1 << 31) or self.bias.max() > (1 << 31) - 1):
            bad("bias values must be int32")
        if self.multiplier.size and self.multiplier.min() < 0:
            bad("requantisation multiplier M must be ≥ 0")
        if self.shift.size and (self.shift.min() < 1 or self.shift.max() > 62):
            bad("requantisation shift S must be in [1, 62]")
        for key in ("in_scale", "out_scale"):
            if not getattr(self, key) > 0:
                bad(f"{key} must be > 0, got {getattr(self, key)!r}")
        if self.alpha_scale.size not in (0, self.out_channels) or \
                (self.alpha_scale.size and not self.alpha_scale.min() > 0):
            bad(f"alpha_scale must hold {self.out_channels} numbers > 0 (one per output "
                f"channel), got {self.alpha_scale.size}"
                + (f" with minimum {self.alpha_scale.min():g}" if self.alpha_scale.size else ""))
        width = self.widths().requant_product
        if width > REQUANT_WIDTH:
            bad(f"acc·M + 2^(S−1) needs {width} bits for the extreme int8 inputs, more than the "
                f"{REQUANT_WIDTH}-bit requantiser")

    # ----- serialisation --------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "name": self.name, "kind": self.kind,
            "in_channels": int(self.in_channels), "in_height": int(self.in_height),
            "in_width": int(self.in_width), "out_channels": int(self.out_channels),
            "kernel": int(self.kernel), "c": int(self.c), "n": int(self.n),
            "stride": int(self.stride), "padding": int(self.padding),
            "dilation": int(self.dilation), "groups": int(self.groups), "relu": bool(self.relu),
            "in_scale": float(self.in_scale), "out_scale": float(self.out_scale),
            "alpha_scale": [float(v) for v in self.alpha_scale],
            "alpha": self.alpha.tolist(), "bias": self.bias.tolist(),
            "multiplier": self.multiplier.tolist(), "shift": self.shift.tolist(),
        }

    @classmethod
    def from_json(cls, obj: dict) -> "QuantLayer":
        if not isinstance(obj, dict):
            raise ConfigError("a layer entry must be a JSON object")
        name = check_name(obj.get("name", "?"), "layer name")
        ints = ("in_channels", "in_height", "in_width", "out_channels", "kernel", "c", "n",
                "stride", "padding", "dilation", "groups")
        try:
            kwargs = {k: obj[k] for k in ("kind", *ints, "relu", "alpha", "bias", "multiplier", "shift")}
        except KeyError as exc:
            raise ConfigError(f"layer {name!r}: missing field {exc.args[0]!r}") from None
        for k in ints:
            check_int(kwargs[k], f"layer {name!r}: {k}", *LAYER_INT_RANGES[k])
        check_layer_size(f"layer {name!r}", C=kwargs["in_channels"], c=kwargs["c"],
                         n=kwargs["n"], Cout=kwargs["out_channels"], H=kwargs["in_height"],
                         W=kwargs["in_width"], pad=kwargs["padding"])
        for k in ("alpha", "bias", "multiplier", "shift"):
            try:
                arr = np.array(kwargs[k], dtype=object)
                if arr.size and not all(isinstance(v, int) and not isinstance(v, bool) for v in arr.flat):
                    raise ValueError
                kwargs[k] = arr.astype(np.int64)
            except (ValueError, TypeError, OverflowError, RuntimeError):
                # RuntimeError: nested deeper than numpy's 32 dimensions
                raise ConfigError(f"layer {name!r}: {k} must be a (nested) list of integers") from None
        if not isinstance(kwargs["relu"], bool):
            raise ConfigError(f"layer {name!r}: relu must be true or false, got {kwargs['relu']!r}")
        scales = {}
        for k, default in (("in_scale", 1.0), ("out_scale", 1.0)):
            scales[k] = _finite_number(obj.get(k, default), f"layer {name!r}: {k}")
        alpha_scale = obj.get("alpha_scale", [])
        if not isinstance(alpha_scale, list):
            raise ConfigError(f"layer {name!r}: alpha_scale must be a list of numbers")
        scales["alpha_scale"] = np.array(
            [_finite_number(v, f"layer {name!r}: alpha_scale") for v in alpha_scale], dtype=np.float64)
        return cls(name=str(name), **kwargs, **scales)


@dataclass(eq=False)
class QuantNet:
    """A quantized network: int8 input of shape (channels, height, width) at ``input_scale``,
    then ``layers`` in order. A layer of kind ``linear`` flattens its input in (C, H, W) order."""

    input_channels: int
    input_height: int
    input_width: int
    input_scale: float
    layers: list
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    @property
    def input_shape(self) -> tuple:
        return (self.input_channels, self.input_height, self.input_width)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].out_channels

    def validate(self) -> None:
        """Check that each layer's input geometry is the previous layer's output geometry."""
        if not self.layers:
            raise ConfigError("a quantized network needs at least one layer")
        if not self.input_scale > 0:
            raise ConfigError(f"the input scale must be > 0, got {self.input_scale!r}")
        shape = self.input_shape
        for layer in self.layers:
            expect = shape
            if layer.kind == "linear":
                expect = (shape[0] * shape[1] * shape[2], 1, 1)
            got = (layer.in_channels, layer.in_height, layer.in_width)
            if got != expect:
                raise ConfigError(f"layer {layer.name!r}: input shape {got} does not match the "
                                  f"previous output {expect}")
            shape = (layer.out_channels, layer.out_height, layer.out_width)

    def to_json(self) -> dict:
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION,
            "input": {"channels": self.input_channels, "height": self.input_height,
                      "width": self.input_width, "scale": float(self.input_scale)},
            "layers": [layer.to_json() for layer in self.layers],
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, obj) -> "QuantNet":
        if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
            raise ConfigError(f"not a {FORMAT_NAME} file (missing or wrong 'format' field)")
        if not is_version(obj.get("version"), FORMAT_VERSION):
            raise ConfigError(f"unsupported {FORMAT_NAME} version {obj.get('version')!r}; "
                              f"this structhw reads version {FORMAT_VERSION}")
        inp = obj.get("input")
        layers = obj.get("layers")
        if not isinstance(inp, dict) or not isinstance(layers, list):
            raise ConfigError("a qnet file needs an 'input' object and a 'layers' list")
        geom = {k: inp.get(k) for k in ("channels", "height", "width")}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in geom.values()):
            raise ConfigError("'input' needs integer channels, height and width")
        check_int(geom["channels"], "input channels", 1, MAX_IN_CHANNELS)
        for k in ("height", "width"):
            check_int(geom[k], f"input {k}", 1, MAX_SIDE)
        scale = _finite_number(inp.get("scale"), "input scale")
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ConfigError(f"'metadata' must be an object, got {type(metadata).__name__}")
        if "name" in metadata:
            check_name(metadata["name"], "metadata name")
        return cls(geom["channels"], geom["height"], geom["width"], scale,
                   [QuantLayer.from_json(entry) for entry in layers], metadata=metadata)


MAX_SIDE = 256 * 256
"""Largest padded height or width, kernel, stride or dilation of a layer: a layer's padded input
may hold at most this many pixels (:data:`structhw.size_limits.MAX_PIXELS`, the limit of the
cycle and resource models, which :func:`structhw.size_limits.check_layer_size` applies to every
layer a qnet file holds)."""
MAX_IN_CHANNELS = 4096 * MAX_SIDE
"""Largest ``in_channels`` of a layer: a linear layer flattening the largest input map the model
sources admit (4096 channels of 256×256 pixels, :data:`structhw.model_source.MAX_INPUT_CHANNELS`)."""
LAYER_INT_RANGES = {"in_channels": (1, MAX_IN_CHANNELS), "in_height": (1, MAX_SIDE),
                    "in_width": (1, MAX_SIDE), "out_channels": (1, MAX_IN_CHANNELS),
                    "kernel": (1, MAX_SIDE), "c": (1, MAX_IN_CHANNELS), "n": (1, MAX_SIDE),
                    "stride": (1, MAX_SIDE), "padding": (0, MAX_SIDE), "dilation": (1, MAX_SIDE),
                    "groups": (1, MAX_IN_CHANNELS)}
"""``[low, high]`` of each integer field of a qnet layer, checked before anything is computed
from them (weights and pixel counts then by :func:`structhw.size_limits.check_layer_size`)."""


def check_int(value, what: str, low: int, high: int) -> int:
    """``value`` when it is an integer (not a bool, not a float) in ``[low, high]``; else a
    one-line ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {_short(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{what} must be between {low} and {high}, got {_short(value)}")
    return value


def _short(value) -> str:
    try:
        shown = repr(value)
    except ValueError:  # an int too long for repr
        return "an integer of more than 4300 digits"
    return shown if len(shown) <= 40 else shown[:40] + "…"


def is_version(value, version: int) -> bool:
    """True when a file's ``version`` field is exactly the integer ``version`` (not ``true``,
    not ``1.0``)."""
    return type(value) is int and value == version


MAX_NAME_LENGTH = 128
"""Longest layer, node or network name a qnet file may hold (characters)."""


def check_name(name, where: str) -> str:
    """``name`` when it is a string of 1…:data:`MAX_NAME_LENGTH` printable characters (no
    newline, tab or other control character: names are printed in tables and logs)."""
    if not (isinstance(name, str) and 0 < len(name) <= MAX_NAME_LENGTH and name.isprintable()):
        shown = repr(name)
        raise ConfigError(f"{where}: a name must be 1 to {MAX_NAME_LENGTH} printable characters, "
                          f"got {shown[:60] + '…' if len(shown) > 60 else shown}")
    return name


def _finite_number(value, what: str) -> float:
    """``value`` as a float when it is a finite JSON number, else ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def save(qnet: QuantNet, path) -> Path:
    """Write ``qnet`` to ``path`` atomically (temporary file, then rename)."""
    from .atomic_file import atomic_open

    path = Path(path)
    with atomic_open(path, "w") as f:
        json.dump(qnet.to_json(), f, separators=(",", ":"))
    return path


def load(path) -> QuantNet:
    """Read a ``*.qnet.json`` file; any malformed content is a :class:`ConfigError`."""
    obj = read_json(path)
    try:
        return QuantNet.from_json(obj)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def ceil_log2(x: int) -> int:
    """Smallest k with 2^k ≥ x (x ≥ 1)."""
    return (int(x) - 1).bit_length()
