"""Exceptions for bad user input, and the checks every command makes on its output paths before
any expensive work.

Every stage raises :class:`ConfigError` (a ``ValueError``) when the input it was given cannot be
honoured: the message names the layer or parameter and the violated constraint. The CLI turns it
into one line on stderr and exit code 2. A tool failing for a reason outside the input is a
:class:`ToolFailure` (exit code 1).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .staging import STAGING_PREFIX

STAGED_NAME_EXTRA = len(STAGING_PREFIX) + 9
"""Characters a staging folder's or temporary file's name adds to the output's own name
(:mod:`structhw.staging`: prefix, ``-`` and mkdtemp's 8; ``jsonfile.write_text``'s ``.``, pid and
``.tmp`` fit in the same)."""


class ConfigError(ValueError):
    """Bad input: a message naming what is wrong and why, meant for the user as it is."""


class ToolFailure(RuntimeError):
    """A tool structhw runs (Amaranth's yosys, Verilator, nextpnr) failed for a reason outside the
    input, e.g. a memory limit: the message says which tool, on what, and its first line of
    complaint. The CLI prints it as one line, exit code 1."""


class ResourceError(ConfigError):
    """A design does not fit a resource budget; the message names each short resource and by how
    much."""


def _existing_ancestor(path: Path, option: str) -> Path:
    """The nearest existing ancestor of ``path`` (``path`` itself when it exists), which must be a
    folder: anything else in the way means the path cannot be created."""
    for parent in (path, *path.parents):
        if parent.is_symlink() and not parent.exists():
            where = "" if parent == path else f": {str(parent)!r}"
            raise ConfigError(f"{option} {str(path)!r}{where} is a symbolic link to nothing "
                              f"(dangling or a loop)")
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == path else f": {str(parent)!r}"
                raise ConfigError(f"{option} {str(path)!r}{where} is not a directory")
            return parent
    return Path.cwd()


def _check_name_length(folder: Path, path: Path, option: str) -> None:
    """The file system in ``folder`` must take the longest name structhw derives from
    ``path``'s (:data:`STAGED_NAME_EXTRA` more characters)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    longest = limit - STAGED_NAME_EXTRA
    if len(os.fsencode(path.name)) > longest:
        raise ConfigError(f"{option}: the name {path.name[:40]!r}… is too long "
                          f"({len(os.fsencode(path.name))} bytes; at most {longest} here, since "
                          f"structhw writes through a temporary name {STAGED_NAME_EXTRA} longer)")


def _check_writable(folder: Path, path: Path, option: str) -> None:
    """Create and remove a probe file in ``folder``: the only test that sees read-only file
    systems, missing permissions and kernel file systems alike (``os.access`` misses some);
    then :func:`_check_name_length`."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".structhw-probe-", dir=folder)
    except OSError as exc:
        raise ConfigError(f"{option} {str(path)!r}: cannot write in {str(folder)!r} "
                          f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    _check_name_length(folder, path, option)


def path_argument(text: str) -> Path:
    """An argparse ``type`` for a path option: ``text`` as a Path, an empty string refused
    (``Path("")`` would silently mean the current folder)."""
    import argparse

    if text == "":
        raise argparse.ArgumentTypeError("the path is empty")
    return Path(text)


def check_output_dir(path, option: str = "--out") -> Path:
    """Raise :class:`ConfigError` unless ``path`` is, or can be created as, a writable folder.
    Creates nothing, so a command refused later leaves no trace."""
    path = Path(path)
    if str(path) == "":
        raise ConfigError(f"{option}: the folder name is empty")
    _check_writable(_existing_ancestor(path, option), path, option)
    return path


def check_output_file(path, option: str = "--out", suffix: str | None = None) -> Path:
    """Raise :class:`ConfigError` unless ``path`` can be written as a file (its folder exists or
    can be created, and is writable; it is not a folder; it ends in ``suffix`` when given)."""
    path = Path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        raise ConfigError(f"{option} {str(path)!r}: not a file name")
    if suffix is not None and not path.name.endswith(suffix):
        raise ConfigError(f"{option} {str(path)!r}: the file name must end in {suffix}")
    if path.is_dir():
        raise ConfigError(f"{option} {str(path)!r} is a folder, not a file")
    _check_writable(_existing_ancestor(path.parent, option), path, option)
    return path
