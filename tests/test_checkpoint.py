"""Checkpoints: atomic save, weights-only load, a SHA-256 of the content verified at load, and a
clear ConfigError for anything malformed."""

import io
import os
import pickle
import struct
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
import torch

from structhw.checkpoint import (
    build_models,
    build_structured_model,
    checkpoint_digest,
    load_checkpoint,
    make_checkpoint,
    plan_to_config,
    save_checkpoint,
    state_to_plain,
)
from structhw.errors import ConfigError
from structhw.regularization import make_plan
from structhw.zoo import build_model

# Models trained for a few epochs (or not at all) are not structured yet: decompose warns, by design.
pytestmark = pytest.mark.filterwarnings("ignore:layer .* weight is not structured:UserWarning")


def _config(recipe="sr"):
    return {
        "model": "digits-cnn",
        "preset": "A",
        "plan": plan_to_config(make_plan(build_model("digits-cnn"), "A")),
        "lam": 0.5,
        "epochs": 3,
        "seed": 0,
        "recipe": recipe,
        "lr": 0.01,
        "batch_size": 64,
    }


def _sr_checkpoint():
    torch.manual_seed(0)
    dense, structured = build_model("digits-cnn"), build_model("digits-cnn")
    return make_checkpoint(_config(), state_to_plain(dense), state_to_plain(structured))


def test_round_trip_keeps_every_tensor(tmp_path):
    ckpt = _sr_checkpoint()
    path = save_checkpoint(ckpt, tmp_path / "c.pt")
    loaded = load_checkpoint(path)
    assert loaded["config"] == ckpt["config"]
    for key in ("dense", "structured"):
        assert loaded[key].keys() == ckpt[key].keys()
        for name in ckpt[key]:
            assert torch.equal(loaded[key][name], ckpt[key][name])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def flip_tensor_bytes(data: bytes, count: int = 64) -> bytes:
    """``data`` (a torch.save zip) with ``count`` bytes inverted in place inside the first tensor
    record that has room, the zip's structure untouched (torch.load checks no CRC)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in archive.infolist()
                if "/data/" in i.filename and i.file_size >= 16 + count)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + 16
    flipped = bytes(b ^ 0xFF for b in data[start:start + count])
    return data[:start] + flipped + data[start + count:]


def test_saved_file_stores_the_sha256_of_its_content(tmp_path):
    ckpt = _sr_checkpoint()
    raw = torch.load(save_checkpoint(ckpt, tmp_path / "c.pt"), weights_only=True)
    assert raw["sha256"] == checkpoint_digest(ckpt)
    other = _sr_checkpoint()
    other["dense"]["0.weight"] = other["dense"]["0.weight"].clone()
    other["dense"]["0.weight"][0, 0, 0, 0] += 1e-6
    assert checkpoint_digest(other) != checkpoint_digest(ckpt)


def test_flipped_bytes_in_the_weight_data_are_refused(tmp_path):
    """The issue's case: 64 flipped bytes inside a tensor load silently through torch.load."""
    good = save_checkpoint(_sr_checkpoint(), tmp_path / "c.pt").read_bytes()
    path = tmp_path / "flipped.pt"
    path.write_bytes(flip_tensor_bytes(good))
    assert torch.load(path, weights_only=True)["format"] == "structhw.checkpoint"
    with pytest.raises(ConfigError, match=r"flipped.pt: content does not match its SHA-256"):
        load_checkpoint(path)


def test_checkpoint_without_a_digest_is_refused(tmp_path):
    """Deleting the digest must not switch the integrity check off (a fresh probe of issue 19
    loaded corrupted weights that way)."""
    ckpt = _sr_checkpoint()
    path = tmp_path / "old.pt"
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match=r"old.pt: stores no SHA-256 of its content"):
        load_checkpoint(path)
    resealed = save_checkpoint(torch.load(path, weights_only=True), tmp_path / "resealed.pt")
    assert load_checkpoint(resealed)["sha256"] == checkpoint_digest(ckpt)


@pytest.mark.parametrize("digest", [5, "abc", "F" * 64])
def test_malformed_digest_is_a_config_error(tmp_path, digest):
    ckpt = dict(_sr_checkpoint(), sha256=digest)
    path = tmp_path / "bad.pt"
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match="'sha256'"):
        load_checkpoint(path)


