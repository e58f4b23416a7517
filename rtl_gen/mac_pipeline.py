"""The multiply-accumulate half of a MAC array, shared by every front that issues steps.

A front issues one step per cycle while ``advance`` is high: the α ROM address of the step and
its operands, which must be registered values one cycle later (the front's register stage,
aligned with the ROM's synchronous read). From there :func:`multiply_accumulate` builds the
rest: ROM word and operand registers → multiplier input register → multiplier output register →
product register → :func:`tree_stages` adder-tree stages → accumulate (bias on a group's first
pass) → output FIFO. Past the front's stage the pipeline runs free (no clock enable: a bubble
travels as a step whose ``valid`` is low), so no stall signal fans out to its registers and
DSPs; the output FIFO (:func:`output_fifo_depth`) holds every beat in flight, and ``advance``
falls only while the front holds a group's last step and the FIFO has no free entry
(credits counted from registers, not from the consumer's ``ready``).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from structhw.qnet import QuantLayer, ceil_log2

from .dsp import RegisteredMultiplier
from .streams import StreamFIFO

TREE_LEVELS_PER_STAGE = 2
"""Adder levels of the product tree between two pipeline registers (two carry chains of ≤ 28
bits keep the MAC array above 100 MHz on ECP5 speed 6)."""

BLOCK_ROM_MIN_BITS = 4096
"""ROMs of at least this many bits are marked for block RAM (a quarter of one DP16KD)."""


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def group_layout(value_shape, lanes: int, groups: int) -> data.StructLayout:
    """Payload of one lane group: ``values`` (P lanes of ``value_shape``) and its index."""
    return data.StructLayout({
        "values": data.ArrayLayout(value_shape, lanes),
        "group": unsigned(max(1, ceil_log2(groups))),
    })


def step_layout(groups: int) -> data.StructLayout:
    """What travels with a step down the pipeline: valid, first and last pass of its lane group,
    and the group index."""
    return data.StructLayout({"valid": 1, "first": 1, "last": 1,
                              "group": unsigned(max(1, ceil_log2(groups)))})


def rom_memory(bits: int, words: list, *, block: bool = False) -> Memory:
    """A ROM of ``words`` (unsigned ``bits`` wide), at least two deep so that its address is
    never a zero-width vector in Verilog (a one-word table repeats its word). With ``block``
    (for a synchronous read port) and at least BLOCK_ROM_MIN_BITS bits it asks synthesis for
    block RAM instead of LUTs (``rom_style = "block"``)."""
    words = list(words) * 2 if len(words) == 1 else list(words)
    attrs = {"rom_style": "block"} if block and bits * len(words) >= BLOCK_ROM_MIN_BITS else None
    return Memory(shape=unsigned(bits), depth=len(words), init=words, attrs=attrs)


def pack(values, bits: int) -> int:
    """``values`` as one unsigned word, value i in bits [i·bits, (i+1)·bits)."""
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


@dataclass
class IssuedStep:
    """One cycle after a step issued: its flags (:func:`step_layout`), its operands (``ops[p][t]``,
    registered, signals may be shared between multipliers) and the α ROM word read for it."""

    flags: data.View
    ops: list
    alpha: object


def alpha_rom(m: Module, alpha, advance, step) -> object:
    """Instantiate the α ROM of ``alpha[g][k][p][t]`` (int8) read at address ``step`` = g·K + k
    while ``advance``; returns its read data (valid one cycle later)."""
    P, T = len(alpha[0][0]), len(alpha[0][0][0])
    words = [pack([a for lane in per_pass for a in lane], 8) for per_group in alpha
             for per_pass in per_group]
    m.submodules.alpha_rom = rom_mem = rom_memory(P * T * 8, words, block=True)
    rom = rom_mem.read_port()
    m.d.comb += [rom.addr.eq(step), rom.en.eq(advance)]
    return rom.data


def _delayed(m: Module, flags, stages: int, name: str):
    for s in range(stages):
        nxt = Signal.like(flags, name=f"{name}{s}")
        m.d.sync += nxt.eq(flags)
        flags = nxt
    return flags


def _products(m: Module, issued: IssuedStep, operand_bits: int, dsp) -> list:
    """The registered products [p][t], three edges after the step register of ``issued``."""
    P, T = len(issued.ops), len(issued.ops[0])
    # Block-RAM clock-to-output (≈6 ns on ECP5) plus a multiply does not fit 10 ns: the ROM
    # word and the operands get a register of their own before the multipliers' input registers.
    alpha_r = Signal(data.ArrayLayout(data.ArrayLayout(signed(8), T), P), name="alpha_r")
    rr_ops = {}
    m.d.sync += alpha_r.eq(issued.alpha)
    for row in issued.ops:
        for op in row:
            if id(op) not in rr_ops:
                rr_ops[id(op)] = Signal.like(op, name=f"{op.name}_rr")
                m.d.sync += rr_ops[id(op)].eq(op)
    products = [[Signal(signed(operand_bits + 8), name=f"prod_r_p{p}_t{t}") for t in range(T)]
                for p in range(P)]
    for p in range(P):
        for t in range(T):
            mult = RegisteredMultiplier(signed(operand_bits), signed(8), dsp)
            m.submodules[f"mult_p{p}_t{t}"] = mult
            m.d.comb += [mult.a.eq(rr_ops[id(issued.ops[p][t])]), mult.b.eq(alpha_r[p][t]),
                         mult.en.eq(1)]
            m.d.sync += products[p][t].eq(mult.p)
    return products


PRODUCT_STAGES = 4
"""Registers between the front's step register and the adder tree: α/operand, the multiplier's
input and output registers, the product register."""

OUTPUT_FIFO_LATENCY = 1
"""Cycles from the accumulator's last pass to the beat at the output FIFO's read port (its
``SyncFIFOBuffered`` output register)."""


MAC_LATENCY_BESIDES_TREE = PRODUCT_STAGES + 1 + OUTPUT_FIFO_LATENCY
"""Cycles of :func:`mac_latency` other than the adder tree's: PRODUCT_STAGES, the accumulate
(written into the FIFO) and OUTPUT_FIFO_LATENCY."""


def mac_latency(mults: int) -> int:
    """Cycles from the front's step register holding a group's last step to that group's beat
    at the output: MAC_LATENCY_BESIDES_TREE and the :func:`tree_stages`."""
    return MAC_LATENCY_BESIDES_TREE + tree_stages(mults)


def output_fifo_depth(mults: int, passes: int) -> int:
    """Entries of the output FIFO that keep the pipeline at one step per cycle behind an
    always-ready consumer: a credit comes back two cycles after its beat is read (the read is
    registered before it counts), so a group's credit is out for :func:`mac_latency` + 3
    cycles, during which a new group's last step comes every ``passes`` cycles; at least 3 (a
    ``SyncFIFOBuffered`` of 2 has zero-width pointers, which Verilator lints as ASCRANGE)."""
    return max(3, -(-(mac_latency(mults) + 3) // passes) + 1)


def _credits(m: Module, issued: IssuedStep, advance, out, depth: int) -> Signal:
    """Drive ``advance``: low only while the step register holds a group's last step and
    every one of the output FIFO's ``depth`` entries is taken or promised. A beat read from the
    FIFO returns its credit from a register, a cycle later, so no ready path from the consumer
    reaches the front. Returns a signal that is high when a credit will be left in the next
    cycle (for a front that registers its ``ready`` from next-cycle values)."""
    credits = Signal(range(depth + 1), init=depth, name="mac_credits")
    credits_next = Signal.like(credits, name="mac_credits_next")
    holds_last = Signal(name="holds_last")
    m.d.comb += [holds_last.eq(issued.flags.valid & issued.flags.last),
                 advance.eq(~holds_last | credits.any())]
    taken = advance & holds_last
    freed = Signal(name="mac_freed")
    m.d.sync += freed.eq(out.valid & out.ready)
    m.d.comb += credits_next.eq(credits)
    with m.If(taken & ~freed):
        m.d.comb += credits_next.eq(credits - 1)
    with m.Elif(freed & ~taken):
        m.d.comb += credits_next.eq(credits + 1)
    m.d.sync += credits.eq(credits_next)
    return credits_next.any()


def multiply_accumulate(m: Module, issued: IssuedStep, *, layer: QuantLayer, groups: int,
                        passes: int, operand_bits: int, dsp, advance, out) -> Signal:
    """Multiply, sum and accumulate the steps of ``issued`` into ``out`` (a stream of
    :func:`group_layout` beats, the output FIFO's read side) and drive ``advance``, on which the
    front loads its step register (``issued.flags``, operands, α ROM read). ``passes``: steps
    per lane group. Lane p of group g is output channel g·P + p; lanes past Cout emit their
    bias 0 plus products of α = 0. Returns a signal high when the output FIFO will have a
    credit left in the next cycle."""
    P, T = len(issued.ops), len(issued.ops[0])
    acc_bits = layer.widths().accumulator
    depth = output_fifo_depth(T, passes)
    credit_next = _credits(m, issued, advance, out, depth)
    entering = Signal.like(issued.flags, name="mac_step")
    m.d.comb += [entering.eq(issued.flags), entering.valid.eq(issued.flags.valid & advance)]
    products = _products(m, issued, operand_bits, dsp)
    flags = _delayed(m, entering, PRODUCT_STAGES, "mac_flags")
    sums = []
    for p in range(P):
        total, stages = _pipelined_tree_sum(m, products[p], f"psum_p{p}")
        sums.append(total)
    flags = _delayed(m, flags, tree_stages(T), "tree_flags")

    bias = [[int(layer.bias[g * P + p]) if g * P + p < layer.out_channels else 0
             for p in range(P)] for g in range(groups)]
    m.submodules.bias_rom = bias_rom = rom_memory(P * acc_bits, [pack(row, acc_bits) for row in bias])
    bias_rd = bias_rom.read_port(domain="comb")
    m.d.comb += bias_rd.addr.eq(flags.group)
    bias_now = data.View(data.ArrayLayout(signed(acc_bits), P), bias_rd.data)

    acc = [Signal(signed(acc_bits), name=f"acc_p{p}") for p in range(P)]
    acc_next = [Signal(signed(acc_bits), name=f"acc_next_p{p}") for p in range(P)]
    for p in range(P):
        m.d.comb += acc_next[p].eq(Mux(flags.first, bias_now[p], acc[p]) + sums[p])
    with m.If(flags.valid):
        m.d.sync += [acc[p].eq(acc_next[p]) for p in range(P)]
    m.submodules.mac_fifo = fifo = StreamFIFO(out.payload.shape(), depth, "distributed")
    m.d.comb += [fifo.i.valid.eq(flags.valid & flags.last), fifo.i.payload.group.eq(flags.group)]
    m.d.comb += [fifo.i.payload.values[p].eq(acc_next[p]) for p in range(P)]
    m.d.comb += [out.valid.eq(fifo.o.valid), out.payload.eq(fifo.o.payload),
                 fifo.o.ready.eq(out.ready)]
    return credit_next


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


def _pipelined_tree_sum(m: Module, values: list, name: str) -> tuple:
    """Balanced adder tree over ``values`` with a register after every
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
                m.d.sync += reg.eq(v)
                registered.append(reg)
            values, stages = registered, stages + 1
    return values[0], stages
