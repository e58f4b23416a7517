"""`structhw build`: bad boards and models that do not fit fail before any tool runs, with the
resource that is short and the smallest board that would do."""

import pytest

from structhw.cli import main


def test_unknown_board_lists_known_boards(capsys):
    assert main(["build", "--board", "nexys9", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nexys9" in err and "ulx3s-85f" in err and "icebreaker" in err


def test_model_too_big_names_resource_and_smallest_board(capsys, tmp_path):
    assert main(["build", "--board", "icebreaker", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("structhw build: error:"), err
    assert "Traceback" not in err
    assert "short by" in err
    # The 12F is short of flip-flops since the MAC and sum-pool timing registers.
    assert "smallest board it fits is ulx3s-25f" in err
    assert not (tmp_path / "b").exists()
