"""QuantGraph: structure checks, the golden model of a whole graph, qnet.json versions 1 and 2."""

import json

import pytest
import torch

from structhw import golden, qnet
from structhw.errors import ConfigError
from structhw.graph.ops import AddOp, ConvOp, GlobalAvgPoolOp, PadShortcutOp
from structhw.graph.quant_graph import QuantGraph, load_graph, save_graph
from structhw.rtl_gen.random_layer import random_quant_layer


def _residual_graph() -> QuantGraph:
    """input (2,6,6) → conv a (4,6,6) → conv b (4,6,6); shortcut pad(input) ; add(b, pad) →
    global pool → linear (3 logits)."""
    a = random_quant_layer(2, 3, 1, 2, 4, 6, 6, 1, 1, seed=1, name="a")
    b = random_quant_layer(4, 3, 2, 2, 4, 6, 6, 1, 1, seed=2, name="b", relu=False)
    fc = random_quant_layer(4, 1, 2, 1, 3, 1, 1, 1, 0, seed=3, name="fc", kind="linear",
                            relu=False)
    nodes = [
        ConvOp(name="a", inputs=("input",), in_shapes=((2, 6, 6),), layer=a),
        ConvOp(name="b", inputs=("a",), in_shapes=((4, 6, 6),), layer=b),
        PadShortcutOp(name="short", inputs=("input",), in_shapes=((2, 6, 6),), stride=1, extra=2),
        AddOp(name="add", inputs=("b", "short"), in_shapes=((4, 6, 6),) * 2,
              multipliers=(20000, 9000), shift=15, relu=True),
        GlobalAvgPoolOp(name="pool", inputs=("add",), in_shapes=((4, 6, 6),),
                        multiplier=1 << 14, shift=19),
        ConvOp(name="fc", inputs=("pool",), in_shapes=((4, 1, 1),), layer=fc),
    ]
    return QuantGraph((2, 6, 6), 0.02, nodes, "fc", {"name": "residual"})


def _int8(shape, seed):
    return torch.randint(-128, 128, shape, generator=torch.Generator().manual_seed(seed))


def test_golden_graph_runs_every_node_in_order():
    graph = _residual_graph()
    x = _int8((3, 2, 6, 6), 0)
    values = graph.run(x)
    ya = golden.run_layer(x, graph.node("a").layer)
    yb = golden.run_layer(ya, graph.node("b").layer)
    short = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, 2))
    added = ((yb * 20000 + short * 9000 + (1 << 14)) >> 15).clamp(0, 127)
    assert torch.equal(values["add"], added)
    pooled = ((added.sum(dim=(2, 3), keepdim=True) * (1 << 14) + (1 << 18)) >> 19).clamp(-128, 127)
    assert torch.equal(values["pool"], pooled)
    logits = golden.run_layer(pooled.reshape(3, -1, 1, 1), graph.node("fc").layer)
    assert torch.equal(graph.logits(x), logits.reshape(3, -1))
    assert graph.num_classes == 3 and not graph.is_chain()


def test_version_2_round_trip_is_identical(tmp_path):
    graph = _residual_graph()
    path = save_graph(graph, tmp_path / "g.qnet.json")
    back = load_graph(path)
    assert back.to_json() == graph.to_json()
    x = _int8((2, 2, 6, 6), 5)
    assert torch.equal(back.logits(x), graph.logits(x))


def test_a_version_1_file_loads_as_its_chain_graph(tmp_path):
    layers = [random_quant_layer(1, 3, 1, 2, 4, 5, 5, 1, 1, seed=4, name="0"),
              random_quant_layer(100, 1, 20, 1, 10, 1, 1, 1, 0, seed=5, name="1", kind="linear",
                                 relu=False)]
    net = qnet.QuantNet(1, 5, 5, 0.1, layers, metadata={"name": "chain"})
    path = qnet.save(net, tmp_path / "c.qnet.json")
    graph = load_graph(path)
    assert graph.is_chain() and [n.name for n in graph.nodes] == ["0", "1"]
    x = _int8((4, 1, 5, 5), 1)
    assert torch.equal(graph.logits(x), golden.logits(net, x))
    assert graph.to_qnet().to_json() == net.to_json()


def test_a_graph_is_not_a_version_1_network():
    with pytest.raises(ConfigError, match="'short' is a pad_shortcut op"):
        _residual_graph().to_qnet()


def _edit(mutate):
    obj = _residual_graph().to_json()
    mutate(obj)
    return obj


@pytest.mark.parametrize("mutate, message", [
    (lambda o: o["nodes"][1].update(inputs=["nowhere"]), "input 'nowhere' is not an earlier"),
    (lambda o: o["nodes"][1].update(name="a"), "used twice"),
    (lambda o: o.update(output="missing"), "graph output 'missing'"),
    (lambda o: o.update(output="pool"), "'fc': its output is never used"),
    (lambda o: o["nodes"][3].update(in_shapes=[[4, 6, 6], [4, 3, 3]]), "different shapes"),
    (lambda o: o["nodes"][4].update(in_shapes=[[4, 3, 3]]), "record"),
    (lambda o: o.update(version=3), "unsupported structhw.qnet version 3"),
    (lambda o: o.update(metadata=[1]), "'metadata' must be an object"),
    (lambda o: o["input"].update(scale=-1), "input scale"),
    (lambda o: o.update(nodes=[]), "at least one node"),
    (lambda o: o["nodes"].reverse(), "is not an earlier node"),
])
def test_malformed_graphs_are_refused(tmp_path, mutate, message):
    path = tmp_path / "bad.qnet.json"
    path.write_text(json.dumps(_edit(mutate)))
    with pytest.raises(ConfigError, match=message) as err:
        load_graph(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_golden_input_must_match_the_graph():
    graph = _residual_graph()
    with pytest.raises(ValueError, match="shape"):
        graph.run(_int8((1, 2, 5, 5), 0))
    with pytest.raises(TypeError):
        graph.run(torch.zeros(1, 2, 6, 6))
