"""The report's source for a float model that is traced into a graph: a zoo or ``.py`` model
decomposed with a structure preset (its undecomposed self is the dense baseline), or a structhw
checkpoint of a model that is not a chain (a ResNet: its decomposed and its dense model)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import TensorDataset

from ..errors import ConfigError
from ..model_source import ModelSource, calibration_images
from ..train import accuracy
from .sources import CheckpointSource, layer_counts


class GraphModelSource(CheckpointSource):
    """The structured and the dense model of ``source`` (a resolved MODEL with both), traced,
    quantized and tested on ``data`` (default: the data set a checkpoint was trained on, else
    digits); ``checkpoint`` the training checkpoint they came from, if any.

    Construction checks, before any work: that there is a dense baseline to compare with, that
    the data set's images fit the model, and that both models trace (an unsupported op is
    refused with one line naming it)."""

    def __init__(self, source: ModelSource, data: str | None = None,
                 checkpoint: Path | None = None):
        from ..datasets import parse_data
        from ..graph.trace import trace_model

        if source.dense_model is None:
            raise ConfigError(f"{source.name}: the report compares a structured model with its "
                              f"dense baseline; give --preset A or B (or an SR-trained "
                              f"checkpoint)")
        self.source, self.name = source, source.name
        self.path = None if checkpoint is None else Path(checkpoint)
        self.data = data or source.data or "digits"
        parse_data(self.data).for_shape(source.input_shape)
        for model in (source.model, source.dense_model):
            trace_model(model, source.input_shape)

    def quantized(self, dense: bool):
        """(QuantGraph, metrics) of the structured or dense model
        (:func:`structhw.graph.pipeline.quantize_source`); the structured model's float accuracy
        is its ``decomposed_float_acc``."""
        from ..graph.pipeline import quantize_source

        graph, metrics = quantize_source(self.source, data=self.data, dense=dense)
        if not dense:
            metrics = {**metrics, "decomposed_float_acc": metrics.get("float_acc")}
        return graph, metrics

    def _test_split(self, count: int | None):
        """The first ``count`` float test images with their labels, a ``TensorDataset``;
        ConfigError when the data set has no labels."""
        _, test, labels = calibration_images(self.data, self.source.input_shape)
        if labels is None:
            raise ConfigError(f"--data {self.data} has no labels: no accuracy")
        count = len(test) if count is None else min(count, len(test))
        return TensorDataset(test[:count], labels[:count])

    def structured_float_accuracy(self) -> float:
        """The SR-trained model's accuracy (before decomposition) on the test split; only a
        checkpoint has one."""
        from ..checkpoint import build_structured_model, load_checkpoint

        if self.path is None:
            raise ConfigError(f"{self.name} was decomposed with --preset {self.source.preset} "
                              f"from the weights given: there is no SR-trained float model "
                              f"(its decomposed float accuracy is reported)")
        return accuracy(build_structured_model(load_checkpoint(self.path)),
                        self._test_split(None))

    def dense_float_accuracy(self, count: int | None) -> float:
        return accuracy(self.source.dense_model, self._test_split(count))

    def complexity(self, input_shape) -> dict:
        from ..checkpoint import load_checkpoint, plan_from_config
        from ..regularization import make_plan

        dense = self.source.dense_model
        structure = (plan_from_config(load_checkpoint(self.path)["config"]["plan"])
                     if self.path is not None else make_plan(dense, self.source.preset))
        return layer_counts(dense, input_shape, structure)
