"""What a training run is: :class:`TrainConfig`, its defaults and the checks that refuse a
parameter training cannot honour (also applied to a checkpoint's stored config)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import ConfigError

DEFAULT_MODEL = "digits-cnn"
DEFAULT_PRESET = "A"
DEFAULT_LAM = 1.0
DEFAULT_EPOCHS = 60
DEFAULT_SEED = 0
DEFAULT_LR = 0.01
DEFAULT_BATCH_SIZE = 64
DEFAULT_DATA = "digits"
TRAIN_PRESETS = ("A", "B")
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"

MAX_EPOCHS = 1_000_000
"""The most epochs a run may ask for (a larger count is a typo: a million epochs of the smallest
data set here already take weeks)."""
MAX_BATCH_SIZE = 1_000_000
"""The largest batch (images per optimiser step over all processes; the data sets here hold at
most 60,000 training images, and a batch larger than the set is the whole set)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and is stored in its checkpoint)."""

    model: str = DEFAULT_MODEL
    preset: str = DEFAULT_PRESET
    lam: float = DEFAULT_LAM
    epochs: int = DEFAULT_EPOCHS
    seed: int = DEFAULT_SEED
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE
    direct: bool = False
    data: str = DEFAULT_DATA

    @property
    def recipe(self) -> str:
        return "direct" if self.direct else "sr"

    def validate(self, world_size: int = 1, min_epochs: int = 1,
                 data_shown: str | None = None) -> None:
        """Raise :class:`ConfigError` naming the first parameter that cannot be honoured.

        ``min_epochs`` is 0 for a checkpoint's config (:mod:`structhw.checkpoint`): a checkpoint
        of an untrained model is valid, a run of 0 epochs is not. λ is bounded so that the SR
        term λ·SR stays finite in float32 (SR <= 1 per planned layer: a relative residual norm),
        the learning rate so that it is a finite float32 (the optimizer's arithmetic).
        ``data_shown`` names the data set in messages (default ``data``)."""
        from .zoo import MODELS

        if self.model not in MODELS:
            raise ConfigError(f"--model: unknown model {self.model!r}; known: {', '.join(MODELS)}")
        if not isinstance(self.data, str):
            raise ConfigError(f"--data: must be a data set name, got {self.data!r}")
        from .datasets import labelled_data
        from .zoo import input_shape
        labelled_data(self.data, input_shape(self.model), f"--model {self.model}", data_shown)
        if self.preset not in TRAIN_PRESETS:
            raise ConfigError(f"--preset: unknown preset {self.preset!r}; known: {', '.join(TRAIN_PRESETS)}")
        lam = _finite_number(self.lam)
        if lam is None or lam < 0:
            raise ConfigError(f"--lam: λ must be a finite number >= 0, got {_short(self.lam)}")
        layers = len(self.plan())
        if lam * max(layers, 1) > FLOAT32_MAX:
            raise ConfigError(
                f"--lam: λ·SR must be finite in float32 (SR <= 1 per planned layer, {layers} "
                f"layers): λ must be at most {FLOAT32_MAX / max(layers, 1):.3g}, got {lam:g}")
        if not (_is_int(self.epochs) and min_epochs <= self.epochs <= MAX_EPOCHS):
            raise ConfigError(f"--epochs: must be an integer from {min_epochs} to {MAX_EPOCHS:,}, "
                              f"got {_short(self.epochs)}")
        if not (_is_int(self.seed) and self.seed >= 0):
            raise ConfigError(f"--seed: must be an integer >= 0, got {_short(self.seed)}")
        if self.seed > MAX_SEED:
            raise ConfigError(f"--seed: must be at most {MAX_SEED} (torch's unsigned 64-bit "
                              f"seed), got {_short(self.seed)}")
        lr = _finite_number(self.lr)
        if lr is None or lr <= 0:
            raise ConfigError(f"--lr: must be a finite number > 0, got {_short(self.lr)}")
        if lr > FLOAT32_MAX:
            raise ConfigError(f"--lr: must be at most {FLOAT32_MAX:.4g} (a finite float32), got {lr:g}")
        if not (_is_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE):
            raise ConfigError(f"--batch-size: must be an integer from 1 to {MAX_BATCH_SIZE:,}, "
                              f"got {_short(self.batch_size)}")
        if self.batch_size % world_size:
            raise ConfigError(
                f"--batch-size: {self.batch_size} does not split evenly over {world_size} processes"
            )

    def plan(self) -> dict:
        """The structure plan ``{layer: (c, n)}`` this run trains: ``preset`` applied to
        ``model`` (:func:`structhw.regularization.make_plan`)."""
        from .regularization import make_plan
        from .zoo import build_model

        return make_plan(build_model(self.model), self.preset)


FLOAT32_MAX = float(torch.finfo(torch.float32).max)
MAX_SEED = 2**64 - 1
"""Largest seed ``torch.manual_seed`` takes (an unsigned 64-bit integer)."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_number(value) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else None (an int
    too large for a float, e.g. 10**400, is not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _short(value) -> str:
    """``repr(value)``, at most 40 characters (a 400-digit int is not repeated in full)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"
