"""EventSchedules on EventBridge Scheduler (the default schedule group)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import EventSchedules
from genai_autoscaler.aws.errors import translate

_COMPARED = (
    "Name",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "State",
    "Description",
)


class SchedulerEvents(EventSchedules):
    def __init__(self, scheduler: Any):
        self._scheduler = scheduler

    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        try:
            names = [
                schedule["Name"]
                for page in self._scheduler.get_paginator("list_schedules").paginate(NamePrefix=prefix)
                for schedule in page["Schedules"]
            ]
            found = {}
            for name in names:
                described = self._scheduler.get_schedule(Name=name)
                request = {key: described.get(key) for key in _COMPARED}
                target = described.get("Target", {})
                request["Target"] = {key: target.get(key) for key in ("Arn", "RoleArn", "Input")}
                found[name] = request
        except ClientError as exc:
            raise translate(exc, f"listing the schedules named {prefix}*") from exc
        return found

    def put(self, request: dict[str, Any], exists: bool) -> None:
        try:
            if exists:
                self._scheduler.update_schedule(**request)
            else:
                self._scheduler.create_schedule(**request)
        except ClientError as exc:
            raise translate(exc, f"putting schedule {request['Name']}") from exc

    def delete(self, name: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise translate(exc, f"deleting schedule {name}") from exc
