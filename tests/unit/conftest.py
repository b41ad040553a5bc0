"""Fixtures of the unit tests: the fake Bedrock client on a simulated clock."""

from __future__ import annotations

import pytest
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock

from tests.unit.bedrock_fixtures import PROVISIONING
from tests.unit.builders import NOW


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOW)


@pytest.fixture
def bedrock(clock: SimClock) -> FakeBedrock:
    return FakeBedrock(clock, provisioning_seconds=PROVISIONING)
