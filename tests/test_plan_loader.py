"""Issue 19: plan.json and qnet.json loaders refuse corrupt input with one ConfigError line —
integers typed and in range, every stage re-derived from its layer with the compiler's own
models, the budget belonging to the target board."""

import copy
import json
import shutil

import numpy as np
import pytest

from structhw.boards.registry import get_board
from structhw.compiled import (DIGEST_FIELD, HEADER, file_sha256, open_compiled, plan_digest,
                               write_compiled)
from structhw.compiler import compile_plan
from structhw.errors import ConfigError
from structhw.graph.plan import compile_graph
from structhw.graph.plan_json import graph_plan_from_json
from structhw.graph.quant_graph import QuantGraph
from structhw.plan import plan_from_json
from structhw.qnet import QuantLayer, QuantNet


def tiny_qnet() -> QuantNet:
    rng = np.random.default_rng(0)

    def layer(name, kind, C, H, Cout, N, c, n, stride, padding, relu):
        return QuantLayer(name=name, kind=kind, in_channels=C, in_height=H, in_width=H,
                          out_channels=Cout, kernel=N, c=c, n=n, stride=stride, padding=padding,
                          dilation=1, groups=1, relu=relu,
                          alpha=rng.integers(-128, 128, (Cout, c, n, n)),
                          bias=rng.integers(-100, 100, Cout), multiplier=[1 << 10] * Cout,
                          shift=[16] * Cout)

    return QuantNet(1, 6, 6, 1.0, [layer("conv0", "conv", 1, 6, 4, 3, 1, 2, 2, 1, True),
                                   layer("fc", "linear", 36, 1, 3, 1, 6, 1, 1, 0, False)])


BOARD = get_board("ulx3s-12f")


@pytest.fixture(scope="module")
def chain_obj():
    return compile_plan(tiny_qnet(), BOARD.budget, target=BOARD.name).to_json()


@pytest.fixture(scope="module")
def graph_obj():
    graph = QuantGraph.from_qnet(tiny_qnet())
    return json.loads(json.dumps(compile_graph(graph, BOARD.budget, target=BOARD.name).to_json()))


def edited(obj, edit, drop=("prediction", "totals")):
    obj = copy.deepcopy(obj)
    edit(obj)
    for key in drop:
        obj.pop(key, None)
    return obj


def refused(load, obj, match):
    with pytest.raises(ConfigError, match=match):
        load(obj)


def test_both_plans_load_as_compiled(chain_obj, graph_obj):
    assert plan_from_json(copy.deepcopy(chain_obj)).to_json() == chain_obj
    assert graph_plan_from_json(copy.deepcopy(graph_obj)).to_json() == graph_obj


def stage(i, **kw):
    return lambda o: o["stages"][i].update(kw)


def cost(i, **kw):
    return lambda o: o["stages"][i]["cost"].update(kw)


@pytest.mark.parametrize("edit, match", [
    (stage(0, cycles_per_image=10**400), "cycles_per_image must be"),
    (stage(0, cycles_per_image=1), "cycles_per_image is 1, but"),
    (cost(0, dsp=0, lut4=0, ff=0), "cost is .* but"),
    (lambda o: o["stages"][0]["params"].update(lanes=2), "but"),
    (lambda o: o["stages"][0]["params"].update(sumpool="tree"), "sumpool"),
    (stage(1, index=True), "index"),
    (stage(0, fifo_depth=64), "fifo_depth is 64, but"),
    (lambda o: o["overhead"].update(lut4=0), "overhead is"),
    (lambda o: o.update(version=True), "version"),
    (lambda o: o["budget"].update(ebr_bits=7), "budget"),
    (lambda o: o["budget"].update(dsp_width=2), "budget"),
    (lambda o: o["budget"].update(lut4=10**6), "budget"),
    (lambda o: o.update(target="ulx3s\nevil"), "target"),
    (lambda o: o.update(target="icebreaker"), "icebreaker"),
])
def test_chain_plan_refuses_forged_fields(chain_obj, edit, match):
    refused(plan_from_json, edited(chain_obj, edit), match)


def node(i, **kw):
    return lambda o: o["nodes"][i].update(kw)


@pytest.mark.parametrize("edit, match", [
    (node(0, cycles_per_image=10**400), "cycles_per_image must be"),
    (node(0, cycles_per_image=1), "cycles_per_image is 1, but"),
    (node(0, latency_cycles=0), "latency_cycles is 0, but"),
    (lambda o: o["nodes"][0]["cost"].update(dsp=0, lut4=0, ff=0), "cost is .* but"),
    (lambda o: o["nodes"][0]["params"].update(lanes=2), "but"),
    (lambda o: o["edges"][0].update(input=True), "True\\) is not an edge"),
    (lambda o: o["edges"][0]["cost"].update(lut4=0), "cost is .* but"),
    (lambda o: o["overhead"].update(ff=0), "overhead is"),
    (lambda o: o.update(version=2.0), "version"),
    (lambda o: o["budget"].update(ebr_bits=4096, dsp_width=16), "budget"),
    (lambda o: o.update(target="icebreaker"), "icebreaker"),
    (lambda o: o.update(target="nowhere"), "target"),
])
def test_graph_plan_refuses_forged_fields(graph_obj, edit, match):
    refused(graph_plan_from_json, edited(graph_obj, edit), match)


