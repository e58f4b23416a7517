"""Analytic resource model of a :class:`~structhw.rtl_gen.engine.LayerEngine` on ECP5.

Counts are LUT4s (a CCU2C carry cell counted as two LUT4s), flip-flops, MULT18X18D DSPs and
memory bits (ROMs; line buffers in the RAM :func:`~structhw.rtl_gen.memory_style.ram_style`
picks, whole DP16KD blocks or LUT RAM). The sum-pool's share comes from
:func:`structhw.rtl_gen.sumpool.sumpool_cost`. Checked against ``synth_ecp5`` by
``benchmarks/bench_engine_synth.py``.

Flip-flops are counted as inferred multipliers place them: every pipeline register in the fabric.
With an ECP5 budget (``dsp_primitive = "MULT18X18D"``, see :mod:`structhw.rtl_gen.dsp`) each
multiplier's operand and product registers sit inside its DSP instead, so the FF figure is an
upper bound there (the demo on ULX3S-85F: 25 871 estimated, 19 949 used in nextpnr's report).

Notation: C input channels, Ce = groups·c window channels of w bits (8 dense, else the sum-pool
width), n kernel, span = d·(n−1)+1, Hs×Ws the map the windows slide over, P lanes, T multipliers
per lane, G = ⌈Cout/P⌉ lane groups, K = ⌈c·n²/T⌉ passes, A accumulator bits, R requant product
bits, Mb multiplier bits, U distinct multiplier operands (T when groups = 1, else up to P·T).

===============  =====================================================================
padder           lut4 = 8·C (zero mux) + 4·(counter bits); ff = counter bits
window           ff = span·n·Ce·w (tap registers) + counters + 1; lut4 = 2·counter bits + 4;
                 line buffer: Ws words of (span−1)·Ce·w bits in its RAM (memory_cost)
window_queue     Q = :func:`~structhw.rtl_gen.engine.window_queue_depth` windows of
                 B = n²·Ce·w bits (nothing when Q = 0); lut4 = 3·⌈B/4⌉·⌈Q/16⌉ (LUT RAM, one
                 DPR16X4 per 4 bits × 16 words) + B (bypass mux) + 4·⌈log2(Q+1)⌉ + 4;
                 ff = 3·⌈log2(Q+1)⌉ (pointers, level)
mac              dsp = P·T (one MULT18X18D per w×8 product, w ≤ 18);
                 ff = n²·Ce·w (window copy) + 2·U·w (two operand registers) + P·T·8 (α word)
                 + P·T·(w+8) (products)
                 + 2·P·A (accumulator and output) + step counters and the registered ready
                 + one select counter of ⌈log2 K⌉ bits (⌈log2 G·K⌉ with conv groups) per
                 multiplexer of more than one input;
                 lut4 = U·w·(S−1)/2 (operand multiplexers of S = K or G·K inputs)
                 + 2 per select counter bit
                 + 1.6·P·(T−1)·(w+8+log2 T) (the product sums become carry-save adders
                 and a final carry chain) + 3·P·A (bias ROM, mux and accumulate) + step counters
                 (with the next-cycle step that the registered ready is computed from);
                 α ROM of G·K words of P·T·8 bits: whole DP16KD blocks of the best shape from
                 4096 bits on (it asks for block RAM), else LUT4s; the bias ROM (read
                 asynchronously) is among the 3·P·A LUT4s
requant          the accumulator is cut into X slices of ≤ 18 bits (one DSP each, see
                 :func:`~structhw.rtl_gen.requant.product_chunks`); dsp = P·X·⌈(Mb+1)/18⌉;
                 ff = P·(A + Mb + Σ(slice+Mb+1) + 2R + 2·S_max + 3·⌈log2 S_max⌉ + 8)
                 + 6·(groups bits + 1) (operands and ROM word, partial products, rounded sum,
                 shifted value, output); lut4 = P·R·(⌈log2(S_max+1)⌉ (barrel shifter)
                 + 3 + X (X-operand rounding add, clamp))
input_skid       ff = lut4 = 8·C (+1 full bit; +2 LUT4): the padded pixel held while the next
                 stage stalls, so no ready path runs from it into the input FIFO
mac_fifo         the MAC output FIFO: D − 1 words of P·A + groups bits in DPR16X4s (3 LUT4
                 per 16 × 4), D = output_fifo_depth(T, passes); pointers, level and credit
                 counter (4·⌈log2(D+1)⌉ ff, twice that lut4), the registered credit return
collector        ff = 8·Cout + 1; lut4 = 2·groups bits + 8
===============  =====================================================================

The LUT coefficients (1.6 per adder-tree bit, 4·R per requantiser lane) are fitted to
``synth_ecp5`` (LUTs mapped by ``abc -lut 4``) of the engines in benchmarks/bench_engine_synth.py;
benchmarks/README.md has the last measured ÷ model figures.
"""

