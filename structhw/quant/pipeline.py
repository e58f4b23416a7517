"""Quantize a training checkpoint and measure it on the digits test split (CLI and compiler API)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..qnet import QuantNet
from .. import golden
from .evaluate import float_reference, layer_errors
from .ptq import check_percentile, check_rounding, quantize, quantize_input


def _predictions(last_layer_outputs: torch.Tensor) -> torch.Tensor:
    """Class index per image from the last layer's outputs [B, classes, 1, 1] (first on ties)."""
    return last_layer_outputs.reshape(last_layer_outputs.shape[0], -1).argmax(dim=1)


def layer_rows(qnet: QuantNet, errors: list[dict] | None = None) -> list[dict]:
    """One JSON-ready dict per layer: geometry, exact widths (bits), scales and, if given, error."""
    rows = []
    for i, layer in enumerate(qnet.layers):
        row = {
            "name": layer.name, "kind": layer.kind, "dense": bool(layer.is_dense),
            "C": layer.in_channels, "N": layer.kernel, "c": layer.c, "n": layer.n,
            "Cout": layer.out_channels, "stride": layer.stride, "padding": layer.padding,
            "dilation": layer.dilation, "groups": layer.groups, "relu": bool(layer.relu),
            "window": layer.window, "widths": asdict(layer.widths()),
            "in_scale": layer.in_scale, "out_scale": layer.out_scale,
            "alpha_scale_min": float(layer.alpha_scale.min()),
            "alpha_scale_max": float(layer.alpha_scale.max()),
        }
        if errors is not None:
            row["rel_rms"] = errors[i]["rel_rms"]
            row["max_abs_err"] = errors[i]["max_abs"]
        rows.append(row)
    return rows


def quantize_checkpoint(path=None, dense: bool = False, *, percentile: float = 100.0,
                        rounding: str = "gptq"):
    """Quantize the decomposed (or, with ``dense``, the dense baseline) model of a checkpoint.

    Parameters
    ----------
    path : str or Path, optional
        A training checkpoint (``structhw train``); default the shipped demo model.
    dense : bool
        Quantize the dense baseline model (dense QuantLayers, for the dense hardware).
    percentile, rounding
        Activation range rule and α rounding (see :func:`structhw.quant.quantize`).

    Returns
    -------
    qnet : QuantNet
        Calibrated on the digits training split.
    metrics : dict
        Test-split fractions ``float_acc`` (float model that was quantized: decomposed, or dense
        with ``dense``), ``int8_acc`` (golden integer model), ``decomposed_float_acc``,
        ``dense_float_acc``, ``agreement`` (int8 and float predictions equal), and ``layers``
        (see :func:`layer_rows`, with per-layer test-split error).
    """
    from ..checkpoint import build_models, demo_checkpoint_path, load_checkpoint
    from ..data import digits_split

    check_percentile(percentile)
    check_rounding(rounding)
    path = Path(demo_checkpoint_path() if path is None else path)
    dense_model, decomposed_model = build_models(load_checkpoint(path))
    model = dense_model if dense else decomposed_model
    train_ds, test_ds = digits_split()
    train_x = train_ds.tensors[0]
    test_x, test_y = test_ds.tensors

    qnet = quantize(model, train_x, name=path.stem, percentile=percentile, rounding=rounding)
    ints = golden.run_network(qnet, quantize_input(test_x, qnet))
    floats = float_reference(model, test_x)
    other = float_reference(decomposed_model if dense else dense_model, test_x)[-1]
    int8_pred, float_pred = _predictions(ints[-1]), _predictions(floats[-1])
    preds = {"dense": float_pred if dense else _predictions(other),
             "decomposed": _predictions(other) if dense else float_pred}

    def acc(pred):
        return float((pred == test_y).double().mean())

    metrics = {
        "checkpoint": str(path),
        "variant": "dense" if dense else "decomposed",
        "float_acc": acc(float_pred),
        "int8_acc": acc(int8_pred),
        "decomposed_float_acc": acc(preds["decomposed"]),
        "dense_float_acc": acc(preds["dense"]),
        "agreement": float((int8_pred == float_pred).double().mean()),
        "test_images": int(test_y.shape[0]),
        "calibration": qnet.metadata["calibration"],
        "layers": layer_rows(qnet, layer_errors(qnet, floats, ints)),
    }
    qnet.metadata.update({"source": str(path), "variant": metrics["variant"],
                          "float_acc": metrics["float_acc"], "int8_acc": metrics["int8_acc"]})
    return qnet, metrics
