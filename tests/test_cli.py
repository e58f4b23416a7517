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
