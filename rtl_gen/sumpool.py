"""The exact integer 3-D sum-pool of a structured layer, over a streamed, already padded map.

For a :class:`~structhw.qnet.QuantLayer` the unit takes the Hp×Wp padded map (Hp = in_height +
2·padding, Wp likewise), one pixel of C int8 values per beat in raster order, and emits the
Hs×Ws sum-pool map E (``layer.sumpool_height × layer.sumpool_width``), one pixel of ``groups·c``
values of ``layer.widths().sumpool`` bits per beat, equal to :func:`structhw.golden.sum_pool`.
Output value ``g·c + k`` of pixel (r, q) is the sum of input channels ``g·cg + k … g·cg + k + cw − 1``
(cg = C/groups, cw = ``layer.channel_window``) over rows ``r, r+d, …, r+(sw−1)·d`` and the same
columns (sw = ``layer.spatial_window``, d = ``layer.dilation``).

Two microarchitectures behind one interface (``arch``):

``"tree"`` (the paper's)
    Line buffers hold the last (sw−1)·d input rows of all C channels; a register window holds
    the last (sw−1)·d+1 columns of the sw row taps; one pipelined adder tree per output value
    sums its whole cw·sw² box. Adds per output pixel: groups·c·(cw·sw² − 1).
``"separable"``
    1. channel sums inside the pixel (``_ChannelSums``): per group one anchor output by a tree,
       the others by sliding from it one channel at a time in both directions (2 adds per
       output whatever the window, with the input pixel registered and a register after at most
       ADDS_PER_STAGE chained adds so that no long carry path lies between registers), or for
       small windows where that is cheaper a DAG of shared power-of-two channel windows; every
       add ``keep``-marked so that synthesis builds it as one carry chain rather than carry-save
       rows of LUT4s,
    2. vertical sums of sw taps from line buffers that store the *channel sums* (groups·c values
       of ``8 + ceil(log2 cw)`` bits instead of C int8 values); a running vertical sum would
       need sw·d rows of channel sums plus d rows of vertical sums in memory to save sw−3 adds,
       and memory, not adders, is what a line buffer costs, so taps it is,
    3. horizontal sums along the row: sum of sw taps for sw ≤ 3, a running sum (add the column
       entering, subtract the one leaving: 2 adds whatever the window) for sw ≥ 4.

With sw = 1 (no spatial window) the channel sums are the output, registered once.

Both accept one input pixel per cycle while the output is ready. The pipeline stalls as a whole:
every stage register moves when ``advance = ~o.valid | o.ready``, and ``i.ready = advance``. An
image is counted (Hp·Wp beats), so images may follow back to back.
"""

from __future__ import annotations

import math

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer, signed_width

from .linebuffer import LineBuffer

__all__ = ["SumPool", "ARCHS", "MAX_SUMPOOL_BITS", "check_sumpool_config", "sumpool_cost",
           "sumpool_area", "choose_sumpool_arch"]

ARCHS = ("tree", "separable")
MAX_SUMPOOL_BITS = 32
"""Widest sum-pool output supported: the E values go on to the MAC array's 18×18 DSPs in at most
two slices; beyond 32 bits the layer is not realisable by this generator."""

LEVELS_PER_STAGE = 2
"""Adder-tree levels between two pipeline registers in the "tree" arch."""

ADDS_PER_STAGE = 2
"""Most chained two-operand adds between two pipeline registers in the "separable" arch's
channel sums (tree levels and slides alike). On ECP5 one add of ~12 bits with the route to the
next is about 2 ns, so 2 per stage leave room for 100 MHz; 4 held the demo at 70 MHz."""

CHANNEL_PLANS = ("dag", "sliding")

RUNNING_HORIZONTAL_MIN_WINDOW = 4
"""Spatial windows from this size on use the running horizontal sum in the "separable" arch."""


