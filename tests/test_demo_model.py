"""The shipped models (the demo digits-cnn, the small boards' digits-tiny and Struct-ResNet20-A
on the CIFAR-10 stand-in): safe to load, small, their metrics reproduced when re-evaluated from
their weights on their own data set, their SR-trained weights structured, their int8 and
hardware figures recorded and within the targets. The demo also meets the accuracy targets, and ``structhw train`` with defaults
reproduces it: bit for bit on one machine, and by accuracy, structure and decomposition on any
machine."""

import functools
import json

import pytest
import torch

from structhw import train
from structhw.checkpoint import (
    SHIPPED_CHECKPOINTS,
    build_models,
    build_structured_model,
    checkpoint_digest,
    demo_checkpoint_path,
    demo_metrics_path,
    load_checkpoint,
    shipped_checkpoint_path,
    shipped_metrics_path,
)
from structhw.data import digits_split
from structhw.datasets import training_sets


@functools.lru_cache(maxsize=None)
def _test_set(data: str):
    return training_sets(data)[1]


def _checkpoint_test_set(ckpt):
    """The test split of the data set ``ckpt`` was trained on (digits when it names none)."""
    return _test_set(ckpt["config"].get("data", train.DEFAULT_DATA))


def _evaluated(path, metrics_path):
    ckpt = load_checkpoint(path)
    metrics = json.loads(metrics_path.read_text())
    test_ds = _checkpoint_test_set(ckpt)
    dense, decomposed = build_models(ckpt)
    structured = build_structured_model(ckpt)
    measured = {
        "dense_acc": train.accuracy(dense, test_ds),
        "structured_acc": train.accuracy(structured, test_ds),
        "decomposed_acc": train.accuracy(decomposed, test_ds),
    }
    return ckpt, metrics, measured


@pytest.fixture(scope="module")
def demo():
    return _evaluated(demo_checkpoint_path(), demo_metrics_path())


@pytest.fixture(scope="module", params=sorted(SHIPPED_CHECKPOINTS))
def shipped(request):
    return _evaluated(shipped_checkpoint_path(request.param), shipped_metrics_path(request.param))


SIZE_LIMIT = 200_000
"""Bytes a shipped digits checkpoint may take (its dense and SR-trained weights, float32)."""
SIZE_LIMITS = {"resnet20": 2_400_000}
"""ResNet20's two float32 copies of 270k weights (dense baseline and SR-trained) are 2.2 MB."""


@pytest.mark.parametrize("model", sorted(SHIPPED_CHECKPOINTS))
def test_shipped_file_is_small_and_loads_weights_only(model):
    path = shipped_checkpoint_path(model)
    assert path.is_file() and path.stat().st_size < SIZE_LIMITS.get(model, SIZE_LIMIT)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "structhw.checkpoint" and raw["config"]["recipe"] == "sr"
    assert raw["config"]["model"] == model


@pytest.mark.parametrize("model", sorted(SHIPPED_CHECKPOINTS))
def test_shipped_file_carries_the_sha256_of_its_weights(model):
    """So bytes flipped in the shipped weights are refused at load, not built into hardware."""
    raw = torch.load(shipped_checkpoint_path(model), weights_only=True)
    assert raw["sha256"] == checkpoint_digest(raw)


def test_reevaluated_accuracies_match_the_shipped_metrics(shipped):
    _, metrics, measured = shipped
    for key, value in measured.items():
        assert value == metrics[key], key


TIE_MARGIN = 1e-3
"""Smallest gap between an image's two largest float logits for which the exact accuracy test
above holds on any CPU: other float kernels move a logit by ~1e-5 here, far below this."""


def test_no_test_image_is_a_near_tie_so_exact_accuracy_holds_on_any_machine(shipped):
    ckpt, _, _ = shipped
    x = _checkpoint_test_set(ckpt).tensors[0]
    dense, decomposed = build_models(ckpt)
    for model in (dense, build_structured_model(ckpt), decomposed):
        with torch.no_grad():
            top = model(x).flatten(1).topk(2, dim=1).values
        gap = top[:, 0] - top[:, 1]
        assert float(gap.min()) >= TIE_MARGIN, (int(gap.argmin()), float(gap.min()))


