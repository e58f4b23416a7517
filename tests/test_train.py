"""Training: the injectable regularizer, both recipes end to end (few epochs), determinism, the CLI
contract (bad input → one line, exit 2, no files) and atomic outputs."""

import json
import math
import re

import pytest
import torch
from torch import nn

from structhw import train
from structhw.checkpoint import build_models, load_checkpoint
from structhw.cli import main as cli_main
from structhw.data import digits_split
from structhw.decompose import decompose
from structhw.errors import ConfigError
from structhw.regularization import make_plan
from structhw.zoo import build_model

# Models trained for a few epochs (or not at all) are not structured yet: decompose warns, by design.
pytestmark = pytest.mark.filterwarnings("ignore:layer .* weight is not structured:UserWarning")


@pytest.fixture(scope="module")
def split():
    return digits_split()


def _weight_norm(model):
    return float(sum(p.detach().pow(2).sum() for p in model.parameters()))


def test_fit_adds_the_injected_regularizer(split):
    train_ds, test_ds = split
    norms = []
    for lam in (0.0, 10.0):
        with train.deterministic(0):
            model = build_model("digits-cnn")
            history = train.fit(
                model, train_ds, test_ds, epochs=1, lr=0.01, batch_size=64, seed=0,
                regularizer=_weight_norm_tensor, lam=lam, progress=False,
            )
        with torch.no_grad():
            assert history[0]["sr"] == pytest.approx(float(_weight_norm_tensor(model)), rel=1e-5)
        assert 0.0 <= history[0]["acc"] <= 1.0
        norms.append(_weight_norm(model))
    assert norms[1] < 0.5 * norms[0]


def _weight_norm_tensor(model):
    return sum(p.pow(2).sum() for p in model.parameters())


def test_fit_with_the_same_seed_is_bit_for_bit_repeatable(split):
    train_ds, test_ds = split
    digests = []
    for _ in range(2):
        with train.deterministic(3):
            model = build_model("digits-cnn")
            train.fit(model, train_ds, test_ds, epochs=1, lr=0.01, batch_size=64, seed=3, progress=False)
        digests.append(train.state_digest(model))
    assert digests[0] == digests[1]


def test_deterministic_restores_the_global_torch_settings():
    threads = torch.get_num_threads()
    before = torch.are_deterministic_algorithms_enabled()
    with train.deterministic(0):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == before


def test_direct_param_groups_cover_every_parameter_once():
    model = build_model("digits-cnn")
    decomposed, _ = decompose(model, make_plan(model, "A"), warn_threshold=math.inf)
    groups = train.direct_param_groups(decomposed)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in decomposed.parameters())
    assert len(ids) == len(set(ids))
    conv2 = decomposed.get_submodule("2")
    window = conv2.sumpool.channel_window * conv2.sumpool.spatial_window**2
    scale = next(g["lr_scale"] for g in groups if any(p is conv2.conv.weight for p in g["params"]))
    assert scale == pytest.approx(1.0 / window) and window > 1


def _assert_outputs_match_checkpoint(out, recipe):
    metrics = json.loads((out / "metrics.json").read_text())
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["config"]["recipe"] == recipe == metrics["recipe"]
    for key in ("dense_acc", "decomposed_acc"):
        assert 0.0 <= metrics[key] <= 1.0
    _, test_ds = digits_split()
    dense, decomposed = build_models(ckpt)
    assert train.accuracy(dense, test_ds) == metrics["dense_acc"]
    assert train.accuracy(decomposed, test_ds) == metrics["decomposed_acc"]
    assert metrics["decomposed_params"] < metrics["dense_params"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]
    return metrics


def test_cli_sr_run_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "sr"
    assert cli_main(["train", "--epochs", "2", "--no-progress", "--out", str(out)]) == 0
    metrics = _assert_outputs_match_checkpoint(out, "sr")
    assert 0.0 <= metrics["structured_acc"] <= 1.0
    assert set(metrics["sr_residual"]) == {"0", "2", "4", "7"}
    assert "dense_acc=" in capsys.readouterr().out


