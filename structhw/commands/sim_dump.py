"""``structhw sim MODEL --dump OUT.npz``: a network run's data, so anyone can check the hardware
and the golden model independently.

Arrays: ``x`` int8 [B, C, H, W] (the images sent), ``logits_hw`` and ``logits_golden`` int8
[B, classes] (the RTL's and the golden integer model's), ``logits_float`` float32 [B, classes]
(the float model on the dequantized images, ``x · input_scale``; NaN when MODEL is a qnet file,
which carries no float model), ``logit_scale`` and ``input_scale`` (float64 scalars: a logit's
value is its int8 code times ``logit_scale``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from structhw.errors import ConfigError, check_output_file


def float_model(args, source=None):
    """The float model MODEL was quantized from: the zoo / .py model (``source.model``), a
    checkpoint's decomposed model, or None for a qnet file."""
    if source is not None and source.model is not None:
        return source.model
    model = args.model
    if model is None or str(model).endswith(".pt"):
        from structhw.checkpoint import build_models, demo_checkpoint_path, load_checkpoint
        return build_models(load_checkpoint(model or demo_checkpoint_path()))[1]
    return None


def plan_scales(plan) -> tuple:
    """(input scale, logit scale) of a chain or graph plan."""
    graph = getattr(plan, "graph", None)
    if graph is not None:
        return float(graph.input_scale), float(graph.scale_of(graph.output))
    return float(plan.qnet.input_scale), float(plan.qnet.layers[-1].out_scale)


def dump_arrays(images: np.ndarray, result, plan, model) -> dict:
    """The arrays of the module docstring for ``images`` (int8 values) and a network ``result``."""
    input_scale, logit_scale = plan_scales(plan)
    x = np.asarray(images).astype(np.int8)
    shape = np.asarray(result.logits_ref).shape
    if model is None:
        logits_float = np.full(shape, np.nan, dtype=np.float32)
    else:
        with torch.no_grad():
            out = model(torch.as_tensor(x, dtype=torch.float32) * input_scale)
        logits_float = out.reshape(len(x), -1).numpy().astype(np.float32)
        if logits_float.shape != shape:
            raise ConfigError(f"--dump: the float model gives {logits_float.shape[1]} logits per "
                              f"image, the network {shape[1]}")
    return {"x": x, "logits_hw": np.asarray(result.logits_hw).astype(np.int8),
            "logits_golden": np.asarray(result.logits_ref).astype(np.int8),
            "logits_float": logits_float, "logit_scale": np.float64(logit_scale),
            "input_scale": np.float64(input_scale)}


def check_dump_path(path) -> Path:
    """Refuse a dump path that cannot be written before any work is done."""
    return check_output_file(path, "--dump", suffix=".npz")
