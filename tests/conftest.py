"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

REGION = "us-east-1"

# The handlers' Powertools Metrics, as the template's Globals configure them, before any handler is imported:
# a handler run more than 100 times in one process (the fuzz tests) flushes its metrics, which needs a namespace.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenAIAutoscaler")


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call of the test, with fake credentials (never a real account's)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield
