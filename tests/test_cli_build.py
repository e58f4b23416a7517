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
    from structhw.checkpoint import demo_checkpoint_path

    assert main(["build", str(demo_checkpoint_path()), "--board", "icebreaker",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("structhw build: error:"), err
    assert "Traceback" not in err
    assert "short by" in err
    # The 12F is short of flip-flops since the MAC and sum-pool timing registers.
    assert "smallest board it fits is ulx3s-25f" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("board, stem", [("icebreaker", "digits_tiny_A"), ("ulx3s-12f", "digits_tiny_A"),
                                         ("ulx3s-25f", "digits_cnn_A")])
def test_build_without_a_model_builds_the_boards_default_model(board, stem, tmp_path, capsys,
                                                                monkeypatch):
    import structhw.boards.flow
    from structhw.plan import load_plan
    from tests.fake_board_build import FakeBoardBuild

    fake = FakeBoardBuild()
    monkeypatch.setattr(structhw.boards.flow, "build_board", fake)
    assert main(["build", "--board", board, "--out", str(tmp_path / "b")]) == 0
    assert f"model: {board}'s default, {stem}.pt" in capsys.readouterr().err
    [(built, factory, _, _, shape)] = fake.calls
    plan = load_plan(tmp_path / "b" / "plan.json")
    assert (built, plan.target, plan.qnet.metadata["name"], shape) == (board, board, stem, (1, 8, 8))