# ----- configuration ------------------------------------------------------------------------
def check_sumpool_config(layer, arch: str) -> None:
    """Raise :class:`ConfigError` naming the parameter if ``layer`` with ``arch`` is not
    realisable by :class:`SumPool`."""
    if not isinstance(layer, QuantLayer):
        raise ConfigError(f"SumPool: layer must be a structhw.qnet.QuantLayer, got {type(layer).__name__}")
    if arch not in ARCHS:
        raise ConfigError(f"layer {layer.name!r}: sum-pool arch must be one of {ARCHS}, got {arch!r}")
    if layer.sumpool_height < 1 or layer.sumpool_width < 1:
        raise ConfigError(
            f"layer {layer.name!r}: sum-pool output {layer.sumpool_height}×{layer.sumpool_width} is "
            f"smaller than 1×1 (spatial_window={layer.spatial_window}, dilation={layer.dilation}, "
            f"padded input {_padded(layer)})")
    bits = _sum_width(layer)
    if bits > MAX_SUMPOOL_BITS:
        raise ConfigError(f"layer {layer.name!r}: sum-pool window {layer.window} needs {bits}-bit sums, "
                          f"more than the supported {MAX_SUMPOOL_BITS}")


def _padded(layer) -> tuple:
    return (layer.in_height + 2 * layer.padding, layer.in_width + 2 * layer.padding)


def _sum_width(layer) -> int:
    """Bits of E: the exact sum of ``window`` int8 values (same as ``layer.widths().sumpool``)."""
    return signed_width(-128 * layer.window, 127 * layer.window)


def _range_width(terms: int) -> int:
    return signed_width(-128 * terms, 127 * terms)


