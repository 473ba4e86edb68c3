"""Test-wide settings and the fixtures for real services.

Hypothesis: ``HYPOTHESIS_PROFILE=thorough`` runs many more examples (for a night run or after
touching a contract); the default keeps ``make test`` inside its time budget on a 2-core machine.

Services are real and private to the test: a Mosquitto on a free loopback port with its own
config. A missing binary fails the test with what to install; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hil.services.mosquitto import BrokerError, Mosquitto

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private broker on a free loopback port for one test; it may stop and start it."""
    broker = Mosquitto(tmp_path / "mosquitto")
    try:
        broker.start()
    except BrokerError as exc:
        pytest.fail(str(exc))
    try:
        yield broker
    finally:
        broker.stop()
