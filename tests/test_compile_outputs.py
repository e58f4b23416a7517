"""``structhw compile``'s outputs are all or nothing and tied together: every Verilog file names
the digest of its plan, plan.json the digests of its Verilog files, and ``build`` / ``sim`` given
the folder refuse a mismatched pair in one line, exit 2, before anything expensive runs."""

import json

import pytest

from structhw import compiled
from structhw.cli import main
from structhw.compiled import (PLAN_FILE, file_sha256, header_digest, load_compiled,
                               plan_digest)
from structhw.compiler import load_plan
from structhw.graph.quant_graph import load_graph, save_graph
from structhw.graph.random_graph import random_graph
from structhw.qnet import save
from structhw.quant import quantized_test_split
from structhw.staging import STAGING_PREFIX
from tests.tiny_models import digits_chain

BOARD = "ulx3s-12f"
VERILOG = ("structhw_network.v", "structhw_network.vlt", "mult18x18d_model.v")


@pytest.fixture
def qnet_file(tmp_path):
    return save(digits_chain(), tmp_path / "tiny.qnet.json")


def _compile(qnet_file, out, *extra, target=("--board", BOARD)):
    return main(["compile", str(qnet_file), *target, "--out", str(out), *extra])


@pytest.fixture
def compiled_dir(qnet_file, tmp_path):
    out = tmp_path / "out"
    assert _compile(qnet_file, out) == 0
    return out


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _error_lines(capsys, command):
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "Traceback" not in err
    return [line for line in err.split("\n") if line.startswith(f"structhw {command}: error:")]


# ----- (d) a normal compile's files check out ---------------------------------------------------
def test_compiled_files_name_each_others_digests(compiled_dir):
    obj = json.loads((compiled_dir / PLAN_FILE).read_text())
    digest = plan_digest(obj)
    assert sorted(obj["verilog_sha256"]) == sorted(VERILOG)
    for name in VERILOG:
        assert header_digest(compiled_dir / name) == digest
        assert obj["verilog_sha256"][name] == file_sha256(compiled_dir / name)
    plan = load_compiled(compiled_dir)
    assert plan.to_json() == load_plan(compiled_dir / PLAN_FILE).to_json()
    assert load_compiled(compiled_dir / PLAN_FILE).to_json() == plan.to_json()
    assert sorted(p.name for p in compiled.check_verilog(obj, compiled_dir / PLAN_FILE)) == \
        sorted(VERILOG)
    assert not list(compiled_dir.parent.glob(f"{STAGING_PREFIX}*"))


def test_plan_digest_is_of_the_plan_without_its_verilog_digests(compiled_dir):
    obj = json.loads((compiled_dir / PLAN_FILE).read_text())
    assert plan_digest(obj) == plan_digest({k: v for k, v in obj.items()
                                            if k != "verilog_sha256"})
    assert plan_digest(obj) == plan_digest(load_plan(compiled_dir / PLAN_FILE).to_json())


def test_a_graph_plan_checks_out_too(tmp_path):
    qnet = save_graph(random_graph(2, blocks=1, kinds=("identity",)), tmp_path / "g.qnet.json")
    out = tmp_path / "g"
    assert main(["compile", str(qnet), "--out", str(out)]) == 0
    assert json.loads((out / PLAN_FILE).read_text())["version"] == 2
    assert load_compiled(out).graph.to_json() == load_graph(qnet).to_json()
    (out / "structhw_network.v").write_text("// edited\n")
    with pytest.raises(compiled.ConfigError, match="structhw_network.v"):
        load_compiled(out)


def test_no_verilog_records_none_and_removes_an_earlier_compiles(qnet_file, compiled_dir):
    assert _compile(qnet_file, compiled_dir, "--no-verilog") == 0
    assert sorted(p.name for p in compiled_dir.iterdir()) == [PLAN_FILE]
    assert json.loads((compiled_dir / PLAN_FILE).read_text())["verilog_sha256"] == {}
    load_compiled(compiled_dir)