# ----- the component ------------------------------------------------------------------------
class SumPool(wiring.Component):
    """Exact 3-D sum-pool of ``layer`` over the padded map; see the module docstring.

    Parameters
    ----------
    layer : structhw.qnet.QuantLayer
        Geometry (in_channels, in_height, in_width, padding, groups, c, kernel, n, dilation).
    arch : str
        ``"tree"`` or ``"separable"``.

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
        self.height, self.width = _padded(layer)
        self.sum_bits = _sum_width(layer)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(8), layer.in_channels))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(self.sum_bits), layer.sumpool_channels))),
        })

    @property
    def latency(self) -> int:
        if self.arch == "tree":
            levels = math.ceil(math.log2(self.layer.window)) if self.layer.window > 1 else 0
            return 2 + max(1, math.ceil(levels / LEVELS_PER_STAGE))
        return (3 if self.layer.spatial_window > 1 else 1) + self._channel_plan.pre_stages

    @property
    def _channel_plan(self) -> "_ChannelSums":
        return _ChannelSums(self.layer)

    def elaborate(self, platform):
        m = Module()
        pre = self._channel_plan.pre_stages if self.arch == "separable" else 0
        pipe = _Pipeline(m, self, pre)
        if self.arch == "tree":
            self._elaborate_tree(m, pipe)
        else:
            self._elaborate_separable(m, pipe)
        return m

    # ----- "tree" ---------------------------------------------------------------------------
    def _elaborate_tree(self, m: Module, pipe: "_Pipeline") -> None:
        layer = self.layer
        sw, d = layer.spatial_window, layer.dilation
        pixel = data.ArrayLayout(signed(8), layer.in_channels)

        px1 = pipe.register(self.i.payload, "px1")
        row_taps = [px1] + _line_taps(m, pipe, pixel, px1, self.width, sw, d)

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
        results = _pipelined_trees(m, pipe, sums)
        for index, value in enumerate(results):
            m.d.comb += self.o.payload[index].eq(value)

    # ----- "separable" ----------------------------------------------------------------------
    def _elaborate_separable(self, m: Module, pipe: "_Pipeline") -> None:
        layer = self.layer
        sw, d, cw = layer.spatial_window, layer.dilation, layer.channel_window
        outs = layer.sumpool_channels
        channel_bits = _range_width(cw)
        vertical_bits = _range_width(cw * sw)

        sums_layout = data.ArrayLayout(signed(channel_bits), outs)
        channel_sums = Signal(sums_layout)
        for index, value in enumerate(self._channel_plan.build(pipe, self.i.payload)):
            m.d.comb += channel_sums[index].eq(value)
        cs1 = pipe.register(channel_sums, "cs1")
        if sw == 1:
            pipe.finish()
            m.d.comb += self.o.payload.eq(cs1)
            return

        row_taps = [cs1] + _line_taps(m, pipe, sums_layout, cs1, self.width, sw, d)
        vertical = Signal(data.ArrayLayout(signed(vertical_bits), outs))
        for index in range(outs):
            m.d.comb += vertical[index].eq(
                _kept_tree(m, [tap[index] for tap in row_taps], cw, f"vsum{index}"))
        pipe.stage(emit=1)
        v2 = pipe.register(vertical, "vertical2")
        col2 = pipe.register(pipe.col1, "col2")
        emit2 = pipe.register(pipe.emit1, "emit2")
        shift2 = pipe.valid[-1] & pipe.advance

        horizontal = Signal(data.ArrayLayout(signed(self.sum_bits), outs))
        if sw < RUNNING_HORIZONTAL_MIN_WINDOW:
            delayed = _delay_line(m, v2, (sw - 1) * d, shift2, "vdelay")
            taps = [v2] + [delayed[t * d - 1] for t in range(1, sw)]
            for index in range(outs):
                m.d.comb += horizontal[index].eq(
                    _kept_tree(m, [tap[index] for tap in taps], cw * sw, f"hsum{index}"))
        else:
            delayed = _delay_line(m, v2, sw * d, shift2, "vdelay")
            running = _delay_line(m, horizontal, d, shift2, "hdelay")
            entering_only = col2 < d
            nothing_leaves = col2 < sw * d
            for index in range(outs):
                previous = Mux(entering_only, 0, running[d - 1][index])
                leaving = Mux(nothing_leaves, 0, delayed[sw * d - 1][index])
                kept = Signal(signed(self.sum_bits), name=f"hrun{index}", attrs={"keep": 1})
                m.d.comb += [kept.eq((v2[index] - leaving)[:self.sum_bits].as_signed()),
                             horizontal[index].eq(kept + previous)]
        pipe.stage(emit=emit2)
        out = pipe.register(horizontal, "out")
        pipe.finish()
        m.d.comb += self.o.payload.eq(out)


# ----- building blocks ----------------------------------------------------------------------
class _Pipeline:
    """Valid bits and position of an all-or-nothing pipeline: every register loads when
    ``advance`` is high. Stage 1 holds the accepted pixel and its (row, col); ``emit1`` says
    that its window lies inside the image (an output pixel exists for it)."""

    def __init__(self, m: Module, unit: SumPool, pre_stages: int = 0):
        self.m = m
        self.unit = unit
        layer = unit.layer
        reach = (layer.spatial_window - 1) * layer.dilation
        self.advance = Signal()
        m.d.comb += [self.advance.eq(~unit.o.valid | unit.o.ready), unit.i.ready.eq(self.advance)]
        accept = unit.i.valid & self.advance

        col_in = Signal(range(max(unit.width, 2)))
        row_in = Signal(range(max(unit.height, 2)))
        with m.If(accept):
            with m.If(col_in == unit.width - 1):
                m.d.sync += col_in.eq(0)
                with m.If(row_in == unit.height - 1):
                    m.d.sync += row_in.eq(0)
                with m.Else():
                    m.d.sync += row_in.eq(row_in + 1)
            with m.Else():
                m.d.sync += col_in.eq(col_in + 1)

        valid_in = unit.i.valid
        for k in range(pre_stages):
            valid_in = self.register(valid_in, f"valid_pre{k}")
            col_in = self.register(col_in, f"col_pre{k}")
            row_in = self.register(row_in, f"row_pre{k}")
        self.col_in = col_in

        valid1 = Signal()
        self.col1 = Signal.like(self.col_in)
        row1 = Signal.like(row_in)
        with m.If(self.advance):
            m.d.sync += [valid1.eq(valid_in), self.col1.eq(self.col_in), row1.eq(row_in)]
        self.valid = [valid1]
        self.shift1 = valid1 & self.advance
        self.emit1 = (row1 >= reach) & (self.col1 >= reach) if reach else Const(1)

    def register(self, value, name: str) -> Signal:
        """A copy of ``value`` loaded when the pipeline advances (one stage later)."""
        reg = Signal.like(value, name=name)
        with self.m.If(self.advance):
            self.m.d.sync += reg.eq(value)
        return reg

    def stage(self, *, emit=1) -> None:
        """Close a stage: the next valid bit is this one AND ``emit`` (bubbles for pixels
        that produce no output)."""
        nxt = Signal(name=f"valid{len(self.valid) + 1}")
        with self.m.If(self.advance):
            self.m.d.sync += nxt.eq(self.valid[-1] & emit)
        self.valid.append(nxt)

    def finish(self) -> None:
        """The last stage's valid bit drives ``o.valid``."""
        self.m.d.comb += self.unit.o.valid.eq(self.valid[-1])


