"""Verilog output (deterministic) with its Verilator waiver file, and lint.

:func:`write_verilog` converts a component with Amaranth's Yosys backend (no source locations, so
the text depends only on the design) and writes ``NAME.v`` plus ``NAME.vlt``: the waivers for the
warnings Yosys's Verilog backend produces by construction (DESIGN.md, "Lint"). :func:`lint` runs
``verilator --lint-only -Wall`` with the waivers and returns every remaining warning: each one is
a finding in the RTL.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from amaranth._toolchain.yosys import YosysError
from amaranth.back import verilog as amaranth_verilog

from structhw.errors import ConfigError, ToolFailure
from structhw.jsonfile import write_text
from structhw.toolchain import verilator_env, verilator_root

from .dsp import primitive_models
from .engine import LayerEngine, check_engine

WAIVERS = (
    ("PROCASSINIT", "Yosys writes each register's reset value as an initialiser of the reg and "
                    "assigns it again in its process"),
    ("WIDTHEXPAND", "Yosys writes $signed(a) + $signed(b) with narrower sign-extended operands "
                    "than the result; the extension is the intended arithmetic"),
    ("UNUSEDSIGNAL", "Amaranth's arithmetic widens every intermediate by a bit; top bits of "
                     "intermediates (and of the unused clock-domain reset) are left unread"),
    ("VARHIDDEN", "Yosys names a wire after the submodule instance that drives it"),
    ("DECLFILENAME", "one file holds the whole hierarchy and Yosys names each submodule "
                     "top.path, so only the top module can match the file name"),
)
"""(Verilator warning, why it is a generator artefact) pairs waived in the ``.vlt`` file."""


def waiver_text() -> str:
    """The ``.vlt`` configuration file: one commented ``lint_off`` per generator artefact."""
    lines = ["`verilator_config", "// Generator artefacts of Amaranth/Yosys Verilog (see DESIGN.md, Lint)."]
    for rule, why in WAIVERS:
        lines.append(f"// {rule}: {why}.")
        lines.append(f'lint_off -rule {rule} -file "*"')
    return "\n".join(lines) + "\n"


def write_verilog(component, out_dir, name: str, header: str = "") -> Path:
    """Write ``out_dir/NAME.v`` (top module ``NAME``) and ``out_dir/NAME.vlt``, plus a copy of the
    behavioural model of each FPGA primitive the design instantiates (see
    :func:`simulation_sources`); return the ``.v`` path. ``header`` (comment lines, e.g. the
    digest of the plan the design came from) goes at the top of every file written. The same
    component, name and header always give byte-identical files."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"Verilog module name {name!r} must be an identifier "
                          f"([A-Za-z_][A-Za-z0-9_]*)")
    try:
        text = amaranth_verilog.convert(component, name=name, emit_src=False)
    except YosysError as exc:
        raise ToolFailure(f"Amaranth's yosys could not write the Verilog of {name}: "
                          f"{_complaint(str(exc))}") from None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    for model in primitive_models(text):
        write_text(out_dir / model.name, header + model.read_text())
    write_text(path, header + text)
    write_text(out_dir / f"{name}.vlt", header + waiver_text())
    return path


def _complaint(text: str) -> str:
    """The lines of a tool's error output that say what went wrong (a Python traceback's frames
    and source lines dropped), the last two joined, at most 240 characters."""
    noise = ("Traceback", "File ", "^", "Caused by")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("    ") and not line.strip().startswith(noise)]
    return "; ".join(lines[-2:])[:240] or "no message"


def simulation_sources(path) -> list:
    """What a simulator compiles for the Verilog at ``path`` (written by :func:`write_verilog`):
    the ``.v``, the behavioural models of the FPGA primitives it instantiates (next to it) and
    its ``.vlt`` waivers when present."""
    path = Path(path)
    models = [path.parent / model.name for model in primitive_models(path.read_text())]
    missing = [m for m in models if not m.is_file()]
    if missing:
        raise ConfigError(f"{path} instantiates FPGA primitives whose models are missing: "
                          f"{', '.join(str(m) for m in missing)} (write it with write_verilog)")
    waivers = path.with_suffix(".vlt")
    return [path, *models] + ([waivers] if waivers.is_file() else [])


def lint(path) -> list:
    """Run ``verilator --lint-only -Wall`` on ``path`` with the ``.vlt`` next to it (if any).
    Returns the remaining warnings and errors, one string each (empty: lint clean)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Verilog file {path}")
    launcher = verilator_root() / "bin" / "verilator"
    top = path.stem
    cmd = [str(launcher), "--lint-only", "-Wall", "--top-module", top]
    waivers = path.with_suffix(".vlt")
    if waivers.is_file():
        cmd.append(str(waivers))
    cmd.append(str(path))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=verilator_env())
    return [line for line in proc.stderr.splitlines()
            if line.startswith(("%Warning", "%Error")) and not line.startswith("%Error: Exiting")]


def generate_layer_verilog(layer, params, out_dir, name: str = "layer_engine") -> Path:
    """Write the Verilog of ``LayerEngine(layer, params)`` (and its ``.vlt``) to ``out_dir``.

    Every check (layer geometry, parameters, operand widths, module name) runs before any file
    is written; returns the path of ``NAME.v``.
    """
    check_engine(layer, params)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"Verilog module name {name!r} must be an identifier "
                          f"([A-Za-z_][A-Za-z0-9_]*)")
    return write_verilog(LayerEngine(layer, params), out_dir, name)
