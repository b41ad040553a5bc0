"""Recurring events in the policy document (domain/policy.RecurringEvent) and their schedules
(domain/recurring.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from genai_autoscaler.domain.policy import PolicyError, parse_policy_document
from genai_autoscaler.domain.recurring import SCHEDULE_NAME_LIMIT, event_schedules, schedule_prefix

EVENT = {
    "name": "business-hours",
    "schedule": "cron(0 9 ? * MON-FRI *)",
    "timezone": "Europe/Berlin",
    "duration_minutes": 540,
    "capacity": 3,
}


def target(*events: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "type": "sagemaker_variant",
        "endpoint_name": "llm-prod",
        "capacity": {"min": 1, "max": 4},
        "events": list(events),
        **overrides,
    }


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"schedule": "cron(0 9 * *)"}, "not a recurring EventBridge Scheduler expression"),
        ({"schedule": "at(2026-12-24T09:00:00)"}, "not a recurring EventBridge Scheduler expression"),
        ({"timezone": "Berlin time"}, "not an IANA time zone name"),
        ({"capacity": 9}, "event 'business-hours' asks for 9, outside capacity [1, 4]"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 7 * 24 * 60 + 1}, "duration_minutes"),
        ({"name": "Business Hours"}, "name"),
    ],
)
def test_an_event_aws_cannot_schedule_or_the_policy_does_not_allow_is_refused(
    event: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PolicyError, match="targets\\[0\\]") as refused:
        parse_policy_document({"targets": [target(EVENT | event)]})
    assert problem in str(refused.value)


def test_two_events_of_one_target_need_two_names() -> None:
    with pytest.raises(PolicyError, match="two events have the same name"):
        parse_policy_document({"targets": [target(EVENT, EVENT | {"schedule": "rate(1 day)"})]})


def test_each_event_is_a_schedule_that_starts_a_planned_scale_for_its_window() -> None:
    document = parse_policy_document(
        {"targets": [target(EVENT, EVENT | {"name": "nightly-batch", "capacity": 2})]}
    )
    schedules = event_schedules("genai-autoscaler", document.targets)
    assert [s.event.name for s in schedules] == ["business-hours", "nightly-batch"]
    request = schedules[0].request("arn:aws:states:::workflow", "arn:aws:iam::1:role/scheduler")
    assert request["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert request["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert request["FlexibleTimeWindow"] == {"Mode": "OFF"}
    planned = json.loads(request["Target"]["Input"])
    assert planned == {
        "target": "llm-prod/AllTraffic",
        "desired_capacity": 3,
        "hold_minutes": 540,
        "reason": "the recurring event business-hours (cron(0 9 ? * MON-FRI *) Europe/Berlin)",
    }


def test_schedule_names_fit_scheduler_and_no_stack_takes_anothers() -> None:
    long_name = "a" * 128
    document = parse_policy_document({"targets": [target(EVENT | {"name": "x" * 24})]})
    (schedule,) = event_schedules(long_name, document.targets)
    assert len(schedule.name) <= SCHEDULE_NAME_LIMIT
    # Two stacks whose names share their first 20 characters still have prefixes of their own
    first, second = schedule_prefix("genai-autoscaler-prod-eu"), schedule_prefix("genai-autoscaler-prod-us")
    assert not first.startswith(second)
    assert not second.startswith(first)
