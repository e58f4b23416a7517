"""Structure matrices of Structured Convolutions and the projections built from them.

A structured C×N×N kernel with parameters (c, n) is ``W = 1_box * α`` (full correlation of a
``(C−c+1)×(N−n+1)×(N−n+1)`` box of ones with ``α`` of shape ``[c, n, n]``). Vectorised in PyTorch's
row-major order this is ``vec(W) = A · vec(α)`` with the structure matrix

    ``A = T(C, c) ⊗ T(N, n) ⊗ T(N, n)``  of shape ``(C·N², c·n²)``,

where ``T(K, k)`` is the K×k band matrix with ones on a band of width ``K−k+1`` (column j holds ones
in rows j … j+K−k). Because A is a Kronecker product, ``A⁺ = T⁺ ⊗ T⁺ ⊗ T⁺`` and ``A·A⁺`` is the
Kronecker product of the three small projectors ``T·T⁺``: every function here works axis by axis on
a weight of shape ``[Cout, C, N, N]`` with matrices of at most C×C entries, never a CN²×CN² one.

The residual ``(I − A·A⁺)·W`` needs even less: along one axis, the orthogonal complement of
T(K, k)'s columns is the set of vectors that repeat with period ``w = K−k+1`` and sum to zero over
one period (``Tᵀr = 0`` says every window of w consecutive entries sums to 0). Projecting onto it
takes the mean of each residue class ``i mod w`` (``m_j`` entries in class j) and removes the
weighted overall mean: ``p_j = x̄_j − (Σ x̄) / (m_j · Σ 1/m)``, then ``r_i = p_{i mod w}`` and
``‖r‖² = Σ_j m_j p_j²``. :func:`residual_norm` uses this along the channel axis: O(C) work per
kernel fibre instead of the O(C²) of a C×C projector, so the regularizer stays cheap next to a
training step.

A linear layer P×Q is P kernels of shape Q×1×1: pass its weight as ``W.reshape(P, Q, 1, 1)`` with
``(c, n) = (R, 1)``.
"""

from __future__ import annotations

import functools
import numbers

import torch
from torch.autograd.function import once_differentiable

from .errors import ConfigError

__all__ = [
    "check_structure",
    "band_matrix",
    "band_pinv",
    "band_projector",
    "structure_matrix",
    "alpha_from_weight",
    "expand_alpha",
    "project",
    "residual",
    "residual_norm",
    "relative_residual_norm",
]


def _check_positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"{what} must be >= 1, got {value}")
    return int(value)


def check_structure(C, N, c, n, where: str = "") -> tuple[int, int, int, int]:
    """Validate structure parameters and return them as ints.

    Raises :class:`ConfigError` naming the parameter (prefixed with ``where``, e.g. a layer name)
    when a value is not an integer, is < 1, or when ``c > C`` or ``n > N``.
    """
    prefix = f"{where}: " if where else ""
    C = _check_positive_int(C, f"{prefix}C (input channels per group)")
    N = _check_positive_int(N, f"{prefix}N (kernel size)")
    c = _check_positive_int(c, f"{prefix}c")
    n = _check_positive_int(n, f"{prefix}n")
    if c > C:
        raise ConfigError(f"{prefix}c={c} must be <= C={C} (input channels per group)")
    if n > N:
        raise ConfigError(f"{prefix}n={n} must be <= N={N} (kernel size)")
    return C, N, c, n


