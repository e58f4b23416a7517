import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from structhw.complexity import count_model
from structhw.decompose import decompose
from structhw.errors import ConfigError
from structhw.regularization import make_plan
from structhw.zoo import build_model, input_shape

# paper Table 1 (CIFAR-10) and Table 3 (ImageNet ResNet18): params (M), mults (M), adds (M),
# each rounded to the printed digits (ResNet32's 69.1657 M mults is printed truncated as 69.16)
TABLE = {
    "resnet20": (0.27, 40.74, 40.55),
    "resnet56": (0.85, 126.02, 125.49),
    "resnet18": (11.69, 1820.0, 1810.0),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_dense_counts_reproduce_paper_tables(name):
    model = build_model(name)
    result = count_model(model, input_shape(name), make_plan(model, "dense"))
    params, mults, adds = TABLE[name]
    digits = 2 if name != "resnet18" else -1
    assert round(result.params / 1e6, 2) == params
    assert round(result.mults / 1e6, digits) == mults
    assert round(result.adds / 1e6, digits) == adds
    assert result.params == sum(p.numel() for p in model.parameters())


def test_resnet20_dense_formula_by_hand():
    result = count_model(build_model("resnet20"), (3, 32, 32))
    convs = [l for l in result.layers if l.kind == "conv"]
    outputs = sum(l.out_channels * l.out_height * l.out_width for l in convs)
    macs = 27 * 16 * 1024 + 6 * 144 * 16 * 1024 + (144 + 5 * 288) * 32 * 256 + (288 + 5 * 576) * 64 * 64
    assert sum(l.mults for l in convs) == macs
    assert sum(l.adds for l in convs) == macs - outputs
    assert all(l.sumpool_adds == 0 for l in result.layers)


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    C = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    stride, padding, dilation = draw(st.integers(1, 2)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    size = draw(st.integers(dilation * (N - 1) + 1, 9))
    conv = nn.Conv2d(C, cout, N, stride, padding, dilation, groups, bias=draw(st.booleans()))
    return conv, (draw(st.integers(1, C // groups)), draw(st.integers(1, N))), size


@given(conv_cases())
def test_structured_conv_counts(case):
    conv, (c, n), size = case
    model = nn.Sequential(conv)
    layer = count_model(model, (conv.in_channels, size, size), {"0": (c, n)}).layers[0]
    y = conv(torch.zeros(1, conv.in_channels, size, size))
    outputs = y.numel()
    C, N, g = conv.in_channels // conv.groups, conv.kernel_size[0], conv.groups
    assert layer.params == conv.out_channels * c * n * n + (conv.out_channels if conv.bias is not None else 0)
    assert layer.mults == outputs * c * n * n
    # sum-pool output size from the decomposed module itself
    decomposed, _ = decompose(model, {"0": (c, n)}, warn_threshold=float("inf"))
    e = decomposed[0].sumpool(torch.zeros(1, conv.in_channels, size, size))
    window = (C - c + 1) * (N - n + 1) ** 2
    assert layer.sumpool_adds == (window - 1) * e.numel()
    bias_adds = outputs if conv.bias is not None else 0
    assert layer.adds == (c * n * n - 1) * outputs + bias_adds + layer.sumpool_adds
    # counting the decomposed model gives the same numbers
    again = count_model(decomposed, (conv.in_channels, size, size)).layers[0]
    assert (again.params, again.mults, again.adds) == (layer.params, layer.mults, layer.adds)


def test_linear_counts_match_paper_section_4_3():
    P, Q, R = 10, 64, 32
    layer = count_model(nn.Sequential(nn.Linear(Q, P, bias=False)), (1, 1, Q), {"0": (R, 1)}).layers[0]
    assert (layer.params, layer.mults) == (P * R, P * R)
    assert layer.adds == (R - 1) * P + (Q - R) * R


def test_preset_a_halves_resnet56():
    model = build_model("resnet56")
    dense = count_model(model, (3, 32, 32), make_plan(model, "dense"))
    a = count_model(model, (3, 32, 32), make_plan(model, "A"))
    assert 0.45 < a.params / dense.params < 0.51 and 0.45 < a.mults / dense.mults < 0.51


def test_bad_plan_is_config_error():
    with pytest.raises(ConfigError, match="'0'.*c=2"):
        count_model(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 5, 5), {"0": (2, 3)})


# paper Table 1: Struct-20/32/56-B mults (M), params (M)
TABLE_B = {"resnet20": (10.59, 0.067), "resnet32": (18.18, 0.11), "resnet56": (33.87, 0.21)}


@pytest.mark.parametrize("name", sorted(TABLE_B))
def test_preset_b_of_cifar_resnets_is_within_10_percent_of_table_1(name):
    model = build_model(name)
    plan = make_plan(model, "B")
    result = count_model(model, input_shape(name), plan)
    mults, params = TABLE_B[name]
    assert result.mults / 1e6 == pytest.approx(mults, rel=0.10)
    assert result.params / 1e6 == pytest.approx(params, rel=0.10)
    assert plan["conv1"] == (3, 2), "the stem (C=3) is compressed 2× (ratio 2.25)"
    assert plan["layer1.0.conv1"] == (4, 3) and plan["fc"] == (16, 1), "residual stages 4×"
