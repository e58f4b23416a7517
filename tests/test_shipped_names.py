"""A shipped checkpoint named as MODEL: ``<zoo model>-A`` stands for the checkpoint in
structhw/models, in every command that takes MODEL and in the library's resolvers."""

from __future__ import annotations

import json

import pytest

from structhw.checkpoint import SHIPPED_CHECKPOINTS, shipped_checkpoint_path, shipped_model_path
from structhw.cli import main
from structhw.model_source import resolve_model
from structhw.report.pick_source import model_source
from structhw.report.sources import CheckpointSource


@pytest.mark.parametrize("model", sorted(SHIPPED_CHECKPOINTS))
def test_each_shipped_checkpoint_has_its_name(model):
    assert shipped_model_path(f"{model}-A") == shipped_checkpoint_path(model)


@pytest.mark.parametrize("name", ["digits-cnn-B", "digits-cnn", "resnet20", "nothing-A", "-A",
                                  "digits_cnn_A.pt"])
def test_other_names_are_not_shipped_models(name):
    assert shipped_model_path(name) is None


def test_the_library_resolvers_take_the_name():
    path = shipped_checkpoint_path("digits-cnn")
    assert resolve_model("digits-cnn-A").checkpoint == path
    source = model_source("digits-cnn-A", "ulx3s-85f")
    assert type(source) is CheckpointSource and source.path == path


def test_compile_by_name_plans_what_the_path_plans(tmp_path, capsys):
    by_name, by_path = tmp_path / "name", tmp_path / "path"
    assert main(["compile", "digits-tiny-A", "--no-verilog", "--out", str(by_name)]) == 0
    assert main(["compile", str(shipped_checkpoint_path("digits-tiny")), "--no-verilog",
                 "--out", str(by_path)]) == 0
    plans = [json.loads((d / "plan.json").read_text()) for d in (by_name, by_path)]
    assert plans[0] == plans[1]


def test_an_unknown_name_lists_the_shipped_ones(capsys):
    assert main(["quantize", "digits-cnn-B"]) == 2
    err = capsys.readouterr().err
    listed = err.split("a shipped model (")[1].split(")")[0].split(", ")
    assert sorted(listed) == sorted(f"{model}-A" for model in SHIPPED_CHECKPOINTS)
    assert "resnet20-A" in listed
    assert len(err.strip().splitlines()) == 1
