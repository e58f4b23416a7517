import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from structhw.decompose import StructuredConv2d, StructuredLinear, SumPool3d, decompose
from structhw.errors import ConfigError
from structhw.regularization import make_plan
from structhw.structure import expand_alpha
from structhw.zoo import build_model


def _structure_conv_(conv: nn.Conv2d, c: int, n: int) -> None:
    C, N = conv.in_channels // conv.groups, conv.kernel_size[0]
    with torch.no_grad():
        conv.weight.copy_(expand_alpha(torch.randn(conv.out_channels, c, n, n, dtype=conv.weight.dtype), C, N))


def _rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(1, 3))
    depthwise = draw(st.booleans())
    C = groups if depthwise else groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 3))
    N = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    min_size = max(1, dilation * (N - 1) + 1 - 2 * padding)
    size = draw(st.integers(min_size, min_size + 5))
    conv = nn.Conv2d(C, cout, N, stride=stride, padding=padding, dilation=dilation, groups=groups,
                     bias=draw(st.booleans()))
    c = draw(st.integers(1, C // groups))
    n = draw(st.integers(1, N))
    return conv, c, n, size


@given(conv_configs(), st.integers(1, 2))
def test_structured_conv_equals_original(config, batch):
    conv, c, n, size = config
    _structure_conv_(conv, c, n)
    x = torch.randn(batch, conv.in_channels, size, size)
    new, report = decompose(nn.Sequential(conv), {"0": (c, n)})
    layer = new[0]
    assert isinstance(layer, StructuredConv2d)
    assert report[0].residual < 1e-5
    with torch.no_grad():
        y, y_new = conv(x), layer(x)
    assert y.shape == y_new.shape
    if y.norm() > 0:
        assert _rel_err(y_new, y) < 1e-5
    assert layer.conv.weight.shape == (conv.out_channels, c, n, n)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size, layer.c, layer.n) == (
        conv.in_channels, conv.out_channels, conv.kernel_size[0], c, n)
    assert (layer.stride, layer.padding, layer.dilation, layer.groups) == (
        conv.stride[0], conv.padding[0], conv.dilation[0], conv.groups)
    assert layer.conv.padding == (0, 0) and (layer.conv.bias is None) == (conv.bias is None)


@given(st.integers(1, 12), st.integers(1, 6), st.data())
def test_structured_linear_equals_original(Q, P, data):
    R = data.draw(st.integers(1, Q))
    linear = nn.Linear(Q, P, bias=data.draw(st.booleans()))
    with torch.no_grad():
        alpha = torch.randn(P, R, 1, 1)
        linear.weight.copy_(expand_alpha(alpha, Q, 1).reshape(P, Q))
    new, report = decompose(nn.Sequential(linear), {"0": (R, 1)})
    layer = new[0]
    assert isinstance(layer, StructuredLinear) and (layer.in_features, layer.out_features, layer.c) == (Q, P, R)
    x = torch.randn(3, Q)
    with torch.no_grad():
        assert _rel_err(layer(x), linear(x)) < 1e-5
    assert layer.linear.weight.shape == (P, R)


def test_sumpool_matches_explicit_sum():
    pool = SumPool3d(channel_window=2, spatial_window=2, groups=2, padding=1, dilation=2)
    x = torch.randn(1, 6, 5, 5, dtype=torch.float64)
    e = pool(x)
    xp = nn.functional.pad(x, (1, 1, 1, 1))
    assert e.shape == (1, 4, 5, 5)
    # output channel 3 = group 1 (input channels 3..5), offset a=1: channels 4, 5
    expected = sum(xp[0, ch, 2 + dy, 1 + dx] for ch in (4, 5) for dy in (0, 2) for dx in (0, 2))
    assert torch.isclose(e[0, 3, 2, 1], expected)


def test_decompose_digits_cnn_copy_and_names():
    model = build_model("digits-cnn").eval()
    plan = make_plan(model, "A")
    for name, (c, n) in plan.items():
        m = model.get_submodule(name)
        if isinstance(m, nn.Conv2d):
            _structure_conv_(m, c, n)
        else:
            with torch.no_grad():
                m.weight.copy_(expand_alpha(torch.randn(m.out_features, c, 1, 1), m.in_features, 1).reshape(m.weight.shape))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new, report = decompose(model, plan)
    assert [r.name for r in report] == ["0", "2", "4", "7"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(model[0], nn.Conv2d) and isinstance(new[0], StructuredConv2d)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert _rel_err(new(x), model(x)) < 1e-5


def test_unstructured_weights_warn_and_report_residual():
    model = build_model("resnet20").eval()
    plan = {"layer1.0.conv1": (8, 3), "fc": (32, 1)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new, report = decompose(model, plan, warn_threshold=1e-3)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 2 and "'layer1.0.conv1'" in messages[0] and "'fc'" in messages[1]
    assert {r.name for r in report} == set(plan)
    assert all(0.1 < r.residual < 1 for r in report)
    assert isinstance(new.layer1[0].conv1, StructuredConv2d) and isinstance(new.fc, StructuredLinear)
    with torch.no_grad():
        assert new(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_decompose_rejects_bad_plans():
    model = build_model("digits-cnn")
    with pytest.raises(ConfigError, match="'5'"):
        decompose(model, {"5": (1, 1)})
    with pytest.raises(ConfigError, match="'2'.*c=9"):
        decompose(model, {"2": (9, 3)})
