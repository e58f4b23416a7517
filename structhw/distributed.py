"""The process group a training run belongs to: torchrun's gloo group, or none (one process)."""

from __future__ import annotations

import contextlib
import os

import torch.distributed as dist

from .errors import ConfigError


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def env_world_size() -> int:
    """``$WORLD_SIZE`` (torchrun's process count), 1 when unset; anything but a positive integer
    is a :class:`ConfigError`."""
    text = os.environ.get("WORLD_SIZE", "1")
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise ConfigError(f"$WORLD_SIZE must be a positive integer (torchrun sets it), got "
                          f"{text[:40]!r}")
    return int(text)


@contextlib.contextmanager
def process_group_from_env():
    """Join the gloo process group torchrun describes (``WORLD_SIZE`` > 1) for the duration, unless
    one is already initialised; without torchrun, do nothing."""
    join = env_world_size() > 1 and not dist.is_initialized()
    if join:
        dist.init_process_group("gloo")
    try:
        yield
    finally:
        if join:
            dist.destroy_process_group()
