"""Safe training checkpoints: tensors and plain Python values only, loaded with ``weights_only=True``.

A checkpoint is one ``torch.save``-d dict::

    {
      "format": "structhw.checkpoint", "version": 1,
      "config": {"model": str, "preset": str, "plan": {module name: [c, n]}, "lam": float,
                 "epochs": int, "seed": int, "recipe": "sr" | "direct", "lr": float,
                 "batch_size": int, "data": str},      # data: --data trained on (absent: digits)
      "dense": {parameter name: tensor},       # the baseline trained in the same run
      "structured": {parameter name: tensor},  # recipe "sr": SR-trained, before decomposition
      "decomposed": {parameter name: tensor},  # recipe "direct": the decomposed architecture
      "sha256": str,                           # of the config and every tensor (see below)
    }

Exactly one of ``structured`` / ``decomposed`` is present, depending on the recipe. Nothing in it is
code: :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` and validates every
field, so a corrupted, truncated or malicious file is a :class:`ConfigError`, never executed.
Every tensor is dense (``torch.strided``), on the CPU, float32 or int64 (:data:`TENSOR_DTYPES`),
checked before the digest is computed. The config's values obey the rules ``structhw train``
checks its arguments with (:meth:`structhw.train_config.TrainConfig.validate`, except that ``epochs``
may be 0: an untrained model), and ``plan`` is exactly the plan its preset gives its model.

Integrity: ``torch.load`` checks no CRC, so bytes flipped inside a tensor's data load silently as
other weights. :func:`save_checkpoint` therefore stores ``sha256`` (:func:`checkpoint_digest`: the
config as canonical JSON, then every tensor's name, dtype, shape and bytes) and
:func:`load_checkpoint` refuses a file whose content does not match it. Checkpoints written before
the digest existed (no ``sha256`` key) still load, unverified.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError

FORMAT_NAME = "structhw.checkpoint"
FORMAT_VERSION = 1
RECIPES = ("sr", "direct")
STATE_KEYS = ("dense", "structured", "decomposed")
CONFIG_TYPES = {
    "model": str,
    "preset": str,
    "plan": dict,
    "lam": (int, float),
    "epochs": int,
    "seed": int,
    "recipe": str,
    "lr": (int, float),
    "batch_size": int,
}
"""Required ``config`` keys and their Python types."""

OPTIONAL_CONFIG_KEYS = ("data",)
"""``config`` keys a checkpoint may lack: ``data`` absent (written before ``--data`` existed)
means digits, :data:`structhw.train_config.DEFAULT_DATA`."""

TENSOR_DTYPES = (torch.float32, torch.int64)
"""The dtypes of the tensors structhw writes: float32 weights and buffers, int64 counters
(BatchNorm's ``num_batches_tracked``)."""

DEMO_CHECKPOINT = "digits_cnn_A.pt"


SHIPPED_CHECKPOINTS = {"digits-cnn": DEMO_CHECKPOINT, "digits-tiny": "digits_tiny_A.pt",
                       "resnet20": "resnet20_A.pt"}
"""The trained checkpoints in :mod:`structhw.models`, by zoo model: the digits models trained with
``structhw train --model NAME`` (preset A, the defaults), ResNet20 with ``structhw train --model
resnet20 --data standin --epochs 30`` (preset A); each has its ``metrics.json`` beside it as
``<stem>.metrics.json`` (written by ``benchmarks/ship_model.py``, which adds the int8 and
hardware accuracies). A board's default model (:mod:`structhw.boards.registry`) is one of them."""


def shipped_checkpoint_path(model: str) -> Path:
    """Path of the shipped checkpoint of zoo model ``model`` (a key of :data:`SHIPPED_CHECKPOINTS`)."""
    if model not in SHIPPED_CHECKPOINTS:
        raise ConfigError(f"no shipped checkpoint of {model!r}; shipped: "
                          f"{', '.join(SHIPPED_CHECKPOINTS)}")
    return Path(str(resources.files("structhw.models").joinpath(SHIPPED_CHECKPOINTS[model])))


SHIPPED_PRESET = "A"
"""The structure preset every shipped checkpoint was trained with."""


def shipped_model_path(name: str) -> Path | None:
    """The shipped checkpoint a MODEL name ``<zoo model>-A`` stands for (``digits-cnn-A``:
    :data:`SHIPPED_CHECKPOINTS`' digits-cnn), None for any other name."""
    model, dash, preset = str(name).rpartition("-")
    if dash and preset == SHIPPED_PRESET and model in SHIPPED_CHECKPOINTS:
        return shipped_checkpoint_path(model)
    return None


def demo_checkpoint_path() -> Path:
    """Path of the shipped demo checkpoint (digits-cnn, preset A, trained with the defaults)."""
    return shipped_checkpoint_path("digits-cnn")


def shipped_metrics_path(model: str) -> Path:
    """Path of the ``metrics.json`` of zoo model ``model``'s shipped checkpoint."""
    path = shipped_checkpoint_path(model)
    return path.with_name(path.stem + ".metrics.json")


def demo_metrics_path() -> Path:
    """Path of the shipped demo model's ``metrics.json``."""
    return shipped_metrics_path("digits-cnn")


def plan_to_config(plan: dict) -> dict:
    """Structure plan ``{name: (c, n)}`` → its checkpoint form ``{name: [c, n]}`` (plain ints)."""
    return {str(name): [int(c), int(n)] for name, (c, n) in plan.items()}


def plan_from_config(plan: dict) -> dict:
    """Checkpoint form ``{name: [c, n]}`` → structure plan ``{name: (c, n)}``."""
    return {name: (int(c), int(n)) for name, (c, n) in plan.items()}


def state_to_plain(model: nn.Module) -> dict:
    """A model's state dict as a plain ``dict`` of detached, contiguous CPU tensors."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def make_checkpoint(config: dict, dense_state: dict, trained_state: dict) -> dict:
    """Assemble a checkpoint dict; ``trained_state`` goes under ``structured`` (recipe "sr") or
    ``decomposed`` (recipe "direct")."""
    key = "structured" if config["recipe"] == "sr" else "decomposed"
    ckpt = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": dict(config),
        "dense": dict(dense_state),
        key: dict(trained_state),
    }
    validate_checkpoint(ckpt, "checkpoint")
    return ckpt


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def checkpoint_digest(ckpt: dict) -> str:
    """SHA-256 (hex) of a checkpoint's config (canonical JSON) and of every tensor of its state
    dicts: key, name, dtype, shape and the raw bytes, in sorted order."""
    h = hashlib.sha256()
    h.update(json.dumps(ckpt["config"], sort_keys=True, separators=(",", ":"),
                        default=repr).encode())
    for key in STATE_KEYS:
        if key not in ckpt:
            continue
        for name in sorted(ckpt[key]):
            tensor = ckpt[key][name]
            h.update(f"\0{key}\0{name}\0{tensor.dtype}\0{list(tensor.shape)}\0".encode())
            h.update(_tensor_bytes(tensor))
    return h.hexdigest()


def save_checkpoint(ckpt: dict, path) -> Path:
    """Validate ``ckpt`` and write it with its ``sha256`` (of what is written) to ``path``
    atomically (:func:`structhw.atomic_file.atomic_open`)."""
    from .atomic_file import atomic_open

    path = Path(path)
    validate_checkpoint(ckpt, str(path))
    ckpt = {**ckpt, "sha256": checkpoint_digest(ckpt)}
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)
    return path


def load_checkpoint(path) -> dict:
    """Read and validate a checkpoint; anything else is a :class:`ConfigError` naming the file.

    The file is read with ``torch.load(weights_only=True)``: a pickle that would construct
    arbitrary objects or call functions is rejected by the loader, not run.
    """
    path = Path(path)
    try:
        ckpt = read_tensor_file(path)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"checkpoint {path}: is a directory, not a checkpoint file") from None
    except Exception as exc:
        raise ConfigError(
            f"checkpoint {path}: not a readable structhw checkpoint ({_load_failure_reason(exc)})"
        ) from None
    check_layout(ckpt, str(path))
    verify_digest(ckpt, str(path))
    check_config_values(ckpt, str(path))
    return ckpt


def read_tensor_file(path):
    """``torch.load(path, weights_only=True)`` on the CPU, its warnings (e.g. about a pickle
    protocol) held back: whatever it raises, the caller turns into one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def verify_digest(ckpt: dict, where: str) -> None:
    """Refuse a checkpoint whose ``sha256`` does not match its content, or that stores none (a
    removed digest would otherwise switch the check off)."""
    stored = ckpt.get("sha256")
    if stored is None:
        _fail(where, "stores no SHA-256 of its content, so its weights cannot be verified "
                     "(written by an older structhw, or edited); retrain it, or re-save a "
                     "copy you trust with structhw.checkpoint.save_checkpoint")
    actual = checkpoint_digest(ckpt)
    if actual != stored:
        _fail(where, f"content does not match its SHA-256 ({actual[:12]}… ≠ stored {stored[:12]}…): "
                     f"the file is corrupted or was altered; restore or retrain it")


def _load_failure_reason(exc: Exception) -> str:
    """The informative part of a ``torch.load`` failure, in one short phrase."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Trying to load", "Unsupported")):
            return f"refused by the weights-only loader: {line.rstrip('.')[:160]}"
    detail = f": {lines[0][:120]}" if lines else ""
    return f"corrupted or truncated ({type(exc).__name__}{detail})"


def _fail(where: str, what: str):
    raise ConfigError(f"checkpoint {where}: {what}")


def _check_state(state, where: str, key: str) -> None:
    if not isinstance(state, dict) or not state:
        _fail(where, f"'{key}' must be a non-empty dict of tensors")
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            _fail(where, f"'{key}' entry {name!r} is not a named tensor")
        what = f"'{key}' tensor {name!r}"
        if value.layout != torch.strided:
            _fail(where, f"{what} is a sparse tensor (layout {value.layout}); a checkpoint "
                         f"holds dense CPU tensors")
        if value.device.type != "cpu":
            _fail(where, f"{what} is on device {value.device.type!r}; a checkpoint holds dense "
                         f"CPU tensors")
        if value.dtype not in TENSOR_DTYPES:
            _fail(where, f"{what} is {value.dtype}; structhw writes "
                         f"{' or '.join(map(str, TENSOR_DTYPES))}")


def validate_checkpoint(ckpt, where: str = "checkpoint") -> None:
    """Raise :class:`ConfigError` unless ``ckpt`` has the layout described in the module
    docstring (:func:`check_layout`) and its config's values are in range
    (:func:`check_config_values`)."""
    check_layout(ckpt, where)
    check_config_values(ckpt, where)


def check_layout(ckpt, where: str = "checkpoint") -> None:
    """Raise :class:`ConfigError` unless ``ckpt``'s keys, the config's types and every tensor's
    layout, device and dtype are as the module docstring says: what :func:`checkpoint_digest`
    needs to run (a sparse or meta tensor would make it raise)."""
    if not isinstance(ckpt, dict):
        _fail(where, f"top level is {type(ckpt).__name__}, expected a dict")
    if ckpt.get("format") != FORMAT_NAME:
        _fail(where, f"'format' is {ckpt.get('format')!r}, expected {FORMAT_NAME!r}")
    if ckpt.get("version") != FORMAT_VERSION:
        _fail(where, f"'version' is {ckpt.get('version')!r}, this structhw reads {FORMAT_VERSION}")
    config = ckpt.get("config")
    if not isinstance(config, dict):
        _fail(where, "'config' must be a dict")
    unknown = [k for k in config if k not in CONFIG_TYPES and k not in OPTIONAL_CONFIG_KEYS]
    if unknown:
        _fail(where, f"config has unknown key {unknown[0]!r}; known: "
                     f"{', '.join((*CONFIG_TYPES, *OPTIONAL_CONFIG_KEYS))}")
    for key, types in CONFIG_TYPES.items():
        value = config.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            _fail(where, f"config '{key}' is {_short(value)}, expected {types}")
    if not isinstance(config.get("data", "digits"), str):
        _fail(where, f"config 'data' is {_short(config['data'])}, expected a data set name (--data)")
    if config["recipe"] not in RECIPES:
        _fail(where, f"config 'recipe' is {config['recipe']!r}, expected one of {RECIPES}")
    for name, entry in config["plan"].items():
        ok = (
            isinstance(name, str)
            and isinstance(entry, (list, tuple))
            and len(entry) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in entry)
        )
        if not ok:
            _fail(where, f"plan entry {name!r} is {_short(entry)}, expected [c, n] with positive ints")
    if "structured" in ckpt and "decomposed" in ckpt:
        _fail(where, "holds both 'structured' and 'decomposed' state dicts; a checkpoint holds "
                     "exactly one of 'structured' and 'decomposed' (recipe 'sr' or 'direct')")
    trained_key = "structured" if config["recipe"] == "sr" else "decomposed"
    for key in ("dense", trained_key):
        if key not in ckpt:
            _fail(where, f"recipe {config['recipe']!r} needs a '{key}' state dict")
    for key in STATE_KEYS:
        if key in ckpt:
            _check_state(ckpt[key], where, key)
    digest = ckpt.get("sha256")
    if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        _fail(where, f"'sha256' is {_short(digest)}, expected 64 lowercase hex digits")


CIFAR_LIKE_STANDIN = "standin"
"""The data set a ``cifar10:DIR`` config is checked as at load: same 3×32×32 images, no folder
(the folder named is on the machine that trained it)."""


def check_config_values(ckpt: dict, where: str = "checkpoint") -> None:
    """Raise :class:`ConfigError` unless the config (of a checkpoint that passed
    :func:`check_layout`) holds values ``structhw train`` accepts
    (:meth:`structhw.train_config.TrainConfig.validate`; ``epochs`` may be 0) and ``plan`` is the plan
    its preset gives its model, layer for layer."""
    from .regularization import validate_plan
    from .train_config import DEFAULT_DATA, TrainConfig
    from .zoo import build_model

    config = ckpt["config"]
    named = config.get("data", DEFAULT_DATA)
    # a CIFAR-10 folder is the training machine's: checked by its images' shape (the stand-in's)
    data = CIFAR_LIKE_STANDIN if named.startswith("cifar10:") else named
    run = TrainConfig(model=config["model"], preset=config["preset"], lam=config["lam"],
                      epochs=config["epochs"], seed=config["seed"], lr=config["lr"],
                      batch_size=config["batch_size"], direct=config["recipe"] == "direct",
                      data=data)
    try:
        run.validate(min_epochs=0, data_shown=named)
        plan = validate_plan(build_model(run.model), config["plan"])
    except ConfigError as exc:
        _fail(where, f"config out of range (checked as `structhw train` checks its arguments): "
                     f"{exc}")
    expected = run.plan()
    if plan != expected:
        layer = next((n for n in sorted(expected.keys() | plan.keys())
                      if plan.get(n) != expected.get(n)), None)
        got = list(plan[layer]) if layer in plan else "absent"
        want = list(expected[layer]) if layer in expected else "absent"
        _fail(where, f"config 'plan' is not preset {run.preset}'s plan for {run.model}: layer "
                     f"{layer!r} is {got}, the preset's is {want}")


def _short(value) -> str:
    """``repr(value)``, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} characters)"


