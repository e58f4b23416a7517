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


def _unique_keys(pairs: list) -> dict:
    """A JSON object's dict, refusing a key given twice (JSON allows it; which one a reader
    keeps is undefined, so such a file is ambiguous)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ConfigError(f"the key {twice[:60]!r} appears twice in one object")
    return obj


def read_json(path):
    """The JSON value in ``path``; not a regular file, not JSON, not text, an integer beyond
    64 bits or a key given twice in one object → ConfigError naming the file. A missing file raises FileNotFoundError (the CLI
    reports it as one line)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    try:
        with open(path) as f:
            return json.load(f, parse_int=_bounded_int, object_pairs_hook=_unique_keys)
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
