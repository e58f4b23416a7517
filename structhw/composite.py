"""Composite kernels (paper §3, Definitions 1–2) and their operation counts (Eq. 1–2).

A *composite basis* is a linearly independent set of M binary masks β_m of shape C×N×N; a
*composite kernel* is W = Σ_m α_m β_m. Convolving an input patch X with W needs only M
multiplications (Eq. 1: Σ_m α_m · sum(X • β_m)) and Σ_m sum(β_m) − 1 additions per output (Eq. 2).
Structured kernels (§4) are the special case :func:`structured_basis`.
"""

from __future__ import annotations

import torch

from .errors import ConfigError
from .structure import structure_matrix

__all__ = ["CompositeBasis", "structured_basis", "dense_basis"]


class CompositeBasis:
    """A validated composite basis.

    Parameters
    ----------
    masks : sequence of array-likes or a tensor ``[M, C, N, N]``
        The binary masks β_1 … β_M (a 2-D N×N mask is read as 1×N×N). Raises
        :class:`ConfigError` if there are none, shapes differ, a value is not 0 or 1, or a mask is
        linearly dependent on the masks before it (the message names its index, 0-based).

    Attributes
    ----------
    masks : torch.Tensor
        ``[M, C, N, N]`` float64 of 0/1.
    kernel_shape : tuple[int, int, int]
        (C, N, N).
    """

    def __init__(self, masks):
        tensors = [torch.as_tensor(m, dtype=torch.float64) for m in masks]
        if not tensors:
            raise ConfigError("a composite basis needs at least one mask")
        tensors = [t.unsqueeze(0) if t.dim() == 2 else t for t in tensors]
        shape = tuple(tensors[0].shape)
        for index, t in enumerate(tensors):
            if t.dim() != 3 or tuple(t.shape) != shape or t.shape[1] != t.shape[2]:
                raise ConfigError(f"mask {index} has shape {tuple(t.shape)}; every mask must be C×N×N like mask 0 {shape}")
            if not bool(((t == 0) | (t == 1)).all()):
                raise ConfigError(f"mask {index} is not binary: every element must be 0 or 1")
        self.masks = torch.stack(tensors)
        self.kernel_shape = shape
        self._check_independent()

    def _check_independent(self) -> None:
        columns = self.masks.reshape(len(self.masks), -1)
        for m in range(len(columns)):
            if int(torch.linalg.matrix_rank(columns[: m + 1])) < m + 1:
                raise ConfigError(
                    f"mask {m} is linearly dependent on masks 0..{m - 1}" if m else "mask 0 is all zeros"
                )

    @property
    def num_elements(self) -> int:
        """M, the degrees of freedom of a composite kernel."""
        return len(self.masks)

    def matrix(self) -> torch.Tensor:
        """The basis matrix [C·N², M]: column m is the row-major vectorised β_m."""
        return self.masks.reshape(self.num_elements, -1).T

    def kernel(self, alpha: torch.Tensor) -> torch.Tensor:
        """W = Σ_m α_m β_m. ``alpha`` [..., M] → kernels [..., C, N, N] (alpha's dtype)."""
        alpha = torch.as_tensor(alpha)
        if alpha.shape[-1] != self.num_elements:
            raise ConfigError(f"alpha has {alpha.shape[-1]} coefficients; the basis has {self.num_elements} masks")
        return torch.tensordot(alpha, self.masks.to(alpha.dtype), dims=([-1], [0]))

    def coefficients(self, W: torch.Tensor) -> torch.Tensor:
        """Least-squares α of kernels ``W`` [..., C, N, N] → [..., M] (exact for composite W)."""
        W = torch.as_tensor(W)
        if tuple(W.shape[-3:]) != self.kernel_shape:
            raise ConfigError(f"kernels have shape {tuple(W.shape[-3:])}; the basis is {self.kernel_shape}")
        pinv = torch.linalg.pinv(self.matrix()).to(W.dtype)
        return W.reshape(*W.shape[:-3], -1) @ pinv.T

    def mults_per_output(self) -> int:
        """Multiplications per output element, Eq. (1): M."""
        return self.num_elements

    def adds_per_output(self) -> int:
        """Additions per output element without sharing between outputs, Eq. (2): Σ_m sum(β_m) − 1."""
        return int(self.masks.sum().item()) - 1


def structured_basis(C: int, N: int, c: int, n: int) -> CompositeBasis:
    """The basis of structured kernels (Definition 3): c·n² shifted (C−c+1)×(N−n+1)² cuboids,
    ordered like the columns of :func:`structhw.structure.structure_matrix`."""
    A = structure_matrix(C, N, c, n, torch.float64)
    return CompositeBasis(A.T.reshape(c * n * n, C, N, N))


def dense_basis(C: int, N: int) -> CompositeBasis:
    """The conventional kernel as a composite basis: C·N² one-hot masks (M = C·N²)."""
    return structured_basis(C, N, C, N)
