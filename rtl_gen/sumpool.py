"""The exact integer 3-D sum-pool of a structured layer, over a streamed, already padded map.

For a :class:`~structhw.qnet.QuantLayer` the unit takes the Hp×Wp padded map (Hp = in_height +
2·padding, Wp likewise), one pixel of C int8 values per beat in raster order, and emits the
Hs×Ws sum-pool map E (``layer.sumpool_height × layer.sumpool_width``), one pixel of ``groups·c``
values of ``layer.widths().sumpool`` bits per beat, equal to :func:`structhw.golden.sum_pool`.
Output value ``g·c + k`` of pixel (r, q) is the sum of input channels ``g·cg + k … g·cg + k + cw − 1``
(cg = C/groups, cw = ``layer.channel_window``) over rows ``r, r+d, …, r+(sw−1)·d`` and the same
columns (sw = ``layer.spatial_window``, d = ``layer.dilation``).

The microarchitectures are classes behind one interface (:class:`~.sumpool_arch.SumPoolArch`),
registered in :data:`ARCH_REGISTRY` by name, which the plan, the command line and the report
read: ``"tree"`` (the paper's, :mod:`.sumpool_tree`) and ``"separable"``
(:mod:`.sumpool_separable`). A new arch is one class there and one entry here.

All accept one input pixel per cycle while the output is ready. The pipeline stalls as a whole:
every stage register moves when ``advance = ~o.valid | o.ready``, and ``i.ready = advance``. An
image is counted (Hp·Wp beats), so images may follow back to back.
"""

from __future__ import annotations

from amaranth import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer

from .sumpool_arch import SumPoolArch
from .sumpool_blocks import Pipeline, padded_size, sum_width
from .sumpool_separable import SeparableSumPool
from .sumpool_tree import TreeSumPool

__all__ = ["SumPool", "ARCH_REGISTRY", "ARCHS", "MAX_SUMPOOL_BITS", "check_sumpool_config",
           "sumpool_cost", "sumpool_area", "choose_sumpool_arch"]

ARCH_REGISTRY: dict[str, SumPoolArch] = {arch.name: arch for arch in (TreeSumPool(), SeparableSumPool())}
"""Every sum-pool arch by name, in order of preference on a cost tie."""
ARCHS = tuple(ARCH_REGISTRY)
"""Their names."""

MAX_SUMPOOL_BITS = 32
"""Widest sum-pool output supported: the E values go on to the MAC array's 18×18 DSPs in at most
two slices; beyond 32 bits the layer is not realisable by this generator."""

BRAM_BITS_PER_LUT4 = 56 * 18432 / 24288
"""Area exchange rate of block RAM bits for LUT4s on the LFE5U-25F (56 DP16KD of 18 kbit,
24 288 LUT4): about 42.5 bits of block RAM occupy the share of the die of one LUT4."""


def check_sumpool_config(layer, arch: str) -> None:
    """Raise :class:`ConfigError` naming the parameter if ``layer`` with ``arch`` is not
    realisable by :class:`SumPool`."""
    if not isinstance(layer, QuantLayer):
        raise ConfigError(f"SumPool: layer must be a structhw.qnet.QuantLayer, got {type(layer).__name__}")
    if arch not in ARCH_REGISTRY:
        raise ConfigError(f"layer {layer.name!r}: sum-pool arch must be one of {ARCHS}, got {arch!r}")
    if layer.sumpool_height < 1 or layer.sumpool_width < 1:
        raise ConfigError(
            f"layer {layer.name!r}: sum-pool output {layer.sumpool_height}×{layer.sumpool_width} is "
            f"smaller than 1×1 (spatial_window={layer.spatial_window}, dilation={layer.dilation}, "
            f"padded input {padded_size(layer)})")
    bits = sum_width(layer)
    if bits > MAX_SUMPOOL_BITS:
        raise ConfigError(f"layer {layer.name!r}: sum-pool window {layer.window} needs {bits}-bit sums, "
                          f"more than the supported {MAX_SUMPOOL_BITS}")


class SumPool(wiring.Component):
    """Exact 3-D sum-pool of ``layer`` over the padded map; see the module docstring.

    Parameters
    ----------
    layer : structhw.qnet.QuantLayer
        Geometry (in_channels, in_height, in_width, padding, groups, c, kernel, n, dilation).
    arch : str
        A name in :data:`ARCH_REGISTRY`.

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(8), in_channels)))
        Hp·Wp padded input pixels per image, raster order.
    o : Out(stream.Signature(ArrayLayout(signed(E), groups·c)))
        Hs·Ws sum-pool pixels per image, raster order; E = ``layer.widths().sumpool``.
    latency : int
        Cycles from an input beat's acceptance to its output beat being offered (no stalls).
    """

    def __init__(self, layer: QuantLayer, arch: str):
        check_sumpool_config(layer, arch)
        self.layer = layer
        self.arch = arch
        self.height, self.width = padded_size(layer)
        self.sum_bits = sum_width(layer)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), layer.in_channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(self.sum_bits), layer.sumpool_channels))),
        })

    @property
    def latency(self) -> int:
        return ARCH_REGISTRY[self.arch].latency(self.layer)

    def elaborate(self, platform):
        m = Module()
        impl = ARCH_REGISTRY[self.arch]
        impl.elaborate(self, m, Pipeline(m, self, impl.pre_stages(self.layer)))
        return m


def sumpool_cost(layer: QuantLayer, arch: str) -> dict:
    """Analytic resource estimate of ``SumPool(layer, arch)`` on ECP5: ``{"lut4", "ff", "dsp",
    "bram_bits"}``, each arch's model in its ``cost`` docstring.

    Checked against synth_ecp5 by benchmarks/bench_sumpool_synth.py (figures in
    benchmarks/README.md): the separable model within a few per cent; the tree count ignores
    the partial sums synthesis shares between overlapping windows and over-estimates large
    windows. Memories this small land in LUT RAM (TRELLIS_DPR16X4) in synthesis: the model
    still counts them as block RAM bits."""
    check_sumpool_config(layer, arch)
    return ARCH_REGISTRY[arch].cost(layer)


def sumpool_area(cost: dict) -> float:
    """One number to compare costs by, in LUT4-equivalents: lut4 + ff + bram_bits / 42.5
    (an ECP5 slice has as many FFs as LUT4s; block RAM at its share of the LFE5U-25F die)."""
    return cost["lut4"] + cost["ff"] + cost["bram_bits"] / BRAM_BITS_PER_LUT4


def choose_sumpool_arch(layer: QuantLayer) -> str:
    """The arch with the smaller :func:`sumpool_area` of :func:`sumpool_cost` (the earlier in
    :data:`ARCH_REGISTRY` on a tie)."""
    return min(ARCHS, key=lambda arch: (sumpool_area(sumpool_cost(layer, arch)), ARCHS.index(arch)))
