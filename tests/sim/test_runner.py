"""The simulation infrastructure on a tiny stream component: cached builds, parameters in and
measurements out through the runner, failures raised with their message, stream packing, and
the one-line install hint for a missing simulator."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from structhw.errors import ConfigError
from structhw.sim.runner import (SimulationError, build, require_simulator, run,
                                 simulator_available)
from structhw.sim.streams import pack_int8, unpack_int8

from .tiny import write_tiny_verilog

needs_verilator = pytest.mark.skipif(not simulator_available("verilator"), reason="no Verilator")
BENCH = "tests.sim.tiny_bench"


@given(st.integers(1, 40), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trip(channels, beats, seed):
    x = np.random.default_rng(seed).integers(-128, 128, size=(beats, channels)).astype(np.int8)
    packed = pack_int8(x)
    assert all(0 <= v < 1 << (8 * channels) for v in packed)
    assert (unpack_int8(packed, channels) == x).all()


def test_pack_puts_channel_zero_in_low_bits():
    assert pack_int8([[1, -1, 2]]) == [0x02FF01]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The adder's Verilog, and the build cache (the default one, shared with the other
    simulation tests, so Verilator's runtime is compiled once)."""
    folder = tmp_path_factory.mktemp("tiny")
    return [write_tiny_verilog(folder, channels=4, addend=3)], None


@needs_verilator
def test_tiny_component_under_stalls_and_cached_rebuild(tiny):
    sources, cache = tiny
    params = dict(seed=5, beats=500, channels=4, addend=3, idle=0.4, stall=0.4)
    first = run(BENCH, sources, "stream_adder", params=params, build_root=cache)
    assert first.tests == 1 and first.failed == 0
    assert first.data["mismatches"] == 0
    # 500 beats through a one-deep buffer with ~40% idle and ~40% stalls need well over 500 cycles
    assert first.data["cycles"] > 600
    again = run(BENCH, sources, "stream_adder", params=dict(params, idle=0.0, stall=0.0),
                build_root=cache)
    assert again.build_seconds == 0.0 and again.build_dir == first.build_dir
    assert (again.build_dir / "stream_adder").is_file()
    assert again.data["mismatches"] == 0
    # no stalls: one beat per cycle, plus the buffer's one cycle of latency
    assert again.data["cycles"] == 501


@needs_verilator
def test_failing_test_raises_with_message(tiny):
    sources, cache = tiny
    with pytest.raises(SimulationError) as info:
        run(BENCH, sources, "stream_adder", build_root=cache,
            params=dict(seed=1, beats=10, channels=4, addend=3, idle=0, stall=0, expect_fail=True))
    assert info.value.failures and "adder_matches" in info.value.failures[0]
    assert info.value.result is not None and info.value.result.data["mismatches"] == 0


@needs_verilator
def test_wrong_expectation_is_a_mismatch(tiny, tmp_path):
    """The bench must see a design that differs from its expectation: build an adder of 4 and
    tell the bench it adds 3."""
    _, cache = tiny
    other = write_tiny_verilog(tmp_path, channels=4, addend=4)
    with pytest.raises(SimulationError) as info:
        run(BENCH, [other], "stream_adder", build_root=cache,
            params=dict(seed=2, beats=50, channels=4, addend=3, idle=0.2, stall=0.2))
    assert info.value.result.data["mismatches"] == 200


@needs_verilator
def test_changed_design_gets_its_own_build(tiny, tmp_path):
    """The build cache is keyed by the design: another adder builds anew, the first one is
    still reused untouched."""
    sources, cache = tiny
    first, _ = build(sources, "stream_adder", build_root=cache)
    other, _ = build([write_tiny_verilog(tmp_path, channels=4, addend=5)], "stream_adder",
                     build_root=cache)
    assert other != first and (other / "stream_adder").is_file()
    again, seconds = build(sources, "stream_adder", build_root=cache)
    assert again == first and seconds == 0.0


@needs_verilator
def test_broken_verilog_is_a_build_error(tmp_path):
    bad = tmp_path / "broken.v"
    bad.write_text("module broken(input clk); wire x = ; endmodule\n")
    with pytest.raises(SimulationError, match="build of broken failed"):
        build([bad], "broken", build_root=tmp_path / "cache")


def test_missing_simulator_is_one_install_line(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install iverilog"):
        require_simulator("icarus")
    with pytest.raises(ConfigError, match="--simulator must be one of"):
        require_simulator("modelsim")


@pytest.mark.skipif(not simulator_available("icarus"), reason="Icarus not installed "
                    "(apt-get install iverilog)")
def test_tiny_component_on_icarus(tiny):
    sources, cache = tiny
    result = run(BENCH, sources, "stream_adder", simulator="icarus", build_root=cache,
                 params=dict(seed=9, beats=200, channels=4, addend=3, idle=0.3, stall=0.3))
    assert result.data["mismatches"] == 0 and result.data["cycles"] > 200