INT8_TARGET = 0.005
"""int8 accuracy within half a point of float (the decomposed model's) — issue 17's target."""


def test_int8_and_hardware_figures_are_recorded_and_meet_the_targets(shipped):
    """benchmarks/ship_model.py measured them; the hardware ran every logit of its images."""
    _, metrics, measured = shipped
    assert measured["decomposed_acc"] - metrics["int8_acc"] <= INT8_TARGET
    assert measured["dense_acc"] - metrics["dense_int8_acc"] <= INT8_TARGET
    hw = metrics["hardware"]
    assert hw["images"] >= 100 and hw["logits"] == 10 * hw["images"] and hw["mismatches"] == 0
    assert hw["accuracy_hw"] == hw["accuracy_golden"]
    assert hw["cycles_per_image_measured"] == hw["cycles_per_image_predicted"]


def test_decomposition_costs_at_most_one_point(demo):
    _, _, measured = demo
    assert measured["decomposed_acc"] >= measured["dense_acc"] - 0.010


def test_sr_made_the_weights_structured(shipped):
    _, metrics, measured = shipped
    assert abs(measured["structured_acc"] - measured["decomposed_acc"]) < 0.002
    assert max(metrics["sr_residual"].values()) < 1e-4


def test_structured_and_decomposed_models_agree_on_every_test_logit(shipped):
    ckpt, _, _ = shipped
    test_ds = _checkpoint_test_set(ckpt)
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


ACCURACY_TOLERANCE = 0.02
"""How far a fresh default training's test accuracy may be from the shipped metrics (7 of the 360
test images): another CPU kind or torch build picks other float kernels, whose rounding moves the
weights slightly and, after 60 epochs, the verdict on a few borderline images."""


def _assert_same_weights(a: dict, b: dict) -> None:
    for key in ("dense", "structured"):
        assert a[key].keys() == b[key].keys(), key
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"


def test_two_trainings_on_this_machine_agree_bit_for_bit():
    """Where bit-identical weights can hold: the same machine and torch build (see structhw.train,
    "Determinism"); two epochs cover the seeded start, data order, schedule and both recipes' step."""
    config = train.TrainConfig(epochs=2)
    first = train.run_training(config, progress=False)
    second = train.run_training(config, progress=False)
    _assert_same_weights(first.checkpoint, second.checkpoint)
    assert first.metrics["dense_acc"] == second.metrics["dense_acc"]
    assert first.metrics["decomposed_acc"] == second.metrics["decomposed_acc"]


@pytest.mark.slow
def test_training_with_defaults_reproduces_the_shipped_model_on_any_machine():
    """What must hold on a user's CPU: a fresh default training reaches the shipped accuracies
    within ACCURACY_TOLERANCE, SR leaves every planned layer structured (residual < 1e-4), and its
    decomposition is the same function as the SR-trained model with the shipped plan and size."""
    result = train.run_training(train.TrainConfig(), progress=False)
    fresh, shipped = result.metrics, json.loads(demo_metrics_path().read_text())
    for key in ("dense_acc", "structured_acc", "decomposed_acc"):
        assert abs(fresh[key] - shipped[key]) <= ACCURACY_TOLERANCE, (key, fresh[key], shipped[key])
    assert fresh["decomposed_acc"] >= fresh["dense_acc"] - 0.010
    assert max(fresh["sr_residual"].values()) < 1e-4, fresh["sr_residual"]
    assert fresh["plan"] == shipped["plan"]
    assert fresh["decomposed_params"] == shipped["decomposed_params"]
    x = digits_split()[1].tensors[0]
    with torch.no_grad():
        assert torch.allclose(result.trained(x), result.decomposed(x), atol=1e-4, rtol=0)
