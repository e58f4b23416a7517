"""Shared pytest configuration: a hypothesis profile that keeps the suite within CI's time."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "structhw",
    deadline=None,
    max_examples=int(os.environ.get("STRUCTHW_HYPOTHESIS_EXAMPLES", "40")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("structhw")
