"""The record of the figures a report could not measure, and why."""

from __future__ import annotations

from ..errors import ConfigError


class Missing:
    """Collects ``what → reason`` for every figure that could not be measured.

    Attributes
    ----------
    reasons : dict
        Figure name (``"<variant>.build"``, ``"accuracy.<key>"``, …) → one-line reason, in the
        order they were recorded; the report's ``missing`` entry.
    """

    def __init__(self):
        self.reasons: dict = {}

    def attempt(self, what: str, func, *args, **kwargs):
        """``func(*args, **kwargs)``, or ``None`` with the reason recorded under ``what``."""
        try:
            return func(*args, **kwargs)
        except (ConfigError, FileNotFoundError, OSError, RuntimeError, ValueError) as exc:
            self.reasons[what] = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, ConfigError) else str(exc)
            return None
