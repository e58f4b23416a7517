import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from structhw.composite import CompositeBasis, dense_basis, structured_basis
from structhw.errors import ConfigError


def test_figure_1b_counts():
    # paper §3.1: C=1, N=3, M=4 masks of 2×2 ones -> 4 mults, 15 adds (> CN²−1 = 8)
    basis = structured_basis(1, 3, 1, 2)
    assert basis.mults_per_output() == 4 and basis.adds_per_output() == 15


@given(st.integers(1, 4), st.integers(1, 3))
def test_dense_basis_counts(C, N):
    basis = dense_basis(C, N)
    assert basis.mults_per_output() == C * N * N
    assert basis.adds_per_output() == C * N * N - 1


@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_eq1_composite_convolution(C, N, data):
    c, n = data.draw(st.integers(1, C)), data.draw(st.integers(1, N))
    basis = structured_basis(C, N, c, n)
    alpha = torch.randn(basis.num_elements, dtype=torch.float64)
    X = torch.randn(C, N, N, dtype=torch.float64)
    W = basis.kernel(alpha)
    E = (X * basis.masks).sum(dim=(1, 2, 3))  # sum(X • β_m): additions only
    assert torch.isclose((alpha * E).sum(), (X * W).sum())
    assert torch.allclose(basis.coefficients(W), alpha)


def test_arbitrary_masks_figure_1c():
    masks = [
        [[1, 1, 0], [1, 1, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 1, 1], [0, 1, 1]],
        [[0, 0, 1], [0, 0, 1], [0, 0, 1]],
        [[1, 0, 0], [1, 0, 0], [1, 0, 0]],
        [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [1, 1, 1]],
    ]
    basis = CompositeBasis(masks)
    assert basis.kernel_shape == (1, 3, 3) and basis.num_elements == 6
    assert basis.adds_per_output() == 4 + 4 + 3 + 3 + 1 + 3 - 1


def test_dependent_mask_is_named():
    a = [[1, 0], [0, 0]]
    b = [[0, 1], [0, 0]]
    with pytest.raises(ConfigError, match="mask 2 is linearly dependent"):
        CompositeBasis([a, b, [[1, 1], [0, 0]]])
    with pytest.raises(ConfigError, match="mask 0"):
        CompositeBasis([[[0, 0], [0, 0]]])


@pytest.mark.parametrize(
    "masks, words",
    [([], "at least one"), ([[[1, 0], [0, 1]], [[2, 0], [0, 0]]], "mask 1 is not binary"),
     ([[[1, 0], [0, 1]], [[1, 0, 0], [0, 0, 0], [0, 0, 0]]], "mask 1 has shape")],
)
def test_bad_masks(masks, words):
    with pytest.raises(ConfigError, match=words):
        CompositeBasis(masks)
