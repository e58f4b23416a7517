"""The MAC array: P output-channel lanes × T multipliers with exact accumulators and bias.

For every window it receives, :class:`MacArray` walks ⌈Cout/P⌉ lane groups; for each group it
spends ⌈c·n²/T⌉ passes of P·T multiplies (one ECP5 MULT18X18D each: operands ≤ 18 bits signed)
and emits the P accumulators of that group (bias included). α lives in an on-chip ROM with one
word per (group, pass).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer, ceil_log2

from .dsp import MULT18X18D_OPERAND_BITS, RegisteredMultiplier, check_primitive

MULT_OPERAND_BITS = MULT18X18D_OPERAND_BITS
"""Widest signed operand of one ECP5 MULT18X18D."""

TREE_LEVELS_PER_STAGE = 2
"""Adder levels of the product tree between two pipeline registers (two carry chains of ≤ 28
bits keep the MAC array above 100 MHz on ECP5 speed 6)."""


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def group_layout(value_shape, lanes: int, groups: int) -> data.StructLayout:
    """Payload of one lane group: ``values`` (P lanes of ``value_shape``) and its index."""
    return data.StructLayout({
        "values": data.ArrayLayout(value_shape, lanes),
        "group": unsigned(max(1, ceil_log2(groups))),
    })


BLOCK_ROM_MIN_BITS = 4096
"""ROMs of at least this many bits are marked for block RAM (a quarter of one DP16KD)."""


def rom_memory(bits: int, words: list, *, block: bool = False) -> Memory:
    """A ROM of ``words`` (unsigned ``bits`` wide), at least two deep so that its address is
    never a zero-width vector in Verilog (a one-word table repeats its word). With ``block``
    (for a synchronous read port) and at least BLOCK_ROM_MIN_BITS bits it asks synthesis for
    block RAM instead of LUTs (``rom_style = "block"``)."""
    words = list(words) * 2 if len(words) == 1 else list(words)
    attrs = {"rom_style": "block"} if block and bits * len(words) >= BLOCK_ROM_MIN_BITS else None
    return Memory(shape=unsigned(bits), depth=len(words), init=words, attrs=attrs)


def _pack(values, bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


class MacSchedule:
    """Which window element and which α each multiplier uses at each step.

    A step is (group g, pass k), g < ⌈Cout/P⌉, k < ⌈c·n²/T⌉. Lane p of group g computes output
    channel o = g·P + p; multiplier t of pass k handles α index j = k·T + t of α[o] flattened
    as (ci, kh, kw). Its operand is window element ``(kh·n + kw)·(groups·c) + conv_group(o)·c + ci``.
    Lanes beyond Cout and indices beyond c·n² get α = 0 and no operand (``None``).
    """

    def __init__(self, layer: QuantLayer, lanes: int, mults: int):
        self.layer, self.lanes, self.mults = layer, lanes, mults
        self.groups = ceil_div(layer.out_channels, lanes)
        self.passes = ceil_div(layer.mults_per_output, mults)
        n, c = layer.n, layer.c
        ce = layer.sumpool_channels
        out_per_conv_group = layer.out_channels // layer.groups
        alpha = layer.alpha.reshape(layer.out_channels, -1)
        self.alpha = [[[[0] * mults for _ in range(lanes)] for _ in range(self.passes)]
                      for _ in range(self.groups)]
        self.operand = [[[[None] * self.passes for _ in range(self.groups)] for _ in range(mults)]
                        for _ in range(lanes)]
        for g in range(self.groups):
            for p in range(lanes):
                o = g * lanes + p
                if o >= layer.out_channels:
                    continue
                base = (o // out_per_conv_group) * c
                for k in range(self.passes):
                    for t in range(mults):
                        j = k * mults + t
                        if j >= layer.mults_per_output:
                            continue
                        ci, rest = divmod(j, n * n)
                        kh, kw = divmod(rest, n)
                        self.alpha[g][k][p][t] = int(alpha[o, j])
                        self.operand[p][t][g][k] = (kh * n + kw) * ce + base + ci

    @property
    def steps(self) -> int:
        """Cycles the array spends on one window: groups · passes."""
        return self.groups * self.passes

    def operand_table(self, p: int, t: int):
        """(by_pass_only, table) for multiplier (p, t): if the operand does not depend on the
        group, ``table[k]`` gives it per pass; else ``table[g·passes + k]``. Entries are window
        indices, ``None`` where any operand will do (α = 0)."""
        per_group = self.operand[p][t]
        by_pass = []
        for k in range(self.passes):
            used = {per_group[g][k] for g in range(self.groups)} - {None}
            if len(used) > 1:
                return False, [per_group[g][k] for g in range(self.groups) for k in range(self.passes)]
            by_pass.append(used.pop() if used else None)
        return True, by_pass


def check_mac(layer: QuantLayer, lanes: int, mults: int, operand_bits: int) -> None:
    """Raise :class:`ConfigError` naming the parameter if a MAC array cannot be built."""
    if operand_bits > MULT_OPERAND_BITS:
        raise ConfigError(f"layer {layer.name!r}: multiplier operand of {operand_bits} bits "
                          f"exceeds the {MULT_OPERAND_BITS}-bit signed DSP operand (sum-pool "
                          f"window {layer.window} too large)")
    if not 1 <= lanes <= layer.out_channels:
        raise ConfigError(f"layer {layer.name!r}: lanes={lanes} must be in 1..{layer.out_channels}")
    if not 1 <= mults <= layer.mults_per_output:
        raise ConfigError(f"layer {layer.name!r}: mults={mults} must be in "
                          f"1..c·n²={layer.mults_per_output}")


class MacArray(wiring.Component):
    """P lanes × T multipliers over the windows of one layer.

    Parameters
    ----------
    layer : QuantLayer
        Provides α [Cout, c, n, n], bias [Cout], groups and the exact widths.
    lanes : int
        P, output channels computed in parallel.
    mults : int
        T, multipliers per lane.
    operand_bits : int
        Width of the signed window values (sum-pool output width, or 8 for a dense layer); at
        most 18 so that each multiply maps onto one MULT18X18D.
    dsp : str or None
        The hard multiplier to instantiate with its own registers (``"MULT18X18D"``), or None for
        inferred multiplies (see :class:`~structhw.rtl_gen.dsp.RegisteredMultiplier`).

    Attributes
    ----------
    i : In(stream.Signature(ArrayLayout(signed(operand_bits), n·n·groups·c)))
        One window per beat (layout of :class:`~structhw.rtl_gen.window.WindowGenerator`).
    o : Out(stream.Signature(group_layout(signed(acc_bits), P, ⌈Cout/P⌉)))
        ⌈Cout/P⌉ beats per window: lane group ``group`` and its P exact accumulators
        (``values[p]`` belongs to output channel group·P + p; lanes past Cout carry 0).

    Pipeline: issue (operand mux, ROM address) → ROM word and operand registers (two) →
    multiplier input register → multiplier output register → product register →
    :func:`tree_stages` adder-tree stages → accumulate → output register; the whole pipeline
    advances when the output register is free or being read.
    """

    def __init__(self, layer: QuantLayer, lanes: int, mults: int, operand_bits: int,
                 dsp: str | None = None):
        try:
            check_mac(layer, lanes, mults, operand_bits)
            check_primitive(dsp, signed(operand_bits), signed(8))
        except ConfigError:
            self._MustUse__silence = True  # never built: no "created but never used" warning
            raise
        self.layer, self.lanes, self.mults, self.operand_bits = layer, lanes, mults, operand_bits
        self.dsp = dsp
        self.schedule = MacSchedule(layer, lanes, mults)
        self.acc_bits = layer.widths().accumulator
        window = layer.n * layer.n * layer.sumpool_channels
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(operand_bits), window))),
            "o": Out(stream.Signature(group_layout(signed(self.acc_bits), lanes,
                                                   self.schedule.groups))),
        })

    def elaborate(self, platform):
        m = Module()
        sch = self.schedule
        P, T, G, K = self.lanes, self.mults, sch.groups, sch.passes
        layer = self.layer

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # ---- issue: hold one window, step through (group, pass) ----
        window = Signal.like(self.i.payload)
        have = Signal()
        g = Signal(range(max(G, 2)))
        k = Signal(range(max(K, 2)))
        step = Signal(range(max(G * K, 2)))
        last_pass = k == K - 1
        last_step = last_pass & (g == G - 1)
        issue = Signal()
        m.d.comb += [
            issue.eq(have & advance),
            self.i.ready.eq(~have | (issue & last_step)),
        ]
        with m.If(issue):
            m.d.sync += [k.eq(k + 1), step.eq(step + 1)]
            with m.If(last_pass):
                m.d.sync += [k.eq(0), g.eq(g + 1)]
            with m.If(last_step):
                m.d.sync += [g.eq(0), step.eq(0), have.eq(0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [window.eq(self.i.payload), have.eq(1)]

        elems = [window[e] for e in range(len(window))]
        shared = {}
        operands = [[None] * T for _ in range(P)]
        for p in range(P):
            for t in range(T):
                by_pass, table = sch.operand_table(p, t)
                key = (by_pass, tuple(table))
                if key not in shared:
                    op = Signal(signed(self.operand_bits), name=f"op_p{p}_t{t}")
                    sel = k if by_pass else step
                    used = [e for e in table if e is not None]
                    if len(set(used)) <= 1:
                        m.d.comb += op.eq(elems[used[0]] if used else 0)
                    else:
                        cases = [(s, e) for s, e in enumerate(table) if e is not None]
                        with m.Switch(sel):
                            for s, e in cases[:-1]:
                                with m.Case(s):
                                    m.d.comb += op.eq(elems[e])
                            with m.Default():
                                m.d.comb += op.eq(elems[cases[-1][1]])
                    shared[key] = op
                operands[p][t] = shared[key]

        # ---- multiply: α from ROM (synchronous read, one word per step) ----
        alpha_words = [_pack([a for lane in sch.alpha[gg][kk] for a in lane], 8)
                       for gg in range(G) for kk in range(K)]
        m.submodules.alpha_rom = alpha_rom = rom_memory(P * T * 8, alpha_words, block=True)
        rom = alpha_rom.read_port()
        m.d.comb += [rom.addr.eq(step), rom.en.eq(advance)]

        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_group = Signal.like(g)
        s1_ops = {id(op): Signal.like(op, name=f"{op.name}_r") for op in shared.values()}
        with m.If(advance):
            m.d.sync += [s1_valid.eq(issue), s1_first.eq(~k.any()), s1_last.eq(last_pass),
                         s1_group.eq(g)]
            m.d.sync += [s1_ops[id(op)].eq(op) for op in shared.values()]

        # Block-RAM clock-to-output (≈6 ns on ECP5) plus a multiply does not fit 10 ns: the ROM
        # word and the operands get a register of their own (alpha_r, _rr) before the
        # multipliers' input registers.
        alpha_layout = data.ArrayLayout(data.ArrayLayout(signed(8), T), P)
        alpha_r = Signal(alpha_layout, name="alpha_r")
        r_valid, r_first, r_last = Signal(), Signal(), Signal()
        r_group = Signal.like(g)
        rr_ops = {key: Signal.like(op, name=f"{op.name}_rr") for key, op in s1_ops.items()}
        q_valid, q_first, q_last = Signal(), Signal(), Signal()
        q_group = Signal.like(g)
        with m.If(advance):
            m.d.sync += [r_valid.eq(s1_valid), r_first.eq(s1_first), r_last.eq(s1_last),
                         r_group.eq(s1_group), alpha_r.eq(rom.data)]
            m.d.sync += [rr_ops[key].eq(op) for key, op in s1_ops.items()]
            m.d.sync += [q_valid.eq(r_valid), q_first.eq(r_first), q_last.eq(r_last),
                         q_group.eq(r_group)]

        # ---- multiply: one RegisteredMultiplier each (operand register, product register) ----
        p_valid, p_first, p_last = Signal(), Signal(), Signal()
        p_group = Signal.like(g)
        raw_products = []
        for p in range(P):
            row = []
            for t in range(T):
                mult = RegisteredMultiplier(signed(self.operand_bits), signed(8), self.dsp)
                m.submodules[f"mult_p{p}_t{t}"] = mult
                m.d.comb += [mult.a.eq(rr_ops[id(operands[p][t])]), mult.b.eq(alpha_r[p][t]),
                             mult.en.eq(advance)]
                row.append(mult.p)
            raw_products.append(row)
        prod_bits = self.operand_bits + 8
        # The product is registered once more out of the DSP row.
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_group = Signal.like(g)
        products = [[Signal(signed(prod_bits), name=f"prod_r_p{p}_t{t}") for t in range(T)]
                    for p in range(P)]
        with m.If(advance):
            m.d.sync += [p_valid.eq(q_valid), p_first.eq(q_first), p_last.eq(q_last),
                         p_group.eq(q_group)]
            m.d.sync += [s2_valid.eq(p_valid), s2_first.eq(p_first), s2_last.eq(p_last),
                         s2_group.eq(p_group)]
            for p in range(P):
                for t in range(T):
                    m.d.sync += products[p][t].eq(raw_products[p][t])

        # ---- adder tree over the T products, registered every TREE_LEVELS_PER_STAGE levels ----
        sums = []
        for p in range(P):
            total, stages = _pipelined_tree_sum(m, products[p], advance, f"psum_p{p}")
            sums.append(total)
        assert stages == tree_stages(T)
        s3_valid, s3_first, s3_last, s3_group = s2_valid, s2_first, s2_last, s2_group
        for stage in range(stages):
            nxt = [Signal(name=f"tree{stage}_valid"), Signal(name=f"tree{stage}_first"),
                   Signal(name=f"tree{stage}_last"), Signal.like(g, name=f"tree{stage}_group")]
            with m.If(advance):
                m.d.sync += [nxt[0].eq(s3_valid), nxt[1].eq(s3_first), nxt[2].eq(s3_last),
                             nxt[3].eq(s3_group)]
            s3_valid, s3_first, s3_last, s3_group = nxt

        # ---- accumulate: acc = (first ? bias : acc) + Σ_t products ----
        bias = [[int(layer.bias[gg * P + p]) if gg * P + p < layer.out_channels else 0
                 for p in range(P)] for gg in range(G)]
        bias_rom = rom_memory(P * self.acc_bits, [_pack(row, self.acc_bits) for row in bias])
        m.submodules.bias_rom = bias_rom
        bias_rd = bias_rom.read_port(domain="comb")
        m.d.comb += bias_rd.addr.eq(s3_group)
        bias_now = data.View(data.ArrayLayout(signed(self.acc_bits), P), bias_rd.data)

        acc = [Signal(signed(self.acc_bits), name=f"acc_p{p}") for p in range(P)]
        acc_next = [Signal(signed(self.acc_bits), name=f"acc_next_p{p}") for p in range(P)]
        for p in range(P):
            m.d.comb += acc_next[p].eq(Mux(s3_first, bias_now[p], acc[p]) + sums[p])
        out_valid = Signal()
        m.d.comb += self.o.valid.eq(out_valid)
        with m.If(advance):
            with m.If(s3_valid):
                m.d.sync += [acc[p].eq(acc_next[p]) for p in range(P)]
            m.d.sync += out_valid.eq(s3_valid & s3_last)
            with m.If(s3_valid & s3_last):
                m.d.sync += [self.o.payload.values[p].eq(acc_next[p]) for p in range(P)]
                m.d.sync += self.o.payload.group.eq(s3_group)
        return m


def tree_stages(mults: int) -> int:
    """Register stages of the product adder tree of T = ``mults`` products: one after every
    TREE_LEVELS_PER_STAGE levels and one after the last (none for a single product)."""
    levels = ceil_log2(mults) if mults > 1 else 0
    return ceil_div(levels, TREE_LEVELS_PER_STAGE)


def tree_register_bits(mults: int, width: int) -> int:
    """Flip-flops of one lane's pipelined product tree: the sums alive at every register stage
    of a balanced tree over ``mults`` products of ``width`` bits (each add one bit wider)."""
    widths, level, bits = [width] * mults, 0, 0
    while len(widths) > 1:
        widths = [max(widths[i], widths[i + 1]) + 1 if i + 1 < len(widths) else widths[i]
                  for i in range(0, len(widths), 2)]
        level += 1
        if level % TREE_LEVELS_PER_STAGE == 0 or len(widths) == 1:
            bits += sum(widths)
    return bits


def _pipelined_tree_sum(m: Module, values: list, enable, name: str) -> tuple:
    """Balanced adder tree over ``values`` with a register (loaded on ``enable``) after every
    TREE_LEVELS_PER_STAGE levels and after the last level; returns (sum, register stages)."""
    values, level, stages = list(values), 0, 0
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
        level += 1
        if level % TREE_LEVELS_PER_STAGE == 0 or len(values) == 1:
            registered = []
            for j, v in enumerate(values):
                reg = Signal(signed(len(v)), name=f"{name}_s{stages}_{j}")
                with m.If(enable):
                    m.d.sync += reg.eq(v)
                registered.append(reg)
            values, stages = registered, stages + 1
    return values[0], stages


def _tree_sum(values):
    """Balanced adder tree over ``values`` (Amaranth grows each sum by one bit)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]

