"""Random small quantized graphs, reproducible from a seed, for the hardware tests and the
random-graph sweep (``benchmarks/bench_graph_sweep.py``).

A graph is a stem convolution, one to three blocks, and a head:

- ``identity``: conv 3×3 → conv 3×3, added to the block input (the residual add);
- ``option_a``: conv 3×3 stride 2 doubling the channels → conv 3×3, added to the option-A
  shortcut of the block input (subsample by 2, zero channels);
- ``option_b``: the same main path, added to a 1×1 stride-2 conv of the block input;
- ``maxpool`` / ``avgpool``: 2×2 stride 2, or 3×3 stride 2 padding 1;
- ``depthwise``: a depthwise 3×3 conv (groups = C) → a pointwise 1×1 conv;
- ``relu``: an unfused ReLU;

and the head is a global average pool → linear, or a linear layer over the flattened map. With
``input_fork`` the stem is an ``option_b`` block on the input itself, so the input stream forks.
Every conv/linear layer is dense or structured (random c, n) with random int8 weights and
requantisation constants that keep activations spread over the int8 range.
"""

from __future__ import annotations

import numpy as np

from structhw.budget import Budget
from structhw.rtl_gen.random_layer import random_quant_layer

from .ops import AddOp, AvgPoolOp, ConvOp, GlobalAvgPoolOp, MaxPoolOp, PadShortcutOp, ReluOp
from .quant_graph import INPUT, QuantGraph

BLOCKS = ("identity", "option_a", "option_b", "maxpool", "avgpool", "depthwise", "relu")
"""The block kinds :func:`random_graph` draws from."""

RANDOM_GRAPH_BUDGET = Budget(lut4=40000, ff=40000, dsp=48, ebr=32)
"""The budget the tests and the sweep plan random graphs under: room for a few lanes per node,
so the balancer's choices vary across graphs."""