def _line_taps(m: Module, pipe: _Pipeline, shape, current, width: int, sw: int, d: int) -> list:
    """Values of the pixel word ``current`` (stage 1) d, 2d, …, (sw−1)·d rows above, from a line
    buffer of (sw−1)·d rows (empty list when sw == 1)."""
    rows = (sw - 1) * d
    if rows == 0:
        return []
    m.submodules.line_buffer = lines = LineBuffer(shape, width, rows)
    m.d.comb += [
        lines.read_col.eq(pipe.col_in),
        lines.read_en.eq(pipe.advance),
        lines.write_col.eq(pipe.col1),
        lines.write_en.eq(pipe.shift1),
        lines.write_data.eq(current),
    ]
    return [lines.taps[j * d - 1] for j in range(1, sw)]


def _delay_line(m: Module, value, length: int, shift, name: str) -> list:
    """``length`` registers; on ``shift`` element 0 loads ``value`` and element k loads k−1."""
    regs = [Signal.like(value, name=f"{name}{k}") for k in range(length)]
    with m.If(shift):
        for k, reg in enumerate(regs):
            m.d.sync += reg.eq(value if k == 0 else regs[k - 1])
    return regs


def _kept_tree(m: Module, terms: list, unit: int, name: str):
    """Balanced pairwise sum of ``terms`` (each a sum of ``unit`` int8 values), every add a
    ``keep``-marked signal of its exact width so that synthesis keeps two-operand carry chains
    instead of carry-save rows."""
    level = [(term, 1) for term in terms]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
                continue
            (a, na), (b, nb) = level[i], level[i + 1]
            bits = _range_width(unit * (na + nb))
            total = Signal(signed(bits), name=f"{name}_{len(level)}_{i}", attrs={"keep": 1})
            m.d.comb += total.eq(a + b)
            nxt.append((total, na + nb))
        level = nxt
    return level[0][0]


def _kept_tree_adds(count: int, unit: int) -> list:
    """Widths of the adds of :func:`_kept_tree` over ``count`` terms of ``unit`` int8 values."""
    level, widths = [1] * count, []
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
            else:
                nxt.append(level[i] + level[i + 1])
                widths.append(_range_width(unit * nxt[-1]))
        level = nxt
    return widths


class _ChannelSums:
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
        plans = [self._plan(layer, kind) for kind in CHANNEL_PLANS]
        self.kind, self.nodes, self.outputs = min(
            plans, key=lambda plan: sum(_add_lut4(node[3]) for node in plan[1].values()
                                        if node[0] != "in"))
        self.pre_stages = max(self.nodes[key][4] for key in self.outputs)

    # A node is (op, a, b, bits, stage): op "in" (a = input channel, 8 bits, stage 0), "add" or
    # "sub" (a ± b on operand values at the node's stage, wrapped to ``bits``). Operands precede
    # their users in the dict.
    @classmethod
    def _plan(cls, layer, kind: str) -> tuple:
        nodes, outputs = {}, []
        cg, cw, c = layer.group_channels, layer.channel_window, layer.c
        for ch in range(layer.in_channels):
            nodes["in", ch] = ("in", ch, None, 8)
        for g in range(layer.groups):
            base = g * cg
            if kind == "dag":
                outputs += [cls._window(nodes, base + k, cw) for k in range(c)]
                continue
            anchor = c // 2
            outs = {anchor: cls._window(nodes, base + anchor, cw)}
            width = _range_width(cw)
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
            lo = _ChannelSums._window(nodes, start, half)
            hi = _ChannelSums._window(nodes, start + half, width - half)
            nodes[key] = ("add", lo, hi, _range_width(width))
        return key

    def adds(self) -> list:
        """Widths in bits of every two-operand add (or subtract) of the built plan."""
        return [node[3] for node in self.nodes.values() if node[0] != "in"]

    def lut4(self) -> int:
        """LUT4-equivalents of the adds: ⌈bits/2⌉ CCU2C of 2 LUT4s each."""
        return sum(_add_lut4(bits) for bits in self.adds())

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

    def build(self, pipe: "_Pipeline", pixel) -> list:
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


