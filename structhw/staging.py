"""All-or-nothing output folders: a command writes every file of one run into a staging folder
beside ``--out`` and :func:`staged_outputs` moves them into place together, or removes them all.

With ``--out`` not yet existing, the staging folder itself is renamed to ``--out`` (one atomic
step). Otherwise each staged file replaces its namesake in ``--out`` with ``os.replace`` (atomic
per file), the files named in ``last`` after the others: a reader that checks the digests tying
them together (:mod:`structhw.compiled`) sees either set whole or refuses a mixture, even after a
crash in the middle of the moves. Files in ``--out`` that the run did not write are left alone,
except those named in ``remove`` (outputs of an earlier run that this run no longer makes).
Any exception before the moves leaves ``--out`` exactly as it was, and no staging folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .atomic_file import umask

STAGING_PREFIX = ".structhw-staging-"
"""Name prefix of staging folders (hidden, beside the output folder)."""


@dataclass
class Stage:
    """The staging ``folder`` a run writes into, and the final paths of its files in ``--out``
    (``committed``, filled when the files have been moved into place)."""

    folder: Path
    committed: list = field(default_factory=list)

    def keep_as(self, dest) -> Path:
        """Move what the run has staged so far to the folder ``dest`` (replacing an earlier
        one), for a run that failed but wrote something worth reading (a tool's logs); ``--out``
        stays untouched and the staging folder is gone. Returns ``dest``."""
        dest = Path(dest)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(self.folder, dest)
        return dest


def _missing_ancestors(path: Path) -> list:
    """``path``'s ancestors that do not exist yet, outermost first."""
    return [p for p in reversed(path.parents) if not p.exists()]


def _commit(stage: Path, out: Path, last: tuple, remove: tuple) -> list:
    """Move every file of ``stage`` into ``out`` (``last`` after the others), delete ``remove``
    from ``out``; returns the paths in ``out`` in the order they were moved."""
    names = sorted(p.name for p in stage.iterdir())
    if any((stage / n).is_dir() for n in names):
        raise ValueError(f"staging folder {stage} holds a folder; only files are staged")
    order = [n for n in names if n not in last] + [n for n in last if n in names]
    if not out.exists():
        os.replace(stage, out)
        return [out / n for n in order]
    for stale in remove:
        if stale not in names:
            (out / stale).unlink(missing_ok=True)
    for name in order:
        os.replace(stage / name, out / name)
    stage.rmdir()
    return [out / n for n in order]


@contextmanager
def staged_outputs(out, *, last: tuple = (), remove: tuple = ()):
    """Context manager yielding a :class:`Stage`: write the run's files (plain files, no
    subfolders) into ``stage.folder``; on a normal exit they are moved into ``out`` (see the
    module docstring) and ``stage.committed`` lists their final paths. On an
    exception the staging folder and any ancestor of ``out`` created for it are removed, and
    ``out`` is untouched."""
    out = Path(out)
    created = _missing_ancestors(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{out.name}-", dir=out.parent))
    os.chmod(stage, 0o777 & ~umask())
    staged = Stage(stage)
    try:
        yield staged
        staged.committed.extend(_commit(stage, out, tuple(last), tuple(remove)))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                break
        raise
