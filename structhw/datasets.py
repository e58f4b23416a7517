"""The data sets a model is calibrated, tested (and trained) on, one class each behind one
interface, and :func:`parse_data`, which turns a ``--data`` text into one.

Every data set has a ``name``, an ``input_shape`` (C, H, W) (None: any shape), a
``num_classes`` (None: no labels) and ``splits()``, which returns ``(train images, train
labels, test images, test labels)``: images float32 tensors [B, C, H, W], labels int64 tensors
[B] with values 0..num_classes-1, or None.

``digits``
    scikit-learn's bundled 8×8 digits (:mod:`structhw.data`): 1,437 train / 360 test images
    1×8×8, ``pixel / 16`` in [0, 1].
``standin``
    A stand-in for CIFAR-10 generated here (:func:`generate_standin`): 5,000 train / 1,000 test
    images 3×32×32 of 10 balanced classes, so that the tests and the demo exercise a
    CIFAR-shaped task without a download. It is *not* CIFAR-10: its accuracies say nothing
    about CIFAR-10's.
``cifar10:DIR``
    The official CIFAR-10 *binary* distribution in folder DIR (``data_batch_1.bin`` …
    ``data_batch_5.bin``, ``test_batch.bin``), read with numpy (the pickled python version is
    never loaded): 50,000 train / 10,000 test images 3×32×32.
``random``
    Seeded normal images of any shape with no labels: for hardware testing only, accuracies
    mean nothing.

Normalisation of the 3×32×32 sets (standin and cifar10): ``(pixel / 255 − mean[c]) / std[c]``
per channel c with CIFAR-10's training-set statistics :data:`CIFAR_MEAN` and :data:`CIFAR_STD`,
so that a model sees both sets' images on the same scale (values in about [−2.0, 2.1]).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

DATA_SETS = ("digits", "standin", "cifar10:DIR", "random")
"""The ``--data`` forms, for help text and error messages."""

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel (R, G, B) mean of CIFAR-10's 50,000 training images, pixels scaled to [0, 1]."""

