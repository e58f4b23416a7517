"""Random quantized layers (reproducible from a seed) for tests, benchmarks and ``structhw rtl``."""

from __future__ import annotations


import numpy as np

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer


def random_quant_layer(C: int, N: int, c: int, n: int, Cout: int, H: int, W: int, stride: int,
                       pad: int, seed: int, dilation: int = 1, groups: int = 1, relu: bool = True,
                       kind: str = "conv", name: str = "layer") -> QuantLayer:
    """A :class:`QuantLayer` with random int8 α, int32 bias and requantisation constants chosen so
    that typical accumulators land across the int8 output range (not all clamped, not all zero).

    Parameters follow the CLI's ``--layer C,N,c,n,Cout,H,W,stride,pad``: input channels C, kernel
    N, structure (c, n), output channels Cout, input height H and width W (pixels), stride and
    padding (pixels); ``c == C/groups`` and ``n == N`` give a dense layer. Raises
    :class:`ConfigError` naming the parameter when the geometry is not realisable.
    """
    for key, v in (("C", C), ("N", N), ("c", c), ("n", n), ("Cout", Cout), ("H", H), ("W", W),
                   ("stride", stride), ("dilation", dilation), ("groups", groups)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{key} must be an integer ≥ 1, got {v!r}")
    if not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ConfigError(f"pad must be an integer ≥ 0, got {pad!r}")
    if C % groups or Cout % groups:
        raise ConfigError(f"groups={groups} must divide C={C} and Cout={Cout}")
    if c > C // groups:
        raise ConfigError(f"c={c} exceeds C/groups={C // groups}")
    if n > N:
        raise ConfigError(f"n={n} exceeds N={N}")
    rng = np.random.default_rng(seed)
    alpha = rng.integers(-128, 128, size=(Cout, c, n, n), dtype=np.int64)
    window = (C // groups - c + 1) * (N - n + 1) ** 2
    norm = np.sqrt((alpha.reshape(Cout, -1).astype(np.float64) ** 2).sum(axis=1)) + 1.0
    acc_typical = 40.0 * window * norm
    bias = np.round(rng.normal(0.0, 0.5, size=Cout) * acc_typical).astype(np.int64)
    shift = rng.integers(14, 24, size=Cout, dtype=np.int64)
    gain = rng.uniform(30.0, 120.0, size=Cout) / acc_typical
    multiplier = np.maximum(1, np.round(gain * np.exp2(shift))).astype(np.int64)
    too_big = multiplier >= (1 << 31)
    if too_big.any():
        multiplier[too_big] = (1 << 31) - 1
    return QuantLayer(
        name=name, kind=kind, in_channels=C, in_height=H, in_width=W, out_channels=Cout, kernel=N,
        c=c, n=n, stride=stride, padding=pad, dilation=dilation, groups=groups, relu=relu,
        alpha=alpha, bias=bias, multiplier=multiplier, shift=shift,
        in_scale=1.0, out_scale=1.0, alpha_scale=np.ones(Cout),
    )
