"""The bundled 8×8 handwritten digits as torch datasets: a fixed split and a fixed normalisation.

The images are scikit-learn's copy of the UCI optical digits (``sklearn.datasets.load_digits``):
1,797 grey-level images of 8×8 pixels with integer values 0..16 and labels 0..9. They ship inside
scikit-learn, so nothing is ever downloaded.

Split
    Stratified by label, ``sklearn.model_selection.train_test_split(test_size=360,
    random_state=0)``: 1,437 training and 360 test images, every class in the same proportion in
    both. scikit-learn is pinned in ``pyproject.toml``, so the split is the same on every machine.

Normalisation
    ``x = pixel / 16``: values in [0, 1], background exactly 0. No centring on purpose: the
    convolutions zero-pad, and zero must stay "background"; the int8 activation quantizer is
    symmetric with zero-point 0, so [0, 1] maps onto 0..127 and the 17 grey levels stay distinct.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

PIXEL_MAX = 16
"""Largest raw pixel value in the digits data; the normalisation divides by it."""

IMAGE_SHAPE = (1, 8, 8)
"""Shape of one normalised image tensor: (channels, height, width)."""

NUM_CLASSES = 10
TEST_SIZE = 360
SPLIT_SEED = 0


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 raw images and labels, in scikit-learn's order.

    Returns
    -------
    images : np.ndarray
        uint8, shape [1797, 8, 8], values 0..16.
    labels : np.ndarray
        int64, shape [1797], values 0..9.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    return images, labels


def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """Indices into :func:`digits_arrays` of the fixed training (1,437) and test (360) images."""
    from sklearn.model_selection import train_test_split

    _, labels = digits_arrays()
    train_idx, test_idx = train_test_split(
        np.arange(labels.shape[0]),
        test_size=TEST_SIZE,
        random_state=SPLIT_SEED,
        stratify=labels,
    )
    return np.sort(train_idx), np.sort(test_idx)


def normalise(images: np.ndarray) -> torch.Tensor:
    """Raw images [N, 8, 8] (0..16) → float32 tensor [N, 1, 8, 8] in [0, 1] (``pixel / 16``)."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / PIXEL_MAX)
    return x.unsqueeze(1).contiguous()


def digits_split() -> tuple[TensorDataset, TensorDataset]:
    """The fixed training and test sets.

    Returns
    -------
    train_ds, test_ds : TensorDataset
        Items are ``(image, label)``: image float32 [1, 8, 8] in [0, 1], label int64 scalar.
        1,437 and 360 items.
    """
    images, labels = digits_arrays()
    train_idx, test_idx = split_indices()
    x = normalise(images)
    y = torch.from_numpy(labels)
    return (
        TensorDataset(x[train_idx], y[train_idx]),
        TensorDataset(x[test_idx], y[test_idx]),
    )
