"""The paper's sum-pool arch, ``"tree"``: one pipelined adder tree per output value.

Line buffers hold the last (sw−1)·d input rows of all C channels; a register window holds the
last (sw−1)·d+1 columns of the sw row taps; one pipelined adder tree per output value sums its
whole cw·sw² box. Adds per output pixel: groups·c·(cw·sw² − 1).
"""

from __future__ import annotations

import math

from amaranth import Module, Signal, signed
from amaranth.lib import data

from structhw.qnet import QuantLayer

from .sumpool_arch import SumPoolArch
from .sumpool_blocks import (LUT4_PER_ADDER_BIT, Pipeline, control_ff, line_taps, padded_size,
                             sum_width, tree_adder_bits)

LEVELS_PER_STAGE = 2
"""Adder-tree levels between two pipeline registers."""


class TreeSumPool(SumPoolArch):
    """Adder trees over a register window (see the module docstring)."""

    name = "tree"
    label = "adder tree"

    def latency(self, layer: QuantLayer) -> int:
        levels = math.ceil(math.log2(layer.window)) if layer.window > 1 else 0
        return 2 + max(1, math.ceil(levels / LEVELS_PER_STAGE))

    def elaborate(self, unit, m: Module, pipe: Pipeline) -> None:
        layer = unit.layer
        sw, d = layer.spatial_window, layer.dilation
        pixel = data.ArrayLayout(signed(8), layer.in_channels)

        px1 = pipe.register(unit.i.payload, "px1")
        row_taps = [px1] + line_taps(m, pipe, pixel, px1, unit.width, sw, d)

        column = data.ArrayLayout(pixel, sw)
        window = [Signal(column, name=f"window{k}") for k in range((sw - 1) * d + 1)]
        with m.If(pipe.shift1):
            for j in range(sw):
                m.d.sync += window[0][j].eq(row_taps[j])
            for k in range(1, len(window)):
                m.d.sync += window[k].eq(window[k - 1])
        pipe.stage(emit=pipe.emit1)

        sums = []
        for g in range(layer.groups):
            for k in range(layer.c):
                first = g * layer.group_channels + k
                sums.append([window[t * d][j][first + ch]
                             for ch in range(layer.channel_window)
                             for j in range(sw) for t in range(sw)])
        results = pipelined_trees(m, pipe, sums)
        for index, value in enumerate(results):
            m.d.comb += unit.o.payload[index].eq(value)

    def cost(self, layer: QuantLayer) -> dict:
        """lut4 = G·c · (adder bits of a balanced tree of cw·sw² 8-bit values) — the paper's
        count, no sharing between the trees of overlapping windows; ff = C·8 (stage 1) +
        ((sw−1)·d+1)·sw·C·8 (window) + tree pipeline registers (the operands alive after every
        LEVELS_PER_STAGE levels, and the E-bit results) + L·C·8 (memory read register) +
        control; bram_bits = Wp · L · C · 8 (G = groups, cw = channel window, sw = spatial
        window, d = dilation, C = channels, Wp = padded width, L = (sw−1)·d buffered rows)."""
        sw = layer.spatial_window
        outs, rows = layer.sumpool_channels, (sw - 1) * layer.dilation
        tree_bits, alive = tree_adder_bits(layer.channel_window * sw * sw, 8)
        registered = [a for level, a in enumerate(alive, start=1)
                      if level % LEVELS_PER_STAGE == 0 and level != len(alive)]
        word = layer.in_channels * 8
        ff = (word + (rows + 1) * sw * word + outs * (sum(registered) + sum_width(layer))
              + rows * word + control_ff(layer, 3 + len(registered)))
        return {"lut4": int(outs * tree_bits * LUT4_PER_ADDER_BIT), "ff": int(ff), "dsp": 0,
                "bram_bits": int(padded_size(layer)[1] * rows * word)}


def pipelined_trees(m: Module, pipe: Pipeline, trees: list) -> list:
    """Sum every list of terms in ``trees`` with an adder tree registered every
    LEVELS_PER_STAGE levels and at the end (all trees have equal size, hence equal depth).
    Closes the pipeline and returns the final registers."""
    level = 0
    while True:
        last = all(len(terms) == 1 for terms in trees)
        if last or (level and level % LEVELS_PER_STAGE == 0):
            registered = []
            for t, terms in enumerate(trees):
                regs = [pipe.register(term, f"tree{t}_l{level}_{i}") for i, term in enumerate(terms)]
                registered.append(regs)
            trees = registered
            pipe.stage()
            if last:
                break
        trees = [[terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                  for i in range(0, len(terms), 2)] for terms in trees]
        level += 1
    pipe.finish()
    return [terms[0] for terms in trees]
