"""The *.qnet.json contract: round trip, and malformed files are ConfigErrors, never tracebacks."""

import json

import numpy as np
import pytest

from structhw import qnet as qn
from structhw.errors import ConfigError
from structhw.rtl_gen.random_layer import random_quant_layer


def _net():
    layer = random_quant_layer(2, 3, 1, 2, 4, 5, 5, 1, 1, seed=3)
    return qn.QuantNet(2, 5, 5, 0.05, [layer])


def test_round_trip(tmp_path):
    net = _net()
    path = qn.save(net, tmp_path / "m.qnet.json")
    back = qn.load(path)
    assert back.input_shape == net.input_shape
    a, b = net.layers[0], back.layers[0]
    assert (a.alpha == b.alpha).all() and (a.bias == b.bias).all()
    assert (a.multiplier == b.multiplier).all() and (a.shift == b.shift).all()
    assert a.relu == b.relu and a.widths() == b.widths()


@pytest.mark.parametrize("field, value", [
    ("in_scale", "abc"), ("alpha_scale", None), ("relu", "false"), ("stride", 1.5),
    ("alpha", [[["x"]]]), ("c", 9),
])
def test_malformed_layer_is_config_error(tmp_path, field, value):
    obj = _net().to_json()
    obj["layers"][0][field] = value
    path = tmp_path / "bad.qnet.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ConfigError):
        qn.load(path)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"format": "other"}'])
def test_not_a_qnet_is_config_error(tmp_path, text):
    path = tmp_path / "bad.qnet.json"
    path.write_text(text)
    with pytest.raises(ConfigError):
        qn.load(path)


def test_input_height_must_be_integer(tmp_path):
    obj = _net().to_json()
    obj["input"]["height"] = 5.7
    path = tmp_path / "bad.qnet.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ConfigError):
        qn.load(path)


def test_signed_width_is_exact():
    assert qn.signed_width(-128, 127) == 8
    assert qn.signed_width(-129, 0) == 9
    assert qn.signed_width(0, 128) == 9
    assert qn.signed_width(0, 0) == 1
    for lo, hi in [(-5, 3), (-1000, 70000)]:
        w = qn.signed_width(lo, hi)
        assert -(1 << (w - 1)) <= lo and hi < (1 << (w - 1))
        assert not (-(1 << (w - 2)) <= lo and hi < (1 << (w - 2)))
