"""Verilog output: byte-identical for the same arguments, and clean under
``verilator --lint-only -Wall`` with only the generator-artefact waivers of the ``.vlt``."""

import pytest

from structhw.errors import ConfigError
from structhw.rtl_gen.engine import LayerEngine
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer
from structhw.rtl_gen.verilog import WAIVERS, generate_layer_verilog, lint, write_verilog

LINT_CASES = [
    # dense conv, 3 lane groups × 2 passes
    (dict(C=3, N=3, c=3, n=3, Cout=5, H=5, W=4, stride=1, pad=1), EngineParams(2, 14)),
    # structured, stride 2, dilation 2, both sum-pool archs
    (dict(C=4, N=3, c=2, n=2, Cout=3, H=7, W=6, stride=2, pad=2, dilation=2), EngineParams(3, 8, "tree")),
    (dict(C=6, N=3, c=3, n=2, Cout=2, H=5, W=5, stride=1, pad=1), EngineParams(1, 5, "separable")),
    # depthwise, and a linear layer (1×1, one step per output)
    (dict(C=4, N=3, c=1, n=3, Cout=4, H=4, W=4, stride=1, pad=1, groups=4), EngineParams(4, 9)),
    (dict(C=10, N=1, c=4, n=1, Cout=3, H=1, W=1, stride=1, pad=0, kind="linear", relu=False),
     EngineParams(3, 4, "tree")),
]


@pytest.mark.parametrize("kw, params", LINT_CASES)
def test_engine_verilog_is_lint_clean(tmp_path, kw, params):
    layer = random_quant_layer(seed=3, **kw)
    path = generate_layer_verilog(layer, params, tmp_path, "engine")
    assert path == tmp_path / "engine.v"
    assert (tmp_path / "engine.vlt").is_file()
    assert lint(path) == []


def test_lint_reports_a_real_warning(tmp_path):
    """Without the waivers the generator artefacts show: lint() does report warnings."""
    layer = random_quant_layer(seed=3, **LINT_CASES[0][0])
    path = write_verilog(LayerEngine(layer, LINT_CASES[0][1]), tmp_path, "engine")
    (tmp_path / "engine.vlt").unlink()
    found = lint(path)
    assert found and all(line.startswith("%Warning") for line in found)
    assert {rule for rule, _ in WAIVERS} >= {line.split(":")[0].split("-", 1)[1] for line in found}


def test_verilog_is_deterministic(tmp_path):
    kw, params = LINT_CASES[1]
    texts = []
    for run in range(2):
        layer = random_quant_layer(seed=11, **kw)
        path = generate_layer_verilog(layer, params, tmp_path / str(run), "engine")
        texts.append((path.read_bytes(), path.with_suffix(".vlt").read_bytes()))
    assert texts[0] == texts[1]
    other = generate_layer_verilog(random_quant_layer(seed=12, **kw), params, tmp_path / "x", "engine")
    assert other.read_bytes() != texts[0][0]


def test_bad_config_writes_nothing(tmp_path):
    layer = random_quant_layer(C=64, N=7, c=1, n=1, Cout=2, H=7, W=7, stride=1, pad=0, seed=0)
    with pytest.raises(ConfigError, match="18-bit"):
        generate_layer_verilog(layer, EngineParams(1, 1, "tree"), tmp_path / "out", "engine")
    with pytest.raises(ConfigError, match="module name"):
        generate_layer_verilog(random_quant_layer(seed=0, **LINT_CASES[0][0]), LINT_CASES[0][1],
                               tmp_path / "out", "bad-name")
    assert not (tmp_path / "out").exists()
