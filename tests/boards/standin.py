"""A small stand-in accelerator with the network's interface, and its Python model, so the board
side (UART, host link, board top, bitstream build) is tested without the real network.

Per image of P pixels (C int8 channels each, raster order) it computes, for class k,
``logit_k = clamp((Σ_p x[p, k mod C] · w_k(p)) >> 6, -128, 127)`` with the weight
``w_k(p) = int8((p · (2k + 1)) mod 256)``: one multiplier per class (DSP blocks on an FPGA,
registered on both sides so the stand-in is not what limits the board top's clock), ties
between classes are common (clamping), and every pixel matters.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
import numpy as np

SHIFT = 6


def weight(k: int, p: int) -> int:
    """w_k(p): int8 of (p·(2k+1)) mod 256."""
    value = (p * (2 * k + 1)) % 256
    return value - 256 if value >= 128 else value


def standin_logits(image: np.ndarray, num_classes: int) -> list:
    """The model: ``image`` [C, H, W] int8 → K int8 logits."""
    channels = image.shape[0]
    pixels = image.reshape(channels, -1).T.astype(np.int64)
    out = []
    for k in range(num_classes):
        acc = sum(int(pixels[p, k % channels]) * weight(k, p) for p in range(pixels.shape[0]))
        out.append(max(-128, min(127, acc >> SHIFT)))
    return out


class StandInAccelerator(wiring.Component):
    """Hardware of :func:`standin_logits`: a three-stage pipeline (capture, multiply,
    accumulate), the clamped logits registered before ``o``, with backpressure on ``i`` while
    they wait there."""

    def __init__(self, channels: int, pixels: int, num_classes: int):
        self.channels, self.num_pixels, self.num_classes = channels, pixels, num_classes
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(8), num_classes))),
        })

    def elaborate(self, platform):
        m = Module()
        C, P, K = self.channels, self.num_pixels, self.num_classes
        acc_width = 16 + max(1, (P - 1).bit_length()) + 1
        count = Signal(range(P))
        w = [Signal(8, name=f"w{k}") for k in range(K)]
        x_in = [Signal(signed(8), name=f"x{k}") for k in range(K)]
        w_in = [Signal(signed(8), name=f"w_in{k}") for k in range(K)]
        prod = [Signal(signed(16), name=f"prod{k}") for k in range(K)]
        acc = [Signal(signed(acc_width), name=f"acc{k}") for k in range(K)]
        in_valid = Signal()
        prod_valid = Signal()

        m.d.sync += [in_valid.eq(0), prod_valid.eq(in_valid)]
        with m.If(in_valid):
            m.d.sync += [p.eq(x * v) for p, x, v in zip(prod, x_in, w_in)]
        with m.If(prod_valid):
            m.d.sync += [a.eq(a + p) for a, p in zip(acc, prod)]

        with m.FSM():
            with m.State("COLLECT"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    for k in range(K):
                        m.d.sync += [x_in[k].eq(self.i.payload[k % C]), w_in[k].eq(w[k]),
                                     w[k].eq(w[k] + 2 * k + 1)]
                    m.d.sync += [in_valid.eq(1), count.eq(count + 1)]
                    with m.If(count == P - 1):
                        m.d.sync += count.eq(0)
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(~in_valid & ~prod_valid):
                    m.next = "CLAMP"
            with m.State("CLAMP"):
                for k in range(K):
                    shifted = acc[k] >> SHIFT
                    m.d.sync += self.o.payload[k].eq(
                        Mux(shifted > 127, 127, Mux(shifted < -128, -128, shifted)))
                m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.d.sync += [a.eq(0) for a in acc] + [x.eq(0) for x in w]
                    m.next = "COLLECT"
        return m