CIFAR_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel (R, G, B) standard deviation of the same pixels (over all images and pixels)."""

CALIBRATION_IMAGES = 1000
"""How many training images (the first ones) calibrate quantization on standin and cifar10."""

RANDOM_IMAGES = 256
RANDOM_SEED = 0
STANDIN_SEED = 2020
STANDIN_SIZES = (5000, 1000)
STANDIN_CHUNK = 250
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch.bin"
CIFAR_RECORD = 1 + 3 * 32 * 32
"""Bytes per CIFAR-10 binary record: a label byte, then 1024 R, 1024 G, 1024 B (row-major)."""
CIFAR_FILE_RECORDS = 10_000
"""Records in each file of the official distribution: a file of more is not CIFAR-10 (and would
be read whole into memory)."""


class DataSet:
    """One data set (see the module docstring); subclasses set the attributes and
    :meth:`splits`."""

    name: str = ""
    input_shape: tuple | None = None
    num_classes: int | None = None
    what: str = "images"
    calibration_size: int | None = None

    @property
    def test_size(self) -> int:
        """Images in the test split, known without reading them."""
        raise NotImplementedError

    def splits(self) -> tuple:
        """(train images float32 [B, C, H, W], train labels int64 [B] or None, test images,
        test labels or None)."""
        raise NotImplementedError

    def for_shape(self, input_shape) -> "DataSet":
        """This data set for a model of ``input_shape`` (C, H, W); ConfigError when its images
        are of another shape."""
        if tuple(input_shape) != self.input_shape:
            raise ConfigError(f"the model takes {tuple(input_shape)} images, the {self.what} "
                              f"are {self.input_shape}; use --data random for hardware testing")
        return self

    def calibration_split(self) -> tuple:
        """(calibration images, test images, test labels or None): the first
        ``calibration_size`` training images (all when None) and the test split."""
        train, _, test, labels = self.splits()
        return train[:self.calibration_size], test, labels


class Digits(DataSet):
    """scikit-learn's 8×8 digits with :mod:`structhw.data`'s fixed split and normalisation."""

    name, input_shape, num_classes, what = "digits", (1, 8, 8), 10, "digits"

    @property
    def test_size(self) -> int:
        from .data import split_indices
        return len(split_indices()[1])

    def splits(self) -> tuple:
        from .data import digits_split
        train, test = digits_split()
        return (*train.tensors, *test.tensors)


class RandomImages(DataSet):
    """Seeded standard-normal images of any shape, 256 train and 256 test, no labels."""

    name, test_size = "random", RANDOM_IMAGES

    def __init__(self, input_shape=None):
        self.input_shape = None if input_shape is None else tuple(input_shape)

    def for_shape(self, input_shape) -> "DataSet":
        return RandomImages(input_shape)

    def splits(self) -> tuple:
        if self.input_shape is None:
            raise ConfigError("--data random: the images' shape comes from the model")
        g = torch.Generator().manual_seed(RANDOM_SEED)
        images = torch.randn(2 * RANDOM_IMAGES, *self.input_shape, generator=g)
        return images[:RANDOM_IMAGES], None, images[RANDOM_IMAGES:], None


def normalise_rgb(images: np.ndarray) -> torch.Tensor:
    """uint8 images [B, 3, H, W] (0..255) → float32 tensor ``(x / 255 − mean[c]) / std[c]``
    with :data:`CIFAR_MEAN` / :data:`CIFAR_STD`."""
    mean = np.asarray(CIFAR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    x = (np.asarray(images, dtype=np.float32) / np.float32(255) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


class Cifar10(DataSet):
    """The CIFAR-10 binary distribution in ``folder``: 3×32×32, 10 classes. Construction checks
    the folder and each file's size; reading checks every label byte."""

    name, input_shape, num_classes, what = "cifar10", (3, 32, 32), 10, "CIFAR-10 images"
    calibration_size = CALIBRATION_IMAGES

    def __init__(self, folder):
        self.folder = Path(folder)
        where = f"--data cifar10:{folder}"
        if not self.folder.exists():
            raise ConfigError(f"{where}: no such folder")
        if not self.folder.is_dir():
            raise ConfigError(f"{where}: is a file; give the folder holding "
                              f"{CIFAR_TEST_FILE} and data_batch_1..5.bin")
        for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):
            path = self.folder / name
            if not path.is_file():
                raise ConfigError(f"{where}: {path} is missing (the binary distribution has "
                                  f"data_batch_1..5.bin and {CIFAR_TEST_FILE})")
            size = path.stat().st_size
            if size == 0 or size % CIFAR_RECORD:
                raise ConfigError(f"{where}: {path} is malformed: {size} bytes is not a whole "
                                  f"number of {CIFAR_RECORD}-byte records")
            if size > CIFAR_FILE_RECORDS * CIFAR_RECORD:
                raise ConfigError(f"{where}: {path} is malformed: {size // CIFAR_RECORD} "
                                  f"records, the binary distribution's files hold "
                                  f"{CIFAR_FILE_RECORDS:,}")

    @property
    def test_size(self) -> int:
        return (self.folder / CIFAR_TEST_FILE).stat().st_size // CIFAR_RECORD

    def read(self, names, limit: int | None = None) -> tuple:
        """(uint8 images [B, 3, 32, 32], int64 labels [B]) of files ``names`` in order, at most
        ``limit`` records; ConfigError naming the file for a label byte > 9."""
        images, labels = [], []
        for name in names:
            path = self.folder / name
            raw = np.fromfile(path, dtype=np.uint8)
            if raw.size == 0 or raw.size % CIFAR_RECORD:
                raise ConfigError(f"--data cifar10:{self.folder}: {path} is malformed: "
                                  f"{raw.size} bytes is not a whole number of "
                                  f"{CIFAR_RECORD}-byte records")
            records = raw.reshape(-1, CIFAR_RECORD)
            bad = np.flatnonzero(records[:, 0] > 9)
            if bad.size:
                raise ConfigError(f"--data cifar10:{self.folder}: {path} is malformed: record "
                                  f"{bad[0]} has label byte {records[bad[0], 0]} (CIFAR-10 "
                                  f"labels are 0..9)")
            images.append(records[:, 1:].reshape(-1, 3, 32, 32))
            labels.append(records[:, 0].astype(np.int64))
            if limit is not None and sum(len(x) for x in labels) >= limit:
                break
        return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]

    def splits(self) -> tuple:
        train, train_labels = self.read(CIFAR_TRAIN_FILES)
        test, test_labels = self.read((CIFAR_TEST_FILE,))
        return (normalise_rgb(train), torch.from_numpy(train_labels),
                normalise_rgb(test), torch.from_numpy(test_labels))

    def calibration_split(self) -> tuple:
        calib, _ = self.read(CIFAR_TRAIN_FILES, limit=self.calibration_size)
        test, test_labels = self.read((CIFAR_TEST_FILE,))
        return normalise_rgb(calib), normalise_rgb(test), torch.from_numpy(test_labels)


class Standin(DataSet):
    """The shipped CIFAR-10 stand-in (:func:`generate_standin`), normalised as CIFAR-10 is."""

    name, input_shape, num_classes, what = "standin", (3, 32, 32), 10, "standin images"
    calibration_size, test_size = CALIBRATION_IMAGES, STANDIN_SIZES[1]

    def splits(self) -> tuple:
        x_train, y_train, x_test, y_test = _standin_cached()
        return (normalise_rgb(x_train), torch.from_numpy(y_train.copy()),
                normalise_rgb(x_test), torch.from_numpy(y_test.copy()))


