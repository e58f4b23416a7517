"""The integer graph ops: golden computations against an independent reading of the integer spec,
checks, and JSON round trips."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from structhw.errors import ConfigError
from structhw.graph.ops import (OPS, AddOp, AvgPoolOp, ConvOp, GlobalAvgPoolOp, MaxPoolOp,
                                PadShortcutOp, ReluOp, op_from_json)
from structhw.rtl_gen.random_layer import random_quant_layer
from structhw import golden


def _int8(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-128, 128, shape, generator=g, dtype=torch.int64)


def _floor_shift_round(value: int, shift: int) -> int:
    """(value + 2^(S−1)) >> S with Python's exact integers (floor division)."""
    return (value + (1 << (shift - 1))) // (1 << shift)


def _roundtrip(op):
    text = json.dumps(op.to_json())
    back = op_from_json(json.loads(text))
    assert type(back) is type(op) and back.to_json() == op.to_json()
    return back


@settings(max_examples=25, deadline=None)
@given(ma=st.integers(0, 65535), mb=st.integers(0, 65535), shift=st.integers(1, 30),
       relu=st.booleans(), seed=st.integers(0, 2**16))
def test_add_is_exact_sum_then_one_rounding(ma, mb, shift, relu, seed):
    op = AddOp(name="a", inputs=("x", "y"), in_shapes=((3, 4, 5), (3, 4, 5)),
               multipliers=(ma, mb), shift=shift, relu=relu, out_scale=0.1)
    a, b = _int8((2, 3, 4, 5), seed), _int8((2, 3, 4, 5), seed + 1)
    y = op.golden(a, b)
    lo = 0 if relu else -128
    for idx in [(0, 0, 0, 0), (1, 2, 3, 4), (0, 1, 2, 3)]:
        v = _floor_shift_round(int(a[idx]) * ma + int(b[idx]) * mb, shift)
        assert int(y[idx]) == min(max(v, lo), 127)
    assert op.out_shape == (3, 4, 5)
    _roundtrip(op)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1), hw=st.integers(3, 7),
       seed=st.integers(0, 2**16))
def test_maxpool_equals_the_float_max_pool(k, s, p, hw, seed):
    p = min(p, k // 2)
    op = MaxPoolOp(name="m", inputs=("x",), in_shapes=((2, hw, hw),), kernel=k, stride=s,
                   padding=p, out_scale=0.5)
    x = _int8((2, 2, hw, hw), seed)
    ref = F.max_pool2d(x.float(), k, s, p).to(torch.int64)
    assert torch.equal(op.golden(x), ref)
    assert tuple(ref.shape[1:]) == op.out_shape
    _roundtrip(op)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 1), hw=st.integers(3, 6),
       m=st.integers(1, 65535), shift=st.integers(1, 24), seed=st.integers(0, 2**16))