# ----- (a) all or nothing -----------------------------------------------------------------------
def _fail_after_verilog(monkeypatch) -> list:
    """Make plan.json's writer fail once the Verilog is written; returns the list that receives
    the bytes of the Verilog written just before."""
    import structhw.plan

    written = []

    def failing_save(obj, path, *args, **kwargs):
        written.append((path.parent / "structhw_network.v").read_bytes())
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(structhw.plan, "save_plan_json", failing_save)
    return written


def test_a_failure_between_verilog_and_plan_leaves_the_previous_folder(
        qnet_file, compiled_dir, monkeypatch, capsys):
    before = _snapshot(compiled_dir)
    written = _fail_after_verilog(monkeypatch)
    assert _compile(qnet_file, compiled_dir, target=("--budget", "dsp=8,lut4=20000,ebr=10")) == 2
    assert len(_error_lines(capsys, "compile")) == 1
    assert len(written) == 1 and written[0] != before["structhw_network.v"]
    assert _snapshot(compiled_dir) == before
    assert not list(compiled_dir.parent.glob(f"{STAGING_PREFIX}*"))


def test_a_failed_first_compile_leaves_nothing(qnet_file, tmp_path, monkeypatch):
    out = tmp_path / "new" / "deeper" / "out"
    written = _fail_after_verilog(monkeypatch)
    assert _compile(qnet_file, out) == 2 and len(written) == 1
    assert not (tmp_path / "new").exists()
    assert not list(tmp_path.rglob(f"{STAGING_PREFIX}*"))


# ----- (b), (c) mismatched pairs are refused ----------------------------------------------------
def _append(path):
    path.write_bytes(path.read_bytes() + b"// an edit\n")


