"""What the report's model provides: the quantized networks, the float accuracies and the
paper's complexity counts.

A *source* is the dict :func:`model_source` returns: ``kind`` (``"checkpoint"``, a training
checkpoint, or ``"qnet"``, a quantized structured network: no dense or float model), ``path``
and ``name`` (the file's name, shown in the report).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .variants import MODELS


def model_source(model) -> dict:
    """The source of ``model``: a checkpoint path, a ``*.qnet.json`` or None (the shipped demo
    checkpoint). Raises FileNotFoundError when the checkpoint does not exist."""
    from ..checkpoint import demo_checkpoint_path
    if model is not None and str(model).endswith(".qnet.json"):
        return {"kind": "qnet", "path": Path(model), "name": Path(model).name}
    path = Path(demo_checkpoint_path() if model is None else model)
    if not path.exists():
        raise FileNotFoundError(f"model {str(path)!r} does not exist")
    return {"kind": "checkpoint", "path": path, "name": path.name}


def quantized(source: dict, dense: bool):
    """(qnet, metrics) of the structured (decomposed) or dense model of ``source``; metrics as
    :func:`structhw.quant.quantize_checkpoint` returns them (accuracies as fractions), {} for a
    qnet."""
    if source["kind"] == "qnet":
        if dense:
            raise ConfigError(f"{source['name']} is a quantized structured network: it has no "
                              f"dense baseline (give the training checkpoint)")
        from ..qnet import load
        return load(source["path"]), {}
    from ..quant import quantize_checkpoint
    return quantize_checkpoint(source["path"], dense=dense)


def structured_float_accuracy(source: dict) -> float:
    """The SR-trained structured float model's accuracy (fraction) on the digits test split."""
    from ..checkpoint import build_structured_model, load_checkpoint
    from ..data import digits_split
    from ..quant.evaluate import float_accuracy
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: no float model")
    _, test_ds = digits_split()
    x, y = test_ds.tensors
    return float_accuracy(build_structured_model(load_checkpoint(source["path"])), x, y)


def dense_float_accuracy(source: dict, count: int | None) -> float:
    """The dense float model's accuracy (fraction) on the first ``count`` test images (the
    simulated ones; None: all)."""
    from ..checkpoint import build_models, load_checkpoint
    from ..data import digits_split
    from ..quant.evaluate import float_accuracy
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: no float model")
    _, test_ds = digits_split()
    x, y = test_ds.tensors
    count = len(x) if count is None else min(count, len(x))
    dense_model, _ = build_models(load_checkpoint(source["path"]))
    return float_accuracy(dense_model, x[:count], y[:count])


def complexity(source: dict, input_shape) -> dict:
    """The paper's counts for one image of ``input_shape``, ``{"dense", "structured"}`` each
    params, mults and adds in total and per conv/linear layer
    (:func:`structhw.complexity.count_model`)."""
    from ..checkpoint import build_models, load_checkpoint, plan_from_config
    from ..complexity import count_model
    if source["kind"] == "qnet":
        raise ConfigError(f"{source['name']} is a quantized network: the paper's counts need the "
                          f"float model of a training checkpoint")
    ckpt = load_checkpoint(source["path"])
    dense_model, _ = build_models(ckpt)
    structure = plan_from_config(ckpt["config"]["plan"])
    counts = {"dense": count_model(dense_model, input_shape).as_dict(),
              "structured": count_model(dense_model, input_shape, plan=structure).as_dict()}
    for name in MODELS:
        counts[name]["layers"] = [layer for layer in counts[name]["layers"]
                                  if layer["kind"] in ("conv", "linear")]
    return counts
