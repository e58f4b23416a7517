"""A simulation that fails or is interrupted removes the run folder it made in the simulator
cache; a folder the user named (``--work``) is kept."""

import numpy as np
import pytest

import structhw.sim.layer as layer_sim
import structhw.sim.network as network_sim
from structhw.commands.compile import resolve_budget
from structhw.compiler import compile_plan
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer
from tests.tiny_models import tiny_chain


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.fixture
def interrupted_bench(monkeypatch):
    monkeypatch.setattr(layer_sim, "run_stream_bench", _interrupted)
    monkeypatch.setattr(network_sim, "run_stream_bench", _interrupted)


def _leftovers(root, prefix):
    return sorted(p.name for p in root.iterdir() if p.name.startswith(prefix))


def test_an_interrupted_layer_simulation_leaves_no_run_folder(tmp_path, interrupted_bench):
    layer = random_quant_layer(2, 3, 1, 2, 2, 5, 5, 1, 1, seed=0)
    with pytest.raises(KeyboardInterrupt):
        layer_sim.simulate_layers([(layer, EngineParams(lanes=1, mults=1, sumpool="tree"))], build_root=tmp_path)
    assert _leftovers(tmp_path, "layers-") == []
    with pytest.raises(KeyboardInterrupt):
        layer_sim.simulate_layers([(layer, EngineParams(lanes=1, mults=1, sumpool="tree"))], build_root=tmp_path,
                                  work_dir=tmp_path / "mine")
    assert (tmp_path / "mine" / "rtl").is_dir()


def test_an_interrupted_network_simulation_leaves_no_run_folder(tmp_path, interrupted_bench):
    budget, target = resolve_budget("ulx3s-12f", None)
    plan = compile_plan(tiny_chain(), budget, target=target)
    with pytest.raises(KeyboardInterrupt):
        network_sim.simulate_network(plan, np.zeros((2, *plan.input_shape), np.int64),
                                     build_root=tmp_path, bench="cocotb")
    assert _leftovers(tmp_path, "network-") == []
