"""Recurring planned scales (a target's `events` in the policy document) as EventBridge Scheduler schedules:
each starts the scale workflow with a planned scale (its capacity, held as a floor for the window). The
reconciler keeps the schedules equal to what the document asks for, as it does the alarms."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genai_autoscaler.domain.policy import RecurringEvent, SageMakerPolicy, TargetPolicy

SCHEDULE_NAME_LIMIT = 64  # Scheduler: 1 to 64 of [0-9a-zA-Z-_.]


def schedule_prefix(stack_name: str) -> str:
    """What every event schedule of the stack is named from: the start of its name and a hash of all of it
    (stack names hold no dot, so no stack's prefix starts another's)."""
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:6]
    return f"{stack_name[:20]}-{digest}.ev."


@dataclass(frozen=True)
class EventSchedule:
    """One recurring event, in the terms of Scheduler's CreateSchedule (the target is the scale workflow)."""

    name: str
    target: str  # the target's name in the document
    event: RecurringEvent

    @property
    def planned_scale(self) -> dict[str, Any]:
        """The scale workflow's input at each start: a planned scale (app/scale_workflow.PlannedScale)."""
        reason = self.event.reason or f"the recurring event {self.event.name}"
        return {
            "target": self.target,
            "desired_capacity": self.event.capacity,
            "reason": f"{reason} ({self.event.schedule} {self.event.timezone})",
            "hold_minutes": self.event.duration_minutes,
        }

    def request(self, workflow_arn: str, role_arn: str) -> dict[str, Any]:
        """CreateSchedule's (and UpdateSchedule's) parameters."""
        return {
            "Name": self.name,
            "ScheduleExpression": self.event.schedule,
            "ScheduleExpressionTimezone": self.event.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": f"GenAI Autoscaler: {self.target} to {self.event.capacity} for "
            f"{self.event.duration_minutes} min ({self.event.name})",
            "Target": {
                "Arn": workflow_arn,
                "RoleArn": role_arn,
                "Input": json.dumps(self.planned_scale, sort_keys=True),
            },
        }


def event_schedules(stack_name: str, targets: Sequence[TargetPolicy]) -> list[EventSchedule]:
    """Every recurring event of the SageMaker targets, named `<prefix><target hash>.<event name>`."""
    found = []
    for target in targets:
        if not isinstance(target, SageMakerPolicy):
            continue
        digest = hashlib.sha256(target.target_id.encode()).hexdigest()[:8]
        for event in target.events:
            name = f"{schedule_prefix(stack_name)}{digest}.{event.name}"
            assert len(name) <= SCHEDULE_NAME_LIMIT, name  # 31 + 8 + 1 + 24
            found.append(EventSchedule(name, target.name, event))
    return found