def test_avgpool_is_window_sum_then_requant(k, s, p, hw, m, shift, seed):
    p = min(p, k // 2)
    op = AvgPoolOp(name="p", inputs=("x",), in_shapes=((3, hw, hw),), kernel=k, stride=s,
                   padding=p, multiplier=m, shift=shift, out_scale=1.0)
    x = _int8((1, 3, hw, hw), seed)
    y = op.golden(x)
    xp = F.pad(x, (p,) * 4)
    for c, i, j in [(0, 0, 0), (2, y.shape[2] - 1, y.shape[3] - 1)]:
        window = int(xp[0, c, i * s:i * s + k, j * s:j * s + k].sum())
        assert int(y[0, c, i, j]) == min(max(_floor_shift_round(window * m, shift), -128), 127)
    ref = F.avg_pool2d(x.double(), k, s, p, count_include_pad=True) * k * k
    assert torch.equal(op.window_sum(x), ref.round().to(torch.int64))
    _roundtrip(op)


def test_global_avgpool_sums_every_pixel():
    op = GlobalAvgPoolOp(name="g", inputs=("x",), in_shapes=((4, 8, 8),), multiplier=1 << 14,
                         shift=20, out_scale=1.0)
    x = _int8((3, 4, 8, 8), 7)
    y = op.golden(x)
    assert y.shape == (3, 4, 1, 1) and op.out_shape == (4, 1, 1)
    for b in range(3):
        for c in range(4):
            total = int(x[b, c].sum())
            assert int(y[b, c, 0, 0]) == min(max(_floor_shift_round(total << 14, 20), -128), 127)
    _roundtrip(op)


def test_pad_shortcut_subsamples_and_appends_zero_channels():
    op = PadShortcutOp(name="s", inputs=("x",), in_shapes=((2, 5, 5),), stride=2, extra=3,
                       out_scale=1.0)
    x = _int8((2, 2, 5, 5), 3)
    y = op.golden(x)
    assert y.shape == (2, 5, 3, 3) and op.out_shape == (5, 3, 3)
    assert torch.equal(y[:, :2], x[:, :, ::2, ::2]) and not y[:, 2:].any()
    _roundtrip(op)


def test_relu_clamps_to_its_upper_bound():
    op = ReluOp(name="r", inputs=("x",), in_shapes=((1, 2, 2),), hi=50, out_scale=0.12)
    x = torch.tensor([[[[-5, 10], [60, 127]]]])
    assert op.golden(x).tolist() == [[[[0, 10], [50, 50]]]]
    _roundtrip(op)


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_conv_op_is_the_layer_golden_model(kind):
    if kind == "conv":
        layer = random_quant_layer(4, 3, 2, 2, 6, 5, 5, 1, 1, seed=1)
        shape = (4, 5, 5)
    else:
        layer = random_quant_layer(12, 1, 5, 1, 3, 1, 1, 1, 0, seed=2, kind="linear")
        shape = (3, 2, 2)
    op = ConvOp(name=layer.name, inputs=("input",), in_shapes=(shape,), layer=layer)
    x = _int8((2, *shape), 4)
    flat = x.reshape(2, -1, 1, 1) if kind == "linear" else x
    assert torch.equal(op.golden(x), golden.run_layer(flat, layer))
    back = _roundtrip(op)
    assert np.array_equal(back.layer.alpha, layer.alpha)


def test_every_op_kind_is_registered():
    assert set(OPS) == {"conv", "linear", "add", "maxpool", "avgpool", "global_avgpool",
                        "pad_shortcut", "relu"}


@pytest.mark.parametrize("make, message", [
    (lambda: AddOp(name="a", inputs=("x", "y"), in_shapes=((3, 4, 4), (3, 2, 2)),
                   multipliers=(1, 1), shift=1), "different shapes"),
    (lambda: AddOp(name="a", inputs=("x",), in_shapes=((3, 4, 4),)), "takes 2 input"),
    (lambda: AddOp(name="a", inputs=("x", "y"), in_shapes=((1, 1, 1),) * 2,
                   multipliers=(1 << 40, 1), shift=1), "multiplier M"),
    (lambda: AvgPoolOp(name="p", inputs=("x",), in_shapes=((1, 4, 4),), kernel=3, padding=2,
                       multiplier=1, shift=1), "padding"),
    (lambda: MaxPoolOp(name="m", inputs=("x",), in_shapes=((1, 2, 2),), kernel=3),
     "does not fit"),
    (lambda: GlobalAvgPoolOp(name="g", inputs=("x",), in_shapes=((1, 2, 2),), multiplier=1,
                             shift=0), "shift S"),
    (lambda: PadShortcutOp(name="s", inputs=("x",), in_shapes=((1, 2, 2),), stride=0),
     "stride"),
    (lambda: ReluOp(name="r", inputs=("x",), in_shapes=((1, 2, 2),), hi=200), "hi"),
])
def test_bad_ops_are_refused_naming_the_op(make, message):
    with pytest.raises(ConfigError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("obj, message", [
    ([], "JSON object"),
    ({"op": "softmax", "name": "x", "inputs": [], "in_shapes": []}, "unknown op 'softmax'"),
    ({"op": "relu", "name": "", "inputs": ["input"], "in_shapes": [[1, 1, 1]]}, "name"),
    ({"op": "relu", "name": "r", "inputs": "input", "in_shapes": [[1, 1, 1]]}, "inputs"),
    ({"op": "relu", "name": "r", "inputs": ["input"], "in_shapes": [[1, 0, 1]]}, "in_shapes"),
    ({"op": "relu", "name": "r", "inputs": ["input"], "in_shapes": [[1, 1, 1]], "hi": 1.5,
      "out_scale": 1.0}, "hi must be an integer"),
    ({"op": "add", "name": "a", "inputs": ["x", "y"], "in_shapes": [[1, 1, 1]] * 2,
      "multipliers": [1, 2], "shift": 3, "relu": "yes", "out_scale": 1.0}, "relu"),
    ({"op": "maxpool", "name": "m", "inputs": ["x"], "in_shapes": [[1, 4, 4]], "kernel": 2,
      "stride": 2, "padding": 0, "out_scale": float("nan")}, "out_scale"),
])
def test_malformed_node_json_is_one_clear_line(obj, message):
    with pytest.raises(ConfigError, match=message) as err:
        op_from_json(obj)
    assert "\n" not in str(err.value)
