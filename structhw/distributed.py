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


MAX_WORLD_SIZE = 65536
"""The most training processes structhw joins (far beyond any machine here; a larger
``$WORLD_SIZE`` is a mistake, not a cluster)."""
RENDEZVOUS_VARIABLES = ("RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torch's ``env://`` rendezvous reads beside ``$WORLD_SIZE`` (torchrun sets them all)."""


def env_world_size() -> int:
    """``$WORLD_SIZE`` (torchrun's process count), 1 when unset. A :class:`ConfigError` unless it
    is an integer from 1 to :data:`MAX_WORLD_SIZE` and, above 1, ``$RANK`` (an integer below it),
    ``$MASTER_ADDR`` and ``$MASTER_PORT`` are set as torchrun sets them."""
    text = os.environ.get("WORLD_SIZE", "1")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_WORLD_SIZE):
        raise ConfigError(f"$WORLD_SIZE must be an integer from 1 to {MAX_WORLD_SIZE} (torchrun "
                          f"sets it), got {text[:40]!r}")
    size = int(text)
    if size > 1:
        missing = [name for name in RENDEZVOUS_VARIABLES if not os.environ.get(name)]
        if missing:
            raise ConfigError(f"$WORLD_SIZE is {size} but ${', $'.join(missing)} not set: run "
                              f"several training processes with torchrun")
        rank = os.environ["RANK"]
        if not (rank.isascii() and rank.isdigit() and int(rank) < size):
            raise ConfigError(f"$RANK must be an integer from 0 to {size - 1} (torchrun sets it), "
                              f"got {rank[:40]!r}")
    return size


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