def _pipelined_trees(m: Module, pipe: _Pipeline, trees: list) -> list:
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


# ----- analytic cost model ------------------------------------------------------------------
LUT4_PER_ADDER_BIT = 1
"""A two-operand ECP5 adder bit is one LUT4 of a CCU2C carry cell (a subtract too)."""
LUT4_PER_MUX_BIT = 1
BRAM_BITS_PER_LUT4 = 56 * 18432 / 24288
"""Area exchange rate of block RAM bits for LUT4s on the LFE5U-25F (56 DP16KD of 18 kbit,
24 288 LUT4): about 42.5 bits of block RAM occupy the share of the die of one LUT4."""


def _add_lut4(bits: int) -> int:
    """LUT4-equivalents of one two-operand ``bits``-bit add: ⌈bits/2⌉ CCU2C of two LUT4s."""
    return 2 * -(-bits // 2)


def _tree_adder_bits(count: int, width: int) -> tuple[int, list]:
    """Adder bits of a balanced tree summing ``count`` values of ``width`` bits (each add is
    one bit wider than its wider operand) and the operand widths alive after each level."""
    widths = [width] * count
    bits, alive = 0, []
    while len(widths) > 1:
        nxt = []
        for i in range(0, len(widths), 2):
            if i + 1 < len(widths):
                nxt.append(max(widths[i], widths[i + 1]) + 1)
                bits += nxt[-1]
            else:
                nxt.append(widths[i])
        widths = nxt
        alive.append(sum(widths))
    return bits, alive


def _control_ff(layer, stages: int, pre_stages: int = 0) -> int:
    """Row/column counters of the input, of every stage in front of stage 1 and of stage 1, one
    column per further stage, valid bits."""
    hp, wp = _padded(layer)
    position = max(hp, 2).bit_length() + max(wp, 2).bit_length()
    return (2 + pre_stages) * position + stages + pre_stages


def sumpool_cost(layer: QuantLayer, arch: str) -> dict:
    """Analytic resource estimate of ``SumPool(layer, arch)`` on ECP5.

    Model (G = groups, c, cw = channel window, sw = spatial window, d = dilation, C = channels,
    Wp = padded width, L = (sw−1)·d buffered rows, E = sum width, w(k) = bits of a sum of k int8,
    A(b) = 2·⌈b/2⌉ LUT4-equivalents of a b-bit two-operand add (⌈b/2⌉ CCU2C),
    T(k, u) = Σ A over the balanced pairwise tree of k values of u int8 each, every add w(·) wide):

    ``tree`` (the paper's count: no sharing between the trees of overlapping windows)
        lut4 = G·c · (adder bits of a balanced tree of cw·sw² 8-bit values)
        ff = C·8 (stage 1) + ((sw−1)·d+1)·sw·C·8 (window) + tree pipeline registers
        (the operands alive after every LEVELS_PER_STAGE levels, and the E-bit results)
        + L·C·8 (memory read register) + control
        bram_bits = Wp · L · C · 8
    ``separable``
        lut4 = channel sums (Σ A over the adds of the plan ``_ChannelSums`` builds: sliding,
        G·(T(cw, 1) + (c − 1)·(A(9) + A(w(cw)))), or the shared power-of-two window DAG, about
        C·⌈log2 cw⌉ adds of ≤ w(cw) bits) + vertical G·c·T(sw, cw) + horizontal G·c·T(sw, cw·sw)
        (taps) or G·c·2·(A(E) + E) (running: 2 adds, 2 muxes)
        ff = G·c·(w(cw) + w(cw·sw)·(1 + delay) + E·(1 + running)) + L·G·c·w(cw) (memory read
        register) + channel-sum pipeline registers + control; delay = (sw−1)·d (taps) or sw·d
        (running), running = d for the running horizontal sum else 0; with sw = 1 only
        G·c·w(cw) + channel-sum pipeline registers + valid bits
        bram_bits = Wp · L · G·c · w(cw)

    dsp is 0 (adds only). Checked against synth_ecp5 by benchmarks/bench_sumpool_synth.py (14
    windows, C = 16…64): measured separable LUT4-equivalents (LUT4 + 2·CCU2C) are 1.00–1.06× of
    the model and FFs 0.99–1.00×; the tree count ignores the partial sums that synthesis merges between
    overlapping windows and the carry-save mapping, measured LUT4-equivalents 0.24–1.54× and FFs
    0.43–1.00× of it (it over-estimates large windows). Every measured choice between the two
    archs agreed with :func:`choose_sumpool_arch`. Memories this small land in LUT RAM
    (TRELLIS_DPR16X4) in synthesis: the model still counts them as block RAM bits.
    """
    check_sumpool_config(layer, arch)
    g, c, cw = layer.groups, layer.c, layer.channel_window
    sw, d = layer.spatial_window, layer.dilation
    outs, channels = layer.sumpool_channels, layer.in_channels
    e_bits = _sum_width(layer)
    wp = _padded(layer)[1]
    rows = (sw - 1) * d
    if arch == "tree":
        tree_bits, alive = _tree_adder_bits(cw * sw * sw, 8)
        registered = [a for level, a in enumerate(alive, start=1)
                      if level % LEVELS_PER_STAGE == 0 and level != len(alive)]
        stages = 3 + len(registered)
        lut4 = outs * tree_bits * LUT4_PER_ADDER_BIT
        word = channels * 8
        ff = (word + (rows + 1) * sw * word + outs * (sum(registered) + e_bits)
              + rows * word + _control_ff(layer, stages))
        bram_bits = wp * rows * word
    else:
        cw_bits, v_bits = _range_width(cw), _range_width(cw * sw)
        plan = _ChannelSums(layer)
        channel = plan.lut4()
        vertical = outs * sum(_add_lut4(bits) for bits in _kept_tree_adds(sw, cw))
        running = sw >= RUNNING_HORIZONTAL_MIN_WINDOW
        if running:
            horizontal = outs * 2 * (_add_lut4(e_bits) + e_bits * LUT4_PER_MUX_BIT)
            delay, h_regs = sw * d, d
        else:
            horizontal = outs * sum(_add_lut4(bits) for bits in _kept_tree_adds(sw, cw * sw))
            delay, h_regs = rows, 0
        lut4 = channel + vertical + horizontal
        if sw == 1:
            ff = outs * cw_bits + plan.registered_bits() + plan.pre_stages + 1
        else:
            ff = (outs * (cw_bits + v_bits * (1 + delay) + e_bits * (1 + h_regs))
                  + rows * outs * cw_bits + plan.registered_bits()
                  + _control_ff(layer, 3, plan.pre_stages) + 2)
        bram_bits = wp * rows * outs * cw_bits
    return {"lut4": int(lut4), "ff": int(ff), "dsp": 0, "bram_bits": int(bram_bits)}


def sumpool_area(cost: dict) -> float:
    """One number to compare costs by, in LUT4-equivalents: lut4 + ff + bram_bits / 42.5
    (an ECP5 slice has as many FFs as LUT4s; block RAM at its share of the LFE5U-25F die)."""
    return cost["lut4"] + cost["ff"] + cost["bram_bits"] / BRAM_BITS_PER_LUT4


def choose_sumpool_arch(layer: QuantLayer) -> str:
    """The arch with the smaller :func:`sumpool_area` of :func:`sumpool_cost` (tree on a tie)."""
    return min(ARCHS, key=lambda arch: (sumpool_area(sumpool_cost(layer, arch)), ARCHS.index(arch)))
