import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from structhw.errors import ConfigError
from structhw.structure import (
    alpha_from_weight,
    band_matrix,
    expand_alpha,
    project,
    relative_residual_norm,
    residual,
    residual_norm,
    structure_matrix,
)


@st.composite
def shapes(draw, max_c=6, max_n=4):
    C = draw(st.integers(1, max_c))
    N = draw(st.integers(1, max_n))
    c = draw(st.integers(1, C))
    n = draw(st.integers(1, N))
    cout = draw(st.integers(1, 3))
    return cout, C, N, c, n


def test_band_matrix_values():
    expected = torch.tensor([[1, 0], [1, 1], [1, 1], [0, 1]], dtype=torch.float32)
    assert torch.equal(band_matrix(4, 2), expected)
    assert torch.equal(band_matrix(3, 3), torch.eye(3))
    assert torch.equal(band_matrix(3, 1), torch.ones(3, 1))


def test_structure_matrix_columns_are_cuboids():
    # paper Fig. 2: C=4, N=3, c=2, n=2 -> 8 basis elements, each a 3×2×2 cuboid of ones
    A = structure_matrix(4, 3, 2, 2)
    assert A.shape == (36, 8)
    for m in range(8):
        a, b, e = m // 4, (m // 2) % 2, m % 2
        beta = torch.zeros(4, 3, 3)
        beta[a : a + 3, b : b + 2, e : e + 2] = 1
        assert torch.equal(A[:, m], beta.reshape(-1))


@given(shapes())
def test_ordering_matches_box_correlation(s):
    """W = 1_box * α (full correlation) equals alpha @ A.T row by row."""
    cout, C, N, c, n = s
    alpha = torch.randn(cout, c, n, n, dtype=torch.float64)
    box = torch.ones(1, 1, C - c + 1, N - n + 1, N - n + 1, dtype=torch.float64)
    W = torch.nn.functional.conv_transpose3d(alpha.unsqueeze(1), box).squeeze(1)
    A = structure_matrix(C, N, c, n, torch.float64)
    assert torch.allclose(W.reshape(cout, -1), alpha.reshape(cout, -1) @ A.T)
    assert torch.allclose(expand_alpha(alpha, C, N), W)


@given(shapes())
def test_factored_projection_equals_pinv(s):
    cout, C, N, c, n = s
    W = torch.randn(cout, C, N, N, dtype=torch.float64)
    A = structure_matrix(C, N, c, n, torch.float64)
    pinv = torch.linalg.pinv(A)
    alpha = (W.reshape(cout, -1) @ pinv.T).reshape(cout, c, n, n)
    assert torch.allclose(alpha_from_weight(W, c, n), alpha, atol=1e-10)
    proj = (W.reshape(cout, -1) @ (A @ pinv).T).reshape(W.shape)
    assert torch.allclose(project(W, c, n), proj, atol=1e-10)


@given(shapes())
def test_structured_weight_round_trip(s):
    cout, C, N, c, n = s
    alpha = torch.randn(cout, c, n, n, dtype=torch.float64)
    W = expand_alpha(alpha, C, N)
    assert torch.allclose(alpha_from_weight(W, c, n), alpha, atol=1e-9)
    assert torch.allclose(project(W, c, n), W, atol=1e-9)


def test_projection_float32_and_gradient():
    W = torch.randn(4, 5, 3, 3, requires_grad=True)
    p = project(W, 3, 2)
    assert p.dtype == torch.float32
    assert torch.allclose(project(p, 3, 2), p, atol=1e-5)
    (W - p).norm().backward()
    assert W.grad is not None and torch.isfinite(W.grad).all() and W.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "args, word",
    [
        ((3, 3, 4, 3), "c=4"),
        ((3, 3, 3, 4), "n=4"),
        ((3, 3, 0, 1), "c"),
        ((3, 3, 1, -1), "n"),
        ((3, 3, 1.5, 1), "c"),
        ((3, 3, True, 1), "c"),
        ((0, 3, 1, 1), "C"),
        ((3, 2.0, 1, 1), "N"),
    ],
)
def test_bad_parameters_raise_config_error(args, word):
    with pytest.raises(ConfigError, match=word):
        structure_matrix(*args)


def test_project_rejects_bad_weight_shapes():
    with pytest.raises(ConfigError, match="c=6"):
        project(torch.zeros(2, 5, 3, 3), 6, 3)
    with pytest.raises(ConfigError, match="shape"):
        project(torch.zeros(2, 5, 3, 2), 2, 2)


@given(shapes(max_c=9))
def test_periodic_residual_equals_projection(s):
    cout, C, N, c, n = s
    W = torch.randn(cout, C, N, N, dtype=torch.float64)
    expected = W - project(W, c, n)
    assert torch.allclose(residual(W, c, n), expected, atol=1e-10)
    assert torch.isclose(residual_norm(W, c, n), expected.norm(), rtol=1e-9, atol=1e-12)


def test_residual_norm_gradient_finite_at_structured_weight():
    W = expand_alpha(torch.randn(2, 3, 3, 3), 6, 3).requires_grad_()
    norm = residual_norm(W, 3, 3)
    norm.backward()
    assert norm.item() < 1e-5 and torch.isfinite(W.grad).all()


@given(shapes(max_c=7, max_n=3))
def test_relative_residual_norm_value_and_gradcheck(s):
    cout, C, N, c, n = s
    W = torch.randn(cout, C, N, N, dtype=torch.float64, requires_grad=True)
    expected = (W - project(W, c, n)).norm() / W.norm()
    assert torch.isclose(relative_residual_norm(W, c, n), expected, rtol=1e-9, atol=1e-12)
    if expected.item() > 1e-6:
        assert torch.autograd.gradcheck(lambda w: relative_residual_norm(w, c, n), (W,))


def test_relative_residual_norm_degenerate_weights():
    zero = torch.zeros(2, 4, 3, 3, requires_grad=True)
    value = relative_residual_norm(zero, 2, 3)
    value.backward()
    assert value.item() == 0.0 and torch.equal(zero.grad, torch.zeros_like(zero))
    structured = expand_alpha(torch.randn(2, 2, 3, 3, dtype=torch.float64), 4, 3).requires_grad_()
    relative_residual_norm(structured, 2, 3).backward()
    assert torch.isfinite(structured.grad).all()


@pytest.mark.parametrize("C, c", [(7, 2), (6, 1), (7, 5), (9, 4), (12, 3), (8, 4)])
def test_relative_residual_norm_class_layouts(C, c):
    """Cover K = q·(K−c+1) + t with q = 1 or more and t = 0 or more."""
    W = torch.randn(3, C, 2, 2, dtype=torch.float64, requires_grad=True)
    expected = (W - project(W, c, 2)).norm() / W.norm()
    assert torch.isclose(relative_residual_norm(W, c, 2), expected, rtol=1e-9)
    assert torch.autograd.gradcheck(lambda w: relative_residual_norm(w, c, 2), (W,))
