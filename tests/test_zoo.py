import pytest
import torch
from torch import nn

from structhw.errors import ConfigError
from structhw.zoo import MODELS, build_model, input_shape, num_classes

# parameter counts: the paper's Table 1 (0.27 / 0.46 / 0.85 M, option-A shortcuts) and Table 3
# (ResNet18 11.69 M); digits-cnn from its definition in docs/INTERFACES.md
EXPECTED_PARAMS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet56": 853_018,
    "resnet18": 11_689_512,
    "digits-cnn": 8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 16 * 9 + 16 + 64 * 10 + 10,
    "digits-tiny": 4 * 9 + 4 + 10 * 4 * 16 + 10,
}


def test_models_listed():
    assert set(MODELS) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_counts(name):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", ["resnet20", "digits-cnn", "resnet18"])
def test_forward_shape(name):
    model = build_model(name).eval()
    c, h, w = input_shape(name)
    if name == "resnet18":
        h = w = 64  # global average pooling: any size works, keep the test fast
    with torch.no_grad():
        out = model(torch.randn(2, c, h, w))
    assert out.shape == (2, num_classes(name))


def test_digits_cnn_layout():
    model = build_model("digits-cnn")
    assert isinstance(model, nn.Sequential)
    named = dict(model.named_modules())
    assert [n for n, m in named.items() if isinstance(m, (nn.Conv2d, nn.Linear))] == ["0", "2", "4", "7"]
    conv2 = named["2"]
    assert (conv2.in_channels, conv2.out_channels, conv2.stride, conv2.padding) == (8, 16, (2, 2), (1, 1))
    assert input_shape("digits-cnn") == (1, 8, 8)


def test_cifar_shortcut_is_option_a():
    model = build_model("resnet20")
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(names) == 19 and all(n == "conv1" or ".conv" in n for n in names)


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError, match="resnet56.*digits-cnn"):
        build_model("vgg16")
    with pytest.raises(ConfigError, match="unknown model"):
        input_shape("nope")
