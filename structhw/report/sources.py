"""What the report's model provides: the quantized networks, their plans and test images, the
float accuracies, the paper's complexity counts and, for a compile folder, its finished plan and
Verilog.

One class per kind of MODEL, behind one interface
(:func:`structhw.report.pick_source.model_source` picks it):
:class:`CheckpointSource` (a training checkpoint of a chain model: everything, on digits),
:class:`QnetSource` (a quantized structured network, chain or graph: no dense or float model),
:class:`CompiledSource` (a ``structhw compile`` output folder: the network inside its plan; its
plan is the structured variant's, simulated from the folder's own Verilog) and
:class:`~structhw.report.graph_source.GraphModelSource` (a float model that is traced: a zoo or
``.py`` model decomposed with a preset, or the checkpoint of a ResNet).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .variants import MODELS


def network_test_images(net, count: int | None, data: str) -> tuple:
    """(int8 test images int64 numpy [B, C, H, W], labels int64 [B] or None): the first
    ``count`` (None: all) test images of ``data`` quantized to ``net``'s input scale; a chain
    :class:`~structhw.qnet.QuantNet` always on the digits test split."""
    from ..graph.quant_graph import QuantGraph
    from ..model_source import quantized_test_images
    from ..quant import quantized_test_split

    if not isinstance(net, QuantGraph):
        return quantized_test_split(net, count)
    return quantized_test_images(data, net.input_shape, net.input_scale, count)


class CheckpointSource:
    """A training checkpoint of a chain model at ``path``: the dense and the structured model,
    float and int8, on the digits test split."""

    plan = None
    sources: tuple = ()
    """The structured plan's Verilog to simulate (empty: generated for the plan)."""
    data = "digits"
    """The ``--data`` set the networks are calibrated and tested on."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    def quantized(self, dense: bool):
        """(network, metrics) of the structured (decomposed) or dense model; metrics as
        :func:`structhw.quant.quantize_checkpoint` returns them (accuracies as fractions)."""
        from ..quant import quantize_checkpoint
        return quantize_checkpoint(self.path, dense=dense)

    def network_plan(self, net, board_info, dense: bool):
        """The plan of ``net`` (this source's structured or dense network) on the board at its
        highest throughput."""
        from structhw.board_plan import plan_for_board
        return plan_for_board(net, board_info, dense)

    def test_images(self, net, count: int | None) -> tuple:
        """:func:`network_test_images` of this source's data set."""
        return network_test_images(net, count, self.data)

    def structured_float_accuracy(self) -> float:
        """The SR-trained structured float model's accuracy (fraction) on the digits test split."""
        from ..checkpoint import build_structured_model, load_checkpoint
        from ..data import digits_split
        from ..quant.evaluate import float_accuracy
        x, y = digits_split()[1].tensors
        return float_accuracy(build_structured_model(load_checkpoint(self.path)), x, y)

    def dense_float_accuracy(self, count: int | None) -> float:
        """The dense float model's accuracy (fraction) on the first ``count`` test images (the
        simulated ones; None: all)."""
        from ..checkpoint import build_models, load_checkpoint
        from ..data import digits_split
        from ..quant.evaluate import float_accuracy
        x, y = digits_split()[1].tensors
        count = len(x) if count is None else min(count, len(x))
        dense_model, _ = build_models(load_checkpoint(self.path))
        return float_accuracy(dense_model, x[:count], y[:count])

    def complexity(self, input_shape) -> dict:
        """The paper's counts for one image of ``input_shape``, ``{"dense", "structured"}`` each
        params, mults and adds in total and per conv/linear layer
        (:func:`structhw.complexity.count_model`)."""
        from ..checkpoint import build_models, load_checkpoint, plan_from_config
        ckpt = load_checkpoint(self.path)
        dense_model, _ = build_models(ckpt)
        return layer_counts(dense_model, input_shape, plan_from_config(ckpt["config"]["plan"]))


def layer_counts(dense_model, input_shape, structure: dict) -> dict:
    """``{"dense", "structured"}``: :func:`structhw.complexity.count_model` of ``dense_model``
    as it is and with the structure plan ``structure`` (name → (c, n)), each layer list kept to
    the conv/linear layers."""
    from ..complexity import count_model
    counts = {"dense": count_model(dense_model, input_shape).as_dict(),
              "structured": count_model(dense_model, input_shape, plan=structure).as_dict()}
    for name in MODELS:
        counts[name]["layers"] = [layer for layer in counts[name]["layers"]
                                  if layer["kind"] in ("conv", "linear")]
    return counts


class QnetSource(CheckpointSource):
    """A quantized structured network (``*.qnet.json``, a chain or a graph): the structured side
    only, tested on ``data`` (default: the data set it was quantized on, else digits)."""

    what = "a quantized structured network"

    def __init__(self, path: Path, data: str | None = None):
        from ..graph.quant_graph import load_graph

        super().__init__(path)
        graph = load_graph(self.path)
        self._net = graph.to_qnet() if graph.is_chain() else graph
        self.data = network_data(self._net, data, self.name)

    def _qnet(self):
        return self._net

    def quantized(self, dense: bool):
        if dense:
            raise ConfigError(f"{self.name} is {self.what}: it has no dense baseline (give the "
                              f"training checkpoint)")
        return self._qnet(), {}

    def structured_float_accuracy(self) -> float:
        raise ConfigError(f"{self.name} is {self.what}: no float model")

    def dense_float_accuracy(self, count: int | None) -> float:
        raise ConfigError(f"{self.name} is {self.what}: no float model")

    def complexity(self, input_shape) -> dict:
        raise ConfigError(f"{self.name} is {self.what}: the paper's counts need the float "
                          f"model of a training checkpoint")


def chain_data(data: str | None, name: str) -> str:
    """The data set a chain network (``name``) is tested on: digits, the only one it takes."""
    if data not in (None, "digits"):
        raise ConfigError(f"--data {data}: {name} is a chain network, tested on the digits "
                          f"test split")
    return "digits"


def network_data(net, data: str | None, name: str) -> str:
    """The data set a quantized ``net`` is tested on: ``data``, else the one recorded in a
    graph's metadata, else digits; a chain network only on digits (:func:`chain_data`). A data
    set of other images than the network takes is refused."""
    from ..datasets import parse_data
    from ..graph.quant_graph import QuantGraph

    if not isinstance(net, QuantGraph):
        chosen = chain_data(data, name)
    else:
        chosen = data or net.metadata.get("data") or "digits"
    parse_data(chosen).for_shape(net.input_shape)
    return chosen


class CompiledSource(QnetSource):
    """A ``structhw compile`` output folder holding a plan for ``board``, its Verilog checked
    against it (:func:`structhw.compiled.open_compiled`): the structured variant is its plan as
    it is, simulated from its own Verilog; the other variants are planned from the network
    inside it."""

    what = "a compile folder of a quantized structured network"

    def __init__(self, path: Path, board: str, data: str | None = None):
        from structhw.compiled import open_compiled
        from structhw.graph.plan import GraphPlan

        folder = open_compiled(path)
        if folder.plan.target != board:
            raise ConfigError(f"{path}: planned for {folder.plan.target}, not {board}; compile "
                              f"it with --board {board}, or report with --board "
                              f"{folder.plan.target}")
        self.path, self.name = Path(path), Path(path).name
        self.plan, self.sources = folder.plan, folder.sources
        self._net = self.plan.graph if isinstance(self.plan, GraphPlan) else self.plan.qnet
        self.data = network_data(self._net, data, self.name)

    def network_plan(self, net, board_info, dense: bool):
        return self.plan if not dense else super().network_plan(net, board_info, dense)
