"""The one atomic writer behind every file-by-file output."""

import os

import numpy as np
import pytest

from structhw.atomic_file import atomic_open, readable_mode
from structhw.commands.sim import write_npz
from structhw.jsonfile import write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_finished_write_replaces_the_file_readable_as_the_umask_allows(tmp_path):
    path = tmp_path / "sub" / "out.bin"
    with atomic_open(path, "wb") as f:
        f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert path.stat().st_mode & 0o777 == readable_mode()
    assert os.listdir(path.parent) == ["out.bin"]


def test_only_whole_file_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_open(tmp_path / "x", "a"):
            pass
    assert not (tmp_path / "x").exists()


def test_text_and_npz_writers_go_through_it(tmp_path):
    write_text(tmp_path / "a.txt", "text")
    write_npz(tmp_path / "b.dump", {"x": np.arange(3)})
    assert (tmp_path / "a.txt").read_text() == "text"
    assert np.load(tmp_path / "b.dump")["x"].tolist() == [0, 1, 2]
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {readable_mode()}
