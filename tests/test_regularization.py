import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from structhw.errors import ConfigError
from structhw.regularization import (
    choose_cn,
    layer_stages,
    make_plan,
    sr_loss,
    sr_loss_naive,
    validate_plan,
)
from structhw.structure import expand_alpha
from structhw.zoo import build_model


@st.composite
def conv_layers(draw):
    groups = draw(st.integers(1, 3))
    C = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 3))
    N = draw(st.integers(1, 4))
    conv = nn.Conv2d(C, cout, N, groups=groups, bias=draw(st.booleans()))
    c = draw(st.integers(1, C // groups))
    n = draw(st.integers(1, N))
    return conv, (c, n)


@given(conv_layers(), st.integers(1, 6), st.integers(1, 5), st.data())
def test_sr_loss_matches_naive_pinv(layer, Q, P, data):
    conv, cn = layer
    linear = nn.Linear(Q, P)
    model = nn.Sequential(conv, nn.Flatten(), linear).double()
    plan = {"0": cn, "2": (data.draw(st.integers(1, Q)), 1)}
    fast, naive = sr_loss(model, plan), sr_loss_naive(model, plan)
    assert torch.allclose(fast, naive, rtol=1e-5, atol=1e-12)


def test_sr_loss_float32_resnet_matches_naive_and_has_gradients():
    model = build_model("resnet20")
    plan = make_plan(model, "B")
    fast = sr_loss(model, plan)
    naive = sr_loss_naive(model, plan)
    assert fast.item() > 1.0
    assert abs(fast.item() - naive.item()) <= 1e-5 * naive.item()
    fast.backward()
    grads = [m.weight.grad for n, m in model.named_modules() if n in plan]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_sr_loss_zero_for_structured_and_dense():
    model = build_model("digits-cnn")
    plan = make_plan(model, "A")
    with torch.no_grad():
        for name, (c, n) in plan.items():
            m = dict(model.named_modules())[name]
            if isinstance(m, nn.Conv2d):
                alpha = torch.randn(m.out_channels, c, n, n)
                m.weight.copy_(expand_alpha(alpha, m.in_channels, m.kernel_size[0]))
            else:
                alpha = torch.randn(m.out_features, c, 1, 1)
                m.weight.copy_(expand_alpha(alpha, m.in_features, 1).reshape(m.weight.shape))
    assert sr_loss(model, plan).item() < 1e-5
    assert sr_loss(model, make_plan(model, "dense")).item() == 0.0


def test_descent_on_sr_loss_makes_weights_structured():
    model = build_model("digits-cnn")
    plan = make_plan(model, "B")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    start = sr_loss(model, plan).item()
    for _ in range(30):
        opt.zero_grad()
        loss = sr_loss(model, plan)
        loss.backward()
        opt.step()
    assert sr_loss(model, plan).item() < 0.2 * start


@pytest.mark.parametrize(
    "C, N, ratio, expected",
    [(16, 3, 2, (8, 3)), (3, 3, 2, (3, 2)), (64, 1, 2, (32, 1)), (1, 3, 2, (1, 2)),
     (16, 3, 4, (4, 3)), (1, 1, 2, (1, 1)), (5, 3, 1, (5, 3))],
)
def test_choose_cn_examples(C, N, ratio, expected):
    assert choose_cn(C, N, ratio) == expected


@given(st.integers(1, 40), st.integers(1, 5), st.floats(1, 30))
def test_choose_cn_is_mildest_ratio_meeting_target(C, N, target):
    c, n = choose_cn(C, N, target)
    got = C * N * N / (c * n * n)
    ratios = [C * N * N / (cc * nn_ * nn_) for cc in range(1, C + 1) for nn_ in range(1, N + 1)]
    meeting = [r for r in ratios if r >= target - 1e-12]
    assert got == (min(meeting) if meeting else max(ratios))


def test_presets_on_resnets():
    model = build_model("resnet18")
    a, b, dense = (make_plan(model, p) for p in ("A", "B", "dense"))
    assert a["layer1.0.conv1"] == (32, 3) and a["fc"] == (256, 1)
    assert b["layer2.1.conv2"] == (64, 3) and b["layer3.0.conv1"] == (32, 3)
    assert b["layer4.0.downsample.0"] == (64, 1) and b["fc"] == (128, 1)
    assert dense["conv1"] == (3, 7)
    assert set(a) == {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def test_stages():
    stages = layer_stages(build_model("resnet20"))
    assert stages["conv1"] == 1 and stages["layer2.0.conv1"] == 2 and stages["layer3.2.conv2"] == 3
    assert stages["fc"] == 4
    assert layer_stages(build_model("digits-cnn")) == {"0": 1, "2": 2, "4": 3, "7": 4}


def test_depthwise_plan():
    model = nn.Sequential(nn.Conv2d(6, 6, 3, groups=6, padding=1), nn.Conv2d(6, 12, 1))
    plan = make_plan(model, "A")
    assert plan == {"0": (1, 2), "1": (3, 1)}
    assert torch.allclose(sr_loss(model, plan), sr_loss_naive(model, plan), rtol=1e-5)


@pytest.mark.parametrize(
    "plan, words",
    [
        ({"9": (1, 1)}, "'9'.*does not have"),
        ({"1": (1, 1)}, "'1'.*ReLU"),
        ({"0": (9, 3)}, "'0'.*c=9"),
        ({"0": (1, 4)}, "'0'.*n=4"),
        ({"0": (0, 3)}, "'0'.*c"),
        ({"0": (1.5, 3)}, "'0'.*integer"),
        ({"7": (10, 2)}, "'7'.*n=2"),
        ({"7": (1,)}, "'7'.*pair"),
    ],
)
def test_validate_plan_errors_name_layer(plan, words):
    with pytest.raises(ConfigError, match=words):
        validate_plan(build_model("digits-cnn"), plan)


def test_unstructurable_convs_rejected():
    with pytest.raises(ConfigError, match="'0'.*square"):
        validate_plan(nn.Sequential(nn.Conv2d(2, 2, (3, 1))), {"0": (1, 1)})
    with pytest.raises(ConfigError, match="padding_mode"):
        validate_plan(nn.Sequential(nn.Conv2d(2, 2, 3, padding_mode="reflect")), {"0": (1, 1)})
    with pytest.raises(ConfigError, match="preset"):
        make_plan(nn.Sequential(nn.Conv2d(2, 2, 3)), "C")
    assert validate_plan(build_model("digits-cnn"), {"2": (4, 2)}) == {"2": (4, 2)}


def test_load_plan_from_json(tmp_path):
    from structhw.regularization import load_plan

    path = tmp_path / "plan.json"
    path.write_text('{"2": [4, 3], "7": [32, 1]}')
    assert load_plan(path, build_model("digits-cnn")) == {"2": (4, 3), "7": (32, 1)}
    path.write_text('{"2": [4, 3],')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_plan(path, build_model("digits-cnn"))
    path.write_text('{"3": [1, 1]}')
    with pytest.raises(ConfigError, match="'3'.*ReLU"):
        load_plan(path, build_model("digits-cnn"))
