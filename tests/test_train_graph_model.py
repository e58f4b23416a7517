"""A zoo model that is not a chain (ResNet20) trained on a 3×32×32 data set, and its checkpoint
through quantize and compile as a graph network calibrated on the data set it was trained on."""

import json

import pytest
from torch.utils.data import Subset

import structhw.datasets
from structhw.checkpoint import load_checkpoint
from structhw.cli import main
from structhw.graph.plan_json import load_graph_plan
from structhw.graph.quant_graph import load_graph

TRAIN_IMAGES = 96
TEST_IMAGES = 32


@pytest.fixture(scope="module")
def resnet20_checkpoint(tmp_path_factory):
    """A one-epoch SR run of resnet20 on the first TRAIN_IMAGES stand-in images: the whole
    train command runs, only the data is cut to keep the test short."""
    full = structhw.datasets.training_sets

    def first_images(data):
        train, test = full(data)
        return Subset(train, range(TRAIN_IMAGES)), Subset(test, range(TEST_IMAGES))

    out = tmp_path_factory.mktemp("resnet20") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(structhw.datasets, "training_sets", first_images)
        assert main(["train", "--model", "resnet20", "--data", "standin", "--epochs", "1",
                     "--batch-size", "32", "--no-progress", "--out", str(out)]) == 0
    return out


def test_train_records_the_data_set_in_checkpoint_and_metrics(resnet20_checkpoint):
    metrics = json.loads((resnet20_checkpoint / "metrics.json").read_text())
    assert metrics["model"] == "resnet20" and metrics["data"] == "standin"
    config = load_checkpoint(resnet20_checkpoint / "checkpoint.pt")["config"]
    assert config["model"] == "resnet20" and config["data"] == "standin"


def test_a_resnet_checkpoint_quantizes_as_a_graph_on_its_own_data(resnet20_checkpoint, tmp_path,
                                                                 capsys):
    qnet = tmp_path / "r20.qnet.json"
    assert main(["quantize", str(resnet20_checkpoint / "checkpoint.pt"), "--rounding", "nearest",
                 "--out", str(qnet)]) == 0
    out = capsys.readouterr().out
    assert "standin" in out
    graph = load_graph(qnet)
    assert not graph.is_chain()
    assert graph.input_shape == (3, 32, 32)
    assert sum(op.kind == "add" for op in graph.nodes) == 9


def test_a_resnet_checkpoint_compiles_to_a_graph_plan(resnet20_checkpoint, tmp_path, capsys):
    out = tmp_path / "compiled"
    assert main(["compile", str(resnet20_checkpoint / "checkpoint.pt"),
                 "--budget", "dsp=4000,lut4=4000000,ebr=4000", "--no-verilog",
                 "--out", str(out)]) == 0
    plan = load_graph_plan(out / "plan.json")
    assert sum(node.kind == "conv" for node in plan.nodes) == 19


def test_a_resnet_checkpoint_refuses_data_of_another_shape(resnet20_checkpoint, tmp_path, capsys):
    out = tmp_path / "q.qnet.json"
    assert main(["quantize", str(resnet20_checkpoint / "checkpoint.pt"), "--data", "digits",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "digits" in err
    assert not out.exists()


def test_a_resnet_checkpoint_is_a_report_source_with_its_dense_baseline(resnet20_checkpoint):
    """The report takes the checkpoint as a graph model: its decomposed model against its dense
    baseline, on the data set it was trained on, the SR-trained model's accuracy and the
    paper's counts from the checkpoint's own structure plan."""
    from structhw.report.graph_source import GraphModelSource
    from structhw.report.pick_source import model_source

    source = model_source(resnet20_checkpoint / "checkpoint.pt", "ulx3s-85f")
    assert isinstance(source, GraphModelSource) and source.data == "standin"
    assert 0.0 <= source.structured_float_accuracy() <= 1.0
    assert 0.0 <= source.dense_float_accuracy(8) <= 1.0
    counts = source.complexity((3, 32, 32))
    assert counts["structured"]["mults"] < counts["dense"]["mults"]
    assert len(counts["dense"]["layers"]) == 20