from __future__ import annotations

from structhw.qnet import QuantLayer, ceil_log2
from structhw.resources import Resources

from .engine import check_engine, window_queue_depth
from .mac import MacSchedule, tree_register_bits, tree_stages
from .mac_pipeline import BLOCK_ROM_MIN_BITS, ceil_div, output_fifo_depth
from .memory_engine import check_memory_engine
from .memory_style import block_cost, memory_cost, ram_style
from .memory_window_model import MemoryWindowGeometry
from .params import EngineParams
from .requant import REQUANT_STAGES, product_chunks
from .sumpool import sumpool_cost


def _counter_bits(*sizes: int) -> int:
    return sum(max(ceil_log2(s), 1) for s in sizes)


def padder_cost(layer: QuantLayer) -> Resources:
    if layer.padding == 0:
        return Resources()
    bits = _counter_bits(layer.in_height + 2 * layer.padding, layer.in_width + 2 * layer.padding)
    return Resources(lut4=8 * layer.in_channels + 4 * bits, ff=bits)


def window_cost(layer: QuantLayer, operand_bits: int) -> Resources:
    span = layer.dilation * (layer.n - 1) + 1
    pixel = layer.sumpool_channels * operand_bits
    bits = _counter_bits(layer.sumpool_height, layer.sumpool_width)
    return (Resources(lut4=2 * bits + 4, ff=span * layer.n * pixel + bits + 1)
            + memory_cost(layer.sumpool_width, (span - 1) * pixel))