def _names(keys) -> str:
    keys = sorted(keys)
    return ", ".join(repr(k) for k in keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")


def state_problem(model: nn.Module, state: dict) -> str | None:
    """Why ``state`` cannot be ``model``'s tensors, in one phrase, or None when it can: missing
    or unexpected names, a shape that differs, and what ``load_state_dict`` would let through
    by converting: a floating tensor given as integer or complex or holding NaN/∞, an integer
    buffer given as floating."""
    own = model.state_dict()
    missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
    if missing or unexpected:
        return "; ".join(filter(None, [missing and f"missing {_names(missing)}",
                                       unexpected and f"unexpected {_names(unexpected)}"]))
    for name, value in state.items():
        mine = own[name]
        if value.shape != mine.shape:
            return f"{name!r} has shape {tuple(value.shape)}, the model's is {tuple(mine.shape)}"
        if value.is_complex():
            return f"{name!r} is {value.dtype}, complex"
        if mine.is_floating_point() != value.is_floating_point():
            return f"{name!r} is {value.dtype}, the model's is {mine.dtype}"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"{name!r} holds NaN or infinite values"
    return None


def _load_state(model: nn.Module, state: dict, what: str) -> None:
    problem = state_problem(model, state)
    if problem:
        raise ConfigError(f"checkpoint '{what}' does not fit the model: {problem}")
    model.load_state_dict(state, strict=True)


def build_models(ckpt: dict) -> tuple[nn.Module, nn.Module]:
    """Rebuild ``(dense_model, decomposed_model)`` as float models in eval mode.

    For recipe "sr" the decomposed model is ``decompose(structured_model, plan)``; for "direct"
    it is the decomposed architecture with the stored weights loaded.
    """
    from .decompose import decompose
    from .zoo import build_model

    validate_checkpoint(ckpt)
    config = ckpt["config"]
    plan = plan_from_config(config["plan"])
    try:
        dense = build_model(config["model"])
        trained = build_model(config["model"])
    except ConfigError as exc:
        raise ConfigError(f"checkpoint config 'model': {exc}") from None
    _load_state(dense, ckpt["dense"], "dense")
    if config["recipe"] == "sr":
        _load_state(trained, ckpt["structured"], "structured")
        decomposed, _ = decompose(trained, plan)
    else:
        decomposed, _ = decompose(trained, plan, warn_threshold=math.inf)
        _load_state(decomposed, ckpt["decomposed"], "decomposed")
    return dense.eval(), decomposed.eval()


def build_structured_model(ckpt: dict) -> nn.Module:
    """The SR-trained model before decomposition (recipe "sr" only), in eval mode."""
    from .zoo import build_model

    validate_checkpoint(ckpt)
    if ckpt["config"]["recipe"] != "sr":
        raise ConfigError("checkpoint: recipe 'direct' has no structured (pre-decomposition) model")
    model = build_model(ckpt["config"]["model"])
    _load_state(model, ckpt["structured"], "structured")
    return model.eval()
