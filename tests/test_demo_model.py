"""The shipped demo model: safe to load, small, meets the accuracy targets when re-evaluated from its
weights, and is what ``structhw train`` with defaults produces."""

import json

import pytest
import torch

from structhw import train
from structhw.checkpoint import (
    build_models,
    build_structured_model,
    demo_checkpoint_path,
    demo_metrics_path,
    load_checkpoint,
)
from structhw.data import digits_split


@pytest.fixture(scope="module")
def demo():
    ckpt = load_checkpoint(demo_checkpoint_path())
    metrics = json.loads(demo_metrics_path().read_text())
    _, test_ds = digits_split()
    dense, decomposed = build_models(ckpt)
    structured = build_structured_model(ckpt)
    measured = {
        "dense_acc": train.accuracy(dense, test_ds),
        "structured_acc": train.accuracy(structured, test_ds),
        "decomposed_acc": train.accuracy(decomposed, test_ds),
    }
    return ckpt, metrics, measured


def test_shipped_file_is_small_and_loads_weights_only():
    path = demo_checkpoint_path()
    assert path.is_file() and path.stat().st_size < 200_000
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "structhw.checkpoint" and raw["config"]["recipe"] == "sr"


def test_reevaluated_accuracies_match_the_shipped_metrics(demo):
    _, metrics, measured = demo
    for key, value in measured.items():
        assert value == metrics[key], key


def test_decomposition_costs_at_most_one_point(demo):
    _, _, measured = demo
    assert measured["decomposed_acc"] >= measured["dense_acc"] - 0.010


def test_sr_made_the_weights_structured(demo):
    _, metrics, measured = demo
    assert abs(measured["structured_acc"] - measured["decomposed_acc"]) < 0.002
    assert max(metrics["sr_residual"].values()) < 1e-4


def test_structured_and_decomposed_models_agree_on_every_test_logit(demo):
    ckpt, _, _ = demo
    _, test_ds = digits_split()
    _, decomposed = build_models(ckpt)
    structured = build_structured_model(ckpt)
    x = test_ds.tensors[0]
    with torch.no_grad():
        assert torch.allclose(structured(x), decomposed(x), atol=1e-4, rtol=0)


def test_config_is_the_train_defaults(demo):
    ckpt, _, _ = demo
    config, defaults = ckpt["config"], train.TrainConfig()
    for key in ("model", "preset", "lam", "epochs", "seed", "lr", "batch_size"):
        assert config[key] == getattr(defaults, key), key
    assert config["recipe"] == defaults.recipe


@pytest.mark.slow
def test_training_with_defaults_reproduces_the_shipped_weights():
    """Bit-exact on the same CPU kind and torch build (see structhw.train, "Determinism")."""
    result = train.run_training(train.TrainConfig(), progress=False)
    shipped = load_checkpoint(demo_checkpoint_path())
    for key in ("dense", "structured"):
        fresh = result.checkpoint[key]
        assert fresh.keys() == shipped[key].keys()
        for name in fresh:
            assert torch.equal(fresh[name], shipped[key][name]), f"{key}.{name}"
