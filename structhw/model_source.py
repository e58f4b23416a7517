"""What a MODEL argument names, and the images a model is calibrated and tested on.

MODEL is one of:

- nothing: the shipped demo checkpoint (digits-cnn, preset A);
- a zoo name (``resnet20``, ``digits-cnn``, …; :data:`structhw.zoo.MODELS`), with fresh
  weights or ``--weights FILE.pt`` (a plain ``state_dict``);
- a structhw training checkpoint (``structhw train``), or a shipped one by name:
  ``<zoo name>-A`` (``digits-cnn-A``; :func:`structhw.checkpoint.shipped_model_path`);
- a ``*.qnet.json`` file (an already quantized network, version 1 or 2);
- ``path/to/file.py:callable``: the file is run as a Python module (it is the user's own code)
  and ``callable()`` must return an ``nn.Module``; its input shape comes from an ``input_shape``
  attribute of the module or ``--input-shape C,H,W``, its weights from ``--weights``.

A zoo or ``.py`` model can be given a structure preset (``A``, ``B``): its convolutions and
linear layers are then decomposed with the preset's (c, n), α the least-squares fit of the
weights (exact when the weights are structured, e.g. SR-trained).

Data sets (``--data``, :mod:`structhw.datasets`): ``digits`` (scikit-learn's bundled 8×8
digits, models of input 1×8×8), ``standin`` (a generated 3×32×32, 10-class stand-in for
CIFAR-10: no download), ``cifar10:DIR`` (the official CIFAR-10 binary distribution in folder
DIR, 3×32×32) and ``random`` (seeded normal images of any shape: for testing hardware only,
accuracies mean nothing). A model whose input shape is not the data set's is refused.
Quantization is calibrated on the training images (the first 1,000 for standin and cifar10)
and measured on the test images.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import datasets
from .checkpoint import read_tensor_file, state_problem
from .errors import ConfigError

DATA_SETS = datasets.DATA_SETS
"""The ``--data`` forms (:mod:`structhw.datasets`), for help text."""
MAX_INPUT_CHANNELS = 4096
MAX_INPUT_PIXELS = 256 * 256
"""Largest ``--input-shape``: the limits ``structhw rtl`` puts on one layer's input."""


@dataclass
class ModelSource:
    """A resolved MODEL: a float ``model`` (eval mode) of ``input_shape`` (C, H, W), or a
    quantized ``graph`` loaded from a qnet file, or a training ``checkpoint`` path (of a chain
    model, quantized by the chain quantizer). A checkpoint of any other model is its decomposed
    float ``model`` with its ``dense_model`` baseline and the ``data`` set it was trained on; a
    zoo or ``.py`` model decomposed with a ``preset`` keeps its undecomposed ``dense_model``."""

    name: str
    input_shape: tuple
    model: nn.Module | None = None
    graph: object = None
    checkpoint: Path | None = None
    dense_model: nn.Module | None = None
    data: str | None = None
    preset: str | None = None
    """The structure preset a zoo or ``.py`` model was decomposed with (None: as given)."""


