"""All-or-nothing output folders (:mod:`structhw.staging`), and the commands that write several
files through them: ``rtl`` and the report's ``report.json``/``report.md``/plots."""

import os

import pytest

from structhw.cli import main
from structhw.staging import STAGING_PREFIX, staged_outputs


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_files_move_into_an_existing_folder_plan_last_and_stale_ones_go(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in (("a.v", "old a"), ("old.v", "stale"), ("keep.txt", "user's")):
        (out / name).write_text(text)
    moved, real_replace = [], os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: (moved.append(os.path.basename(d)),
                                                     real_replace(s, d)))
    with staged_outputs(out, last=("plan.json",), remove=("old.v", "gone.v")) as stage:
        for name in ("plan.json", "a.v", "b.v"):
            (stage.folder / name).write_text(f"new {name}")
    assert moved == ["a.v", "b.v", "plan.json"]
    assert stage.committed == [out / "a.v", out / "b.v", out / "plan.json"]
    assert _snapshot(out) == {"a.v": b"new a.v", "b.v": b"new b.v", "keep.txt": b"user's",
                              "plan.json": b"new plan.json"}
    assert not list(tmp_path.glob(f"{STAGING_PREFIX}*"))


def test_a_new_folder_is_the_staging_folder_renamed(tmp_path):
    out = tmp_path / "a" / "b"
    with staged_outputs(out) as stage:
        (stage.folder / "x.v").write_text("x")
    assert _snapshot(out) == {"x.v": b"x"}
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_exception_leaves_the_previous_files_and_no_staging_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.v").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_outputs(out, remove=("a.v",)) as stage:
            (stage.folder / "a.v").write_text("new")
            raise RuntimeError("generation failed")
    assert _snapshot(out) == {"a.v": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_exception_removes_the_folders_made_for_a_new_output(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with staged_outputs(tmp_path / "a" / "b" / "out"):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


RTL = ["rtl", "--layer", "1,3,1,2,2,4,4,1,1"]


def test_rtl_failing_before_its_last_file_leaves_the_previous_outputs(tmp_path, monkeypatch,
                                                                      capsys):
    import structhw.commands.rtl as rtl_command

    out = tmp_path / "rtl"
    assert main([*RTL, "--out", str(out)]) == 0
    before = _snapshot(out)
    assert sorted(before) == ["layer_engine.layer.json", "layer_engine.v", "layer_engine.vlt"]

    def failing_write_json(path, *args, **kwargs):
        assert path.with_name("layer_engine.v").is_file()
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(rtl_command, "write_json", failing_write_json)
    assert main([*RTL, "--seed", "7", "--out", str(out)]) == 2
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]


def test_report_files_are_written_together(tmp_path, monkeypatch):
    import structhw.report.render as render
    from tests.test_report import synthetic_report

    out = tmp_path / "report"
    render.write_report(synthetic_report(), out)
    before = _snapshot(out)
    assert {"report.json", "report.md"} <= set(before)

    def failing_markdown(report):
        raise OSError(28, "No space left on device", "report.md")
    monkeypatch.setattr(render, "render_markdown", failing_markdown)
    with pytest.raises(OSError):
        render.write_report({**synthetic_report(), "board": "another"}, out)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
