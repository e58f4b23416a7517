"""``structhw build`` of a graph network: a graph qnet file is planned as ``compile`` plans it
(plan.json version 2), its :class:`~structhw.rtl_gen.graph_network.GraphNetwork` goes into the
board top with the graph's input shape, and that top elaborates for the board. The bitstream
tools are replaced by a stand-in that records what it was given."""

from __future__ import annotations

import json

import pytest

import structhw.boards.flow
from structhw.boards.registry import get_board
from structhw.boards.top import BoardTop
from structhw.checkpoint import demo_checkpoint_path
from structhw.cli import main
from structhw.graph.quant_graph import save_graph
from structhw.graph.random_graph import random_graph
from structhw.rtl_gen.graph_network import GraphNetwork
from structhw.staging import STAGING_PREFIX
from tests.fake_board_build import FakeBoardBuild

BOARD = "ulx3s-85f"


@pytest.fixture
def builds(monkeypatch):
    """The board flow's calls: (board name, accelerator factory, out, MHz, image shape)."""
    fake = FakeBoardBuild()
    monkeypatch.setattr(structhw.boards.flow, "build_board", fake)
    return fake.calls


def test_a_graph_qnet_is_built_as_a_graph_network_in_the_board_top(tmp_path, builds):
    graph = random_graph(2, blocks=1, kinds=("identity",))
    assert not graph.is_chain()
    model = save_graph(graph, tmp_path / "g.qnet.json")
    out = tmp_path / "build"
    assert main(["build", str(model), "--board", BOARD, "--out", str(out)]) == 0
    [(board, factory, where, mhz, shape)] = builds
    assert (board, mhz) == (BOARD, 100.0)
    assert where.parent == out.parent and where.name.startswith(STAGING_PREFIX)
    assert (out / "top.bit").read_bytes() == b"stand-in bitstream of " + BOARD.encode()
    assert tuple(shape) == tuple(graph.input_shape)
    accelerator = factory()
    assert isinstance(accelerator, GraphNetwork)
    assert json.loads((out / "plan.json").read_text())["version"] == 2
    files = get_board(BOARD).platform().build(
        BoardTop(get_board(BOARD), factory, target_mhz=mhz, image_shape=shape),
        do_build=False).files
    assert "EHXPLLL" in files["top.il"]
    adds = [node.name for node in accelerator.plan.nodes if node.kind == "add"]
    assert adds and all(name in files["top.il"] for name in adds)


@pytest.mark.parametrize("option", [["--preset", "A"], ["--data", "random"],
                                    ["--input-shape", "1,8,8"]])
def test_options_that_shape_quantization_are_refused_for_a_checkpoint(tmp_path, builds, capsys,
                                                                      option):
    out = tmp_path / "build"
    assert main(["build", str(demo_checkpoint_path()), "--board", BOARD, "--out", str(out),
                 *option]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and option[0] in errors[0] and "Traceback" not in errors[0]
    assert builds == [] and not out.exists()
