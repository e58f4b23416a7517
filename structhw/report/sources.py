"""What the report's model provides: the quantized networks, the float accuracies, the paper's
complexity counts and, for a compile folder, its finished plan and Verilog.

One class per kind of MODEL, behind one interface (:func:`model_source` picks it):
:class:`CheckpointSource` (a training checkpoint: everything), :class:`QnetSource` (a quantized
structured network: no dense or float model) and :class:`CompiledSource` (a ``structhw compile``
output folder of a chain plan: the qnet inside its plan; its plan is the structured variant's,
simulated from the folder's own Verilog).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .variants import MODELS


class CheckpointSource:
    """A training checkpoint at ``path``: the dense and the structured model, float and int8."""

    plan = None
    sources: tuple = ()
    """The structured plan's Verilog to simulate (empty: generated for the plan)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name

    def quantized(self, dense: bool):
        """(qnet, metrics) of the structured (decomposed) or dense model; metrics as
        :func:`structhw.quant.quantize_checkpoint` returns them (accuracies as fractions)."""
        from ..quant import quantize_checkpoint
        return quantize_checkpoint(self.path, dense=dense)

    def structured_plan(self, qnet, board_info):
        """The structured variant's plan of ``qnet`` on the board (highest throughput)."""
        from structhw.board_plan import plan_for_board
        return plan_for_board(qnet, board_info, False)

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
        from ..complexity import count_model
        ckpt = load_checkpoint(self.path)
        dense_model, _ = build_models(ckpt)
        structure = plan_from_config(ckpt["config"]["plan"])
        counts = {"dense": count_model(dense_model, input_shape).as_dict(),
                  "structured": count_model(dense_model, input_shape, plan=structure).as_dict()}
        for name in MODELS:
            counts[name]["layers"] = [layer for layer in counts[name]["layers"]
                                      if layer["kind"] in ("conv", "linear")]
        return counts


class QnetSource(CheckpointSource):
    """A quantized structured network (``*.qnet.json``): the structured side only."""

    what = "a quantized structured network"

    def _qnet(self):
        from ..qnet import load
        return load(self.path)

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


class CompiledSource(QnetSource):
    """A ``structhw compile`` output folder holding a chain plan for ``board``, its Verilog
    checked against it (:func:`structhw.compiled.open_compiled`): the structured variant is its
    plan as it is, simulated from its own Verilog; the other variants are planned from the qnet
    inside it."""

    what = "a compile folder of a quantized structured network"

    def __init__(self, path: Path, board: str):
        from structhw.compiled import open_compiled
        from structhw.graph.plan import GraphPlan

        super().__init__(path)
        folder = open_compiled(path)
        if isinstance(folder.plan, GraphPlan):
            raise ConfigError(f"{path} holds a graph plan; the report compares chain networks "
                              f"only (use structhw sim and structhw build for it)")
        if folder.plan.target != board:
            raise ConfigError(f"{path}: planned for {folder.plan.target}, not {board}; compile "
                              f"it with --board {board}, or report with --board "
                              f"{folder.plan.target}")
        self.plan, self.sources = folder.plan, folder.sources

    def _qnet(self):
        return self.plan.qnet

    def structured_plan(self, qnet, board_info):
        return self.plan


def model_source(model, board: str) -> CheckpointSource:
    """The source of ``model`` for a report on ``board``: a checkpoint path, a ``*.qnet.json``,
    a compile output folder (or its plan.json) or None (the shipped demo checkpoint). Raises
    FileNotFoundError when the checkpoint does not exist, ConfigError for a compile folder that
    does not check out or was planned for another board."""
    from ..checkpoint import demo_checkpoint_path
    from ..compiled import is_compiled

    if model is not None and str(model).endswith(".qnet.json"):
        return QnetSource(model)
    if model is not None and is_compiled(model):
        return CompiledSource(model, board)
    path = Path(demo_checkpoint_path() if model is None else model)
    if not path.exists():
        raise FileNotFoundError(f"model {str(path)!r} does not exist")
    return CheckpointSource(path)
