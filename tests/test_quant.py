"""Post-training quantization: fixed-point multipliers, QuantNet construction from dense and
structured layers, the float path and its error, and every bad-input error."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn

from structhw import golden, qnet as qnet_io
from structhw.decompose import StructuredConv2d, StructuredLinear
from structhw.errors import ConfigError
from structhw.quant import (MULTIPLIER_BITS, float_reference, quantization_error, quantize,
                            quantize_input, requant_multiplier)
from structhw.quant import float_layers, ptq
from structhw.quant.rounding import input_patches


# ----- fixed point ---------------------------------------------------------------------------
@given(st.floats(min_value=2.0**-40, max_value=2.0**14, exclude_max=True))
def test_requant_multiplier_is_normalized_and_within_half_an_lsb(real):
    M, S = requant_multiplier(real)
    assert 1 <= S <= 62
    assert 2 ** (MULTIPLIER_BITS - 1) <= M <= 2**MULTIPLIER_BITS
    assert abs(M / 2**S - real) <= 2.0 ** -(S + 1)          # round to nearest: ≤ ½ of 2^−S
    assert abs(M / 2**S - real) / real <= 2.0**-MULTIPLIER_BITS


def test_requant_multiplier_tiny_keeps_max_shift():
    M, S = requant_multiplier(2.0**-60)
    assert (M, S) == (4, 62)


@pytest.mark.parametrize("real", [2.0**14, 1e9, 0.0, -1.0, math.nan, math.inf])
def test_requant_multiplier_refuses_out_of_range(real):
    with pytest.raises(ConfigError, match="requantisation multiplier"):
        requant_multiplier(real, "layer 'x'")


# ----- small models built from torch modules ---------------------------------------------------
def mixed_model() -> nn.Sequential:
    """Dense grouped conv, structured conv with stride/dilation/groups, structured and dense linear."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1, groups=2),
        nn.ReLU(),
        StructuredConv2d(6, 8, 3, c=2, n=2, stride=2, padding=2, dilation=2, groups=2),
        nn.ReLU(),
        StructuredConv2d(8, 8, 3, c=4, n=2, stride=1, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        StructuredLinear(8 * 5 * 5, 12, c=50),
        nn.ReLU(),
        nn.Linear(12, 5),
    ).eval()