def labelled_data(data: str, input_shape, what: str, shown: str | None = None) -> DataSet:
    """The data set ``data`` (a ``--data`` text) for training ``what``, a model of
    ``input_shape`` (C, H, W); ConfigError when it has no labels or other images, naming the data
    set as ``shown`` (default ``data``). Reads none."""
    dataset = parse_data(data)
    if dataset.name == "random":
        raise ConfigError("--data random has no labels; train on digits, standin or cifar10:DIR")
    shape = tuple(input_shape)
    if dataset.input_shape != shape:
        fits = {(1, 8, 8): "digits", (3, 32, 32): "standin or cifar10:DIR"}.get(shape)
        hint = f"use --data {fits}" if fits else "no data set structhw reads has that shape"
        holds = "×".join(map(str, dataset.input_shape))
        raise ConfigError(f"{what} takes {'×'.join(map(str, shape))} images, "
                          f"--data {shown or data} holds {holds}; {hint}")
    return dataset


def training_sets(data: str) -> tuple:
    """(train, test) ``TensorDataset``s of ``data``: items (image float32 [C, H, W], label int64)."""
    from torch.utils.data import TensorDataset

    train, train_labels, test, test_labels = parse_data(data).splits()
    return TensorDataset(train, train_labels), TensorDataset(test, test_labels)


# ----- the stand-in's generator

STANDIN_CLASSES = ("grating 0°", "grating 45°", "grating 90°", "grating 135°", "disc", "ring",
                   "square", "plus", "checkerboard", "triangle")
"""What each stand-in label draws (the shape's colour, position, size and phase are random)."""

_SIDE = 32
_EDGE = 2.0 / _SIDE


