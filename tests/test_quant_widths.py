"""``QuantLayer.widths()`` against brute force: for layers of at most 10 input values, run the
golden model on every extreme input (each value −128 or 127 — the accumulator is linear in the
input, so its true extremes are among these 2^10 vertices) and compare the widths the layer
actually needs with the ones it declares: never narrower, and equal wherever the bound is
attainable (no padding for E and products; additionally a dense layer for acc and acc·M)."""

import itertools

import numpy as np
import torch
from hypothesis import assume, given, strategies as st

from structhw import golden
from structhw.qnet import QuantLayer, signed_width

MAX_INPUTS = 10


def all_extreme_inputs(C, H, W) -> torch.Tensor:
    """Every input of shape [C, H, W] with values in {−128, 127}: [2^(C·H·W), C, H, W] int64."""
    vertices = np.array(list(itertools.product((-128, 127), repeat=C * H * W)), dtype=np.int64)
    return torch.from_numpy(vertices).reshape(-1, C, H, W)


@st.composite
def tiny_layers(draw):
    C = draw(st.integers(1, 3))
    groups = draw(st.sampled_from(sorted({1, C})))
    H = draw(st.integers(1, 4))
    W = draw(st.integers(1, max(1, MAX_INPUTS // (C * H))))
    assume(C * H * W <= MAX_INPUTS)
    N = draw(st.integers(1, 3))
    c = draw(st.integers(1, C // groups))
    n = draw(st.integers(1, N))
    dense = draw(st.booleans())
    if dense:
        c, n = C // groups, N
    padding = draw(st.integers(0, 1))
    dilation = draw(st.integers(1, 2))
    stride = draw(st.integers(1, 2))
    span = dilation * (N - 1) + 1
    assume(H + 2 * padding >= span and W + 2 * padding >= span)
    cout = groups * draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    return QuantLayer(
        name="t", kind="conv", in_channels=C, in_height=H, in_width=W, out_channels=cout,
        kernel=N, c=c, n=n, stride=stride, padding=padding, dilation=dilation, groups=groups,
        relu=draw(st.booleans()),
        alpha=rng.integers(-128, 128, size=(cout, c, n, n)),
        bias=rng.integers(-(1 << 20), 1 << 20, size=cout),
        multiplier=rng.integers(0, 1 << 16, size=cout), shift=rng.integers(1, 40, size=cout),
    )


@given(tiny_layers())
def test_declared_widths_hold_every_extreme_input(layer):
    x = all_extreme_inputs(layer.in_channels, layer.in_height, layer.in_width)
    e = golden.sum_pool(x, layer)
    acc = golden.small_conv(e, layer)
    declared = layer.widths()

    sumpool_width = signed_width(int(e.min()), int(e.max()))
    alpha_values = np.unique(layer.alpha)
    products = [int(a) * int(v) for a in alpha_values for v in (e.min(), e.max())]
    product_width = signed_width(min(min(products), 0), max(max(products), 0))
    acc_width = signed_width(min(int(acc.min()), 0), max(int(acc.max()), 0))
    m = torch.as_tensor(layer.multiplier).view(1, -1, 1, 1)
    s = torch.as_tensor(layer.shift).view(1, -1, 1, 1)
    rq = acc * m + (1 << (s - 1))
    rq_width = signed_width(min(int(rq.min()), 0), max(int(rq.max()), 0))

    assert sumpool_width <= declared.sumpool == 8 + (layer.window - 1).bit_length()
    assert product_width <= declared.product
    assert acc_width <= declared.accumulator
    assert rq_width <= declared.requant_product
    if layer.padding == 0:
        assert sumpool_width == declared.sumpool
        assert product_width == declared.product
        if layer.is_dense:
            assert acc_width == declared.accumulator
            assert rq_width == declared.requant_product

    y = golden.requantize(acc, layer.multiplier, layer.shift, layer.relu)
    assert int(y.min()) >= layer.lo and int(y.max()) <= 127


@given(tiny_layers())
def test_remembered_widths_follow_every_change_of_the_layers_integers(layer):
    """widths() is remembered per layer (the compiler asks for it per candidate); changing α, the
    bias, M or S in place or by assignment gives the widths of the new integers."""
    import copy
    first = layer.widths()
    assert layer.widths() == first
    changed = copy.deepcopy(layer)
    changed.alpha[...] = 1
    changed.bias = np.zeros_like(layer.bias)
    changed.multiplier[...] = 1
    fresh = QuantLayer(**{f: getattr(changed, f) for f in layer.__dataclass_fields__})
    assert changed.widths() == fresh._compute_widths()
    assert layer.widths() == first == layer._compute_widths()
