"""The native network bench on the shipped demo model: bit-exact under random stalls with the
plan's cycles per image; trusted because it fails: a corrupted golden logit and, separately, a
corrupted weight in the generated Verilog make ``structhw sim`` exit 1 naming the first
mismatching image and logit; memories started from random values under two seeds give the same
logits; a reset in the middle of the stream recovers."""

import json
import re
import shutil

import numpy as np
import pytest

import structhw.sim.native as native
from structhw import golden
from structhw.cli import main
from structhw.sim.runner import simulator_available

pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
IMAGES = 20


@pytest.fixture(scope="module")
def demo():
    """(plan, images, labels) of the demo model on the default board, first IMAGES images."""
    from structhw.commands.compile import load_model, resolve_budget
    from structhw.compiler import compile_plan
    from structhw.quant import quantized_test_split

    qnet = load_model(None, dense=False)
    budget, target = resolve_budget(None, None)
    plan = compile_plan(qnet, budget, target=target)
    images, labels = quantized_test_split(qnet, IMAGES)
    return plan, images, labels


def sim_json(argv, capsys):
    rc = main(["sim", "--images", str(IMAGES), "--json", *argv])
    return rc, json.loads(capsys.readouterr().out)


def test_bit_exact_under_stalls_at_the_plans_cycles(demo, capsys):
    rc, out = sim_json(["--seed", "4"], capsys)
    assert rc == 0, out["notes"]
    assert out["bench"] == "native" and out["images"] == IMAGES
    assert out["mismatches"] == 0 and out["logits"] == IMAGES * 10
    assert out["first_mismatch"] is None
    assert out["cycles_per_image_predicted"] == demo[0].cycles_per_image
    assert out["cycles_per_image_measured"] == pytest.approx(out["cycles_per_image_predicted"],
                                                             rel=0.05)
    for key in ("cycles_per_s", "build_s", "sim_cycles"):
        assert out[key] > 0 or key == "build_s"


def test_corrupt_golden_logit_fails_naming_it(demo, capsys, monkeypatch):
    real = golden.logits

    def corrupted(qnet, x):
        y = real(qnet, x).clone()
        y[7, 3] = 127 if int(y[7, 3]) != 127 else -128
        return y

    monkeypatch.setattr(golden, "logits", corrupted)
    rc = main(["sim", "--images", str(IMAGES)])
    printed = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"mismatching logits: [1-9]\d* of 200", printed)
    assert "first mismatch: image 7 logit 3:" in printed


def _corrupt_one_weight(sources, folder):
    """Copies of ``sources`` in ``folder`` with the sign bits of the first word of the last
    engine's alpha ROM flipped (three int8 weights of the linear layer)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sources:
        dst = folder / src.name
        shutil.copyfile(src, dst)
        out.append(dst)
    verilog = out[0]
    text = verilog.read_text()
    hits = list(re.finditer(r"alpha_rom\[0\] = (\d+)'h([0-9a-f]+);", text))
    width, value = int(hits[-1].group(1)), int(hits[-1].group(2), 16)
    flipped = value ^ int("80" * (width // 8), 16)
    line = f"alpha_rom[0] = {width}'h{flipped:0{width // 4}x};"
    verilog.write_text(text[:hits[-1].start()] + line + text[hits[-1].end():])
    return out


def test_corrupt_weight_in_the_verilog_fails_naming_the_first(demo, capsys, monkeypatch,
                                                              tmp_path):
    real = native.network_sources
    monkeypatch.setattr(native, "network_sources",
                        lambda plan, root: _corrupt_one_weight(real(plan, root), tmp_path / "rtl"))
    rc, out = sim_json(["--seed", "2"], capsys)
    assert rc == 1 and out["mismatches"] > 0
    first = out["first_mismatch"]
    assert first is not None and first["got"] != first["expected"]
    assert out["notes"][0].startswith(f"random stalls: image {first['image']} logit "
                                      f"{first['logit']}:")


def test_random_initial_memories_two_seeds_agree(demo):
    plan, images, labels = demo
    runs = [native.simulate_network_native(plan, images, labels, seed=s, x_seed=s)
            for s in (11, 12)]
    for run in runs:
        assert run.mismatches == 0, run.notes
    assert (runs[0].logits_hw == runs[1].logits_hw).all()
    assert runs[0].cycles_per_image == runs[1].cycles_per_image


def test_reset_in_the_middle_of_the_stream_recovers(demo):
    plan, images, labels = demo
    clean = native.simulate_network_native(plan, images, labels, seed=3)
    middle = int(np.median(clean.image_cycles[:, 1]))
    reset = native.simulate_network_native(plan, images, labels, seed=3, reset_at=middle)
    assert reset.resets == 1 and reset.mismatches == 0, reset.notes
    assert (reset.logits_hw == clean.logits_hw).all()
    restarted = reset.image_cycles[:, 0] > middle
    assert restarted.any() and (~restarted).any()
    assert reset.sim_cycles > clean.sim_cycles
    assert not any("never applied" in note for note in reset.notes)


def test_a_reset_after_the_run_is_reported_not_applied(demo):
    plan, images, labels = demo
    late = native.simulate_network_native(plan, images[:2], labels[:2], seed=3,
                                          reset_at=10**9)
    assert late.resets == 0 and late.mismatches == 0
    assert any(f"reset at cycle {10**9} never applied" in note for note in late.notes), late.notes