def _replace_header(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(f"// structhw plan_sha256 {'0' * 64}: forged\n" + "".join(lines[1:]))


@pytest.mark.parametrize("name, edit, message", [
    ("structhw_network.v", _append, "edited after compile"),
    ("structhw_network.vlt", _append, "edited after compile"),
    ("mult18x18d_model.v", _append, "edited after compile"),
    ("structhw_network.v", _replace_header, "not generated from"),
    ("mult18x18d_model.v", lambda p: p.unlink(), "is missing"),
])
@pytest.mark.parametrize("command", ["build", "sim"])
def test_an_edited_verilog_file_is_refused(compiled_dir, tmp_path, capsys, command, name, edit,
                                           message):
    edit(compiled_dir / name)
    argv = (["build", str(compiled_dir), "--board", BOARD, "--out", str(tmp_path / "b")]
            if command == "build" else ["sim", str(compiled_dir), "--images", "2"])
    assert main(argv) == 2
    errors = _error_lines(capsys, command)
    assert len(errors) == 1 and message in errors[0] and str(compiled_dir / name) in errors[0]
    assert "re-run structhw compile" in errors[0]
    assert not (tmp_path / "b").exists()


def test_a_plan_from_another_compile_is_refused(qnet_file, compiled_dir, tmp_path, capsys):
    other = tmp_path / "other"
    assert _compile(qnet_file, other, target=("--board", "ulx3s-85f")) == 0
    (compiled_dir / PLAN_FILE).write_bytes((other / PLAN_FILE).read_bytes())
    assert main(["sim", str(compiled_dir), "--images", "2"]) == 2
    errors = _error_lines(capsys, "sim")
    assert len(errors) == 1 and "not generated from" in errors[0]
    assert str(compiled_dir / PLAN_FILE) in errors[0]


def test_an_edited_plan_is_refused(compiled_dir, tmp_path, capsys):
    path = compiled_dir / PLAN_FILE
    path.write_text(path.read_text().replace('"target": "ulx3s-12f"', '"target": "ulx3s-85f"'))
    assert main(["build", str(compiled_dir), "--board", "ulx3s-85f",
                 "--out", str(tmp_path / "b")]) == 2
    errors = _error_lines(capsys, "build")
    assert len(errors) == 1 and "not generated from" in errors[0] and str(path) in errors[0]


def test_a_plan_without_verilog_digests_is_refused(compiled_dir, capsys):
    load_plan(compiled_dir / PLAN_FILE).save(compiled_dir / PLAN_FILE)
    assert main(["sim", str(compiled_dir / PLAN_FILE), "--images", "2"]) == 2
    errors = _error_lines(capsys, "sim")
    assert len(errors) == 1 and "records no digests" in errors[0]
    assert "re-run structhw compile" in errors[0]


def test_verilog_left_beside_a_plan_that_does_not_list_it_is_refused(
        qnet_file, compiled_dir, tmp_path, capsys):
    stale = (compiled_dir / "structhw_network.v").read_bytes()
    assert _compile(qnet_file, compiled_dir, "--no-verilog") == 0
    (compiled_dir / "structhw_network.v").write_bytes(stale)
    assert main(["sim", str(compiled_dir), "--images", "2"]) == 2
    errors = _error_lines(capsys, "sim")
    assert len(errors) == 1 and "is not among the Verilog files" in errors[0]


# ----- readers given a compile folder use its plan ----------------------------------------------
def test_build_of_a_compile_folder_builds_its_plan_and_keeps_its_plan_json(
        compiled_dir, monkeypatch, capsys):
    import structhw.boards.flow
    from tests.fake_board_build import FakeBoardBuild

    fake = FakeBoardBuild()
    monkeypatch.setattr(structhw.boards.flow, "build_board", fake)
    before = _snapshot(compiled_dir)
    assert main(["build", str(compiled_dir), "--board", BOARD, "--out", str(compiled_dir)]) == 0
    [(board, factory, _, _, _)] = fake.calls
    assert (board, factory().plan.to_json()) == (BOARD, load_plan(compiled_dir / PLAN_FILE).to_json())
    after = _snapshot(compiled_dir)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["build.log", "nextpnr.log", "report.json", "top.bit"]


def test_build_of_a_compile_folder_into_another_folder_leaves_the_compile_folder_as_it_was(
        compiled_dir, tmp_path, monkeypatch):
    import structhw.boards.flow
    from tests.fake_board_build import FakeBoardBuild

    monkeypatch.setattr(structhw.boards.flow, "build_board", FakeBoardBuild())
    before = _snapshot(compiled_dir)
    out = tmp_path / "bitstream"
    assert main(["build", str(compiled_dir), "--board", BOARD, "--out", str(out)]) == 0
    assert _snapshot(compiled_dir) == before
    assert load_plan(out / PLAN_FILE).to_json() == load_plan(compiled_dir / PLAN_FILE).to_json()
    assert main(["build", str(compiled_dir), "--board", BOARD, "--out", str(out)]) == 0


@pytest.mark.parametrize("command", ["build", "sim"])
def test_a_folder_without_a_plan_is_refused(tmp_path, capsys, command):
    assert main([command, str(tmp_path), "--out" if command == "build" else "--images",
                 str(tmp_path / "b") if command == "build" else "2"]) == 2
    errors = _error_lines(capsys, command)
    assert len(errors) == 1 and f"{tmp_path / PLAN_FILE}: no such file" in errors[0]


def test_build_refuses_a_compile_folder_planned_for_another_board(compiled_dir, capsys):
    assert main(["build", str(compiled_dir), "--board", "ulx3s-85f"]) == 2
    errors = _error_lines(capsys, "build")
    assert len(errors) == 1 and "planned for ulx3s-12f, not ulx3s-85f" in errors[0]


def test_sim_of_a_compile_folder_simulates_its_plan(compiled_dir, monkeypatch):
    import structhw.commands.sim as sim_command

    class Simulated(Exception):
        pass

    def fake_simulate(plan, images, labels, args, bench, sources):
        raise Simulated(plan.to_json(), images.shape, sources)
    monkeypatch.setattr(sim_command, "_simulate", fake_simulate)
    with pytest.raises(Simulated) as caught:
        main(["sim", str(compiled_dir), "--images", "3"])
    plan_json, shape, sources = caught.value.args
    assert sorted(sources) == sorted(compiled_dir / name for name in VERILOG)
    assert plan_json == load_plan(compiled_dir / PLAN_FILE).to_json()
    assert shape == quantized_test_split(load_plan(compiled_dir / PLAN_FILE).qnet, 3)[0].shape