def test_a_plan_may_be_planned_under_less_than_its_board(chain_obj):
    import dataclasses

    small = dataclasses.replace(BOARD.budget, dsp=20)
    obj = compile_plan(tiny_qnet(), small, target=BOARD.name).to_json()
    assert plan_from_json(obj).budget.dsp == 20
    custom = compile_plan(tiny_qnet(), dataclasses.replace(small, dsp_primitive=None),
                          target="custom budget").to_json()
    assert plan_from_json(custom).target == "custom budget"


def forge(src, dst, edit):
    """A copy of compile folder ``src`` with ``edit`` applied and every digest recomputed."""
    shutil.copytree(src, dst)
    obj = json.loads((dst / "plan.json").read_text())
    edit(obj)
    digest = plan_digest(obj)
    for name in obj[DIGEST_FIELD]:
        path = dst / name
        rest = path.read_bytes().split(b"\n", 1)[1]
        path.write_bytes(HEADER.format(digest=digest).encode() + rest)
        obj[DIGEST_FIELD][name] = file_sha256(path)
    (dst / "plan.json").write_text(json.dumps(obj))
    return dst


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled") / "c"
    write_compiled(compile_plan(tiny_qnet(), BOARD.budget, target=BOARD.name), out,
                   verilog=False)
    return out


@pytest.mark.parametrize("edit, match", [
    (lambda o: (stage(0, cycles_per_image=2**60)(o), o.pop("prediction"), o.pop("totals")),
     "cycles_per_image"),
    (lambda o: (o["stages"][0]["cost"].update(dsp=0, lut4=0, ff=0), o.pop("totals")), "cost"),
    (lambda o: o.update(target="icebreaker"), "icebreaker"),
    (lambda o: o.update(version=True), "version"),
])
def test_open_compiled_refuses_forged_folders(folder, tmp_path, edit, match):
    bad = forge(folder, tmp_path / "forged", edit)
    with pytest.raises(ConfigError, match=match):
        open_compiled(bad)


def qnet_json() -> dict:
    return json.loads(json.dumps(tiny_qnet().to_json()))


def layer0(**kw):
    return lambda o: o["layers"][0].update(kw)


@pytest.mark.parametrize("edit, match", [
    (lambda o: o.update(version=True), "version True"),
    (lambda o: o.update(version=1.0), "version 1.0"),
    (layer0(in_channels=2**70), "in_channels"),
    (layer0(padding=2**70), "padding"),
    (layer0(padding=True), "padding"),
    (layer0(stride=10**18), "stride"),
    (layer0(dilation=10**6), "dilation"),
    (lambda o: o["input"].update(height=2**70), "height"),
])
def test_qnet_refuses_mistyped_or_huge_integers(edit, match):
    obj = qnet_json()
    edit(obj)
    with pytest.raises(ConfigError, match=match):
        QuantNet.from_json(obj)
    with pytest.raises(ConfigError, match=match):
        QuantGraph.from_json(obj)


def test_graph_qnet_refuses_a_float_version():
    obj = QuantGraph.from_qnet(tiny_qnet()).to_json()
    assert obj["version"] == 2
    obj = json.loads(json.dumps({**obj, "version": 2.0}))
    with pytest.raises(ConfigError, match="version 2.0"):
        QuantGraph.from_json(obj)


@pytest.mark.parametrize("memory_windows", [True, False])
def test_a_graph_plan_records_whether_memory_windows_were_allowed(memory_windows):
    """The linear layer is fed a 4×3×3 map: register engines plan it with a Flatten, a memory
    engine without, so the loader must re-derive with the compiler's own choice."""
    graph = QuantGraph.from_qnet(tiny_qnet())
    plan = compile_graph(graph, BOARD.budget, target=BOARD.name, memory_windows=memory_windows)
    obj = json.loads(json.dumps(plan.to_json()))
    assert obj["memory_windows"] is memory_windows
    loaded = graph_plan_from_json(obj)
    assert loaded.memory_windows is memory_windows and loaded.to_json() == obj
    legacy = edited(obj, lambda o: o.pop("memory_windows"), drop=())
    assert graph_plan_from_json(legacy).to_json() == obj


def test_a_graph_plan_refuses_a_memory_windows_choice_its_nodes_do_not_match():
    graph = QuantGraph.from_qnet(tiny_qnet())
    obj = json.loads(json.dumps(compile_graph(graph, BOARD.budget, target=BOARD.name,
                                              memory_windows=False).to_json()))
    refused(graph_plan_from_json, edited(obj, lambda o: o.update(memory_windows=True)), "but")
    refused(graph_plan_from_json, edited(obj, lambda o: o.update(memory_windows=1)),
            "memory_windows' must be true or false")