def test_cli_direct_run_trains_the_decomposed_architecture(tmp_path):
    out = tmp_path / "direct"
    assert cli_main(["train", "--direct", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    metrics = _assert_outputs_match_checkpoint(out, "direct")
    assert metrics["structured_acc"] is None and metrics["lam"] == 0.0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert "decomposed" in ckpt and "structured" not in ckpt


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "nosuch"], "--model: unknown model 'nosuch'"),
        (["--model", "resnet20"], "--model resnet20 takes 3×32×32 images, --data digits holds 1×8×8"),
        (["--model", "resnet20", "--data", "random"], "--data random"),
        (["--data", "standin"], "--model digits-cnn takes 1×8×8 images, --data standin holds 3×32×32"),
        (["--preset", "C"], "--preset: unknown preset 'C'"),
        (["--preset", "dense"], "--preset: unknown preset 'dense'"),
        (["--lam", "-0.5"], "--lam: λ must be a finite number >= 0"),
        (["--lam", "inf"], "--lam"),
        (["--epochs", "0"], "--epochs: must be an integer from 1 to 1,000,000"),
        (["--batch-size", "0"], "--batch-size"),
        (["--seed", "-1"], "--seed: must be an integer >= 0"),
        (["--lr", "0"], "--lr: must be a finite number > 0"),
        (["--lam", "1e308"], "--lam: λ·SR must be finite in float32"),
        (["--lam", "1e38"], "--lam: λ·SR must be finite in float32"),
        (["--lr", "1e39"], "--lr: must be at most"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_no_files(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert cli_main(["train", "--no-progress", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("structhw train: error: ") and message in err
    assert err.count("\n") == 1
    assert not out.exists()


def test_cli_out_that_is_a_file_is_rejected(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("keep me")
    assert cli_main(["train", "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.fixture(scope="module")
def one_epoch():
    return train.run_training(train.TrainConfig(epochs=1), progress=False)


def _disk_full(*args, **kwargs):
    raise OSError("disk full")


def test_failure_while_writing_creates_no_output_folder(one_epoch, tmp_path, monkeypatch):
    import structhw.jsonfile

    monkeypatch.setattr(structhw.jsonfile, "write_json", _disk_full)
    out = tmp_path / "runs" / "out"
    with pytest.raises(OSError, match="disk full"):
        train.write_outputs(one_epoch, out)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_the_earlier_pair(one_epoch, tmp_path, monkeypatch):
    import structhw.jsonfile

    out = tmp_path / "out"
    train.write_outputs(one_epoch, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == [train.CHECKPOINT_NAME, train.METRICS_NAME]
    monkeypatch.setattr(structhw.jsonfile, "write_json", _disk_full)
    with pytest.raises(OSError, match="disk full"):
        train.write_outputs(one_epoch, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_run_training_trains_dense_and_structured_from_the_same_start(monkeypatch):
    starts = []
    real_fit = train.fit

    def recording_fit(model, *args, **kwargs):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(train, "fit", recording_fit)
    result = train.run_training(train.TrainConfig(epochs=1), progress=False)
    assert len(starts) == 2
    assert all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])
    assert not torch.equal(result.dense.state_dict()["0.weight"], result.trained.state_dict()["0.weight"])
    assert isinstance(result.decomposed.get_submodule("2"), nn.Module)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("lr", 10**400, "--lr: must be a finite number > 0"),
        ("lam", 10**400, "--lam: λ must be a finite number >= 0"),
        ("lr", "0.1", "--lr: must be a finite number > 0"),
        ("lam", True, "--lam: λ must be a finite number >= 0"),
        ("seed", 2**80, "--seed: must be at most " + str(2**64 - 1)),
        ("epochs", 1.5, "--epochs: must be an integer from 1 to 1,000,000"),
    ],
    ids=["lr-bigint", "lam-bigint", "lr-str", "lam-bool", "seed-2**80", "epochs-float"],
)
def test_config_out_of_range_is_a_config_error_not_a_crash(field, value, message):
    """A big int (10**400) made math.isfinite raise OverflowError; 2**80 passed as a seed."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        train.TrainConfig(**{field: value}).validate()


def test_largest_lam_whose_sr_term_is_finite_in_float32_is_accepted():
    plan_size = len(make_plan(build_model("digits-tiny"), "A"))
    ok = float(torch.finfo(torch.float32).max) / plan_size
    train.TrainConfig(model="digits-tiny", lam=ok * 0.999).validate()
    with pytest.raises(ConfigError, match="--lam"):
        train.TrainConfig(model="digits-tiny", lam=ok * 1.001).validate()


def test_training_that_diverges_is_refused_and_writes_nothing(tmp_path, capsys):
    """lr 1e30 passes the up-front checks but turns every weight NaN in the first epoch: the
    probe's `--lam 1e308` wrote such a checkpoint with exit 0."""
    with pytest.raises(ConfigError, match=r"NaN or infinite.*--lr"):
        train.run_training(train.TrainConfig(model="digits-tiny", epochs=1, lr=1e30), progress=False)
    out = tmp_path / "out"
    argv = ["train", "--model", "digits-tiny", "--epochs", "1", "--lr", "1e30", "--no-progress",
            "--out", str(out)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("structhw train: error: ") and err.count("\n") == 1 and "--lr" in err
    assert list(tmp_path.iterdir()) == []


def test_non_finite_result_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    """The safety net after training: a NaN in a trained weight (however it got there) stops
    run_training, so write_outputs never sees it."""
    real = train.train_structured

    def poisoned(*args, **kwargs):
        trained, decomposed, history = real(*args, **kwargs)
        with torch.no_grad():
            next(trained.parameters()).view(-1)[0] = float("nan")
        return trained, decomposed, history

    monkeypatch.setattr(train, "train_structured", poisoned)
    with pytest.raises(ConfigError, match=r"NaN or infinite.*--lam.*--lr"):
        train.run_training(train.TrainConfig(model="digits-tiny", epochs=1), progress=False)