def images(count, shape=(2, 9, 9), seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((count, *shape), generator=g)


def test_layers_carry_the_geometry_of_the_float_model():
    q = quantize(mixed_model(), images(64), name="mixed")
    geo = [(l.name, l.kind, l.in_channels, l.in_height, l.kernel, l.c, l.n, l.stride, l.padding,
            l.dilation, l.groups, l.relu) for l in q.layers]
    assert geo == [
        ("0", "conv", 2, 9, 3, 1, 3, 1, 1, 1, 2, True),
        ("2", "conv", 6, 9, 3, 2, 2, 2, 2, 2, 2, True),
        ("4", "conv", 8, 5, 3, 4, 2, 1, 1, 1, 1, True),
        ("7", "linear", 200, 1, 1, 50, 1, 1, 0, 1, 1, True),
        ("9", "linear", 12, 1, 1, 12, 1, 1, 0, 1, 1, False),
    ]
    assert [l.is_dense for l in q.layers] == [True, False, False, False, True]
    assert q.input_shape == (2, 9, 9) and q.metadata["name"] == "mixed"
    for prev, layer in zip(q.layers, q.layers[1:]):
        assert layer.in_scale == prev.out_scale


def test_integers_follow_the_scales():
    model = mixed_model()
    q = quantize(model, images(64), rounding="nearest")
    for layer, module in zip(q.layers, [model[0], model[2], model[4], model[7], model[9]]):
        w = {StructuredConv2d: lambda m: m.conv, StructuredLinear: lambda m: m.linear}.get(
            type(module), lambda m: m)(module)
        alpha = w.weight.detach().double().reshape(layer.alpha.shape).numpy()
        s_alpha = np.abs(alpha).reshape(len(alpha), -1).max(axis=1) / 127
        np.testing.assert_allclose(layer.alpha_scale, s_alpha, rtol=1e-12)
        assert np.abs(layer.alpha).reshape(len(alpha), -1).max(axis=1).tolist() == [127] * len(alpha)
        assert np.all(np.abs(layer.alpha * s_alpha[:, None, None, None] - alpha)
                      <= s_alpha[:, None, None, None] / 2 + 1e-15)
        acc_scale = layer.in_scale * s_alpha
        assert np.all(np.abs(layer.bias * acc_scale - w.bias.detach().double().numpy())
                      <= acc_scale / 2 + 1e-15)
        real = acc_scale / layer.out_scale
        assert np.all(np.abs(layer.multiplier / 2.0**layer.shift - real) / real <= 2.0**-MULTIPLIER_BITS)


def test_gptq_rounding_keeps_scales_and_lowers_each_layers_output_error():
    """Error-compensating rounding: same scales, α_q still int8, each layer's output error on the
    calibration inputs ‖E·(α − s·α_q)‖ no larger than nearest rounding's (its objective)."""
    model = mixed_model()
    calib = images(256)
    near = quantize(model, calib, rounding="nearest")
    gptq = quantize(model, calib)
    assert gptq.metadata["calibration"]["rounding"] == "gptq"
    x = calib
    for layer, qn, qg in zip(float_layers(model), near.layers, gptq.layers):
        np.testing.assert_array_equal(qn.alpha_scale, qg.alpha_scale)
        assert np.abs(qg.alpha).max() <= 127
        patches = input_patches(layer, x)                    # [groups, rows, c·n²]
        alpha = layer.alpha().reshape(layer.out_channels, -1)
        per_group = layer.out_channels // layer.groups

        def error(q):
            deq = torch.as_tensor(q.alpha).reshape(alpha.shape) * torch.as_tensor(q.alpha_scale)[:, None]
            diff = (alpha - deq).reshape(layer.groups, per_group, -1)
            return float(sum((patches[g] @ diff[g].T).pow(2).sum() for g in range(layer.groups)))

        assert error(qg) <= error(qn), layer.name
        with torch.no_grad():
            x = layer.forward(x)


def test_unknown_rounding_is_refused():
    with pytest.raises(ConfigError, match="rounding must be one of gptq, nearest"):
        quantize(mixed_model(), images(4), rounding="stochastic")


def test_quantized_network_tracks_the_float_model_layer_by_layer():
    """One int8 step is max/127; rounding noise is step/√12 ≈ max/440, i.e. ≈ 1 % of the RMS of
    activations whose max/RMS is ≈ 4 (measured: 0.7–1.0 % per layer here). 3 % leaves room for
    accumulation; a wrong scale, shift or layout is off by order one."""
    model = mixed_model()
    q = quantize(model, images(256))
    x = images(128, seed=1)
    errors = quantization_error(model, q, x)
    assert [e["name"] for e in errors] == [l.name for l in q.layers]
    for e in errors:
        assert e["rel_rms"] < 0.03, e
    floats = float_reference(model, x)
    ints = golden.run_network(q, quantize_input(x, q))
    for layer, yf, yq in zip(q.layers, floats, ints):
        assert yf.shape == yq.shape == (128, layer.out_channels, layer.out_height, layer.out_width)


def test_save_load_round_trip_keeps_the_integer_model(tmp_path):
    q = quantize(mixed_model(), images(32))
    path = qnet_io.save(q, tmp_path / "m.qnet.json")
    back = qnet_io.load(path)
    x = quantize_input(images(16, seed=2), q)
    for a, b in zip(golden.run_network(q, x), golden.run_network(back, x)):
        assert torch.equal(a, b)
    assert back.metadata == q.metadata and back.input_scale == q.input_scale


def test_quantize_input_rounds_and_clamps():
    q = quantize(mixed_model(), images(32))
    s = q.input_scale
    x = torch.zeros(1, 2, 9, 9)
    x[0, 0, 0, :4] = torch.tensor([2.4 * s, -2.6 * s, 500 * s, -500 * s])
    xi = quantize_input(x, q)
    assert xi.dtype == torch.int64
    assert xi[0, 0, 0, :4].tolist() == [2, -3, 127, -127]


def test_model_mode_is_restored():
    model = mixed_model().train()
    quantize(model, images(8))
    assert model.training


# ----- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)), r"layer '1': cannot quantize a BatchNorm2d"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.MaxPool2d(2)), r"layer '1': cannot quantize a MaxPool2d"),
    (nn.Sequential(nn.ReLU(), nn.Conv2d(2, 4, 3)), r"layer '0' \(ReLU\): a ReLU must directly follow"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.ReLU()), r"layer '2' \(ReLU\)"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.Linear(4, 2)), r"layer '1' \(Linear\): a linear layer needs a Flatten"),
    (nn.Sequential(nn.Flatten(), nn.Linear(162, 4), nn.Conv2d(4, 4, 1)), r"layer '2' \(Conv2d\): a convolution cannot follow"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten()), r"ends with a Flatten"),
    (nn.Sequential(nn.Conv2d(2, 4, (3, 1))), r"layer '0' \(Conv2d\): kernel_size=\(3, 1\)"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect")), r"layer '0' \(Conv2d\): padding_mode"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, padding="same")), r"layer '0' \(Conv2d\): padding='same'"),
    (nn.Sequential(nn.Conv2d(3, 4, 3)), r"3 channels|expects 3"),
    (nn.Sequential(), r"no convolution or linear layer"),
    (nn.Conv2d(2, 4, 3), r"expects an nn.Sequential of layers, got Conv2d"),
])
def test_unsupported_models_are_config_errors_naming_the_layer(model, match):
    with pytest.raises(ConfigError, match=match):
        quantize(model, images(4))


