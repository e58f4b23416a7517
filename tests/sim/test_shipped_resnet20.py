"""The ResNet20 path as a user runs it, with shipped weights: ``structhw sim resnet20-A`` (the
shipped Struct-ResNet20-A, quantized on its stand-in training images) on two stand-in test
images in the native bench, under random idle input and backpressure, every logit compared
with the golden graph. The recorded 100-image run is in the model's metrics
(benchmarks/ship_model.py)."""

import json

import pytest

from structhw.checkpoint import shipped_metrics_path
from structhw.cli import main
from structhw.sim.runner import simulator_available

pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")


def test_shipped_resnet20_a_is_bit_exact_at_the_planned_rate(tmp_path, capsys):
    assert main(["sim", "resnet20-A", "--images", "2", "--idle", "0.2", "--stall", "0.2",
                 "--json", "--work", str(tmp_path / "work")]) == 0
    result = json.loads(capsys.readouterr().out)
    recorded = json.loads(shipped_metrics_path("resnet20").read_text())["hardware"]
    assert result["bench"] == "native" and result["images"] == 2
    assert result["logits"] == 20 and result["mismatches"] == 0, result["first_mismatch"]
    assert result["accuracy_hw"] == result["accuracy_golden"]
    assert result["cycles_per_image_predicted"] == recorded["cycles_per_image_predicted"]
    assert result["cycles_per_image_measured"] == result["cycles_per_image_predicted"]
