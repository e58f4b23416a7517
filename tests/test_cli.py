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
