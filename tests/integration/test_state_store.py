"""DynamoDbStateStore against moto's DynamoDB, with the table as template.yaml declares it (pk, sk strings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler.aws.dynamodb_state import DynamoDbStateStore
from genai_autoscaler.domain.state import (
    ActionRecord,
    Lock,
    TargetState,
    acquire_lock,
    release_lock,
)
from genai_autoscaler.errors import LockHeld, StateConflict

REGION = "us-east-1"
TABLE = "genai-autoscaler-state"
TARGET = "variant/llm-prod/AllTraffic"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TTL = timedelta(hours=1)


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    return client


@pytest.fixture
def store(dynamodb: Any) -> DynamoDbStateStore:
    return DynamoDbStateStore(dynamodb, TABLE)


def record(minutes: int, action: str = "scale_out", outcome: str = "succeeded") -> ActionRecord:
    return ActionRecord(
        target_id=TARGET,
        at=NOW + timedelta(minutes=minutes),
        action=action,
        outcome=outcome,
        reason=f"reason {minutes}",
        from_capacity=1,
        to_capacity=3,
        execution=f"exec-{minutes}",
    )


def test_a_target_never_seen_loads_as_empty_state(store: DynamoDbStateStore) -> None:
    # When the state of a target never written is loaded
    state = store.load(TARGET)

    # Then it is the empty state, version 0, with no history
    assert state == TargetState(target_id=TARGET)
    assert state.version == 0
    assert store.history(TARGET) == []


def test_update_stores_the_state_and_its_history_record_together(
    store: DynamoDbStateStore, dynamodb: Any
) -> None:
    # Given a target that scaled out at 10:00, with a lock and every kind of field set
    def scaled(state: TargetState) -> TargetState:
        return state.model_copy(
            update={
                "last_scale_out_at": NOW,
                "last_known_capacity": 3,
                "raised_floor": 3,
                "original_floor": 1,
                "lock": Lock(owner="exec-0", acquired_at=NOW, expires_at=NOW + TTL),
            }
        )

    # When the change is written with its record
    written = store.update(TARGET, scaled, record(0))

    # Then the state reads back exactly, one version on
    assert written.version == 1
    assert store.load(TARGET) == written
    assert written.lock == Lock(owner="exec-0", acquired_at=NOW, expires_at=NOW + TTL)
    assert written.last_scale_out_at == NOW

    # And the history record is there, with its 90-day expiry for DynamoDB TTL
    assert store.history(TARGET) == [record(0)]
    items = dynamodb.scan(TableName=TABLE)["Items"]
    history_items = [i for i in items if i["sk"]["S"].startswith("ACTION#")]
    assert len(history_items) == 1
    expires_at = int(history_items[0]["expires_at"]["N"])
    assert expires_at == int((NOW + timedelta(days=90)).timestamp())


def test_history_is_newest_first_and_limited(store: DynamoDbStateStore) -> None:
    # Given five actions, one per minute, and another target's action
    for minute in range(5):
        store.update(
            TARGET, lambda s, m=minute: s.model_copy(update={"last_known_capacity": m + 1}), record(minute)
        )
    store.update(
        "variant/chat-prod/AllTraffic",
        lambda s: s,
        ActionRecord(
            target_id="variant/chat-prod/AllTraffic", at=NOW, action="warm", outcome="x", reason="r"
        ),
    )

    # When the last three are read
    newest = store.history(TARGET, limit=3)

    # Then they come newest first, only this target's
    assert [r.execution for r in newest] == ["exec-4", "exec-3", "exec-2"]
    assert len(store.history(TARGET)) == 5
    assert store.load(TARGET).version == 5


def test_a_change_that_changes_nothing_writes_nothing(store: DynamoDbStateStore, dynamodb: Any) -> None:
    # Given a stored state
    store.update(TARGET, lambda s: s.model_copy(update={"last_known_capacity": 2}))

    # When an update changes nothing and has no record
    unchanged = store.update(TARGET, lambda s: s)

    # Then the version does not move and no item was added
    assert unchanged.version == 1
    assert store.load(TARGET).version == 1
    assert dynamodb.scan(TableName=TABLE)["Count"] == 1


def test_an_exception_raised_by_the_change_propagates_and_nothing_is_written(
    store: DynamoDbStateStore,
) -> None:
    # Given a target locked by another workflow
    store.update(TARGET, lambda s: acquire_lock(s, "exec-a", NOW, TTL))

    # When another workflow tries to take the lock inside an update
    with pytest.raises(LockHeld, match="locked by exec-a until"):
        store.update(TARGET, lambda s: acquire_lock(s, "exec-b", NOW, TTL), record(1))

    # Then neither the state nor the history changed
    state = store.load(TARGET)
    assert state.version == 1
    assert state.lock is not None
    assert state.lock.owner == "exec-a"
    assert store.history(TARGET) == []


def test_a_concurrent_write_makes_the_update_retry_on_the_new_version(store: DynamoDbStateStore) -> None:
    # Given a stored state, and a second writer (another Lambda) with its own store
    store.update(TARGET, lambda s: s.model_copy(update={"last_known_capacity": 2}))
    other = DynamoDbStateStore(store._dynamodb, TABLE)
    seen_versions: list[int] = []

    def cooldown(state: TargetState) -> TargetState:
        seen_versions.append(state.version)
        if len(seen_versions) == 1:
            # Between this read and its write, the other writer takes the lock.
            other.update(TARGET, lambda s: acquire_lock(s, "exec-other", NOW, TTL))
        return state.model_copy(update={"last_scale_out_at": NOW})

    # When an update races with it
    written = store.update(TARGET, cooldown, record(0))

    # Then the first write lost on its version and the change was applied again on top of the other's
    assert seen_versions == [1, 2]
    assert written.version == 3
    final = store.load(TARGET)
    assert final.last_scale_out_at == NOW
    assert final.lock is not None
    assert final.lock.owner == "exec-other"
    assert final.last_known_capacity == 2
    assert len(store.history(TARGET)) == 1  # the losing attempt wrote no record


def test_a_state_that_keeps_changing_gives_up_with_state_conflict(store: DynamoDbStateStore) -> None:
    # Given a writer that changes the state between every read and write of ours
    other = DynamoDbStateStore(store._dynamodb, TABLE)
    attempts: list[int] = []

    def always_beaten(state: TargetState) -> TargetState:
        attempts.append(state.version)
        other.update(TARGET, lambda s: s.model_copy(update={"last_known_capacity": len(attempts)}))
        return state.model_copy(update={"last_warm_at": NOW})

    # When our update runs
    with pytest.raises(StateConflict, match="kept changing"):
        store.update(TARGET, always_beaten, record(0))

    # Then it tried a bounded number of times and wrote nothing of its own
    assert len(attempts) == 8
    assert store.load(TARGET).last_warm_at is None
    assert store.history(TARGET) == []


def test_first_write_of_a_new_target_conflicts_with_a_concurrent_first_write(
    store: DynamoDbStateStore,
) -> None:
    # Given two writers that both see the target as never written
    other = DynamoDbStateStore(store._dynamodb, TABLE)
    calls: list[int] = []

    def take_lock(state: TargetState) -> TargetState:
        calls.append(state.version)
        if len(calls) == 1:
            other.update(TARGET, lambda s: acquire_lock(s, "exec-a", NOW, TTL))
        return acquire_lock(state, "exec-b", NOW, TTL)

    # When the second one's write arrives after the first one's
    with pytest.raises(LockHeld):
        store.update(TARGET, take_lock)

    # Then its write lost (attribute_not_exists), and on the retry it saw the first writer's lock
    assert calls == [0, 1]
    state = store.load(TARGET)
    assert state.lock is not None
    assert state.lock.owner == "exec-a"


# -------------------------------------------------------------------------------------- lock semantics


@dataclass(frozen=True)
class LockStep:
    owner: str
    at_minutes: int
    op: str  # acquire | release
    holder_after: str | None = None
    raises: type[Exception] | None = None


@dataclass(frozen=True)
class LockCase:
    id: str
    steps: list[LockStep]


LOCK_CASES = [
    LockCase(
        "another owner is refused while the lock holds",
        [LockStep("exec-a", 0, "acquire", "exec-a"), LockStep("exec-b", 10, "acquire", "exec-a", LockHeld)],
    ),
    LockCase(
        "the same owner re-enters (a retried step) and extends it",
        [LockStep("exec-a", 0, "acquire", "exec-a"), LockStep("exec-a", 10, "acquire", "exec-a")],
    ),
    LockCase(
        "an expired lock is taken over",
        [LockStep("exec-a", 0, "acquire", "exec-a"), LockStep("exec-b", 61, "acquire", "exec-b")],
    ),
    LockCase(
        "only the owner releases it",
        [
            LockStep("exec-a", 0, "acquire", "exec-a"),
            LockStep("exec-b", 1, "release", "exec-a"),
            LockStep("exec-a", 2, "release", None),
            LockStep("exec-b", 3, "acquire", "exec-b"),
        ],
    ),
    LockCase(
        "the lock expires exactly at its expiry time",
        [LockStep("exec-a", 0, "acquire", "exec-a"), LockStep("exec-b", 60, "acquire", "exec-b")],
    ),
]


@pytest.mark.parametrize("case", LOCK_CASES, ids=[c.id for c in LOCK_CASES])
def test_lock_semantics_through_the_store(store: DynamoDbStateStore, case: LockCase) -> None:
    for step in case.steps:
        # Given the lock as the previous steps left it
        now = NOW + timedelta(minutes=step.at_minutes)
        change: Callable[[TargetState], TargetState] = (
            (lambda s, o=step.owner, t=now: acquire_lock(s, o, t, TTL))
            if step.op == "acquire"
            else (lambda s, o=step.owner: release_lock(s, o))
        )

        # When the step's owner acquires or releases it
        if step.raises is not None:
            with pytest.raises(step.raises):
                store.update(TARGET, change)
        else:
            store.update(TARGET, change)

        # Then the stored lock is held by whom the step says, for an hour from when it was taken
        state = store.load(TARGET)
        holder = state.lock.owner if state.lock is not None else None
        assert holder == step.holder_after, f"after {step}"
        if state.lock is not None and step.op == "acquire" and step.raises is None:
            assert state.lock.expires_at == now + TTL
            assert state.lock_held(now)
            assert not state.lock_held(now + TTL)
