"""The project's JSON files (``*.qnet.json``, ``plan.json``, reports, benchmark results): one
reader that turns every way a file can fail to be JSON into a :class:`ConfigError` naming the
file, and atomic writers, so an interrupted run never leaves half a file."""

import json
from pathlib import Path

from .atomic_file import atomic_open
from .errors import ConfigError


INT_LIMIT = 2 ** 63
"""Integers in a structhw JSON file lie in −2⁶³ … 2⁶³−1 (every field is an int64 or smaller)."""


def _bounded_int(text: str) -> int:
    if len(text) > 20 or not -INT_LIMIT <= int(text) < INT_LIMIT:
        digits = len(text.lstrip("-"))
        raise ConfigError(f"an integer of {digits} digits is beyond 64 bits")
    return int(text)


def read_json(path):
    """The JSON value in ``path``; not a regular file, not JSON, not text or an integer beyond
    64 bits → ConfigError naming the file. A missing file raises FileNotFoundError (the CLI
    reports it as one line)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    try:
        with open(path) as f:
            return json.load(f, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (JSON) file") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply to be a structhw file") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`structhw.atomic_file.atomic_open`),
    creating the folder."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json(path, obj, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (:func:`write_text`)."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")
