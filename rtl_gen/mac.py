"""The MAC array: P output-channel lanes × T multipliers with exact accumulators and bias.

For every window it receives, :class:`MacArray` walks ⌈Cout/P⌉ lane groups; for each group it
spends ⌈c·n²/T⌉ passes of P·T multiplies (one ECP5 MULT18X18D each: operands ≤ 18 bits signed)
and emits the P accumulators of that group (bias included). α lives in an on-chip ROM with one
word per (group, pass).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from structhw.errors import ConfigError
from structhw.qnet import QuantLayer

from .dsp import MULT18X18D_OPERAND_BITS, check_primitive
from .mac_pipeline import (IssuedStep, alpha_rom, ceil_div, group_layout, multiply_accumulate,
                           step_layout, tree_register_bits, tree_stages)

__all__ = ["MULT_OPERAND_BITS", "MacSchedule", "MacArray", "check_mac", "ceil_div",
           "group_layout", "tree_stages", "tree_register_bits"]

MULT_OPERAND_BITS = MULT18X18D_OPERAND_BITS
"""Widest signed operand of one ECP5 MULT18X18D."""


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


def _select_counter(m, modulo: int, issue, *, name: str) -> Signal:
    """A counter 0 … modulo−1 that steps while ``issue`` (one cycle's issue of a step) and
    wraps, computed from its own value only."""
    sel = Signal(range(max(modulo, 2)), name=name)
    with m.If(issue):
        m.d.sync += sel.eq(Mux(sel == modulo - 1, 0, sel + 1))
    return sel


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
    :func:`tree_stages` adder-tree stages → accumulate → output FIFO; the issue stage advances
    while the FIFO has room for what is in flight, the rest runs free
    (:func:`~structhw.rtl_gen.mac_pipeline.multiply_accumulate`).
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
        G, K = sch.groups, sch.passes
        layer = self.layer

        advance = Signal(name="advance")

        # ---- issue: hold one window, step through (group, pass) ----
        window = Signal.like(self.i.payload)
        have = Signal()
        g = Signal(range(max(G, 2)))
        k = Signal(range(max(K, 2)))
        step = Signal(range(max(G * K, 2)))
        last_pass = k == K - 1
        last_step = last_pass & (g == G - 1)
        issue = Signal()
        ready = Signal(init=1, name="window_ready")
        m.d.comb += [issue.eq(have & advance), self.i.ready.eq(ready)]
        with m.If(issue):
            m.d.sync += [k.eq(k + 1), step.eq(step + 1)]
            with m.If(last_pass):
                m.d.sync += [k.eq(0), g.eq(g + 1)]
            with m.If(last_step):
                m.d.sync += [g.eq(0), step.eq(0), have.eq(0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [window.eq(self.i.payload), have.eq(1)]

        shared, operands = self._operands(m, window, issue)

        # ---- the step issued: flags and operands registered, α read from ROM ----
        flags = Signal(step_layout(G), name="s1")
        s1_ops = {id(op): Signal.like(op, name=f"{op.name}_r") for op in shared.values()}
        with m.If(advance):
            m.d.sync += [flags.valid.eq(issue), flags.first.eq(~k.any()),
                         flags.last.eq(last_pass), flags.group.eq(g)]
            m.d.sync += [s1_ops[id(op)].eq(op) for op in shared.values()]
        issued = IssuedStep(flags, [[s1_ops[id(op)] for op in row] for row in operands],
                            alpha_rom(m, sch.alpha, advance, step))
        credit_next = multiply_accumulate(m, issued, layer=layer, groups=G, passes=K,
                                          operand_bits=self.operand_bits, dsp=self.dsp,
                                          advance=advance, out=self.o)
        self._register_ready(m, ready, have=have, issue=issue, step=step, flags=flags,
                             last_pass=last_pass, last_step=last_step, advance=advance,
                             credit_next=credit_next)
        return m

    def _operands(self, m, window, issue):
        """The operand multiplexers: ``(shared, operands)`` with ``operands[p][t]`` multiplier
        (p, t)'s operand in the current step and ``shared`` the distinct ones by table. Each
        multiplexer counts its own select (pass k, or step g·K + k when the operand depends on
        the lane group), advanced by ``issue`` in step with the front's counters: one select
        register per multiplexer instead of one counter fanning out to every multiplexer
        (benchmarks/README.md, "router1 on the select counters"). A copy counts from its own
        value, so synthesis does not merge it with the others."""
        sch = self.schedule
        elems = [window[e] for e in range(len(window))]
        shared = {}
        operands = [[None] * sch.mults for _ in range(sch.lanes)]
        for p in range(sch.lanes):
            for t in range(sch.mults):
                by_pass, table = sch.operand_table(p, t)
                key = (by_pass, tuple(table))
                if key not in shared:
                    op = Signal(signed(self.operand_bits), name=f"op_p{p}_t{t}")
                    used = [e for e in table if e is not None]
                    if len(set(used)) <= 1:
                        m.d.comb += op.eq(elems[used[0]] if used else 0)
                    else:
                        modulo = sch.passes if by_pass else sch.steps
                        sel = _select_counter(m, modulo, issue, name=f"sel_p{p}_t{t}")
                        cases = [(s, e) for s, e in enumerate(table) if e is not None]
                        with m.Switch(sel):
                            for s, e in cases[:-1]:
                                with m.Case(s):
                                    m.d.comb += op.eq(elems[e])
                            with m.Default():
                                m.d.comb += op.eq(elems[cases[-1][1]])
                    shared[key] = op
                operands[p][t] = shared[key]
        return shared, operands

    def _register_ready(self, m, ready, *, have, issue, step, flags, last_pass, last_step,
                        advance, credit_next) -> None:
        """Load ``ready`` with next cycle's ``~have | (advance & last_step)`` (the window
        register is empty, or its last step issues), computed from this cycle's next-state
        values: the same ready, cycle for cycle, from a register, so the MAC's step counter and
        credits reach no clock enable upstream (the window generator, sum-pool, window queue)."""
        last = self.schedule.steps - 1
        took = self.i.valid & self.i.ready
        have_next = took | (have & ~(issue & last_step))
        step_next = Signal.like(step, name="step_next")
        m.d.comb += step_next.eq(step)
        with m.If(issue):
            m.d.comb += step_next.eq(Mux(last_step, 0, step + 1))
        holds_last_next = Mux(advance, issue & last_pass, flags.valid & flags.last)
        advance_next = ~holds_last_next | credit_next
        m.d.sync += ready.eq(~have_next | (advance_next & (step_next == last)))

