"""The cocotb side of a bench run by :func:`structhw.sim.runner.run`: its parameters in, its
result out, each handed over through a JSON file named by an environment variable."""

import json
import os
from pathlib import Path

PARAMS_ENV = "STRUCTHW_SIM_PARAMS"
RESULT_ENV = "STRUCTHW_SIM_RESULT"


def test_params() -> dict:
    """Inside a cocotb test: the parameters :func:`~structhw.sim.runner.run` was given (empty
    if none)."""
    path = os.environ.get(PARAMS_ENV)
    return json.loads(Path(path).read_text()) if path else {}


def write_test_result(data: dict) -> None:
    """Inside a cocotb test: hand ``data`` (JSON-serialisable) back to the caller of
    :func:`~structhw.sim.runner.run`."""
    path = os.environ.get(RESULT_ENV)
    if not path:
        return
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
