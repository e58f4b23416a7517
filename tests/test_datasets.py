"""The data sets behind ``--data``: CIFAR-10's binary format read from small files written here,
its malformed cases, the generated stand-in (deterministic, balanced, not trivially separable),
digits and random as before, and the ``--data`` text through the CLI."""

import json

import numpy as np
import pytest
import torch

from structhw import cli
from structhw.data import digits_split
from structhw.datasets import (CIFAR_MEAN, CIFAR_STD, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES,
                               Cifar10, generate_standin, parse_data)
from structhw.errors import ConfigError
from structhw.model_source import calibration_images

RECORDS = 20


def cifar_records(seed: int, count: int = RECORDS) -> tuple:
    """(file bytes, labels [count], images uint8 [count, 3, 32, 32]) in CIFAR-10's binary
    layout: per record a label byte, then the R, G and B planes, each row-major 32×32."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 256, (count, 3, 32, 32)).astype(np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(count, -1)], axis=1)
    return records.tobytes(), labels, images


@pytest.fixture
def cifar_dir(tmp_path):
    """A folder with the six binary files of RECORDS records each; returns (folder, {file:
    (labels, images)})."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    content = {}
    for seed, name in enumerate((*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)):
        data, labels, images = cifar_records(seed)
        (folder / name).write_bytes(data)
        content[name] = (labels, images)
    return folder, content


def normalised(images: np.ndarray) -> torch.Tensor:
    mean = torch.tensor(CIFAR_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).reshape(1, 3, 1, 1)
    return (torch.from_numpy(images.astype(np.float32)) / 255 - mean) / std


def test_cifar10_reads_labels_and_rgb_planes_row_major(cifar_dir):
    folder, content = cifar_dir
    x_train, y_train, x_test, y_test = parse_data(f"cifar10:{folder}").splits()
    assert x_train.shape == (5 * RECORDS, 3, 32, 32) and x_test.shape == (RECORDS, 3, 32, 32)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    want_labels = np.concatenate([content[name][0] for name in CIFAR_TRAIN_FILES])
    assert np.array_equal(y_train.numpy(), want_labels)
    assert np.array_equal(y_test.numpy(), content[CIFAR_TEST_FILE][0])
    want = np.concatenate([content[name][1] for name in CIFAR_TRAIN_FILES])
    assert torch.allclose(x_train, normalised(want), atol=1e-5)
    raw = (folder / CIFAR_TEST_FILE).read_bytes()
    record = 3                                   # byte 1 + c·1024 + row·32 + col of a record
    for c, row, col in ((0, 0, 0), (1, 5, 7), (2, 31, 30), (0, 31, 0)):
        byte = raw[record * 3073 + 1 + c * 1024 + row * 32 + col]
        want_value = (byte / 255 - CIFAR_MEAN[c]) / CIFAR_STD[c]
        assert x_test[record, c, row, col].item() == pytest.approx(want_value, abs=1e-5)


def test_cifar10_calibration_images_are_the_first_training_images(cifar_dir):
    folder, content = cifar_dir
    calib, test, labels = calibration_images(f"cifar10:{folder}", (3, 32, 32))
    x_train, _, x_test, y_test = parse_data(f"cifar10:{folder}").splits()
    assert torch.equal(calib, x_train) and torch.equal(test, x_test)
    assert torch.equal(labels, y_test)


@pytest.mark.parametrize("case, named", [
    ("truncated", "data_batch_3.bin"),
    ("label-10", "test_batch.bin"),
    ("empty", "data_batch_1.bin"),
    ("missing-file", "data_batch_5.bin"),
    ("missing-folder", "nowhere"),
    ("file-not-folder", "data_batch_2.bin"),
])
def test_cifar10_malformed_input_names_the_file(cifar_dir, case, named):
    folder, _ = cifar_dir
    where = folder
    if case == "truncated":
        with open(folder / named, "ab") as f:
            f.write(b"\0" * 100)
    elif case == "label-10":
        data = bytearray((folder / named).read_bytes())
        data[7 * 3073] = 10
        (folder / named).write_bytes(bytes(data))
    elif case == "empty":
        (folder / named).write_bytes(b"")
    elif case == "missing-file":
        (folder / named).unlink()
    elif case == "missing-folder":
        where = folder / named
    else:
        where = folder / named
    with pytest.raises(ConfigError) as err:
        parse_data(f"cifar10:{where}").splits()
    message = str(err.value)
    assert named in message and len(message.splitlines()) == 1
    if case == "label-10":
        assert "record 7" in message and "label byte 10" in message


def test_cifar10_is_refused_for_another_input_shape(cifar_dir):
    folder, _ = cifar_dir
    with pytest.raises(ConfigError, match=r"takes \(1, 8, 8\) images, the CIFAR-10 images"):
        calibration_images(f"cifar10:{folder}", (1, 8, 8))


