"""The CLI registers every stage's command, and bad input is one stderr line with exit code 2."""

import pytest

from structhw.cli import COMMANDS, build_parser, main


def test_every_command_is_registered():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("argv", [["count", "no-such-model"], ["quantize", "/no/such/checkpoint.pt"]])
def test_bad_input_is_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"structhw {argv[0]}: error:")


def _fails_with(exc):
    def convert(*args, **kwargs):
        raise exc
    return convert


@pytest.mark.parametrize("exc, says", [
    ("yosys", "Amaranth's yosys could not write the Verilog of layer_engine: std::bad_alloc; Abort trap"),
    (MemoryError(), "out of memory"),
])
def test_a_tool_out_of_memory_is_one_line_and_exit_1(exc, says, monkeypatch, tmp_path, capsys):
    import structhw.rtl_gen.verilog as verilog
    from amaranth._toolchain.yosys import YosysError

    if exc == "yosys":
        exc = YosysError("std::bad_alloc\nAbort trap")
    monkeypatch.setattr(verilog.amaranth_verilog, "convert", _fails_with(exc))
    code = main(["rtl", "--layer", "4,3,2,2,3,5,5,1,1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").split("\n") if line.strip()]
    assert code == 1, err
    assert lines[-1].startswith("structhw rtl: error: ") and says in lines[-1], err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def _interrupted_training(tmp_path, sig, count: int):
    """``structhw train`` in a child process, sent ``sig`` ``count`` times (0.05 s apart) once
    training runs; returns (exit code, [its last stderr line, after any progress bar])."""
    import os
    import signal as signals
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "structhw", "train", "--epochs", "60",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signals.signal(signals.SIGINT, signals.SIG_DFL))
    deadline = time.time() + 120
    while b"it/s" not in proc.stderr.peek(4096) and time.time() < deadline:
        time.sleep(0.2)
    for _ in range(count):
        os.kill(proc.pid, sig)
        time.sleep(0.05)
    err = (proc.stderr.peek(0) + proc.stderr.read()).decode()
    code = proc.wait(timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "output or staging folder left"
    assert "Traceback" not in err and err.count("structhw train:") == 1, err[-2000:]
    return code, err.rstrip().rsplit("\r", 1)[-1].rsplit("]", 1)[-1].splitlines()[-1:]


def test_sigterm_unwinds_the_command_prints_one_line_and_leaves_nothing(tmp_path):
    import signal as signals

    assert _interrupted_training(tmp_path, signals.SIGTERM, 1) == (
        143, ["structhw train: terminated"])


def test_a_second_ctrl_c_during_the_cleanup_is_ignored(tmp_path):
    import signal as signals

    assert _interrupted_training(tmp_path, signals.SIGINT, 3) == (
        130, ["structhw train: interrupted"])


@pytest.mark.parametrize("sig, code, line", [("SIGTERM", 143, "structhw: terminated"),
                                             ("SIGINT", 130, "structhw: interrupted")])
def test_a_signal_while_the_commands_are_imported_is_one_line(sig, code, line):
    """The command modules take seconds to import (torch): a signal then used to kill the
    process without a line (SIGTERM) or print a KeyboardInterrupt traceback (Ctrl-C). The child
    signals itself as the import starts."""
    import signal
    import subprocess
    import sys

    child = ("import os, signal, sys\n"
             "from structhw import cli\n"
             "build = cli.build_parser\n"
             "def signalled():\n"
             f"    os.kill(os.getpid(), signal.{sig})\n"
             "    return build()\n"
             "cli.build_parser = signalled\n"
             "sys.exit(cli.console_main())\n")
    done = subprocess.run([sys.executable, "-c", child, "count", "digits-cnn"], text=True,
                          capture_output=True, timeout=120,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (done.returncode, done.stderr.strip().splitlines()) == (code, [line]), done.stderr


@pytest.fixture(scope="module")
def unstructured_checkpoint(tmp_path_factory):
    """A digits-tiny checkpoint after one epoch: its weights are not yet structured, so
    decomposing it warns for every structured layer."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--model", "digits-tiny", "--epochs", "1", "--no-progress",
                 "--out", str(out)]) == 0
    return out / "checkpoint.pt"


def _structhw(*argv):
    """``structhw ARGV`` as the executable runs it (a child process): (exit code, stderr lines)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "structhw", *map(str, argv)],
                          text=True, capture_output=True, timeout=300)
    return done.returncode, done.stderr.strip().splitlines()


def test_warnings_are_one_line_each_after_a_command_that_succeeds(unstructured_checkpoint,
                                                                  tmp_path):
    code, lines = _structhw("compile", unstructured_checkpoint, "--board", "ulx3s-12f",
                            "--no-verilog", "--out", tmp_path / "c")
    assert code == 0 and len(lines) == 2, lines
    assert all(line.startswith("structhw compile: warning: layer ") and
               "weight is not structured" in line for line in lines), lines


def test_a_command_that_fails_prints_its_error_line_alone(unstructured_checkpoint, tmp_path):
    code, lines = _structhw("compile", unstructured_checkpoint, "--budget",
                            "dsp=1,lut4=20000,ebr=10", "--out", tmp_path / "c")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("structhw compile: error: "), lines
