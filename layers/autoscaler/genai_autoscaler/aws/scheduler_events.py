"""EventSchedules on EventBridge Scheduler, in the stack's own schedule group."""

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
    def __init__(self, scheduler: Any, group: str):
        self._scheduler = scheduler
        self._group = group

    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        try:
            pages = self._scheduler.get_paginator("list_schedules").paginate(
                GroupName=self._group, NamePrefix=prefix
            )
            names = [schedule["Name"] for page in pages for schedule in page["Schedules"]]
            found = {}
            for name in names:
                described = self._scheduler.get_schedule(GroupName=self._group, Name=name)
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
                self._scheduler.update_schedule(GroupName=self._group, **request)
            else:
                self._scheduler.create_schedule(GroupName=self._group, **request)
        except ClientError as exc:
            raise translate(exc, f"putting schedule {request['Name']}") from exc

    def delete(self, name: str) -> None:
        try:
            self._scheduler.delete_schedule(GroupName=self._group, Name=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise translate(exc, f"deleting schedule {name}") from exc
