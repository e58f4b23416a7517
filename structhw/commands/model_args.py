"""The MODEL argument and its options, shared by the commands that quantize a model
(``quantize``, ``compile``): what MODEL may name is in :mod:`structhw.model_source`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import SHIPPED_CHECKPOINTS, SHIPPED_PRESET, shipped_model_path
from ..datasets import parse_data
from ..errors import ConfigError
from ..model_source import is_chain_checkpoint, parse_shape, resolve_model
from ..regularization import PRESETS

SHIPPED_NAMES = ", ".join(f"{m}-{SHIPPED_PRESET}" for m in SHIPPED_CHECKPOINTS)
MODEL_HELP = (f"zoo name, shipped model ({SHIPPED_NAMES}: the trained checkpoints), structhw "
              "checkpoint, *.qnet.json, or path/to/file.py:callable (default: the shipped demo "
              "model)")


def add_model_arguments(parser, help: str = MODEL_HELP) -> None:
    """MODEL, ``--preset``, ``--input-shape``, ``--weights`` and ``--data``."""
    parser.add_argument("model", metavar="MODEL", nargs="?", default=None, type=model_argument,
                        help=help)
    parser.add_argument("--preset", choices=PRESETS, default=None,
                        help="zoo / .py models: decompose with this structure preset "
                        "(default: as given, dense)")
    parser.add_argument("--input-shape", default=None, metavar="C,H,W",
                        help=".py models without an input_shape attribute: one image's shape")
    parser.add_argument("--weights", default=None, metavar="FILE.pt",
                        help="zoo / .py models: a state_dict to load (weights_only)")
    parser.add_argument("--data", type=data_argument, default=None, metavar="DATA",
                        help="calibration and test images: digits (scikit-learn's 8×8 digits, "
                        "1×8×8 models), standin (generated 3×32×32 10-class stand-in for "
                        "CIFAR-10, no download), cifar10:DIR (CIFAR-10's binary distribution "
                        "in folder DIR, 3×32×32), or random (seeded random images of any shape: "
                        "hardware testing only, accuracy means nothing); default: the data set a "
                        "checkpoint was trained on, else digits")


def model_argument(text: str) -> str:
    """MODEL as given, or the path of the shipped checkpoint a ``<zoo model>-A`` name stands
    for (:func:`structhw.checkpoint.shipped_model_path`), so that every command sees a file."""
    path = shipped_model_path(text)
    if path is not None:
        return str(path)
    named = Path(text.rsplit(":", 1)[0] if ".py:" in text else text)
    if named.exists() and not (named.is_file() or named.is_dir()):
        raise argparse.ArgumentTypeError(f"{text}: not a regular file or folder")
    return text


def data_argument(text: str) -> str:
    """``--data`` checked (the name known; for ``cifar10:DIR`` the folder and its files' sizes)
    and returned as given; nothing is read yet."""
    try:
        parse_data(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--data ")) from None
    return text


def is_file_model(model) -> bool:
    """True when MODEL names a qnet file or a checkpoint of a chain model (what the chain
    commands take); a checkpoint of another model (a ResNet) is taken as a float model, and a
    missing checkpoint is left to the chain commands' "does not exist"."""
    if model is None or str(model).endswith(".qnet.json"):
        return True
    return str(model).endswith(".pt") and (not Path(model).exists()
                                           or is_chain_checkpoint(model))


def is_graph_file(model) -> bool:
    """True for a qnet.json holding a graph network (not a chain of conv/linear layers)."""
    if not str(model).endswith(".qnet.json"):
        return False
    from ..graph.quant_graph import load_graph
    return not load_graph(model).is_chain()


def model_source(args):
    """The resolved MODEL of ``args``; every option checked before anything is loaded."""
    shape = parse_shape(args.input_shape) if args.input_shape is not None else None
    if args.weights is not None and not Path(args.weights).is_file():
        raise ConfigError(f"--weights {args.weights}: no such file")
    return resolve_model(args.model, preset=args.preset, input_shape=shape, weights=args.weights)


def refuse_model_options(args, what: str, *, data: bool = True) -> None:
    """ConfigError when an option that shapes quantization (``--preset``, ``--input-shape``,
    ``--weights`` and, with ``data``, ``--data``) was given for ``what``, a
    MODEL that carries its own (a checkpoint, a qnet file, a compile folder)."""
    given = [f"--{name.replace('_', '-')}" for name in ("preset", "input_shape", "weights")
             if getattr(args, name) is not None]
    if data and args.data is not None:
        given.append("--data")
    if given:
        raise ConfigError(f"{', '.join(given)} apply to zoo, .py and graph models; {what} is "
                          "used as it is")
