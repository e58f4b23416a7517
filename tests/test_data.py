"""The bundled digits: fixed split sizes, stratification, determinism and normalisation."""

import numpy as np
import torch

from structhw.data import digits_arrays, digits_split, normalise, split_indices


def test_raw_arrays_are_the_bundled_digits():
    images, labels = digits_arrays()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    assert set(np.unique(labels)) == set(range(10))


def test_split_is_a_disjoint_stratified_partition():
    train_idx, test_idx = split_indices()
    assert len(train_idx) == 1437 and len(test_idx) == 360
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert np.array_equal(np.union1d(train_idx, test_idx), np.arange(1797))
    _, labels = digits_arrays()
    train_share = np.bincount(labels[train_idx]) / len(train_idx)
    test_share = np.bincount(labels[test_idx]) / len(test_idx)
    assert np.abs(train_share - test_share).max() < 0.01


def test_split_is_deterministic():
    first, second = split_indices(), split_indices()
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_datasets_hold_normalised_tensors():
    train_ds, test_ds = digits_split()
    images, labels = digits_arrays()
    train_idx, test_idx = split_indices()
    for ds, idx in ((train_ds, train_idx), (test_ds, test_idx)):
        x, y = ds.tensors
        assert x.shape == (len(idx), 1, 8, 8) and x.dtype == torch.float32
        assert y.dtype == torch.int64
        assert torch.equal(x[:, 0] * 16, torch.from_numpy(images[idx].astype(np.float32)))
        assert torch.equal(y, torch.from_numpy(labels[idx]))
        assert 0.0 <= x.min() and x.max() <= 1.0


def test_normalise_keeps_background_at_zero():
    raw = np.zeros((2, 8, 8), dtype=np.uint8)
    raw[1, 3, 4] = 16
    x = normalise(raw)
    assert x.shape == (2, 1, 8, 8)
    assert x.sum() == 1.0 and x[1, 0, 3, 4] == 1.0
