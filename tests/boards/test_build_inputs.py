"""The files the tools run on name no folder of this machine: the RTLIL carries no source
locations (the checkout's or the virtualenv's paths), so a fresh clone anywhere hands yosys and
nextpnr byte-identical inputs and, the YoWASP tools being deterministic, gets the same
placement and Fmax as the build that was measured."""

from pathlib import Path

import amaranth

import structhw
from structhw.boards.build import _build_plan
from structhw.boards.registry import get_board
from structhw.boards.top import BoardTop
from tests.boards.standin import StandInAccelerator

SHAPE, CLASSES = (1, 8, 8), 10


def _plan_files(board_name: str) -> dict:
    board = get_board(board_name)
    top = BoardTop(board, lambda: StandInAccelerator(SHAPE[0], SHAPE[1] * SHAPE[2], CLASSES),
                   image_shape=SHAPE)
    plan = _build_plan(board, top, "top", None)
    return {name: content if isinstance(content, str) else content.decode(errors="replace")
            for name, content in plan.files.items()}


def test_the_build_inputs_name_no_local_folder():
    folders = {str(Path(structhw.__file__).resolve().parent.parent),
               str(Path(amaranth.__file__).resolve().parent.parent)}
    for board_name in ("ulx3s-85f", "icebreaker"):
        for name, text in _plan_files(board_name).items():
            for folder in folders:
                assert folder not in text, f"{board_name}: {name} names {folder}"


def test_the_build_inputs_are_the_same_on_every_elaboration():
    assert _plan_files("ulx3s-85f") == _plan_files("ulx3s-85f")
