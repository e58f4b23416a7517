"""Board registry: names, aliases, platforms from amaranth-boards, budgets, errors."""

import pytest

from structhw.boards.registry import BOARDS, board_names, get_board, smallest_fitting
from structhw.budget import DEVICES
from structhw.errors import ConfigError


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_has_a_platform_for_its_device_with_uart_and_clock(name):
    board = get_board(name)
    platform = board.platform()
    assert platform.device == board.device
    assert board.budget == DEVICES[board.device]
    assert ("uart", 0) in platform.resources
    clock = platform.lookup(platform.default_clk).clock.frequency
    assert clock == board.clock_mhz * 1e6


def test_ulx3s_alias_is_the_85f_and_names_are_case_insensitive():
    assert get_board("ulx3s") is get_board("ulx3s-85f")
    assert get_board("ULX3S-25F").device == "LFE5U-25F"


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        get_board("arty-a7")
    message = str(err.value)
    assert "arty-a7" in message
    for name in board_names():
        assert name in message


def test_smallest_fitting_board_by_resource_need():
    assert smallest_fitting({"lut4": 1000, "dsp": 8, "ebr": 10}).name == "icebreaker"
    assert smallest_fitting({"lut4": 1000, "dsp": 8}, family="ecp5").name == "ulx3s-12f"
    assert smallest_fitting({"lut4": 20000, "dsp": 30}).name == "ulx3s-45f"
    assert smallest_fitting({"dsp": 100}).device == "LFE5U-85F"
    assert smallest_fitting({"dsp": 157}) is None


@pytest.fixture(scope="module")
def shipped_qnets():
    """The demo and every board's default model quantized once: {zoo model: QuantNet}."""
    from structhw.checkpoint import shipped_checkpoint_path
    from structhw.commands.compile import load_model

    models = {"digits-cnn"} | {get_board(name).default_model for name in BOARDS}
    return {model: load_model(str(shipped_checkpoint_path(model)), False) for model in models}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_boards_default_model_is_shipped_and_its_plan_fits_the_board(name, shipped_qnets):
    from structhw.board_plan import plan_for_board

    board = get_board(name)
    plan = plan_for_board(shipped_qnets[board.default_model], board, False)
    assert plan.target == board.name
    assert all(getattr(plan.totals, k) <= getattr(board.budget, k) for k in ("lut4", "ff", "dsp"))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_the_demo_is_the_default_exactly_where_it_fits(name, shipped_qnets):
    from structhw.board_plan import plan_for_board

    board = get_board(name)
    try:
        plan_for_board(shipped_qnets["digits-cnn"], board, False)
        fits = True
    except ConfigError:
        fits = False
    assert (board.default_model == "digits-cnn") == fits
