"""The checks both plan.json versions make on their common fields (``docs/plan-format.md``):
the header, the embedded network's digest, ``dense``/``target``, resource counts ≥ 0, and the
totals within the budget. Each failure is a :class:`ConfigError` naming the field."""

from __future__ import annotations

from .errors import ConfigError
from .resources import RESOURCES, Resources, format_shortfall, shortfalls

PLAN_FORMAT = "structhw.plan"


def check_header(obj, version: int, fields: tuple) -> None:
    """``obj`` is a plan.json object of ``version`` holding every key of ``fields``."""
    if not isinstance(obj, dict) or obj.get("format") != PLAN_FORMAT:
        raise ConfigError(f"not a {PLAN_FORMAT} file (missing or wrong 'format' field)")
    if obj.get("version") != version:
        raise ConfigError(f"unsupported {PLAN_FORMAT} version {obj.get('version')!r}; this "
                          f"reader takes version {version}")
    for key in fields:
        if key not in obj:
            raise ConfigError(f"plan lacks the field {key!r}")


def check_network_digest(digest: str, recorded) -> None:
    """The embedded network's digest (hex) equals the ``qnet_sha256`` the plan records."""
    if digest != recorded:
        raise ConfigError(f"plan's embedded network does not match qnet_sha256 "
                          f"({digest[:12]}… ≠ {str(recorded)[:12]}…): the file was edited")


def dense_and_target(obj: dict) -> tuple:
    """(``dense``: bool, ``target``: board name or None) of a plan.json object."""
    dense, target = obj.get("dense", False), obj.get("target")
    if not isinstance(dense, bool):
        raise ConfigError(f"plan 'dense' must be true or false, got {dense!r}")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"plan 'target' must be a string or null, got {target!r}")
    return dense, target


def nonnegative_resources(obj, what: str) -> Resources:
    """Resources from JSON with every count ≥ 0."""
    res = Resources.from_json(obj, what)
    for key in RESOURCES:
        if getattr(res, key) < 0:
            raise ConfigError(f"{what}.{key} must be ≥ 0, got {getattr(res, key)}")
    return res


def check_within_budget(plan) -> None:
    """The plan's totals do not exceed its budget."""
    short = shortfalls(plan.totals, plan.budget)
    if short:
        raise ConfigError(f"the plan's totals exceed its budget: "
                          f"{format_shortfall(short, plan.totals, plan.budget)}")


def check_derived(obj: dict, plan, keys: tuple = ("prediction", "totals")) -> None:
    """Each field of ``keys`` that plan.json records equals what its stages give
    (``plan.to_json()``): an edited prediction or total is refused, not shown as the plan's."""
    import json

    derived = json.loads(json.dumps(plan.to_json()))
    for key in keys:
        if key in obj and obj[key] != derived[key]:
            raise ConfigError(f"plan '{key}' is {json.dumps(obj[key])[:120]}, but its stages "
                              f"give {json.dumps(derived[key])[:120]}: the file was edited")