def test_a_flatten_after_a_one_pixel_last_convolution_is_the_logits_reshape():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 5, 4), nn.Flatten())
    q = quantize(model, images(32))
    assert [layer.kind for layer in q.layers] == ["conv", "conv"]
    logits = golden.logits(q, quantize_input(images(8, seed=3), q))
    assert logits.shape == (8, 5)


@pytest.mark.parametrize("calib, match", [
    (torch.zeros(4, 2, 9, 9, dtype=torch.int64), r"floating-point tensor, got dtype torch.int64"),
    (torch.zeros(2, 9, 9), r"shape \[B, C, H, W\] with B ≥ 1, got \(2, 9, 9\)"),
    (torch.zeros(0, 2, 9, 9), r"B ≥ 1"),
    (torch.zeros(4, 3, 9, 9), r"calibration images have 3 channels, layer '0' expects 2"),
    (torch.full((4, 2, 9, 9), math.nan), r"NaN or infinite"),
    ([[1.0]], r"must be a torch tensor"),
])
def test_bad_calibration_data_is_a_config_error(calib, match):
    with pytest.raises(ConfigError, match=match):
        quantize(mixed_model(), calib)


def test_calibration_images_too_small_for_the_model_name_the_layer():
    with pytest.raises(ConfigError, match=r"layer '7'|layer '0'|layer '2'|layer '4'"):
        quantize(mixed_model(), images(4, shape=(2, 5, 5)))


def test_quantize_input_checks_the_network_shape():
    q = quantize(mixed_model(), images(8))
    with pytest.raises(ConfigError, match=r"input images have shape \(C, H, W\) = \(2, 8, 8\), the model expects \(2, 9, 9\)"):
        quantize_input(images(1, shape=(2, 8, 8)), q)
    with pytest.raises(ConfigError, match="floating-point"):
        quantize_input(torch.zeros(1, 2, 9, 9, dtype=torch.int8), q)


def test_multiplier_beyond_its_width_is_refused_not_wrapped():
    """Two identical input channels subtracted: the output range is tiny next to s_x·s_α, so
    s_x·s_α/s_y ≥ 2^14 would need a shift below 1."""
    conv = nn.Conv2d(2, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
    x = images(8, shape=(1, 4, 4)).repeat(1, 2, 1, 1)
    x[:, 1] += 1e-7 * images(8, shape=(4, 4), seed=3)
    with pytest.raises(ConfigError, match=r"layer '0', output channel 0: requantisation multiplier"):
        quantize(nn.Sequential(conv), x)


def test_requant_product_beyond_the_declared_width_is_refused(monkeypatch):
    q = quantize(mixed_model(), images(8))
    widest = max(l.widths().requant_product for l in q.layers)
    monkeypatch.setattr(ptq, "REQUANT_WIDTH", widest - 1)
    with pytest.raises(ConfigError, match=rf"acc·M needs {widest} bits .* {widest - 1} bits"):
        quantize(mixed_model(), images(8))


def test_bias_beyond_int32_is_refused():
    conv = nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        conv.weight.fill_(1e-6)
        conv.bias.fill_(1e6)
    with pytest.raises(ConfigError, match=r"layer '0': bias of output channel 0 .* beyond int32"):
        quantize(nn.Sequential(conv), images(4, shape=(1, 3, 3)))


def test_bad_percentile_is_refused():
    with pytest.raises(ConfigError, match="percentile"):
        quantize(mixed_model(), images(4), percentile=20)


def test_input_covariance_summed_in_blocks_equals_one_product(monkeypatch):
    from structhw.quant import rounding

    layer = float_layers(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)))[0]
    x = torch.randn(7, 3, 6, 6)
    whole = rounding.input_covariance(layer, x)
    one_image = rounding.input_patches(layer, x[:1]).numel() * 8
    monkeypatch.setattr(rounding, "MAX_PATCH_BYTES", 2 * one_image)
    blocks = rounding.input_covariance(layer, x)
    torch.testing.assert_close(blocks, whole, rtol=1e-12, atol=1e-9)
    p = rounding.input_patches(layer, x)
    torch.testing.assert_close(whole, p.transpose(1, 2) @ p, rtol=0, atol=0)


def test_gptq_refuses_a_layer_whose_covariance_would_pass_the_limit():
    model = nn.Sequential(nn.Flatten(), nn.Linear(20000, 2))
    with pytest.raises(ConfigError, match=r"20000×20000 input covariance .*--rounding nearest"):
        quantize(model, torch.zeros(4, 1, 100, 200))
    qnet = quantize(model, torch.randn(4, 1, 100, 200), rounding="nearest")
    assert qnet.layers[0].in_channels == 20000