def _soft(distance: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of a shape from its signed distance (< 0 inside), edges one pixel
    wide (antialiased)."""
    return np.clip(0.5 - distance / _EDGE, 0.0, 1.0)


def _shape_masks(label: int, u, v, scale, freq, phase) -> np.ndarray:
    """Coverage [B, 32, 32] of class ``label``'s shape in rotated, shifted coordinates
    ``u``, ``v`` ([B, 32, 32], image spans [−1, 1]); ``scale``, ``freq`` (cycles per unit
    length), ``phase`` (radians) are [B, 1, 1]."""
    r = np.sqrt(u * u + v * v)
    if label < 4:
        stripes = np.clip(0.5 + 1.5 * np.sin(2 * np.pi * freq * u + phase), 0.0, 1.0)
        return stripes * _soft(r - 0.8 * scale)
    if label == 4:
        return _soft(r - 0.6 * scale)
    if label == 5:
        return _soft(np.abs(r - 0.55 * scale) - 0.14 * scale)
    if label == 6:
        return _soft(np.maximum(np.abs(u), np.abs(v)) - 0.5 * scale)
    if label == 7:
        bar_u = np.maximum(np.abs(u) - 0.14 * scale, np.abs(v) - 0.65 * scale)
        bar_v = np.maximum(np.abs(v) - 0.14 * scale, np.abs(u) - 0.65 * scale)
        return _soft(np.minimum(bar_u, bar_v))
    if label == 8:
        f = 0.75 * freq
        cells = np.sin(2 * np.pi * f * u + phase) * np.sin(2 * np.pi * f * v + phase)
        window = _soft(np.maximum(np.abs(u), np.abs(v)) - 0.7 * scale)
        return np.clip(0.5 + 3.0 * cells, 0.0, 1.0) * window
    angles = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    sides = [u * np.cos(a) + v * np.sin(a) for a in angles]
    return _soft(np.maximum(np.maximum(sides[0], sides[1]), sides[2]) - 0.3 * scale)


def _shapes(rng, labels: np.ndarray, x, y) -> np.ndarray:
    """Coverage [B, 32, 32] of each image's class shape, randomly shifted (±0.3), rotated
    (class angle ± ~7°; shapes any of their own orientations), scaled (0.55..1)."""
    n = len(labels)
    col = lambda a: a.reshape(n, 1, 1).astype(np.float32)
    dx, dy = col(rng.uniform(-0.3, 0.3, n)), col(rng.uniform(-0.3, 0.3, n))
    base = np.where(labels < 4, labels * np.pi / 4, rng.uniform(-0.3, 0.3, n))
    theta = col(base + rng.normal(0.0, 0.12, n))
    scale, freq = col(rng.uniform(0.55, 1.0, n)), col(rng.uniform(2.0, 3.5, n))
    phase = col(rng.uniform(0, 2 * np.pi, n))
    u = (x - dx) * np.cos(theta) + (y - dy) * np.sin(theta)
    v = (y - dy) * np.cos(theta) - (x - dx) * np.sin(theta)
    masks = np.empty((n, _SIDE, _SIDE), dtype=np.float32)
    for label in range(len(STANDIN_CLASSES)):
        idx = np.flatnonzero(labels == label)
        masks[idx] = _shape_masks(label, u[idx], v[idx], scale[idx], freq[idx], phase[idx])
    return masks


def _clutter(rng, images: np.ndarray, x, y, count: int = 3) -> None:
    """Paint up to ``count`` random occluders (discs or squares, radius 0.1..0.3, random
    colour, each present with probability 0.7) over ``images`` [B, 3, 32, 32] in place."""
    n = len(images)
    for _ in range(count):
        cx, cy = (rng.uniform(-1, 1, (n, 1, 1)).astype(np.float32) for _ in range(2))
        radius = rng.uniform(0.1, 0.3, (n, 1, 1)).astype(np.float32)
        disc = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - radius
        box = np.maximum(np.abs(x - cx), np.abs(y - cy)) - radius
        is_disc = rng.random((n, 1, 1)) < 0.5
        present = (rng.random((n, 1, 1)) < 0.7).astype(np.float32)
        mask = (_soft(np.where(is_disc, disc, box)) * present)[:, None]
        colour = rng.random((n, 3, 1, 1)).astype(np.float32)
        images *= 1 - mask
        images += mask * colour


def _render(rng, labels: np.ndarray) -> np.ndarray:
    """uint8 images [B, 3, 32, 32] of ``labels`` [B] (see :func:`generate_standin`)."""
    n = len(labels)
    axis = np.linspace(-1, 1, _SIDE, dtype=np.float32)
    x, y = axis.reshape(1, 1, _SIDE), axis.reshape(1, _SIDE, 1)
    gradient = rng.uniform(-0.25, 0.25, (n, 3, 2)).astype(np.float32)
    images = (rng.random((n, 3, 1, 1)).astype(np.float32)
              + gradient[..., :1, None] * x[:, None] + gradient[..., 1:, None] * y[:, None])
    foreground = rng.random((n, 3, 1, 1)).astype(np.float32)
    mask = _shapes(rng, labels, x, y)[:, None]
    images += mask * (foreground - images)
    _clutter(rng, images, x, y)
    sigma = rng.uniform(0.02, 0.12, (n, 1, 1, 1)).astype(np.float32)
    images += sigma * rng.standard_normal(images.shape, dtype=np.float32)
    images *= 255
    return np.clip(np.rint(images, out=images), 0, 255, out=images).astype(np.uint8)


def generate_standin(seed: int = STANDIN_SEED, sizes: tuple = STANDIN_SIZES) -> tuple:
    """The stand-in data set, raw: (train images uint8 [T, 3, 32, 32], train labels int64 [T],
    test images uint8 [S, 3, 32, 32], test labels int64 [S]) for ``sizes`` = (T, S), both
    multiples of 10, every class T/10 and S/10 times in a shuffled order.

    An image is its class's shape (:data:`STANDIN_CLASSES`) in a random foreground colour over
    a random colour with a random linear gradient, then up to 3 occluding discs/squares of
    random colour anywhere, then Gaussian noise (σ 0.02..0.12 of the pixel range), rounded to
    0..255. Colours are independent of the class, so no pixel's mean tells the classes apart.
    Deterministic: numpy's PCG64 stream from ``seed``, images drawn in chunks of
    :data:`STANDIN_CHUNK` (equal bit for bit on one numpy version).
    """
    rng = np.random.default_rng(seed)
    labels = np.concatenate([rng.permutation(np.repeat(np.arange(10), size // 10))
                             for size in sizes]).astype(np.int64)
    pixels = np.concatenate([_render(rng, labels[i:i + STANDIN_CHUNK])
                             for i in range(0, len(labels), STANDIN_CHUNK)])
    train = sizes[0]
    return pixels[:train], labels[:train], pixels[train:], labels[train:]


@functools.lru_cache(maxsize=1)
def _standin_cached() -> tuple:
    arrays = generate_standin()
    for array in arrays:
        array.setflags(write=False)
    return arrays


# ----- the --data text

def parse_data(text: str) -> DataSet:
    """``--data`` text → its :class:`DataSet` (see the module docstring); ConfigError naming
    the known data sets for an unknown one, or the folder/file wrong for ``cifar10:DIR``."""
    text = str(text)
    if text == "digits":
        return Digits()
    if text == "standin":
        return Standin()
    if text == "random":
        return RandomImages()
    if text == "cifar10" or text.startswith("cifar10:"):
        folder = text[len("cifar10:"):]
        if not folder:
            raise ConfigError("--data cifar10 needs the folder of CIFAR-10's binary "
                              "distribution: cifar10:DIR")
        return Cifar10(folder)
    raise ConfigError(f"--data {text!r}: unknown data set; known: {', '.join(DATA_SETS)}")
