"""The process group a training run belongs to: torchrun's gloo group, or none (one process)."""

from __future__ import annotations

import contextlib
import os

import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def process_group_from_env():
    """Join the gloo process group torchrun describes (``WORLD_SIZE`` > 1) for the duration, unless
    one is already initialised; without torchrun, do nothing."""
    join = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
    if join:
        dist.init_process_group("gloo")
    try:
        yield
    finally:
        if join:
            dist.destroy_process_group()
