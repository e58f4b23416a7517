"""Reading the project's JSON files (``*.qnet.json``, ``plan.json``): one place that turns every
way a file can fail to be JSON into a :class:`ConfigError` naming the file."""

import json
from pathlib import Path

from .errors import ConfigError


def read_json(path):
    """The JSON value in ``path``; not JSON or not text → ConfigError naming the file. A missing
    file raises FileNotFoundError (the CLI reports it as one line)."""
    path = Path(path)
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (JSON) file") from None