def parse_shape(text: str) -> tuple:
    """``"C,H,W"`` → (C, H, W) of positive integers."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"--input-shape {text!r}: expected C,H,W with positive integers")
    return check_input_shape(tuple(int(p) for p in parts), f"--input-shape {text!r}")


def check_input_shape(shape: tuple, what: str) -> tuple:
    """``shape`` (C, H, W) when it is within :data:`MAX_INPUT_CHANNELS` and
    :data:`MAX_INPUT_PIXELS`; ConfigError naming ``what`` otherwise."""
    if shape[0] > MAX_INPUT_CHANNELS or shape[1] * shape[2] > MAX_INPUT_PIXELS:
        raise ConfigError(f"{what}: at most {MAX_INPUT_CHANNELS} channels and "
                          f"{MAX_INPUT_PIXELS} pixels (256×256) per image, the limits of the "
                          f"cycle and resource models")
    return shape


def load_python_model(spec: str) -> nn.Module:
    """``path/file.py:callable`` → the ``nn.Module`` that ``callable()`` returns."""
    path_text, _, attr = spec.rpartition(":")
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"model {spec!r}: {path} is not a file")
    module_spec = importlib.util.spec_from_file_location(f"structhw_user_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as exc:
        raise ConfigError(f"model {spec!r}: running {path} called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise ConfigError(f"model {spec!r}: running {path} raised {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"model {spec!r}: {path} has no callable {attr!r}")
    try:
        model = factory()
    except SystemExit as exc:
        raise ConfigError(f"model {spec!r}: {attr}() called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise ConfigError(f"model {spec!r}: {attr}() raised {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {spec!r}: {attr}() returned a {type(model).__name__}, "
                          f"not an nn.Module")
    return model


def load_weights(model: nn.Module, path) -> None:
    """Load a plain ``state_dict`` file into ``model`` (``weights_only=True``, strict keys)."""
    try:
        state = read_tensor_file(path)
    except FileNotFoundError:
        raise ConfigError(f"--weights {path}: no such file") from None
    except Exception as exc:
        raise ConfigError(f"--weights {path}: not a readable weights-only state_dict "
                          f"({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"--weights {path}: expected a dict of tensors (a state_dict)")
    problem = state_problem(model, state)
    if problem:
        raise ConfigError(f"--weights {path}: does not fit the model: {problem}")
    model.load_state_dict(state, strict=True)


def _structured(model: nn.Module, preset: str | None) -> nn.Module:
    if preset in (None, "dense"):
        return model
    from .decompose import decompose
    from .regularization import make_plan
    decomposed, _ = decompose(model, make_plan(model, preset), warn_threshold=math.inf)
    return decomposed


def resolve_model(spec: str | None, *, preset: str | None = None, input_shape=None,
                  weights=None) -> ModelSource:
    """Resolve MODEL (see the module docstring); ``input_shape`` is a (C, H, W) or None."""
    from . import zoo
    from .checkpoint import shipped_model_path
    shipped = None if spec is None else shipped_model_path(spec)
    spec = spec if shipped is None else str(shipped)
    is_qnet = str(spec).endswith(".qnet.json")
    if spec is None or Path(spec).suffix == ".pt" or is_qnet:
        given = [option for option, value in (("--weights", weights), ("--preset", preset),
                                              ("--input-shape", input_shape)) if value is not None]
        if given:
            what = "a quantized network file" if is_qnet else "a structhw checkpoint"
            raise ConfigError(f"{', '.join(given)} apply to zoo and .py models, not to {what} "
                              f"(it carries its own)")
    if spec is None:
        from .checkpoint import demo_checkpoint_path
        return ModelSource(demo_checkpoint_path().stem, (1, 8, 8),
                           checkpoint=demo_checkpoint_path())
    if Path(spec).suffix == ".pt":
        return checkpoint_source(Path(spec))
    if is_qnet:
        from .graph.quant_graph import load_graph
        graph = load_graph(spec)
        return ModelSource(Path(spec).name[:-len(".qnet.json")], graph.input_shape, graph=graph)
    if spec in zoo.MODELS:
        model, shape = zoo.build_model(spec), zoo.input_shape(spec)
    elif ".py:" in str(spec):
        model = load_python_model(str(spec))
        shape = getattr(model, "input_shape", None)
    else:
        from .checkpoint import SHIPPED_CHECKPOINTS, SHIPPED_PRESET
        shipped = ", ".join(f"{m}-{SHIPPED_PRESET}" for m in SHIPPED_CHECKPOINTS)
        raise ConfigError(f"model {spec!r}: not a zoo model ({', '.join(zoo.MODELS)}), a "
                          f"shipped model ({shipped}), a checkpoint (.pt), a .qnet.json file or "
                          f"path/to/file.py:callable")
    shape = tuple(input_shape) if input_shape is not None else shape
    if shape is None:
        raise ConfigError(f"model {spec!r}: give its input shape with --input-shape C,H,W")
    if not (isinstance(shape, (tuple, list)) and len(shape) == 3 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                    for v in shape)):
        raise ConfigError(f"model {spec!r}: input_shape must be three positive integers "
                          f"(C, H, W), got {shape!r}")
    check_input_shape(tuple(shape), f"model {spec!r}: input shape {tuple(shape)}")
    if weights is not None:
        load_weights(model, weights)
    name = Path(str(spec).split(":")[0]).stem if ".py:" in str(spec) else str(spec)
    structured = _structured(model, preset).eval()
    return ModelSource(name, tuple(shape), model=structured,
                       dense_model=None if structured is model else model.eval(), preset=preset)


def _zoo_model(config: dict, path) -> str:
    from . import zoo

    if config["model"] not in zoo.MODELS:
        raise ConfigError(f"checkpoint {path}: config 'model' is {config['model']!r}, "
                          f"not a zoo model")
    return config["model"]


def is_chain_checkpoint(path, ckpt: dict | None = None) -> bool:
    """True when the checkpoint at ``path`` (or its loaded dict ``ckpt``) holds a chain model
    (an ``nn.Sequential`` of conv/linear layers, the chain quantizer's input)."""
    from . import zoo
    from .checkpoint import load_checkpoint

    ckpt = ckpt if ckpt is not None else load_checkpoint(path)
    return isinstance(zoo.build_model(_zoo_model(ckpt["config"], path)), nn.Sequential)


def checkpoint_source(path: Path) -> ModelSource:
    """A structhw training checkpoint (loaded and verified): a chain model (an ``nn.Sequential``,
    e.g. digits-cnn) stays a ``checkpoint`` source for the chain quantizer; any other (a
    ResNet) is its decomposed float model, dense baseline and training data set."""
    from . import zoo
    from .checkpoint import build_models, load_checkpoint

    ckpt = load_checkpoint(path)
    config = ckpt["config"]
    shape = tuple(zoo.input_shape(_zoo_model(config, path)))
    if is_chain_checkpoint(path, ckpt):
        return ModelSource(path.stem, shape, checkpoint=path)
    dense, decomposed = build_models(ckpt)
    return ModelSource(path.stem, shape, model=decomposed, dense_model=dense,
                       data=config.get("data", "digits"))


def calibration_images(data: str, input_shape: tuple) -> tuple:
    """(calibration images, test images, test labels or None) of data set ``data`` (a
    ``--data`` text) as float tensors [B, C, H, W] and int64 [B]; ConfigError for an unknown
    data set or when its images are not ``input_shape``."""
    return datasets.parse_data(data).for_shape(input_shape).calibration_split()


def quantized_test_images(data: str, input_shape: tuple, input_scale: float,
                          count: int | None = None) -> tuple:
    """(int8 test images int64 numpy [B, C, H, W], labels int64 numpy [B] or None): the first
    ``count`` (None: all) test images of data set ``data`` for ``input_shape``, quantized to
    ``input_scale`` as the accelerator's input."""
    from .quant.fixed_point import quantize_symmetric

    _, test, labels = calibration_images(data, input_shape)
    count = len(test) if count is None else min(count, len(test))
    images = quantize_symmetric(test[:count], input_scale).numpy()
    return images, None if labels is None else labels[:count].numpy()
