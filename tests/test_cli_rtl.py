"""``structhw rtl``: writes deterministic, lint-clean Verilog; bad layers are one stderr line
naming the parameter, exit 2, and no file written."""

import json

import pytest

from structhw.cli import main


def test_rtl_writes_verilog_waivers_and_layer(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["rtl", "--layer", "4,3,2,2,3,5,5,1,1", "--seed", "3", "--lanes", "3",
                 "--mults", "4", "--sumpool", "tree", "--lint", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lint: 0 warning(s) left" in printed
    layer = json.loads((out / "layer_engine.layer.json").read_text())
    assert (layer["c"], layer["n"], layer["out_channels"]) == (2, 2, 3)
    assert (out / "layer_engine.vlt").is_file()
    again = tmp_path / "b"
    assert main(["rtl", "--layer", "4,3,2,2,3,5,5,1,1", "--seed", "3", "--lanes", "3",
                 "--mults", "4", "--sumpool", "tree", "--out", str(again)]) == 0
    assert (again / "layer_engine.v").read_bytes() == (out / "layer_engine.v").read_bytes()


def test_rtl_dense_baseline(tmp_path, capsys):
    assert main(["rtl", "--layer", "4,3,2,2,3,5,5,2,1", "--dense", "--out", str(tmp_path)]) == 0
    layer = json.loads((tmp_path / "layer_engine.layer.json").read_text())
    assert (layer["c"], layer["n"]) == (4, 3)
    assert "sumpool none" in capsys.readouterr().out


@pytest.mark.parametrize("layer, needle", [
    ("4,3,5,2,3,5,5,1,1", "c=5 exceeds C/groups=4"),
    ("4,3,2,4,3,5,5,1,1", "n=4 exceeds N=3"),
    ("4,3,2,2,3,1,1,1,0", "smaller than 1×1"),
    ("4,3,2,2,3,5,5", "9 comma-separated integers"),
    ("4,3,x,2,3,5,5,1,1", "c must be an integer"),
    ("64,7,1,1,2,7,7,1,0", "18-bit"),
])
def test_rtl_bad_layer_is_one_error_line(tmp_path, capsys, layer, needle):
    out = tmp_path / "out"
    assert main(["rtl", "--layer", layer, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("structhw rtl: error:") and needle in err[0]
    assert not out.exists()


def test_rtl_bad_params_name_the_option(tmp_path, capsys):
    assert main(["rtl", "--layer", "4,3,2,2,3,5,5,1,1", "--lanes", "4", "--out", str(tmp_path / "o")]) == 2
    assert "lanes=4" in capsys.readouterr().err
    assert main(["rtl", "--layer", "4,3,4,3,3,5,5,1,1", "--sumpool", "tree",
                 "--out", str(tmp_path / "o")]) == 2
    assert "no sum-pool" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
