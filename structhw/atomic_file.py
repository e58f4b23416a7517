"""One atomic file writer for every output structhw writes file by file (JSON, qnet, plan,
checkpoint, ``.npz`` dumps): the bytes go to a temporary file beside the target, which is renamed
onto it only when writing finished, so an error or an interrupt leaves the old file or none."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def readable_mode() -> int:
    """File mode for written outputs: ``0o666`` minus the umask (``mkstemp`` gives 0600)."""
    return 0o666 & ~umask()


@contextmanager
def atomic_open(path, mode: str = "w"):
    """Context manager yielding a file opened with ``mode`` (``"w"`` or ``"wb"``) on a temporary
    file in ``path``'s folder (created if missing); on a normal exit the file gets
    :func:`readable_mode` and replaces ``path`` (``os.replace``), on an exception it is removed
    and ``path`` is untouched."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, readable_mode())
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
