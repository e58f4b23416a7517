"""Which report source (:mod:`structhw.report.sources`) a MODEL argument names."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import demo_checkpoint_path, shipped_model_path
from ..compiled import is_compiled
from ..errors import ConfigError
from ..model_source import checkpoint_source, is_chain_checkpoint, resolve_model
from .graph_source import GraphModelSource
from .sources import CheckpointSource, CompiledSource, QnetSource, chain_data


def model_source(model, board: str, *, data: str | None = None, preset: str | None = None,
                 input_shape=None, weights=None) -> CheckpointSource:
    """The source of ``model`` for a report on ``board``: None (the shipped demo checkpoint), a
    shipped model's name (``digits-cnn-A``), a checkpoint path, a ``*.qnet.json``, a compile
    output folder (or its plan.json), a zoo name or ``path/file.py:callable`` (with ``preset``,
    ``input_shape``, ``weights`` as :func:`structhw.model_source.resolve_model` takes them);
    ``data`` the test set of graph networks. Raises FileNotFoundError when the checkpoint does
    not exist, ConfigError for a model or option that does not check out."""
    shipped = None if model is None else shipped_model_path(model)
    model = shipped if shipped is not None else model
    options = {"preset": preset, "input_shape": input_shape, "weights": weights}
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
    is_file = model is None or str(model).endswith((".pt", ".qnet.json")) or is_compiled(model)
    if is_file and given:
        raise ConfigError(f"{', '.join(given)} apply to zoo and .py models; "
                          f"{model or 'the shipped demo checkpoint'} carries its own")
    if model is not None and str(model).endswith(".qnet.json"):
        return QnetSource(model, data)
    if model is not None and is_compiled(model):
        return CompiledSource(model, board, data)
    if model is not None and not str(model).endswith(".pt"):
        return GraphModelSource(resolve_model(str(model), **options), data)
    path = Path(demo_checkpoint_path() if model is None else model)
    if not path.exists():
        raise FileNotFoundError(f"model {str(path)!r} does not exist")
    if is_chain_checkpoint(path):
        chain_data(data, path.name)
        return CheckpointSource(path)
    return GraphModelSource(checkpoint_source(path), data, checkpoint=path)
