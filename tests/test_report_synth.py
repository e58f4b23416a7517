"""The network-alone synthesis of the report's sum-pool comparison: cached by its Verilog, its
plan written only with its result."""

import pytest

from structhw.errors import ConfigError

from .test_report import tiny_plan, tiny_qnet_path  # noqa: F401 (fixtures)


def test_a_synthesis_writes_its_plan_only_once_it_has_cell_counts(tiny_plan, tmp_path,
                                                                  monkeypatch):
    from structhw.report import sumpool

    def failing(source, out_dir):
        raise ConfigError("yosys synth_ecp5 failed")

    monkeypatch.setattr(sumpool, "_run_synthesis", failing)
    with pytest.raises(ConfigError):
        sumpool.synth_network(tiny_plan, tmp_path / "synth")
    assert not (tmp_path / "synth" / "plan.json").exists()
    assert not (tmp_path / "synth" / sumpool.SYNTH_STAT).exists()

    runs = []
    monkeypatch.setattr(sumpool, "_run_synthesis",
                        lambda source, out_dir: runs.append(source) or {"LUT4": 7})
    assert sumpool.synth_network(tiny_plan, tmp_path / "synth") == {"LUT4": 7}
    assert (tmp_path / "synth" / "plan.json").is_file()
    assert sumpool.synth_network(tiny_plan, tmp_path / "synth") == {"LUT4": 7}
    assert len(runs) == 1
