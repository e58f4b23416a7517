"""The network bench's Verilog cache: generated once per plan and generator, generated anew when
either changes, never a half-written folder."""

import structhw.sim.network as network


class FakePlan:
    """Stands in for a HardwarePlan: the cache only reads ``to_json()``."""

    def __init__(self, lanes: int):
        self.lanes = lanes

    def to_json(self) -> dict:
        return {"stages": [{"params": {"lanes": self.lanes}}]}


def counting_writer(monkeypatch):
    calls = []

    def write(plan, out_dir):
        calls.append(plan.lanes)
        out_dir.mkdir(parents=True, exist_ok=True)
        v = out_dir / f"{network.NETWORK_TOP}.v"
        v.write_text(f"// lanes {plan.lanes}\n")
        v.with_suffix(".vlt").write_text("`verilator_config\n")
        return [v, v.with_suffix(".vlt")]

    monkeypatch.setattr(network, "write_network_verilog", write)
    return calls


def test_same_plan_is_generated_once(tmp_path, monkeypatch):
    calls = counting_writer(monkeypatch)
    first = network.cached_network_verilog(FakePlan(2), tmp_path)
    again = network.cached_network_verilog(FakePlan(2), tmp_path)
    assert calls == [2] and first == again
    assert first[0].read_text() == "// lanes 2\n" and first[1].suffix == ".vlt"


def test_changed_plan_is_generated_anew(tmp_path, monkeypatch):
    calls = counting_writer(monkeypatch)
    a = network.cached_network_verilog(FakePlan(2), tmp_path)
    b = network.cached_network_verilog(FakePlan(3), tmp_path)
    assert calls == [2, 3] and a[0].parent != b[0].parent
    assert b[0].read_text() == "// lanes 3\n" and a[0].read_text() == "// lanes 2\n"
    leftovers = [p.name for p in (tmp_path / "verilog").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_digest_covers_the_generator_sources(monkeypatch):
    plan = FakePlan(2)
    before = network.generator_digest(plan)
    assert network.generator_digest(plan) == before
    from pathlib import Path
    real = Path.read_bytes

    def edited(self):
        data = real(self)
        return data + b"# edited\n" if self.name == "engine.py" else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert network.generator_digest(plan) != before


def test_an_interrupted_generation_leaves_no_cache_folder(tmp_path, monkeypatch):
    def interrupted(plan, out_dir):
        (out_dir / f"{network.NETWORK_TOP}.v").write_text("// half")
        raise KeyboardInterrupt

    monkeypatch.setattr(network, "write_network_verilog", interrupted)
    try:
        network.cached_network_verilog(FakePlan(2), tmp_path)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "verilog").mkdir()
    (tmp_path / "verilog" / "other").write_text("kept")
    try:
        network.cached_network_verilog(FakePlan(3), tmp_path)
    except KeyboardInterrupt:
        pass
    assert [p.name for p in (tmp_path / "verilog").iterdir()] == ["other"]
