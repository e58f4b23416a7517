"""The layer bench: random layer engines through Verilator, every output element against the
golden model under random idle cycles and backpressure, cycles per image against the engine's
cycle model.

Cases are drawn by hypothesis (:func:`tests.sim.cases.sample_cases`) and share one Verilator
build per bank. CI runs one bank; ``STRUCTHW_RANDOM_LAYERS=1000`` runs a wide sample in banks of
``STRUCTHW_RANDOM_LAYERS_BANK`` and prints how many configurations were verified. Every bank
runs with inferred multipliers or with ECP5 MULT18X18D instances (their behavioural model)."""

import json
import os
import tempfile

import pytest

from structhw.sim.layer import simulate_layers
from structhw.sim.runner import simulator_available

from .cases import describe, sample_cases

pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")

CI_BANK = 6
WIDE = int(os.environ.get("STRUCTHW_RANDOM_LAYERS", "0"))
WIDE_BANK = int(os.environ.get("STRUCTHW_RANDOM_LAYERS_BANK", "20"))


DSP_FORMS = (None, "MULT18X18D")
"""Both multiplier forms: inferred, and ECP5 MULT18X18D instances (the board builds' netlist)."""


def check_bank(cases, seed: int, dsp=None) -> int:
    """Simulate ``cases`` in one build with multipliers ``dsp``; assert every element and the
    cycle model. Failing cases are saved as layer JSON (path in the message) so they can be
    re-run."""
    for k, (layer, _) in enumerate(cases):
        layer.name = f"case{k}"
    results = simulate_layers(cases, images=2, seed=seed, idle=0.3, stall=0.3, check=False,
                              dsp=dsp)
    failed = [r for r in results if r.mismatches or not (r.y_hw == r.y_ref).all()
              or r.cycles_per_image != r.predicted_cycles]
    if failed:
        fd, path = tempfile.mkstemp(prefix="structhw-failed-layers-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump([{"layer": r.layer.to_json(), "lanes": r.params.lanes,
                        "mults": r.params.mults, "sumpool": r.params.sumpool,
                        "window": r.params.window} for r in failed], f)
        lines = [f"{describe(r.layer, r.params)}: {r.mismatches} mismatches, cycles/image "
                 f"{r.cycles_per_image} vs model {r.predicted_cycles} {r.notes[:2]}" for r in failed]
        pytest.fail(f"{len(failed)} of {len(results)} cases failed with dsp={dsp} (saved in "
                    f"{path}):\n"
                    + "\n".join(lines))
    return len(results)


@pytest.mark.slow
@pytest.mark.parametrize("dsp", DSP_FORMS)
def test_random_layers_bit_exact(dsp):
    assert check_bank(sample_cases(CI_BANK), seed=1 + DSP_FORMS.index(dsp), dsp=dsp) == CI_BANK


@pytest.mark.slow
@pytest.mark.skipif(WIDE == 0, reason="set STRUCTHW_RANDOM_LAYERS=N for the wide sample")
def test_wide_random_layer_sample():
    verified = 0
    bank = 0
    while verified < WIDE:
        dsp = DSP_FORMS[bank % len(DSP_FORMS)]
        verified += check_bank(sample_cases(min(WIDE_BANK, WIDE - verified)), seed=100 + bank,
                               dsp=dsp)
        bank += 1
        print(f"random layer configurations verified: {verified} in {bank} builds "
              f"(alternating multipliers: inferred, MULT18X18D)", flush=True)
    assert verified >= WIDE


@pytest.mark.slow
def test_cycles_are_timed_after_the_pipeline_has_filled():
    """A layer whose latency exceeds its period: the first back-to-back interval meets a filling
    pipeline (27 cycles here, seen in the wide sample), the steady state is the model's 25."""
    from structhw.rtl_gen.engine import engine_cycles, engine_latency
    from structhw.rtl_gen.params import EngineParams
    from structhw.rtl_gen.random_layer import random_quant_layer

    layer = random_quant_layer(2, 2, 2, 2, 4, 1, 1, 2, 2, seed=5, relu=True)
    params = EngineParams(lanes=2, mults=3)
    assert engine_latency(layer, params) > engine_cycles(layer, params) == 25
    result, = simulate_layers([(layer, params)], images=2, seed=1, idle=0.3, stall=0.3)
    assert result.mismatches == 0 and (result.y_hw == result.y_ref).all()
    assert result.cycles_per_image == result.predicted_cycles == 25
