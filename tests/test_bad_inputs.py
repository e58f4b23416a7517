"""Every bad input to every command is one line on stderr and exit code 2, with no traceback and
nothing written: the table of bad inputs in :mod:`tests.bad_input_cases`, run through
``structhw.cli.main`` in-process.

Each case runs in a fresh folder holding an existing ``out`` folder (with a file in it) and a
plain file ``afile``; the folder and the shared fixture files must be byte for byte the same
afterwards. The expensive stages (quantization, training, board builds, the report's
measurements, simulations, openFPGALoader, talking to a board) are replaced by functions that
fail the test if reached: every case must be refused before them.
"""

from __future__ import annotations

import os
import signal
import stat
import time
import warnings

import pytest

from structhw import cli
from tests.bad_input_cases import CASES, ENV_CASES
from tests.bad_input_files import write_static_files

@pytest.fixture(scope="module")
def static(tmp_path_factory):
    """The shared input files (never written by a case)."""
    d = tmp_path_factory.mktemp("inputs")
    write_static_files(d)
    return d


@pytest.fixture(scope="module")
def tty():
    """A pseudo-terminal that pyserial opens like a USB serial port (nothing answers on it)."""
    controller, device = os.openpty()
    yield os.ttyname(device)
    os.close(controller)
    os.close(device)


def snapshot(*roots) -> dict:
    """Every path under ``roots`` with its bytes (None for a folder; its mode and link target
    for a FIFO, device or link, which are not read)."""
    state = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            state[folder] = None
            for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.join(folder, name)
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode):
                    with open(path, "rb") as f:
                        state[path] = f.read()
                else:
                    state[path] = (mode, os.readlink(path) if stat.S_ISLNK(mode) else None)
    return state


def _never(what):
    def reached(*args, **kwargs):
        raise AssertionError(f"a bad input reached {what}")
    return reached


WALL_LIMIT = 10
"""Seconds after which a case is stopped as a failure: a regression that lets a bad input run
away (the 4096×4096 layer grew by ~40 MB/s) fails the test instead of exhausting the machine."""


class RanAway(BaseException):
    """Raised in a case still running after WALL_LIMIT (a BaseException: no handler in structhw
    may turn it into a clean exit)."""


def _stop(signum, frame):
    raise RanAway(f"still running after {WALL_LIMIT} s: the input was not refused up front")


@pytest.fixture
def time_limit():
    previous = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(WALL_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def guarded(monkeypatch):
    """Replace every expensive or outside-world stage with a failure (see the module docstring)."""
    import structhw.boards.flow
    import structhw.commands.flash
    import structhw.commands.run
    import structhw.commands.sim
    import structhw.graph.pipeline
    import structhw.quant.pipeline
    import structhw.sim.layer
    import structhw.report
    import structhw.train

    monkeypatch.setattr(structhw.quant.pipeline, "quantize", _never("quantization"))
    monkeypatch.setattr(structhw.graph.pipeline, "quantize_graph",
                        _never("graph quantization"))
    monkeypatch.setattr(structhw.commands.sim, "_simulate", _never("a network simulation"))
    monkeypatch.setattr(structhw.sim.layer, "simulate_layers", _never("a layer simulation"))
    monkeypatch.setattr(structhw.train, "run_training", _never("training"))
    monkeypatch.setattr(structhw.boards.flow, "build_board", _never("a board build"))
    monkeypatch.setattr(structhw.report, "collect_report", _never("the report's measurements"))
    monkeypatch.setattr(structhw.commands.flash.subprocess, "run", _never("openFPGALoader"))
    monkeypatch.setattr(structhw.commands.run, "infer", _never("talking to a board"))


def test_the_table_covers_every_command_with_over_100_inputs():
    commands = {argv[0] for argv in CASES.values() if argv and argv[0] != "nope"}
    assert commands == set(cli.COMMANDS)
    assert len(CASES) >= 100


@pytest.mark.parametrize("argv", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, static, tty, tmp_path,
                                                         monkeypatch, capsys, guarded,
                                                         time_limit):
    check_refused(argv, static, tty, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("env, argv", list(ENV_CASES.values()), ids=list(ENV_CASES))
def test_bad_environment_is_one_line_exit_2_and_writes_nothing(env, argv, static, tty, tmp_path,
                                                               monkeypatch, capsys, guarded,
                                                               time_limit):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    check_refused(argv, static, tty, tmp_path, monkeypatch, capsys)


def check_refused(argv, static, tty, tmp_path, monkeypatch, capsys) -> None:
    """Run ``argv`` in a fresh folder; assert one error line, exit 2, nothing written."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("an earlier run's result\n")
    (tmp_path / "afile").write_text("a file, not a folder\n")
    monkeypatch.chdir(tmp_path)
    places = {"out": tmp_path / "out", "file": tmp_path / "afile", "S": static, "tty": tty}
    argv = [arg.format(**places) for arg in argv]
    before = snapshot(tmp_path, static)
    started = time.process_time()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code = cli.main(argv)
    seconds = time.process_time() - started
    out, err = capsys.readouterr()
    lines = [line for line in err.replace("\r", "\n").split("\n") if line.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not shown, [str(w.message)[:200] for w in shown]
    assert lines[0].startswith("structhw") and ": error: " in lines[0], lines[0]
    assert snapshot(tmp_path, static) == before
    assert seconds < 5, f"{seconds:.1f} s of CPU to refuse it"
    print(f"{' '.join(argv)}\n    → {lines[0]}")
