"""The tie between a compile folder's ``plan.json`` and its Verilog files: written by
:func:`write_compiled`, checked in both directions by :func:`load_compiled`.

*Plan digest*: the SHA-256 (hex) of plan.json's JSON object without its ``verilog_sha256`` field,
serialised as ``json.dumps(obj, sort_keys=True, separators=(",", ":"))`` (ASCII escapes), i.e. of
the plan as planned (:func:`plan_digest`). Every Verilog file compile writes — ``NAME.v``,
``NAME.vlt`` and the copied FPGA primitive models — starts with the line :data:`HEADER` naming
that digest. plan.json's ``verilog_sha256`` maps each of those files' names to the SHA-256 of its
bytes as written (header included); ``{}`` when compiled with ``--no-verilog``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from structhw.rtl_gen.dsp import MULT18X18D_MODEL

from .errors import ConfigError
from .jsonfile import read_json

PLAN_FILE = "plan.json"
DIGEST_FIELD = "verilog_sha256"
TOP_NAME = "structhw_network"
"""Verilog module (and file) name of the accelerator compile writes."""
HEADER = "// structhw plan_sha256 {digest}: generated from the plan.json of this digest\n"
HEADER_RE = re.compile(r"// structhw plan_sha256 ([0-9a-f]{64}):")
RERUN = "re-run structhw compile"


def generated_names(top: str = TOP_NAME) -> tuple:
    """Names of every Verilog file compile may write for top module ``top``."""
    return (f"{top}.v", f"{top}.vlt", MULT18X18D_MODEL)


def plan_digest(obj: dict) -> str:
    """The plan digest (module docstring) of a plan.json object, or of a plan's ``to_json()``
    (normalised by a JSON round trip first, so both give the same digest)."""
    plain = json.loads(json.dumps({k: v for k, v in obj.items() if k != DIGEST_FIELD}))
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def header_digest(path) -> str | None:
    """The plan digest named in the first line of the file at ``path``, or None."""
    with open(path, "rb") as f:
        first = f.readline(256).decode("utf-8", errors="replace")
    match = HEADER_RE.match(first)
    return match.group(1) if match else None


def write_compiled(plan, folder, verilog: bool = True) -> list:
    """Write ``plan``'s Verilog (unless ``verilog`` is False) and then ``plan.json`` into
    ``folder``, tied by digests (module docstring). Returns the file names, plan.json first."""
    from structhw.rtl_gen.graph_network import accelerator
    from structhw.rtl_gen.verilog import simulation_sources, write_verilog

    folder = Path(folder)
    digest = plan_digest(plan.to_json())
    names = []
    if verilog:
        top = write_verilog(accelerator(plan), folder, TOP_NAME,
                            header=HEADER.format(digest=digest))
        names = [p.name for p in simulation_sources(top)]
    recorded = {name: file_sha256(folder / name) for name in sorted(names)}
    plan.save(folder / PLAN_FILE, extra={DIGEST_FIELD: recorded})
    return [PLAN_FILE, *names]


def is_compiled(model) -> bool:
    """True when MODEL names a compile output folder or its plan.json."""
    path = Path(str(model))
    return path.is_dir() or path.name == PLAN_FILE


def _recorded(obj: dict, plan_path: Path) -> dict:
    recorded = obj.get(DIGEST_FIELD)
    if recorded is None:
        raise ConfigError(f"{plan_path}: records no digests of its Verilog files "
                          f"({DIGEST_FIELD}): not written by structhw compile, or by an older "
                          f"one; {RERUN}")
    if not isinstance(recorded, dict) or not all(
            isinstance(k, str) and k in generated_names() and isinstance(v, str)
            for k, v in recorded.items()):
        raise ConfigError(f"{plan_path}: {DIGEST_FIELD} must map the names "
                          f"{', '.join(generated_names())} to SHA-256 hex strings")
    return recorded


def check_verilog(obj: dict, plan_path) -> list:
    """Check the plan.json object ``obj`` read from ``plan_path`` against the Verilog files
    beside it, both ways: every recorded file is present, unchanged and generated from this
    plan; no other file compile writes lies there. Returns the checked paths; a mismatch is a
    :class:`ConfigError` naming the file."""
    plan_path = Path(plan_path)
    folder, recorded, digest = plan_path.parent, _recorded(obj, plan_path), plan_digest(obj)
    for name in generated_names():
        if name not in recorded and (folder / name).exists():
            raise ConfigError(f"{folder / name} is not among the Verilog files {plan_path} was "
                              f"written with (left by another compile); {RERUN}")
    checked = []
    for name, want in sorted(recorded.items()):
        path = folder / name
        if not path.is_file():
            raise ConfigError(f"{path} is missing, but {plan_path} was written with it; {RERUN}")
        named = header_digest(path)
        if named != digest:
            came = "has no plan digest in its header" if named is None else \
                f"names plan {named[:12]}… in its header"
            raise ConfigError(f"{path} was not generated from {plan_path} (it {came}, the plan "
                              f"is {digest[:12]}…): one of them was edited or comes from "
                              f"another compile; {RERUN}")
        got = file_sha256(path)
        if got != want:
            raise ConfigError(f"{path} was edited after compile (SHA-256 {got[:12]}…, "
                              f"{plan_path} records {want[:12]}…); {RERUN}")
        checked.append(path)
    return checked


@dataclass(frozen=True)
class CompiledFolder:
    """A checked compile output folder: its ``plan`` and the simulation ``sources`` of its own
    Verilog (``NAME.v``, the primitive models, ``NAME.vlt``; empty when compiled with
    ``--no-verilog``)."""

    plan: object
    sources: tuple


def open_compiled(path) -> CompiledFolder:
    """The compile output folder ``path`` (the folder or its plan.json), every field of its plan
    validated (:func:`structhw.plan.load_plan`, version 1, or
    :func:`structhw.graph.plan_json.load_graph_plan`, version 2) and its Verilog files checked
    against it (:func:`check_verilog`)."""
    from structhw.rtl_gen.verilog import simulation_sources

    from .graph.plan_json import graph_plan_from_json
    from .plan import plan_from_json

    path = Path(str(path))
    plan_path = path / PLAN_FILE if path.is_dir() else path
    if not plan_path.is_file():
        folder = path if path.is_dir() else path.parent
        raise ConfigError(f"{plan_path}: no such file (write one with structhw compile "
                          f"--out {folder})")
    obj = read_json(plan_path)
    version = obj.get("version") if isinstance(obj, dict) else None
    try:
        plan = (graph_plan_from_json if version == 2 else plan_from_json)(obj)
    except ConfigError as exc:
        raise ConfigError(f"{plan_path}: {exc}") from None
    checked = check_verilog(obj, plan_path)
    top = plan_path.parent / f"{TOP_NAME}.v"
    return CompiledFolder(plan, tuple(simulation_sources(top)) if top in checked else ())


def load_compiled(path):
    """The plan of the compile output folder ``path``, checked as :func:`open_compiled` does."""
    return open_compiled(path).plan
