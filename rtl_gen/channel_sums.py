"""Channel sums of one pixel for the "separable" sum-pool arch: a pipelined graph of
two-operand adds (:class:`ChannelSums`)."""

from __future__ import annotations

from functools import lru_cache

from amaranth import Signal, signed

from structhw.qnet import QuantLayer

from .sumpool_blocks import Pipeline, add_lut4, range_width

ADDS_PER_STAGE = 2
"""Most chained two-operand adds between two pipeline registers in the channel sums (tree
levels and slides alike). On ECP5 one add of ~12 bits with the route to the next is about
2 ns, so 2 per stage leave room for 100 MHz (benchmarks/README.md has the measurements)."""

CHANNEL_PLANS = ("dag", "sliding")
"""The two ways :class:`ChannelSums` can build the sums (see there)."""


class ChannelSums:
    """Per output channel g·c+k, the sum of the cw input channels g·cg+k … g·cg+k+cw−1 of a pixel,
    as a pipelined graph of two-operand adds, each ``keep``-marked so that synthesis maps it to
    one carry chain (⌈bits/2⌉ CCU2C) instead of merging adds into carry-save rows of LUT4s.

    Two plans; the one with fewer adder LUT4-equivalents (:meth:`lut4`) is built:

    ``"dag"``
        A window of w channels starting at channel j is the sum of the window of the largest
        power of two p < w at j and the window of w − p at j + p (w a power of two: two halves).
        Windows are shared between outputs: about ⌈log2 cw⌉ adds per input channel.
    ``"sliding"``
        Per group, one anchor output (the middle one) by a balanced tree of its cw channels;
        the others by sliding from it one channel at a time in both directions:
        ``out[k±1] = out[k] + d`` with ``d`` the 9-bit difference of the channel entering and
        the one leaving: 2 adds per further output, whatever the window. Sums are computed
        modulo 2^w(cw) (w(cw) = bits of a sum of cw int8), exact because every output fits.

    Registers are placed as late as possible going forward: an add joins the stage of its
    latest operand unless that puts more than ADDS_PER_STAGE chained adds between two
    registers, then it starts the next stage; ``pre_stages`` stages lie before the stage-1
    register ``cs1``. The input pixel is registered before the first add: it arrives through
    the engine's skid-buffer mux (whose select fans out to all 8·C bits), and that mux plus
    the first adds was the demo network's critical path.
    """

    def __init__(self, layer: QuantLayer):
        self.layer = layer
        self.kind, self.nodes, self.outputs = self._best_plan(
            layer.in_channels, layer.groups, layer.group_channels, layer.channel_window, layer.c)
        self.pre_stages = max(self.nodes[key][4] for key in self.outputs)

    @classmethod
    @lru_cache(maxsize=1024)
    def _best_plan(cls, in_channels: int, groups: int, cg: int, cw: int, c: int) -> tuple:
        """The plan with fewer adder LUT4-equivalents, for a layer of this channel geometry
        (cached: the compiler costs the same layer for many candidate parameters; the plan's
        nodes are only read)."""
        plans = [cls._plan(in_channels, groups, cg, cw, c, kind) for kind in CHANNEL_PLANS]
        return min(plans, key=lambda plan: sum(add_lut4(node[3]) for node in plan[1].values()
                                               if node[0] != "in"))

    # A node is (op, a, b, bits, stage): op "in" (a = input channel, 8 bits, stage 0), "add" or
    # "sub" (a ± b on operand values at the node's stage, wrapped to ``bits``). Operands precede
    # their users in the dict.
    @classmethod
    def _plan(cls, in_channels: int, groups: int, cg: int, cw: int, c: int, kind: str) -> tuple:
        nodes, outputs = {}, []
        for ch in range(in_channels):
            nodes["in", ch] = ("in", ch, None, 8)
        for g in range(groups):
            base = g * cg
            if kind == "dag":
                outputs += [cls._window(nodes, base + k, cw) for k in range(c)]
                continue
            anchor = c // 2
            outs = {anchor: cls._window(nodes, base + anchor, cw)}
            width = range_width(cw)
            for k in range(anchor + 1, c):
                d = ("d", base + k - 1)
                nodes[d] = ("sub", ("in", base + k - 1 + cw), ("in", base + k - 1), 9)
                nodes["out", base + k] = ("add", outs[k - 1], d, width)
                outs[k] = ("out", base + k)
            for k in range(anchor - 1, -1, -1):
                d = ("d", base + k)
                nodes[d] = ("sub", ("in", base + k), ("in", base + k + cw), 9)
                nodes["out", base + k] = ("add", outs[k + 1], d, width)
                outs[k] = ("out", base + k)
            outputs += [outs[k] for k in range(c)]
        return kind, cls._schedule(nodes), outputs

    @staticmethod
    def _schedule(nodes: dict) -> dict:
        """The nodes with their stage appended (see the class docstring)."""
        stage, chained, scheduled = {}, {}, {}
        for key, (op, a, b, bits) in nodes.items():
            if op == "in":
                stage[key], chained[key] = 0, ADDS_PER_STAGE
            else:
                at = max(stage[a], stage[b])
                depth = 1 + max(chained[x] if stage[x] == at else 0 for x in (a, b))
                if depth > ADDS_PER_STAGE:
                    at, depth = at + 1, 1
                stage[key], chained[key] = at, depth
            scheduled[key] = (op, a, b, bits, stage[key])
        return scheduled

    @staticmethod
    def _window(nodes: dict, start: int, width: int) -> tuple:
        """Key of the node summing ``width`` channels from ``start`` (power-of-two splits)."""
        if width == 1:
            return ("in", start)
        key = ("win", start, width)
        if key not in nodes:
            half = 1 << (width - 1).bit_length() - 1
            lo = ChannelSums._window(nodes, start, half)
            hi = ChannelSums._window(nodes, start + half, width - half)
            nodes[key] = ("add", lo, hi, range_width(width))
        return key

    def adds(self) -> list:
        """Widths in bits of every two-operand add (or subtract) of the built plan."""
        return [node[3] for node in self.nodes.values() if node[0] != "in"]

    def lut4(self) -> int:
        """LUT4-equivalents of the adds: ⌈bits/2⌉ CCU2C of 2 LUT4s each."""
        return sum(add_lut4(bits) for bits in self.adds())

    def _needs(self) -> dict:
        """Latest stage at which each node's value is read."""
        need = {}
        for node in self.nodes.values():
            if node[0] != "in":
                for op in node[1:3]:
                    need[op] = max(need.get(op, 0), node[4])
        for key in self.outputs:
            need[key] = max(need.get(key, 0), self.pre_stages)
        return need

    def registered_bits(self) -> int:
        """Bits of the pipeline registers in front of stage 1 (values alive across a boundary)."""
        return sum(self.nodes[key][3] * max(0, last - self.nodes[key][4])
                   for key, last in self._needs().items())

    def build(self, pipe: Pipeline, pixel) -> list:
        """The output sums at stage ``pre_stages`` (registered copies where a value crosses a
        stage boundary), in output order."""
        values = {}

        def at(key, stage):
            if (key, stage) not in values:
                op, a, b, bits, produced = self.nodes[key][:5]
                name = "_".join(str(part) for part in key)
                if stage > produced:
                    values[key, stage] = pipe.register(at(key, stage - 1), f"{name}_s{stage}")
                elif op == "in":
                    values[key, stage] = pixel[a]
                else:
                    result = Signal(signed(bits), name=name, attrs={"keep": 1})
                    total = at(a, stage) + at(b, stage) if op == "add" else at(a, stage) - at(b, stage)
                    pipe.m.d.comb += result.eq(total[:bits].as_signed())
                    values[key, stage] = result
            return values[key, stage]

        return [at(key, self.pre_stages) for key in self.outputs]
