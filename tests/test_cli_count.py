import argparse
import json

import pytest

from structhw import cli
from structhw.commands import count


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="structhw")
    count.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr()


def test_json_is_one_object_with_integer_totals(capsys):
    code, out = _run(["count", "resnet20", "--json"], capsys)
    assert code == 0 and out.err == ""
    data = json.loads(out.out)
    assert all(type(data[key]) is int for key in ("params", "mults", "adds"))
    assert (data["params"], data["mults"], data["adds"]) == (269_722, 40_739_456, 40_551_040)
    assert data["mults"] == sum(layer["mults"] for layer in data["layers"])
    assert [layer["name"] for layer in data["layers"]][:2] == ["conv1", "bn1"]


def test_preset_changes_counts(capsys):
    _, dense = _run(["count", "digits-cnn", "--json"], capsys)
    _, a = _run(["count", "digits-cnn", "--preset", "A", "--json"], capsys)
    dense, a = json.loads(dense.out), json.loads(a.out)
    assert a["params"] < dense["params"] and a["layers"][0]["c"] == 1 and a["layers"][0]["n"] == 2


def test_table_is_aligned(capsys):
    code, out = _run(["count", "digits-cnn", "--preset", "B"], capsys)
    lines = out.out.splitlines()
    assert code == 0 and lines[1].split()[:3] == ["name", "kind", "C"]
    table = [line for line in lines[1:-1] if line.strip()]
    header_end = lines[1].index("sumpool_adds") + len("sumpool_adds")
    rows = [line for line in table if line.split()[0] in ("0", "2", "4", "7")]
    assert len(rows) == 4 and all(len(line) == header_end for line in rows)
    assert "total" in out.out


@pytest.mark.parametrize(
    "argv, words",
    [(["count", "vgg16"], "unknown model 'vgg16'"), (["count", "resnet20", "--preset", "Z"], "unknown preset 'Z'")],
)
def test_bad_input_one_line_exit_2(argv, words, capsys):
    assert cli.main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert out.err.startswith("structhw count: error:") and words in out.err
