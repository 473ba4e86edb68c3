"""Test-wide settings: hypothesis profiles.

``HYPOTHESIS_PROFILE=thorough`` runs many more examples (for a night run or after touching a
contract); the default keeps ``make test`` inside its time budget on a 2-core machine.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
