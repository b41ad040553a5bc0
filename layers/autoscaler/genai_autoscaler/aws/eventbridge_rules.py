"""AdoptedAlarmRules on EventBridge: rules on the default bus that deliver adopted alarms' state changes to the
alarm router, with the same retries and dead-letter queue as the stack's own rule (template.yaml)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import AdoptedAlarmRules
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.errors import ActuationRejected

TARGET_ID = "alarm-router"
# As the stack's AlarmStateChange rule: an alarm's state change is worth acting on for an hour at most.
RETRY_POLICY = {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}


class EventBridgeAdoptedRules(AdoptedAlarmRules):
    def __init__(self, events: Any, router_arn: str, dead_letter_arn: str):
        self._events = events
        self._router_arn = router_arn
        self._dead_letter_arn = dead_letter_arn

    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        try:
            rules = [
                rule
                for page in self._events.get_paginator("list_rules").paginate(NamePrefix=prefix)
                for rule in page["Rules"]
            ]
            owned = {}
            for rule in rules:
                targets = self._events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                if any(target["Arn"] == self._router_arn for target in targets) and rule.get("EventPattern"):
                    owned[rule["Name"]] = json.loads(rule["EventPattern"])
        except ClientError as exc:
            raise translate(exc, f"listing the rules named {prefix}*") from exc
        return owned

    def put(self, name: str, pattern: dict[str, Any]) -> None:
        target: dict[str, Any] = {"Id": TARGET_ID, "Arn": self._router_arn, "RetryPolicy": RETRY_POLICY}
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        try:
            self._events.put_rule(
                Name=name,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description="GenAI Autoscaler: state changes of the alarms a policy adopted, to the alarm router",
            )
            answer = self._events.put_targets(Rule=name, Targets=[target])
        except ClientError as exc:
            raise translate(exc, f"putting rule {name}") from exc
        _refused(answer, f"the alarm router as the target of rule {name}")

    def delete(self, name: str) -> None:
        try:
            answer = self._events.remove_targets(Rule=name, Ids=[TARGET_ID])
            _refused(answer, f"removing the targets of rule {name}")
            self._events.delete_rule(Name=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise translate(exc, f"deleting rule {name}") from exc


def _refused(answer: dict[str, Any], what: str) -> None:
    """PutTargets and RemoveTargets answer 200 with the entries they refused (FailedEntryCount, FailedEntries)."""
    if answer.get("FailedEntryCount"):
        failed = "; ".join(
            f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}"
            for entry in answer.get("FailedEntries", [])
        )
        raise ActuationRejected(f"EventBridge refused {what}: {failed}")
