"""Cell counts from yosys ``stat`` output, for synthesis benchmarks and the report."""

import re


def parse_stat(text: str, cells) -> dict:
    """Count of each cell type in ``cells`` (0 when absent) from yosys ``stat`` text, whose rows
    read either ``NAME  COUNT`` or ``COUNT  [AREA]  NAME`` depending on the yosys version."""
    counts = {cell: 0 for cell in cells}
    for line in text.splitlines():
        for cell in cells:
            found = (re.fullmatch(rf"\s*{cell}\s+(\d+)\s*", line)
                     or re.fullmatch(rf"\s*(\d+)\s+(?:\S+\s+)?{cell}\s*", line))
            if found:
                counts[cell] = int(found.group(1))
    return counts


ECP5_LUT_FLOW = ("synth_ecp5 -top {top} -run begin:map_luts; abc -lut 4 -dress; clean; "
                 "synth_ecp5 -top {top} -run map_cells:")
"""``synth_ecp5`` with its LUT mapping done by classic ABC (``abc -lut 4``): YoWASP's ABC9 dies
without a message on netlists of ~20k AND gates (benchmarks/README.md)."""


def synthesize_ecp5(component, top: str, cells, yosys: str, workdir) -> dict:
    """Cell counts (``cells``) of an Amaranth ``component`` converted to Verilog as module
    ``top`` and synthesized by ``yosys`` with :data:`ECP5_LUT_FLOW` in ``workdir`` (YoWASP tools
    see only their working directory, so files there are named relatively)."""
    import subprocess
    from pathlib import Path

    from amaranth.back import verilog

    workdir = Path(workdir)
    source = workdir / f"{top}.v"
    source.write_text(verilog.convert(component, name=top, emit_src=False))
    stat = f"{top}.stat.txt"
    script = f"read_verilog {source.name}; {ECP5_LUT_FLOW.format(top=top)}; tee -q -o {stat} stat"
    result = subprocess.run([yosys, "-q", "-p", script], capture_output=True, text=True,
                            cwd=workdir)
    if result.returncode:
        raise RuntimeError(f"yosys failed on {source}:\n{result.stderr[-2000:]}")
    return parse_stat((workdir / stat).read_text(), cells)