class _Builder:
    """Appends ops to a growing graph, tracking the current tensor and its shape."""

    def __init__(self, rng: np.random.Generator, shape: tuple):
        self.rng, self.nodes = rng, []
        self.cur, self.shape = INPUT, shape

    def _name(self, kind: str) -> str:
        return f"{kind}{len(self.nodes)}"

    def _seed(self) -> int:
        return int(self.rng.integers(0, 2**31))

    def add_op(self, op) -> str:
        self.nodes.append(op)
        return op.name

    def conv(self, src: str, shape: tuple, cout: int, kernel: int, stride: int, *,
             groups: int = 1, relu: bool = True) -> tuple:
        """A conv op on tensor ``src`` of ``shape``; returns (name, out shape)."""
        C, H, W = shape
        cin = C // groups
        structured = self.rng.random() < 0.5 and (cin > 1 or kernel > 1)
        c = int(self.rng.integers(1, cin + 1)) if structured else cin
        n = int(self.rng.integers(1, kernel + 1)) if structured else kernel
        name = self._name("conv")
        layer = random_quant_layer(C, kernel, c, n, cout, H, W, stride, kernel // 2,
                                   self._seed(), groups=groups, relu=relu, name=name)
        op = ConvOp(name=name, inputs=(src,), in_shapes=(shape,), layer=layer)
        return self.add_op(op), op.out_shape

    def add(self, a: str, b: str, shape: tuple) -> None:
        m = tuple(int(v) for v in self.rng.integers(1 << 13, 1 << 15, size=2))
        self.cur = self.add_op(AddOp(name=self._name("add"), inputs=(a, b),
                                     in_shapes=(shape, shape), multipliers=m, shift=16,
                                     relu=bool(self.rng.random() < 0.7)))
        self.shape = shape

    def block(self, kind: str) -> None:
        C, H, W = self.shape
        x, shape = self.cur, self.shape
        if kind == "identity":
            y, s = self.conv(x, shape, C, 3, 1)
            y, s = self.conv(y, s, C, 3, 1, relu=False)
            self.add(x, y, s)
        elif kind in ("option_a", "option_b"):
            y, s = self.conv(x, shape, 2 * C, 3, 2)
            y, s = self.conv(y, s, 2 * C, 3, 1, relu=False)
            if kind == "option_a":
                short = self.add_op(PadShortcutOp(name=self._name("short"), inputs=(x,),
                                                  in_shapes=(shape,), stride=2, extra=C))
            else:
                short, _ = self.conv(x, shape, 2 * C, 1, 2, relu=False)
            self.add(y, short, s)
        elif kind in ("maxpool", "avgpool"):
            k, p = (2, 0) if self.rng.random() < 0.5 or H < 3 else (3, 1)
            fields = dict(name=self._name(kind), inputs=(x,), in_shapes=(shape,), kernel=k,
                          stride=2, padding=p)
            if kind == "maxpool":
                op = MaxPoolOp(**fields)
            else:
                op = AvgPoolOp(**fields, multiplier=int(2**16 * self.rng.uniform(0.5, 0.99))
                               // (k * k), shift=16)
            self.cur, self.shape = self.add_op(op), op.out_shape
        elif kind == "depthwise":
            y, s = self.conv(x, shape, C, 3, 1, groups=C)
            self.cur, self.shape = self.conv(y, s, C, 1, 1)
        elif kind == "relu":
            op = ReluOp(name=self._name("relu"), inputs=(x,), in_shapes=(shape,))
            self.cur = self.add_op(op)
        else:
            raise ValueError(f"unknown block kind {kind!r}")

    def head(self, classes: int) -> None:
        C, H, W = self.shape
        x = self.cur
        if self.rng.random() < 0.6:
            gap = GlobalAvgPoolOp(name=self._name("gap"), inputs=(x,), in_shapes=(self.shape,),
                                  multiplier=int(2**16 * self.rng.uniform(0.5, 0.99)) // (H * W),
                                  shift=16)
            x, self.shape = self.add_op(gap), gap.out_shape
            C, H, W = self.shape
        features = C * H * W
        structured = self.rng.random() < 0.5 and features > 1
        r = int(self.rng.integers(1, features)) if structured else features
        name = self._name("fc")
        layer = random_quant_layer(features, 1, r, 1, classes, 1, 1, 1, 0, self._seed(),
                                   kind="linear", relu=False, name=name)
        self.cur = self.add_op(ConvOp(name=name, inputs=(x,), in_shapes=(self.shape,),
                                      layer=layer))


def random_graph(seed: int, *, blocks: int | None = None, kinds=BLOCKS,
                 input_fork: bool | None = None) -> QuantGraph:
    """A random quantized graph (module docstring) on a C0×H×W input (C0 1–3, H = W 4, 6 or 8)
    with 2–4 stem channels and 2–5 classes; ``blocks`` (1–3 when ``None``) drawn from ``kinds``;
    ``input_fork`` random when ``None``."""
    rng = np.random.default_rng(seed)
    size = int(rng.choice([4, 6, 8]))
    input_shape = (int(rng.integers(1, 4)), size, size)
    b = _Builder(rng, input_shape)
    width = int(rng.integers(2, 5))
    if input_fork if input_fork is not None else rng.random() < 0.2:
        y, s = b.conv(INPUT, b.shape, width, 3, 1)
        short, _ = b.conv(INPUT, b.shape, width, 1, 1, relu=False)
        b.add(y, short, s)
    else:
        b.cur, b.shape = b.conv(INPUT, b.shape, width, 3, 1)
    for _ in range(blocks if blocks is not None else int(rng.integers(1, 4))):
        usable = [k for k in kinds if b.shape[1] >= 2 or k in ("identity", "depthwise", "relu")]
        b.block(str(rng.choice(usable)))
    b.head(int(rng.integers(2, 6)))
    return QuantGraph(input_shape, 1.0, b.nodes, b.cur,
                      {"name": f"random-graph-{seed}"})