def band_matrix(K: int, k: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """T(K, k): the K×k binary band matrix, ``T[i, j] = 1`` iff ``0 <= i − j <= K − k``.

    Its columns are the 1-D boxes of ones (length ``K−k+1``) at offsets 0 … k−1.
    """
    K, _, k, _ = check_structure(K, 1, k, 1)
    i = torch.arange(K).unsqueeze(1)
    j = torch.arange(k).unsqueeze(0)
    return ((i - j >= 0) & (i - j <= K - k)).to(dtype)


@functools.lru_cache(maxsize=None)
def _band_pinv64(K: int, k: int) -> torch.Tensor:
    return torch.linalg.pinv(band_matrix(K, k, torch.float64))


@functools.lru_cache(maxsize=None)
def _band_pinv_cached(K: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return _band_pinv64(K, k).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _band_projector_cached(K: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return (band_matrix(K, k, torch.float64) @ _band_pinv64(K, k)).to(dtype=dtype, device=device)


def band_pinv(K: int, k: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """T(K, k)⁺, the k×K Moore–Penrose inverse, computed once in float64 and cached per dtype/device."""
    K, _, k, _ = check_structure(K, 1, k, 1)
    return _band_pinv_cached(K, k, dtype, torch.device(device or "cpu"))


def band_projector(K: int, k: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """T(K, k)·T(K, k)⁺, the K×K orthogonal projector onto T's columns (cached per dtype/device)."""
    K, _, k, _ = check_structure(K, 1, k, 1)
    return _band_projector_cached(K, k, dtype, torch.device(device or "cpu"))


def structure_matrix(C: int, N: int, c: int, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The structure matrix A = T(C,c) ⊗ T(N,n) ⊗ T(N,n), shape ``(C·N², c·n²)``, binary.

    Column ``m = a·n² + b·n + e`` is the vectorised basis kernel β_m: a ``(C−c+1)×(N−n+1)²`` cuboid
    of ones at offset (a, b, e). Row order is PyTorch's row-major ``[C, N, N]``, so
    ``W.reshape(Cout, -1) == alpha.reshape(Cout, -1) @ A.T``. Meant for tests and small layers:
    its size grows as C·N²·c·n².
    """
    C, N, c, n = check_structure(C, N, c, n)
    t_n = band_matrix(N, n, dtype)
    return torch.kron(band_matrix(C, c, dtype), torch.kron(t_n, t_n))


def _check_weight(W: torch.Tensor, c: int, n: int) -> tuple[int, int]:
    if W.dim() != 4 or W.shape[-1] != W.shape[-2]:
        raise ConfigError(f"weight must have shape [Cout, C, N, N], got {tuple(W.shape)}")
    C, N = int(W.shape[1]), int(W.shape[2])
    check_structure(C, N, c, n)
    return C, N


def _apply_axes(W: torch.Tensor, m_c: torch.Tensor, m_n: torch.Tensor) -> torch.Tensor:
    """``out[o, a, b, e] = Σ m_c[a, i] m_n[b, j] m_n[e, k] W[o, i, j, k]``, one axis at a time."""
    x = torch.tensordot(W, m_n, dims=([3], [1]))  # [o, i, j, e]
    x = torch.tensordot(x, m_n, dims=([2], [1]))  # [o, i, e, b]
    x = torch.tensordot(x, m_c, dims=([1], [1]))  # [o, e, b, a]
    return x.permute(0, 3, 2, 1)


def alpha_from_weight(W: torch.Tensor, c: int, n: int) -> torch.Tensor:
    """α = A⁺·W for every output kernel: ``W`` [Cout, C, N, N] → α [Cout, c, n, n].

    The least-squares coefficients of W in the structured basis; exact when W is structured.
    Differentiable in W.
    """
    C, N = _check_weight(W, c, n)
    return _apply_axes(W, band_pinv(C, c, W.dtype, W.device), band_pinv(N, n, W.dtype, W.device))


def expand_alpha(alpha: torch.Tensor, C: int, N: int) -> torch.Tensor:
    """W = A·α: α [Cout, c, n, n] → the structured kernels [Cout, C, N, N]."""
    if alpha.dim() != 4 or alpha.shape[-1] != alpha.shape[-2]:
        raise ConfigError(f"alpha must have shape [Cout, c, n, n], got {tuple(alpha.shape)}")
    c, n = int(alpha.shape[1]), int(alpha.shape[2])
    C, N, c, n = check_structure(C, N, c, n)
    dt, dev = alpha.dtype, alpha.device
    return _apply_axes(alpha, band_matrix(C, c, dt).to(dev), band_matrix(N, n, dt).to(dev))


def project(W: torch.Tensor, c: int, n: int) -> torch.Tensor:
    """A·A⁺·W: the nearest (Frobenius) structured kernels to ``W`` [Cout, C, N, N], same shape.

    Differentiable in W; ``W − project(W, c, n)`` is the residual the Structural Regularization
    loss penalises.
    """
    C, N = _check_weight(W, c, n)
    return _apply_axes(W, band_projector(C, c, W.dtype, W.device), band_projector(N, n, W.dtype, W.device))


@functools.lru_cache(maxsize=None)
def _class_counts(K: int, k: int) -> tuple[float, ...]:
    w = K - k + 1
    return tuple(float((K - 1 - j) // w + 1) for j in range(w))


def _periodic_part(x: torch.Tensor, k: int) -> torch.Tensor:
    """p [Cout, w, ...]: the per-class values of the channel-axis residual of x [Cout, K, ...]
    (the component of every fibre in the complement of T(K, k)'s columns), w = K − k + 1."""
    K = x.shape[1]
    w = K - k + 1
    q = K // w
    sums = x[:, : q * w].unflatten(1, (q, w)).sum(dim=1)
    tail = x[:, q * w :]
    if tail.shape[1]:
        sums = sums + torch.nn.functional.pad(tail, (0, 0) * (x.dim() - 2) + (0, w - tail.shape[1]))
    counts = torch.tensor(_class_counts(K, k), dtype=x.dtype, device=x.device).reshape(w, *([1] * (x.dim() - 2)))
    means = sums / counts
    mu = means.sum(dim=1, keepdim=True) / (1.0 / counts).sum()
    return means - mu / counts, counts


def _spatial_projection(W: torch.Tensor, n: int) -> torch.Tensor:
    p_n = band_projector(W.shape[2], n, W.dtype, W.device)
    x = torch.tensordot(W, p_n, dims=([3], [1]))
    return torch.tensordot(x, p_n, dims=([2], [1])).transpose(2, 3)


def residual(W: torch.Tensor, c: int, n: int) -> torch.Tensor:
    """(I − A·A⁺)·W, same shape as ``W`` [Cout, C, N, N]: the part of every kernel outside the
    structured subspace. Computed with the periodic channel residual (module docstring)."""
    C, N = _check_weight(W, c, n)
    Z = W if n == N else _spatial_projection(W, n)
    out = W - Z
    if c < C:
        p, _ = _periodic_part(Z, c)
        out = out + p[:, torch.arange(C, device=W.device) % (C - c + 1)]
    return out


def residual_norm(W: torch.Tensor, c: int, n: int) -> torch.Tensor:
    """‖(I − A·A⁺)·W‖_F over all kernels of ``W`` [Cout, C, N, N], a 0-d differentiable tensor.

    When only channels are structured (n = N) the residual is never materialised:
    ``‖r‖² = Σ m_j p_j²`` on the reduced class sums (one pass over W).
    """
    C, N = _check_weight(W, c, n)
    if n != N:
        return torch.linalg.vector_norm(residual(W, c, n))
    if c == C:
        return W.new_zeros(())
    p, counts = _periodic_part(W, c)
    return torch.linalg.vector_norm(p * counts.sqrt())


class _RelativeChannelResidual(torch.autograd.Function):
    """f(W) = ‖R W‖ / ‖W‖ for the channel-axis residual projector R (n = N), with the analytic
    gradient ``(R W / ‖R W‖ − f · W / ‖W‖) / ‖W‖``.

    With w = K − c + 1 and K = q·w + t, class j (channels ≡ j mod w) has m_j = q + 1 members for
    j < t, else q. From the class sums S_j: ``μ = (Σ_j S_j / m_j) / Σ_j 1/m_j``, ``u_j = S_j − μ``,
    the residual is ``r_i = u_{i mod w} / m_{i mod w}`` and ``‖r‖² = Σ_j u_j² / m_j``. Only u
    (about half of W when c ≈ K/2) is stored; value and gradient each take about one pass over W,
    since the loss runs every training step.
    """

    @staticmethod
    def forward(ctx, W: torch.Tensor, c: int) -> torch.Tensor:
        K = W.shape[1]
        w = K - c + 1
        q, t = divmod(K, w)
        u = W[:, :w].clone() if q > 1 or t == 0 else torch.cat([W[:, :t] + W[:, w:], W[:, t:w]], dim=1)
        if q > 1 or t == 0:
            for start in range(w, K, w):
                stop = min(start + w, K)
                u[:, : stop - start].add_(W[:, start:stop])
        harmonic = t / (q + 1) + (w - t) / q
        mu = u[:, :t].sum(dim=1, keepdim=True).mul_(1.0 / (q + 1))
        mu.add_(u[:, t:].sum(dim=1, keepdim=True), alpha=1.0 / q).mul_(1.0 / harmonic)
        u.sub_(mu)
        res = torch.sqrt(torch.linalg.vector_norm(u[:, :t]) ** 2 / (q + 1) + torch.linalg.vector_norm(u[:, t:]) ** 2 / q)
        norm = torch.linalg.vector_norm(W)
        f = res / norm if norm > 0 else torch.zeros_like(norm)
        ctx.save_for_backward(W, u, res, norm, f)
        return f

    @staticmethod
    @once_differentiable
    def backward(ctx, g: torch.Tensor):
        W, u, res, norm, f = ctx.saved_tensors
        if norm == 0:
            return torch.zeros_like(W), None
        grad = W * (-(g * f / norm**2))
        if res > 0:
            a = float(g / (norm * res))
            K, w = W.shape[1], u.shape[1]
            q, t = divmod(K, w)
            for start in range(0, K, w):
                stop = min(start + w, K)
                span = stop - start
                grad[:, start : start + min(t, span)].add_(u[:, : min(t, span)], alpha=a / (q + 1))
                if span > t:
                    grad[:, start + t : stop].add_(u[:, t:span], alpha=a / q)
        return grad, None


def relative_residual_norm(W: torch.Tensor, c: int, n: int) -> torch.Tensor:
    """‖(I − A·A⁺)·W‖_F / ‖W‖_F (0 for an all-zero W), the per-layer term of the SR loss.

    A 0-d tensor differentiable in ``W`` [Cout, C, N, N]. For channel-only structure (n = N)
    value and gradient come from one fused pass each (no autograd graph over W-sized
    intermediates); otherwise it composes :func:`residual_norm` with autograd.
    """
    C, N = _check_weight(W, c, n)
    if n == N and c < C:
        return _RelativeChannelResidual.apply(W, c)
    norm = torch.linalg.vector_norm(W)
    value = residual_norm(W, c, n) / torch.where(norm > 0, norm, torch.ones_like(norm))
    return value
