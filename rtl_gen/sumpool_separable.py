"""The ``"separable"`` sum-pool arch: channel sums, then vertical, then horizontal sums.

1. channel sums inside the pixel (:class:`~structhw.rtl_gen.channel_sums.ChannelSums`): per
   group one anchor output by a tree, the others by sliding from it one channel at a time in
   both directions (2 adds per output whatever the window, with the input pixel registered and
   a register after at most ADDS_PER_STAGE chained adds so that no long carry path lies between
   registers), or for small windows where that is cheaper a DAG of shared power-of-two channel
   windows; every add ``keep``-marked so that synthesis builds it as one carry chain rather
   than carry-save rows of LUT4s,
2. vertical sums of sw taps from line buffers that store the *channel sums* (groups·c values of
   ``8 + ceil(log2 cw)`` bits instead of C int8 values); a running vertical sum would need sw·d
   rows of channel sums plus d rows of vertical sums in memory to save sw−3 adds, and memory,
   not adders, is what a line buffer costs, so taps it is,
3. horizontal sums along the row: sum of sw taps for sw ≤ 3, a running sum (add the column
   entering, subtract the one leaving: 2 adds whatever the window) for sw ≥ 4.

With sw = 1 (no spatial window) the channel sums are the output, registered once.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data

from structhw.qnet import QuantLayer

from .channel_sums import ChannelSums
from .sumpool_arch import SumPoolArch
from .sumpool_blocks import (LUT4_PER_MUX_BIT, Pipeline, add_lut4, control_ff, delay_line,
                             kept_tree, kept_tree_adds, line_taps, padded_size, range_width,
                             sum_width)

RUNNING_HORIZONTAL_MIN_WINDOW = 4
"""Spatial windows from this size on use the running horizontal sum."""


class SeparableSumPool(SumPoolArch):
    """Channel, vertical and horizontal sums (see the module docstring)."""

    name = "separable"
    label = "separable"

    def pre_stages(self, layer: QuantLayer) -> int:
        return ChannelSums(layer).pre_stages

    def latency(self, layer: QuantLayer) -> int:
        return (3 if layer.spatial_window > 1 else 1) + self.pre_stages(layer)

    def elaborate(self, unit, m: Module, pipe: Pipeline) -> None:
        layer = unit.layer
        sw, d, cw = layer.spatial_window, layer.dilation, layer.channel_window
        outs = layer.sumpool_channels
        channel_bits = range_width(cw)
        vertical_bits = range_width(cw * sw)

        sums_layout = data.ArrayLayout(signed(channel_bits), outs)
        channel_sums = Signal(sums_layout)
        for index, value in enumerate(ChannelSums(layer).build(pipe, unit.i.payload)):
            m.d.comb += channel_sums[index].eq(value)
        cs1 = pipe.register(channel_sums, "cs1")
        if sw == 1:
            pipe.finish()
            m.d.comb += unit.o.payload.eq(cs1)
            return

        row_taps = [cs1] + line_taps(m, pipe, sums_layout, cs1, unit.width, sw, d)
        vertical = Signal(data.ArrayLayout(signed(vertical_bits), outs))
        for index in range(outs):
            m.d.comb += vertical[index].eq(
                kept_tree(m, [tap[index] for tap in row_taps], cw, f"vsum{index}"))
        pipe.stage(emit=1)
        v2 = pipe.register(vertical, "vertical2")
        col2 = pipe.register(pipe.col1, "col2")
        emit2 = pipe.register(pipe.emit1, "emit2")
        shift2 = pipe.valid[-1] & pipe.advance

        horizontal = Signal(data.ArrayLayout(signed(unit.sum_bits), outs))
        if sw < RUNNING_HORIZONTAL_MIN_WINDOW:
            delayed = delay_line(m, v2, (sw - 1) * d, shift2, "vdelay")
            taps = [v2] + [delayed[t * d - 1] for t in range(1, sw)]
            for index in range(outs):
                m.d.comb += horizontal[index].eq(
                    kept_tree(m, [tap[index] for tap in taps], cw * sw, f"hsum{index}"))
        else:
            delayed = delay_line(m, v2, sw * d, shift2, "vdelay")
            running = delay_line(m, horizontal, d, shift2, "hdelay")
            entering_only = col2 < d
            nothing_leaves = col2 < sw * d
            for index in range(outs):
                previous = Mux(entering_only, 0, running[d - 1][index])
                leaving = Mux(nothing_leaves, 0, delayed[sw * d - 1][index])
                kept = Signal(signed(unit.sum_bits), name=f"hrun{index}", attrs={"keep": 1})
                m.d.comb += [kept.eq((v2[index] - leaving)[:unit.sum_bits].as_signed()),
                             horizontal[index].eq(kept + previous)]
        pipe.stage(emit=emit2)
        out = pipe.register(horizontal, "out")
        pipe.finish()
        m.d.comb += unit.o.payload.eq(out)

    def cost(self, layer: QuantLayer) -> dict:
        """lut4 = channel sums (Σ A over the adds of the plan :class:`ChannelSums` builds:
        sliding, G·(T(cw, 1) + (c − 1)·(A(9) + A(w(cw)))), or the shared power-of-two window DAG,
        about C·⌈log2 cw⌉ adds of ≤ w(cw) bits) + vertical G·c·T(sw, cw) + horizontal
        G·c·T(sw, cw·sw) (taps) or G·c·2·(A(E) + E) (running: 2 adds, 2 muxes);
        ff = G·c·(w(cw) + w(cw·sw)·(1 + delay) + E·(1 + running)) + L·G·c·w(cw) (memory read
        register) + channel-sum pipeline registers + control, delay = (sw−1)·d (taps) or sw·d
        (running), running = d for the running horizontal sum else 0; with sw = 1 only
        G·c·w(cw) + channel-sum pipeline registers + valid bits; bram_bits = Wp · L · G·c · w(cw).
        (G = groups, cw = channel window, sw = spatial window, d = dilation, Wp = padded width,
        L = (sw−1)·d buffered rows, E = sum width, w(k) = bits of a sum of k int8, A(b) =
        2·⌈b/2⌉ LUT4-equivalents of a b-bit add, T(k, u) = Σ A over the balanced pairwise tree
        of k values of u int8 each.)"""
        cw, sw, d = layer.channel_window, layer.spatial_window, layer.dilation
        outs, e_bits, rows = layer.sumpool_channels, sum_width(layer), (sw - 1) * d
        cw_bits, v_bits = range_width(cw), range_width(cw * sw)
        plan = ChannelSums(layer)
        vertical = outs * sum(add_lut4(bits) for bits in kept_tree_adds(sw, cw))
        if sw >= RUNNING_HORIZONTAL_MIN_WINDOW:
            horizontal = outs * 2 * (add_lut4(e_bits) + e_bits * LUT4_PER_MUX_BIT)
            delay, h_regs = sw * d, d
        else:
            horizontal = outs * sum(add_lut4(bits) for bits in kept_tree_adds(sw, cw * sw))
            delay, h_regs = rows, 0
        if sw == 1:
            ff = outs * cw_bits + plan.registered_bits() + plan.pre_stages + 1
        else:
            ff = (outs * (cw_bits + v_bits * (1 + delay) + e_bits * (1 + h_regs))
                  + rows * outs * cw_bits + plan.registered_bits()
                  + control_ff(layer, 3, plan.pre_stages) + 2)
        return {"lut4": int(plan.lut4() + vertical + horizontal), "ff": int(ff), "dsp": 0,
                "bram_bits": int(padded_size(layer)[1] * rows * outs * cw_bits)}
