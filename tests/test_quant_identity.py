"""The identity the structured hardware relies on, checked exactly in integers:

    small_conv(sum_pool(x), α_q) == dense integer conv of x with the kernel W = A·α_q

for every element, over random shapes with stride, padding, dilation and groups, and for linear
layers. The dense reference is an int64 im2col product written here, independent of golden.py.
"""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from structhw import golden
from structhw.qnet import QuantLayer
from structhw.structure import expand_alpha


def box_kernel(alpha: np.ndarray, C: int, N: int) -> np.ndarray:
    """W = A·α from A's definition: each α[o, a, b, e] adds a (C−c+1)×(N−n+1)×(N−n+1) box of ones
    at offset (a, b, e) of the C×N×N kernel."""
    cout, c, n, _ = alpha.shape
    cw, sw = C - c + 1, N - n + 1
    W = np.zeros((cout, C, N, N), dtype=np.int64)
    for o in range(cout):
        for a in range(c):
            for b in range(n):
                for e in range(n):
                    W[o, a:a + cw, b:b + sw, e:e + sw] += alpha[o, a, b, e]
    return W


def dense_int_conv(x: torch.Tensor, W: torch.Tensor, bias, stride, padding, dilation, groups):
    """Integer conv2d in int64 by im2col: x [B, C, H, W], W [Cout, C/groups, N, N] int64."""
    B, C, _, _ = x.shape
    cout, cg, N, _ = W.shape
    xp = F.pad(x, (padding,) * 4)
    span = dilation * (N - 1) + 1
    patches = xp.unfold(2, span, stride).unfold(3, span, stride)[..., ::dilation, ::dilation]
    Ho, Wo = patches.shape[2], patches.shape[3]
    patches = patches.reshape(B, groups, cg, Ho, Wo, N, N)
    Wg = W.reshape(groups, cout // groups, cg, N, N)
    acc = torch.einsum("bgchwij,gocij->bgohw", patches, Wg).reshape(B, cout, Ho, Wo)
    return acc + torch.as_tensor(bias, dtype=torch.int64).view(1, -1, 1, 1)


@st.composite
def conv_layers(draw):
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 3))
    N = draw(st.integers(1, 4))
    c = draw(st.integers(1, cg))
    n = draw(st.integers(1, N))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    dilation = draw(st.integers(1, 2))
    span = dilation * (N - 1) + 1
    H = draw(st.integers(max(1, span - 2 * padding), span - 2 * padding + 6))
    Wd = draw(st.integers(max(1, span - 2 * padding), span - 2 * padding + 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    layer = QuantLayer(
        name="L", kind="conv", in_channels=groups * cg, in_height=H, in_width=Wd,
        out_channels=cout, kernel=N, c=c, n=n, stride=stride, padding=padding,
        dilation=dilation, groups=groups, relu=False,
        alpha=rng.integers(-128, 128, size=(cout, c, n, n)),
        bias=rng.integers(-(1 << 31), 1 << 31, size=cout),
        multiplier=np.ones(cout, dtype=np.int64), shift=np.ones(cout, dtype=np.int64),
    )
    x = torch.from_numpy(rng.integers(-128, 128, size=(2, groups * cg, H, Wd)))
    extremes = torch.from_numpy(rng.choice([-128, 127], size=(1, groups * cg, H, Wd)))
    return layer, torch.cat([x, extremes])


@given(conv_layers())
def test_box_kernel_matches_expand_alpha(case):
    layer, _ = case
    W = expand_alpha(torch.as_tensor(layer.alpha), layer.group_channels, layer.kernel)
    assert torch.equal(W, torch.as_tensor(box_kernel(layer.alpha, layer.group_channels, layer.kernel)))


@given(conv_layers())
def test_sumpool_then_small_conv_equals_dense_conv_with_A_alpha(case):
    layer, x = case
    acc = golden.small_conv(golden.sum_pool(x, layer), layer)
    W = torch.as_tensor(box_kernel(layer.alpha, layer.group_channels, layer.kernel))
    ref = dense_int_conv(x, W, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
    assert acc.dtype == torch.int64
    assert acc.shape == ref.shape == (x.shape[0], layer.out_channels, layer.out_height, layer.out_width)
    assert torch.equal(acc, ref)


@given(Q=st.integers(1, 40), P=st.integers(1, 12), data=st.data())
def test_linear_sumpool_then_small_linear_equals_dense_linear(Q, P, data):
    R = data.draw(st.integers(1, Q))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    layer = QuantLayer(
        name="fc", kind="linear", in_channels=Q, in_height=1, in_width=1, out_channels=P,
        kernel=1, c=R, n=1, stride=1, padding=0, dilation=1, groups=1, relu=False,
        alpha=rng.integers(-128, 128, size=(P, R, 1, 1)), bias=rng.integers(-1000, 1000, size=P),
        multiplier=np.ones(P, dtype=np.int64), shift=np.ones(P, dtype=np.int64),
    )
    x = torch.from_numpy(rng.integers(-128, 128, size=(3, Q, 1, 1)))
    acc = golden.small_conv(golden.sum_pool(x, layer), layer)
    W = torch.as_tensor(box_kernel(layer.alpha, Q, 1)).reshape(P, Q)
    ref = x.reshape(3, Q) @ W.T + torch.as_tensor(layer.bias)
    assert torch.equal(acc.reshape(3, P), ref)