def window_queue_cost(layer: QuantLayer, params: EngineParams, operand_bits: int) -> Resources:

    depth = window_queue_depth(layer, params)
    if not depth:
        return Resources()
    bits = layer.n * layer.n * layer.sumpool_channels * operand_bits
    ptr = max(ceil_log2(depth + 1), 1)
    return Resources(lut4=3 * -(-bits // 4) * -(-depth // 16) + bits + 4 * ptr + 4, ff=3 * ptr)


def _distinct_operands(layer: QuantLayer, params: EngineParams) -> list:
    """Mux sizes (inputs) of the distinct operand multiplexers of the MAC array. With one conv
    group every lane shares multiplier t's operand, which takes α index k·T + t in pass k."""
    if layer.groups == 1:
        total = layer.mults_per_output
        return [len(range(t, total, params.mults)) for t in range(params.mults)]
    schedule = MacSchedule(layer, params.lanes, params.mults)
    seen = {}
    for p in range(schedule.lanes):
        for t in range(schedule.mults):
            by_pass, table = schedule.operand_table(p, t)
            seen.setdefault((by_pass, tuple(table)), len({e for e in table if e is not None}))
    return list(seen.values())


def mac_cost(layer: QuantLayer, params: EngineParams, operand_bits: int) -> Resources:
    P, T = params.lanes, params.mults
    G, K = -(-layer.out_channels // P), -(-layer.mults_per_output // T)
    w, A = operand_bits, layer.widths().accumulator
    muxes = _distinct_operands(layer, params)
    steps = _counter_bits(G, K, G * K) + 1
    selects = sum(1 for s in muxes if s > 1) * _counter_bits(K if layer.groups == 1 else G * K)
    window = layer.n * layer.n * layer.sumpool_channels * w
    tree = 8 * P * (T - 1) * (w + 8 + ceil_log2(T)) // 5
    return Resources(
        lut4=sum(w * (s - 1) // 2 for s in muxes) + tree + 3 * P * A + 3 * steps + 2 * selects,
        ff=(window + 3 * len(muxes) * w + selects + 2 * P * T * 8 + 2 * P * T * (w + 8)
            + P * tree_register_bits(T, w + 8)
            + 2 * P * A + steps + 7 + G.bit_length() + (3 + G.bit_length()) * (tree_stages(T) + 2)),
        dsp=P * T,
    ) + _rom_cost(G * K, P * T * 8)


def requant_cost(layer: QuantLayer, params: EngineParams) -> Resources:
    P = params.lanes
    widths = layer.widths()
    A, R = widths.accumulator, widths.requant_product
    m_bits = max(1, max(int(v) for v in layer.multiplier).bit_length())
    s_max = max(int(v) for v in layer.shift)
    groups = -(-layer.out_channels // P)
    chunks = product_chunks(A)
    parts = sum(bits + m_bits + 1 for _, bits, _ in chunks)
    return Resources(
        lut4=P * R * (max(ceil_log2(s_max + 1), 1) + 3 + len(chunks)),
        ff=(P * (2 * (A + m_bits) + 2 * R + 2 * parts + 4 * s_max + 5 * s_max.bit_length() + 8)
            + (REQUANT_STAGES + 1) * (max(ceil_log2(groups), 1) + 1)),
        dsp=P * len(chunks) * (-(-(m_bits + 1) // 18)),
    )


def mac_fifo_cost(layer: QuantLayer, params: EngineParams, passes: int) -> Resources:
    """The MAC array's output FIFO (:func:`~structhw.rtl_gen.mac_pipeline.output_fifo_depth`
    beats of P accumulators and a group index) in distributed RAM, without its output register
    (counted with the accumulators), with its pointers and the credit counter."""
    P = params.lanes
    bits = P * layer.widths().accumulator + max(ceil_log2(-(-layer.out_channels // P)), 1)
    depth = output_fifo_depth(params.mults, passes)
    counters = 4 * ceil_log2(depth + 1)
    return memory_cost(depth - 1, bits) + Resources(lut4=2 * counters + 4, ff=counters + 2)


def input_skid_cost(layer: QuantLayer) -> Resources:
    bits = 8 * layer.in_channels
    return Resources(lut4=bits + 2, ff=bits + 1)


def collector_cost(layer: QuantLayer, params: EngineParams) -> Resources:
    groups = -(-layer.out_channels // params.lanes)
    return Resources(lut4=2 * max(ceil_log2(groups), 1) + 8, ff=8 * layer.out_channels + 1)


def _line_buffer_in_its_ram(cost: Resources, depth: int) -> Resources:
    """``cost`` with its line buffer (``bram_bits`` over ``depth`` words, as
    :func:`~structhw.rtl_gen.sumpool.sumpool_cost` counts it for choosing an arch) costed in
    the RAM it is built in."""
    if not cost.bram_bits:
        return cost
    return (Resources(lut4=cost.lut4, ff=cost.ff, dsp=cost.dsp)
            + memory_cost(depth, cost.bram_bits // depth))


def engine_cost_breakdown(layer: QuantLayer, params: EngineParams) -> dict:
    """Resources of each component of ``LayerEngine(layer, params)`` (see the module docstring)."""
    check_engine(layer, params)
    parts = {"padder": padder_cost(layer), "input_skid": input_skid_cost(layer)}
    if layer.is_dense:
        operand_bits = 8
    else:
        parts["sumpool"] = _line_buffer_in_its_ram(Resources(**sumpool_cost(layer, params.sumpool)),
                                                   layer.in_width + 2 * layer.padding)
        operand_bits = layer.widths().sumpool
    parts["window"] = window_cost(layer, operand_bits)
    parts["window_queue"] = window_queue_cost(layer, params, operand_bits)
    parts["mac"] = mac_cost(layer, params, operand_bits)
    parts["mac_fifo"] = mac_fifo_cost(layer, params,
                                      ceil_div(layer.mults_per_output, params.mults))
    parts["requant"] = requant_cost(layer, params)
    parts["collector"] = collector_cost(layer, params)
    return parts


def engine_cost(layer: QuantLayer, params: EngineParams) -> Resources:
    """Total analytic resources of ``LayerEngine(layer, params)``."""
    total = Resources()
    for part in engine_cost_breakdown(layer, params).values():
        total = total + part
    return total


def _rom_cost(depth: int, width: int) -> Resources:
    """A synchronous-read ROM from :func:`~structhw.rtl_gen.mac_pipeline.rom_memory`: whole
    DP16KD blocks from BLOCK_ROM_MIN_BITS on (it asks for block RAM), else LUT4s."""
    if depth * width >= BLOCK_ROM_MIN_BITS:
        return block_cost(depth, width)
    return _lut_rom_cost(depth, width)


def _lut_rom_cost(depth: int, width: int) -> Resources:
    """An asynchronous ROM in LUT4s: one per 16 words of one bit."""
    return Resources(lut4=width * -(-depth // 16))


def flat_writer_cost(geo: MemoryWindowGeometry, in_shape) -> dict:
    """The writer of a linear layer that flattens its C×H×W input map itself
    (:class:`~structhw.rtl_gen.flat_sumpool.FlatChannelSum`): ``writer`` and ``pixels``
    entries of :func:`memory_engine_cost_breakdown`."""
    from .flat_sumpool import flat_read_ports

    C, H, W = in_shape
    HW, Q, T, w = H * W, geo.layer.in_channels, geo.mults, geo.value_bits
    ports = flat_read_ports(geo)
    depth, width = 2 * HW, 8 * C
    block = ram_style(depth, width) == "block"
    counters = _counter_bits(HW, 2, 2, Q, 2, 2, T, geo.depth) + ports * _counter_bits(HW, C)
    return {
        "writer": Resources(lut4=ports * (8 * (C - 1) // 2) + (T + 2) * w + 2 * counters,
                            ff=(0 if block else ports * width) + (T + 1) * w + counters + 1),
        "pixels": sum((memory_cost(depth, width) for _ in range(ports)), Resources()),
    }


def memory_engine_cost_breakdown(layer: QuantLayer, params: EngineParams,
                                 dsp_primitive: str | None = None, in_shape=None) -> dict:
    """Resources of each component of ``MemoryWindowEngine(layer, params)``.

    ===========  ==================================================================
    writer       ff = 8·C (rotating pixel) + (T+1)·w (packed word, running sum) + counters;
                 lut4 = 8·C (load or rotate) + 2·w (add, subtract) + T·w (packing) + counters
    rows         the row memory of R·Wp·⌈c/T⌉ words of T·w bits in the RAM
                 :func:`~structhw.rtl_gen.memory_style.ram_style` picks (and tells synthesis)
    reader       ff = lut4 = counters of (g, kh, kw, chunk, step, ox, oy, slots, offsets)
                 + one address add
    mac          as the register engine's without the window copy and operand multiplexers:
                 ff = T·w (operand register) + 2·P·T·8 + 2·P·T·(w+8) + tree + 2·P·A + flags,
                 less the multipliers' input and output registers (P·T·(2w+16)) when they
                 are MULT18X18D instances (``dsp_primitive``), which hold them inside;
                 lut4 = tree adders + 3·P·A; α ROM (G·K words of P·T·8 bits) in whole DP16KD
                 blocks from 4096 bits on, else LUT4s;
                 bias ROM (G words of P·A bits, read asynchronously) in LUT4s, 16 words each
    ===========  ==================================================================

    With ``in_shape`` = (C, H, W) (a linear layer flattening its map, no padder): the writer is
    ff = 8·C per read port (read data, when the pixel memory is distributed) + (T+1)·w +
    counters; lut4 = 8·(C−1)/2 per read port (the channel multiplexer) + (T+2)·w + counters;
    ``pixels``, the pixel memory of 2·H·W words of 8·C bits, once per read port (1, or 2 when
    the running sum subtracts), in the RAM ram_style picks.
    """

    check_memory_engine(layer, params)
    geo = MemoryWindowGeometry(layer, params.mults)
    P, T, w = params.lanes, params.mults, geo.value_bits
    G, K = -(-layer.out_channels // P), geo.passes
    A = layer.widths().accumulator
    hp, wp = geo.padded
    writer_counters = _counter_bits(layer.in_channels, wp, T, geo.depth)
    reader_counters = (_counter_bits(G, layer.n, layer.n, geo.chunks, G * K, layer.out_width,
                                     layer.out_height, geo.rows, geo.rows, geo.rows)
                       + 2 * _counter_bits(wp * geo.chunks))
    address = _counter_bits(geo.depth)
    tree = 8 * P * (T - 1) * (w + 8 + ceil_log2(T)) // 5
    steps = _counter_bits(G) + 3
    if in_shape is not None:
        front = flat_writer_cost(geo, in_shape)
    else:
        front = {"padder": padder_cost(layer),
                 "writer": Resources(lut4=8 * layer.in_channels + (T + 2) * w + 2 * writer_counters,
                                     ff=8 * layer.in_channels + (T + 1) * w + writer_counters + 1)}
    return {
        **front,
        "rows": memory_cost(geo.depth, geo.word_bits),
        "reader": Resources(lut4=2 * reader_counters + 2 * address,
                       ff=reader_counters + _counter_bits(hp + geo.rows) + 2),
        "mac": Resources(lut4=tree + 3 * P * A,
                    ff=(T * w + 2 * P * T * 8 + 2 * P * T * (w + 8)
                        - (P * T * (2 * w + 16) if dsp_primitive else 0)
                        + P * tree_register_bits(T, w + 8) + 2 * P * A
                        + steps * (tree_stages(T) + 5)),
                    dsp=P * T) + _rom_cost(G * K, P * T * 8) + _lut_rom_cost(G, P * A),
        "mac_fifo": mac_fifo_cost(layer, params, K),
        "requant": requant_cost(layer, params),
        "collector": collector_cost(layer, params),
    }


def memory_engine_cost(layer: QuantLayer, params: EngineParams,
                       dsp_primitive: str | None = None, in_shape=None) -> Resources:
    """Total analytic resources of ``MemoryWindowEngine(layer, params, dsp_primitive,
    in_shape)``."""
    total = Resources()
    for part in memory_engine_cost_breakdown(layer, params, dsp_primitive, in_shape).values():
        total = total + part
    return total
