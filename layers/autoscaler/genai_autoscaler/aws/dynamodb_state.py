"""StateStore on DynamoDB: one item per target (sk STATE) and its history (sk ACTION#<time>#<version>).

Every change is a read-modify-write guarded by the item's version, written in one transaction with its
history record, so a lock, a cooldown and the record of the action that set them never diverge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import StateStore
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.state import ActionRecord, TargetState
from genai_autoscaler.errors import StateConflict

STATE_SORT_KEY = "STATE"
HISTORY_PREFIX = "ACTION#"
HISTORY_RETENTION = timedelta(days=90)
_ATTEMPTS = 8


def to_attribute(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute(attribute: dict[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    match kind:
        case "NULL":
            return None
        case "BOOL" | "S":
            return value
        case "N":
            return float(value) if any(c in value for c in ".eE") else int(value)
        case "M":
            return {k: from_attribute(v) for k, v in value.items()}
        case "L":
            return [from_attribute(v) for v in value]
    raise TypeError(f"unexpected DynamoDB attribute type {kind}")


# A cancelled transaction is retried (re-read, re-applied) when another write won the race or DynamoDB
# throttled it; other reasons (validation, item size) are errors.
_RETRIED_CANCELLATIONS = frozenset({"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"})


def _worth_retrying(error: ClientError) -> bool:
    reasons = {
        str(r.get("Code"))
        for r in error.response.get("CancellationReasons", [])
        if r.get("Code") not in (None, "None")
    }
    if not reasons:  # no reasons in the response: judge by the message, which lists them
        return any(code in str(error) for code in _RETRIED_CANCELLATIONS)
    return reasons <= _RETRIED_CANCELLATIONS


class DynamoDbStateStore(StateStore):
    def __init__(self, dynamodb: Any, table_name: str):
        self._dynamodb = dynamodb
        self._table = table_name

    def _key(self, target_id: str, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": target_id}, "sk": {"S": sort_key}}

    def load(self, target_id: str) -> TargetState:
        try:
            item = self._dynamodb.get_item(
                TableName=self._table, Key=self._key(target_id, STATE_SORT_KEY), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise translate(exc, f"reading the state of {target_id}") from exc
        if item is None:
            return TargetState(target_id=target_id)
        data = {k: from_attribute(v) for k, v in item.items() if k not in ("pk", "sk")}
        return TargetState.model_validate({**data, "target_id": target_id})

    def update(
        self,
        target_id: str,
        change: Callable[[TargetState], TargetState],
        record: ActionRecord | None = None,
    ) -> TargetState:
        for _ in range(_ATTEMPTS):
            current = self.load(target_id)
            changed = change(current)
            if changed == current and record is None:
                return current
            new = changed.model_copy(update={"version": current.version + 1})
            if self._write(current, new, record):
                return new
        raise StateConflict(f"the state of {target_id} kept changing; gave up after {_ATTEMPTS} attempts")

    def _write(self, current: TargetState, new: TargetState, record: ActionRecord | None) -> bool:
        item = {k: to_attribute(v) for k, v in new.model_dump(mode="json").items() if k != "target_id"}
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": self._key(new.target_id, STATE_SORT_KEY) | item,
        }
        if current.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": {"N": str(current.version)}}
        writes: list[dict[str, Any]] = [{"Put": put}]
        if record is not None:
            writes.append(
                {"Put": {"TableName": self._table, "Item": self._history_item(record, new.version)}}
            )
        try:
            self._dynamodb.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException" and _worth_retrying(exc):
                return False
            raise translate(exc, f"writing the state of {new.target_id}") from exc
        return True

    def _history_item(self, record: ActionRecord, version: int) -> dict[str, Any]:
        # The state's version, written in the same transaction, orders records made in the same instant.
        sort_key = f"{HISTORY_PREFIX}{record.at.isoformat()}#{version:010d}"
        data = record.model_dump(mode="json")
        data["expires_at"] = int((record.at + HISTORY_RETENTION).timestamp())
        return self._key(record.target_id, sort_key) | {
            k: to_attribute(v) for k, v in data.items() if k != "target_id"
        }

    def history(self, target_id: str, limit: int = 20, since: datetime | None = None) -> list[ActionRecord]:
        # Sort keys hold the record's UTC time in ISO 8601, which sorts as the times do.
        start = HISTORY_PREFIX + (since.astimezone(UTC).isoformat() if since is not None else "")
        try:
            items = self._dynamodb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": target_id},
                    ":from": {"S": start},
                    ":to": {"S": HISTORY_PREFIX + "\uffff"},
                },
                ScanIndexForward=False,
                Limit=limit,
            )["Items"]
        except ClientError as exc:
            raise translate(exc, f"reading the history of {target_id}") from exc
        return [
            ActionRecord.model_validate(
                {k: from_attribute(v) for k, v in item.items() if k not in ("pk", "sk", "expires_at")}
                | {"target_id": target_id}
            )
            for item in items
        ]
