"""The native simulator's build cache on the tiny stream adder: built once and reused, a
corrupted cached executable rebuilt, the testbench's packing and stalls (every beat compared),
old entries pruned, and an interrupted run ending its child processes and removing its folder."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from structhw.sim import native_build
from structhw.sim.runner import simulator_available

from .tiny import write_tiny_verilog

needs_verilator = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
CHANNELS, ADDEND = 4, 3


@pytest.fixture(scope="module")
def adder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adder")
    return write_tiny_verilog(folder, channels=CHANNELS, addend=ADDEND), folder / "cache"


def build(adder):
    verilog, root = adder
    return native_build.build_native([verilog], "stream_adder", 8 * CHANNELS, 8 * CHANNELS,
                                     build_root=root)


def run_adder(exe, folder, beats, seed):
    x = np.random.default_rng(seed).integers(-128, 128, size=(beats, CHANNELS)).astype(np.int8)
    folder.mkdir(parents=True, exist_ok=True)
    x.tofile(folder / "x.bin")
    code = subprocess.run([str(exe), "--in", str(folder / "x.bin"), "--images", str(beats),
                           "--beats-in", "1", "--in-bytes", str(CHANNELS), "--beats-out", "1",
                           "--out-bytes", str(CHANNELS), "--out", str(folder), "--seed", str(seed),
                           "--idle", "0.3", "--stall", "0.4", "--timing", "8"]).returncode
    y = np.fromfile(folder / "verify_y.bin", dtype=np.int8).reshape(beats, CHANNELS)
    cycles = np.fromfile(folder / "verify_cycles.bin", dtype=np.int64).reshape(beats, 2)
    return code, x, y, cycles


@needs_verilator
def test_built_once_corrupt_rebuilt_and_bit_exact(adder, tmp_path):
    first = build(adder)
    again = build(adder)
    assert again.executable == first.executable and again.seconds == 0.0
    assert sorted(p.name for p in first.executable.parent.iterdir()) == sorted([
        "build.log", native_build.EXECUTABLE, native_build.STAMP])

    code, x, y, cycles = run_adder(first.executable, tmp_path / "run", 200, seed=5)
    assert code == 0
    assert (y == ((x.astype(np.int64) + ADDEND + 128) % 256 - 128)).all()
    assert (cycles[:, 1] > cycles[:, 0]).all() and (np.diff(cycles[:, 1]) > 0).all()
    assert cycles[-1, 1] > 200 * 1.5  # the stalls and idle cycles did happen

    with open(first.executable, "ab") as f:
        f.write(b"\0corrupt")
    rebuilt = build(adder)
    assert rebuilt.rebuilt_corrupt and rebuilt.seconds > 0
    assert run_adder(rebuilt.executable, tmp_path / "again", 50, seed=6)[0] == 0


def test_prune_keeps_recent_entries(tmp_path):
    now = time.time()
    for k in range(12):
        entry = tmp_path / f"native-x-{k:02d}"
        entry.mkdir()
        (entry / native_build.STAMP).write_text("{}")
        used = now - 86400 * (k + 1) if k >= 2 else now - 60
        os.utime(entry / native_build.STAMP, (used, used))
    leftover = tmp_path / ".native-x-99.abc"
    leftover.mkdir()
    os.utime(leftover, (now - 86400, now - 86400))
    fresh = tmp_path / ".native-x-98.def"
    fresh.mkdir()
    removed = native_build.prune(tmp_path, keep=4, now=now)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".native-x-98.def"] + [f"native-x-{k:02d}" for k in range(4)]
    assert len(removed) == 9


SLEEPER = textwrap.dedent("""
    import shutil, sys, tempfile
    from pathlib import Path
    from structhw.sim.native_build import run_process, terminate_as_exit
    root = Path(sys.argv[1])
    with terminate_as_exit():
        work = Path(tempfile.mkdtemp(dir=root, prefix="work-"))
        try:
            run_process(["sh", "-c", f"sleep 60 & echo $! > {work}/child; wait"])
        finally:
            shutil.rmtree(work)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_ends_children_and_removes_work(tmp_path, sig):
    # a shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT:
    # restore it, as for a command typed at a terminal, whatever launched the suite
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, str(tmp_path)],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not list(tmp_path.glob("work-*/child")) or not \
            list(tmp_path.glob("work-*/child"))[0].read_text().strip():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    child = int(list(tmp_path.glob("work-*/child"))[0].read_text())
    proc.send_signal(sig)
    assert proc.wait(timeout=60) != 0
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(child, 0)
            time.sleep(0.05)