def test_saved_file_loads_with_weights_only(tmp_path):
    path = save_checkpoint(_sr_checkpoint(), tmp_path / "c.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "structhw.checkpoint"


class _RunsCode:
    """Unpickling this calls ``os.mkdir(marker)``: a stand-in for arbitrary code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_rejected_without_running(tmp_path):
    proof = tmp_path / "proof_payload_runs"
    pickle.loads(pickle.dumps(_RunsCode(proof)))
    assert proof.is_dir(), "the payload must really execute when unpickled unsafely"

    marker = tmp_path / "pwned"
    ckpt = _sr_checkpoint()
    ckpt["config"]["evil"] = _RunsCode(marker)
    path = tmp_path / "evil.pt"
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match="refused by the weights-only loader"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_file_is_a_config_error(tmp_path):
    good = save_checkpoint(_sr_checkpoint(), tmp_path / "c.pt").read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ConfigError, match="truncated.pt"):
        load_checkpoint(path)


def test_random_bytes_are_a_config_error(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 7)
    with pytest.raises(ConfigError, match="noise.pt"):
        load_checkpoint(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(format="other"), "'format'"),
        (lambda c: c.update(version=99), "'version'"),
        (lambda c: c.pop("structured"), "'structured'"),
        (lambda c: c["config"].update(recipe="magic"), "'recipe'"),
        (lambda c: c["config"].update(epochs="3"), "'epochs'"),
        (lambda c: c["config"]["plan"].update({"0": [0, 2]}), "plan entry '0'"),
        (lambda c: c["dense"].update({"0.weight": [1.0]}), "'dense' entry '0.weight'"),
    ],
)
def test_wrong_dict_is_a_config_error(tmp_path, mutate, message):
    ckpt = _sr_checkpoint()
    mutate(ckpt)
    path = tmp_path / "wrong.pt"
    torch.save(ckpt, path)
    with pytest.raises(ConfigError, match=message):
        load_checkpoint(path)


def test_top_level_not_a_dict_is_a_config_error(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(ConfigError, match="top level is list"):
        load_checkpoint(path)


def test_save_refuses_invalid_checkpoint_and_leaves_no_file(tmp_path):
    ckpt = _sr_checkpoint()
    ckpt["config"]["lam"] = "big"
    with pytest.raises(ConfigError):
        save_checkpoint(ckpt, tmp_path / "c.pt")
    assert list(tmp_path.iterdir()) == []


def test_state_that_does_not_fit_the_model_is_a_config_error():
    ckpt = _sr_checkpoint()
    ckpt["structured"]["0.weight"] = torch.zeros(3, 3)
    with pytest.raises(ConfigError, match="'structured' does not fit"):
        build_structured_model(ckpt)


def test_build_models_decomposes_the_structured_model():
    from structhw.regularization import make_plan

    torch.manual_seed(1)
    dense, structured = build_model("digits-cnn"), build_model("digits-cnn")
    plan = make_plan(structured, "A")
    config = dict(_config(), plan=plan_to_config(plan))
    ckpt = make_checkpoint(config, state_to_plain(dense), state_to_plain(structured))
    dense_model, decomposed = build_models(ckpt)
    assert not dense_model.training and not decomposed.training
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(dense_model(x), dense(x))
    from structhw.decompose import decompose

    expected, _ = decompose(structured, plan)
    assert torch.allclose(decomposed(x), expected.eval()(x), atol=1e-6)


@given(data=st.data())
def test_any_corruption_is_a_config_error_or_the_saved_tensors(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("corrupt")
    saved = _sr_checkpoint()
    good = bytearray(save_checkpoint(saved, folder / "good.pt").read_bytes())
    positions = data.draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=8))
    for pos in positions:
        good[pos] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(1, len(good)))
    path = folder / "corrupt.pt"
    path.write_bytes(bytes(good[:cut]))
    try:
        ckpt = load_checkpoint(path)
    except ConfigError as exc:
        assert "corrupt.pt" in str(exc)
    else:
        assert ckpt["config"] == saved["config"]
        for key in ("dense", "structured"):
            assert ckpt[key].keys() == saved[key].keys()
            assert all(torch.equal(ckpt[key][n], saved[key][n]) for n in saved[key]), key


# ----- issue 19 probe: tensors that are not dense CPU float32/int64, and configs out of range

def _demo():
    from structhw.checkpoint import demo_checkpoint_path

    return torch.load(demo_checkpoint_path(), weights_only=True)


def _write(tmp_path, ckpt, reseal=True, name="edited.pt"):
    if reseal:
        ckpt["sha256"] = checkpoint_digest(ckpt)
    path = tmp_path / name
    torch.save(ckpt, path)
    return path


def _first(state):
    return next(iter(state))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda v: v.to_sparse(), "is a sparse tensor"),
        (lambda v: torch.empty_like(v, device="meta"), "is on device 'meta'"),
        (lambda v: v.double(), "is torch.float64"),
        (lambda v: v.half(), "is torch.float16"),
        (lambda v: v.to(torch.complex64), "is torch.complex64"),
    ],
)
def test_tensor_that_is_not_dense_cpu_float32_is_refused_before_the_digest(tmp_path, edit, message):
    """The probe's sparse and meta tensors made checkpoint_digest raise (a traceback); the
    digest is kept (not resealed), so the layout check must come first."""
    ckpt = _demo()
    name = _first(ckpt["structured"])
    ckpt["structured"][name] = edit(ckpt["structured"][name])
    path = _write(tmp_path, ckpt, reseal=False)
    with pytest.raises(ConfigError, match=rf"edited.pt: 'structured' tensor '{name}' {message}"):
        load_checkpoint(path)


def test_resealed_float64_weights_are_refused(tmp_path):
    ckpt = _demo()
    ckpt["dense"] = {k: v.double() for k, v in ckpt["dense"].items()}
    with pytest.raises(ConfigError, match=r"'dense' tensor .* is torch.float64.*float32"):
        load_checkpoint(_write(tmp_path, ckpt))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(epochs=-5), "--epochs: must be an integer from 0 to 1,000,000, got -5"),
        (lambda c: c.update(lam=float("nan")), "--lam: λ must be a finite number >= 0, got nan"),
        (lambda c: c.update(lam=1e308), "--lam: λ"),
        (lambda c: c.update(lr=10**400), "--lr: must be a finite number > 0"),
        (lambda c: c.update(lr=0.0), "--lr: must be a finite number > 0"),
        (lambda c: c.update(seed=2**80), "--seed: must be at most"),
        (lambda c: c.update(batch_size=0), "--batch-size"),
        (lambda c: c.update(preset="Z"), "--preset: unknown preset 'Z'"),
        (lambda c: c.update(preset="B"), "config 'plan' is not preset B's plan"),
        (lambda c: c.update(plan={}), "config 'plan' is not preset A's plan"),
        (lambda c: c["plan"].pop("7"), "config 'plan' is not preset A's plan"),
        (lambda c: c["plan"].update({"0": [1, 1]}), "config 'plan' is not preset A's plan"),
        (lambda c: c["plan"].update({"0": [1000, 1]}), "layer '0': c=1000"),
        (lambda c: c["plan"].update({"nope": [1, 1]}), "plan names layer 'nope'"),
        (lambda c: c.update(data="mnist"), "--data 'mnist': unknown data set"),
        (lambda c: c.update(data="standin"), "--data standin holds 3×32×32"),
        (lambda c: c.update(data="random"), "--data random has no labels"),
        (lambda c: c.update(data="cifar10:/nonexistent"),
         "--data cifar10:/nonexistent holds 3×32×32"),
        (lambda c: c.update(data=5), "config 'data' is 5"),
        (lambda c: c.update(model="resnet20"), "config 'plan'|takes 3×32×32"),
        (lambda c: c.update(extra=1), "config has unknown key 'extra'"),
    ],
)
def test_resealed_config_out_of_range_is_refused(tmp_path, edit, message):
    """Each was accepted by `structhw quantize` with exit 0 in the probe (resealed digests)."""
    ckpt = _demo()
    edit(ckpt["config"])
    with pytest.raises(ConfigError, match=message) as info:
        load_checkpoint(_write(tmp_path, ckpt))
    assert "\n" not in str(info.value) and "edited.pt" in str(info.value)


def test_checkpoint_holding_both_structured_and_decomposed_is_refused(tmp_path):
    ckpt = _demo()
    ckpt["decomposed"] = dict(ckpt["structured"])
    with pytest.raises(ConfigError, match="exactly one of 'structured' and 'decomposed'"):
        load_checkpoint(_write(tmp_path, ckpt))


def test_shipped_checkpoints_without_a_data_key_still_load():
    from structhw.checkpoint import SHIPPED_CHECKPOINTS, shipped_checkpoint_path

    demo = load_checkpoint(shipped_checkpoint_path("digits-cnn"))
    assert "data" not in demo["config"]
    for model in SHIPPED_CHECKPOINTS:
        assert load_checkpoint(shipped_checkpoint_path(model))["config"]["model"] == model