def test_cifar10_folder_and_sizes_are_checked_without_reading(cifar_dir, monkeypatch):
    folder, _ = cifar_dir
    monkeypatch.setattr(np, "fromfile", None)
    assert isinstance(parse_data(f"cifar10:{folder}"), Cifar10)


def test_standin_is_deterministic_balanced_and_cifar_shaped():
    first, second = generate_standin(), generate_standin()
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    data = parse_data("standin")
    assert (data.input_shape, data.num_classes) == ((3, 32, 32), 10)
    x_train, y_train, x_test, y_test = data.splits()
    assert x_train.shape == (5000, 3, 32, 32) and x_test.shape == (1000, 3, 32, 32)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert torch.equal(torch.bincount(y_train), torch.full((10,), 500))
    assert torch.equal(torch.bincount(y_test), torch.full((10,), 100))
    assert torch.equal(x_train, normalised(first[0]))
    assert -2.1 < x_train.min() and x_train.max() < 2.2


def test_standin_is_not_trivially_separable():
    """A nearest-class-mean classifier on the pixels: measured 11.0 % (chance 10 %)."""
    x_train, y_train, x_test, y_test = parse_data("standin").splits()
    flat_train, flat_test = x_train.flatten(1), x_test.flatten(1)
    means = torch.stack([flat_train[y_train == c].mean(0) for c in range(10)])
    accuracy = (torch.cdist(flat_test, means).argmin(1) == y_test).float().mean().item()
    assert accuracy < 0.3


def test_standin_calibrates_on_the_first_1000_training_images():
    calib, test, labels = calibration_images("standin", (3, 32, 32))
    x_train, _, x_test, y_test = parse_data("standin").splits()
    assert torch.equal(calib, x_train[:1000]) and torch.equal(test, x_test)
    assert torch.equal(labels, y_test)
    with pytest.raises(ConfigError, match=r"takes \(1, 8, 8\) images, the standin images"):
        calibration_images("standin", (1, 8, 8))


def test_digits_are_as_before():
    train, test = digits_split()
    x_train, y_train, x_test, y_test = parse_data("digits").splits()
    assert torch.equal(x_train, train.tensors[0]) and torch.equal(y_train, train.tensors[1])
    assert torch.equal(x_test, test.tensors[0]) and torch.equal(y_test, test.tensors[1])
    calib, images, labels = calibration_images("digits", (1, 8, 8))
    assert torch.equal(calib, train.tensors[0]) and torch.equal(images, test.tensors[0])
    assert torch.equal(labels, test.tensors[1])


def test_random_images_are_as_before():
    g = torch.Generator().manual_seed(0)
    want = torch.randn(512, 2, 5, 7, generator=g)
    calib, test, labels = calibration_images("random", (2, 5, 7))
    assert torch.equal(calib, want[:256]) and torch.equal(test, want[256:]) and labels is None


@pytest.mark.parametrize("text, says", [
    ("cifar", "known: digits, standin, cifar10:DIR, random"),
    ("", "unknown data set"),
    ("cifar10", "cifar10:DIR"),
    ("cifar10:", "cifar10:DIR"),
])
def test_unknown_data_text_is_refused(text, says):
    with pytest.raises(ConfigError, match=says):
        parse_data(text)


@pytest.mark.parametrize("value, says", [
    ("imagenet", "unknown data set; known: digits, standin, cifar10:DIR, random"),
    ("cifar10:{tmp}/nope", "no such folder"),
    ("cifar10:{tmp}/afile", "is a file"),
])
def test_data_option_errors_are_one_line(tmp_path, capsys, value, says):
    (tmp_path / "afile").write_text("x")
    rc = cli.main(["quantize", "resnet20", "--data", value.format(tmp=tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and len(err.splitlines()) == 1


NET_PY = """
import torch.nn as nn

class Net(nn.Module):
    input_shape = (3, 32, 32)
    def __init__(self):
        super().__init__()
        self.conv, self.pool, self.fc = nn.Conv2d(3, 4, 3, stride=2), nn.MaxPool2d(3), nn.Linear(4, 10)
    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).mean((2, 3)))

def build():
    return Net()
"""


def test_quantize_a_cifar_shaped_model_on_the_standin(tmp_path, capsys):
    (tmp_path / "net.py").write_text(NET_PY)
    rc = cli.main(["quantize", f"{tmp_path}/net.py:build", "--data", "standin", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    metrics = json.loads(out)
    assert metrics["data"] == "standin" and metrics["test_images"] == 1000
    assert 0.0 <= metrics["int8_acc"] <= 1.0
