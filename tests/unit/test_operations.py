"""The operator's use cases (app/operations.py) on in-memory ports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from genai_autoscaler.app.operations import managed_target, pause, resume
from genai_autoscaler.domain.policy import PolicyError
from genai_autoscaler.errors import ActuationRejected
from genai_autoscaler_tools.memory import RecordingNotifier, StaticController, memory_controller

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OPS = "arn:aws:iam::123456789012:user/ops"
DOCUMENT = {"targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod"}]}
TARGET = "variant/llm-prod/AllTraffic"


class RefusingNotifier(RecordingNotifier):
    def publish(self, subject: str, message: str) -> None:
        raise ActuationRejected("publishing to the topic: AccessDenied: not allowed")


def test_a_pause_the_team_could_not_be_told_of_stands_and_says_so() -> None:
    ctl: StaticController = dataclasses.replace(memory_controller(DOCUMENT), notifier=RefusingNotifier())
    record, untold = pause(ctl, "llm-prod/AllTraffic", OPS, "load test", NOW)
    assert ctl.state.load(TARGET).pause == record
    assert untold is not None
    assert "the team was not told" in untold
    assert "AccessDenied" in untold


def test_resume_takes_the_capacity_as_it_is_as_the_controllers_own() -> None:
    ctl = memory_controller(DOCUMENT)
    pause(ctl, "llm-prod/AllTraffic", OPS, "load test", NOW)
    ctl.state.update(TARGET, lambda s: s.model_copy(update={"last_known_capacity": 2}))
    lifted, untold = resume(ctl, TARGET, OPS, NOW)
    assert (lifted.by, untold) == (OPS, None)
    # A capacity changed while paused is not then taken for a change by hand to hold off from for an hour
    assert ctl.state.load(TARGET).last_known_capacity is None
    assert ctl.state.load(TARGET).pause is None


def test_an_invalid_published_document_is_a_policy_error() -> None:
    ctl = memory_controller({"targets": [{"type": "sagemaker_variant"}]})
    with pytest.raises(PolicyError):
        managed_target(ctl, "anything")
