"""Flood control: at most one workflow in flight per target however many events arrive, and a lock whose holder
has ended given back well before its time to live. The storm: 1,000 alarm events over 100 targets, each delivered
one to three times, late and out of order, with the workflows running step by step in between."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from genai_autoscaler.app import locks
from genai_autoscaler.app.dispatch import Dispatch, dispatch_alarm, evaluate_targets
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain import digest
from genai_autoscaler.domain.alarm_event import AlarmState, AlarmStateChangeEvent
from genai_autoscaler.domain.signals import Signal, alarm_specs
from genai_autoscaler.domain.state import Lock, TargetState, acquire_lock
from genai_autoscaler.errors import AutoscalerError, LockHeld, StalePlan
from genai_autoscaler_tools.alarm_events import state_change_event
from genai_autoscaler_tools.memory import (
    MemoryCapacity,
    RecordingNotifier,
    RecordingWorkflows,
    StaticController,
    memory_controller,
)

from tests.unit.builders import NOW, observed

SETTINGS = ControllerSettings(stack_name="genai-autoscaler")
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"


def target(i: int) -> dict[str, Any]:
    return {
        "type": "sagemaker_variant",
        "endpoint_name": f"llm-{i:03d}",
        "capacity": {"min": 1, "max": 8},
        "signals": {"concurrency_per_unit": 4, "latency_p95_ms": 4000},
        "warm_up": {"enabled": False},
    }


def fleet(targets: int) -> StaticController:
    document = {"version": 1, "targets": [target(i) for i in range(targets)]}
    observed_now = {f"variant/llm-{i:03d}/AllTraffic": observed(1) for i in range(targets)}
    return memory_controller(document, observed_now, settings=SETTINGS)


def alarm_event(
    ctl: StaticController, i: int, value: float, at: datetime, event_id: str
) -> AlarmStateChangeEvent:
    """The concurrency alarm of target `i` going to ALARM at `value`, as CloudWatch sends it."""
    policy = ctl.settings.effective_policies(ctl.policies.load()).targets[i]
    spec = next(s for s in alarm_specs(policy) if s.signal is Signal.CONCURRENCY)
    name = ctl.alarms.alarm_name(spec)
    raw = state_change_event(
        spec.put_request(name), ARN + name, AlarmState.ALARM, AlarmState.OK, [value], at, event_id
    )
    return AlarmStateChangeEvent.model_validate(raw)


# ------------------------------------------------------------------------------------------ the lock


def test_a_second_event_while_the_first_workflow_starts_finds_the_target_taken() -> None:
    # Given two events for one target, the second decided before the first's workflow took the lock
    ctl = fleet(1)
    first = dispatch_alarm(alarm_event(ctl, 0, 9.0, NOW, "e-1"), ctl, NOW)
    # Then the first took the lock for its execution as it started it, and the second starts nothing
    second = dispatch_alarm(alarm_event(ctl, 0, 12.0, NOW, "e-2"), ctl, NOW)
    assert first.dispatch is Dispatch.WORKFLOW
    assert second.dispatch is Dispatch.NOTHING
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    (name,) = workflows.started
    lock = ctl.state.load("variant/llm-000/AllTraffic").lock
    assert lock is not None
    assert (lock.owner, lock.expires_at) == (name, NOW + locks.RESERVATION)


def test_the_workflows_own_lock_outlasts_the_reservation_and_a_retry_never_shortens_it() -> None:
    state = TargetState(target_id="t")
    state = acquire_lock(state, "wf-1", NOW, timedelta(minutes=10))
    state = acquire_lock(state, "wf-1", NOW + timedelta(seconds=5), timedelta(hours=1))
    state = acquire_lock(state, "wf-1", NOW + timedelta(seconds=9), timedelta(minutes=10))
    assert state.lock == Lock(owner="wf-1", acquired_at=NOW, expires_at=NOW + timedelta(seconds=5, hours=1))


@pytest.mark.parametrize(
    ("age", "running", "released"),
    [
        (timedelta(minutes=5), False, True),
        (timedelta(seconds=30), False, False),
        (timedelta(minutes=5), True, False),
        (timedelta(minutes=5), None, False),
    ],
    ids=["holder ended", "too young to tell", "holder running", "holder cannot be told"],
)
def test_a_lock_whose_holder_has_ended_is_released_at_the_next_decision(
    age: timedelta, running: bool | None, released: bool
) -> None:
    # Given llm-000 locked for an hour by `wf-dead`, taken `age` ago
    ctl = fleet(1)
    target_id = "variant/llm-000/AllTraffic"
    ctl.state.update(target_id, lambda s: acquire_lock(s, "wf-dead", NOW - age, timedelta(hours=1)))
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    workflows.started["wf-dead"] = {}
    if running is False:
        workflows.ended.add("wf-dead")
    if running is None:  # Step Functions throttled or refused DescribeExecution
        workflows.running = lambda name: None  # type: ignore[method-assign]
    # When its concurrency alarm fires
    outcome = dispatch_alarm(alarm_event(ctl, 0, 9.0, NOW, "e-1"), ctl, NOW)
    # Then the lock of an execution that has ended is released, said in the history, and the alarm acted on
    assert (outcome.dispatch is Dispatch.WORKFLOW) is released
    history = [r.outcome for r in ctl.state.history(target_id)]
    assert ("lock_released" in history) is released


# ------------------------------------------------------------------------------------------ the storm


@dataclass
class Storm:
    """Deliveries of alarm events, and the workflows they start, run a step at a time in between."""

    ctl: StaticController
    rng: random.Random
    in_flight: dict[str, tuple[str, dict[str, Any], Iterator[str]]] = field(default_factory=dict)
    most_in_flight: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)

    def deliver(self, event: AlarmStateChangeEvent, now: datetime) -> None:
        outcome = dispatch_alarm(event, self.ctl, now)
        if outcome.dispatch is Dispatch.WORKFLOW:
            name = (outcome.execution_arn or "").rsplit(":", 1)[-1]
            workflows: RecordingWorkflows = self.ctl.workflows  # type: ignore[assignment]
            if name not in self.in_flight and name not in workflows.ended:
                document = {"request": workflows.started[name], "execution": name}
                self.in_flight[name] = (
                    outcome.plan.target_id,
                    document,
                    iter(  # type: ignore[union-attr]
                        ["acquire_lock", "apply", "check_capacity", "record_success"]
                    ),
                )
        per_target = Counter(target_id for target_id, _, _ in self.in_flight.values())
        for target_id, count in per_target.items():
            self.most_in_flight[target_id] = max(self.most_in_flight[target_id], count)

    def step_some(self, now: datetime, share: float = 0.5) -> None:
        for name in list(self.in_flight):
            if self.rng.random() < share:
                self._step(name, now)

    def drain(self, now: datetime) -> None:
        while self.in_flight:
            self.step_some(now, share=1.0)

    def _step(self, name: str, now: datetime) -> None:
        _, document, steps = self.in_flight[name]
        step = next(steps)
        try:
            document.update(run_step(self.ctl, step, document, now))
            if step == "record_success":  # the lock is released: what follows (Notify) holds nothing
                self._end(name, "succeeded")
        except LockHeld:
            self._end(name, "lock contended")
        except StalePlan as exc:
            document["error"] = {"Error": "StalePlan", "Cause": str(exc)}
            run_step(self.ctl, "release_superseded", document, now)
            self._end(name, "superseded")
        except AutoscalerError as exc:
            document["error"] = {"Error": type(exc).__name__, "Cause": str(exc)}
            run_step(self.ctl, "restore_safe_state", document, now)
            self._end(name, "failed")

    def _end(self, name: str, outcome: str) -> None:
        del self.in_flight[name]
        workflows: RecordingWorkflows = self.ctl.workflows  # type: ignore[assignment]
        workflows.ended.add(name)
        self.ended[outcome] += 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_storm_of_events_starts_at_most_one_workflow_per_target_and_loses_no_scale(seed: int) -> None:
    # Given 100 targets at 1 instance, and 10 concurrency ALARMs each over half an hour (1,000 events), each
    # delivered 1 to 3 times, up to two minutes late: the deliveries interleave across targets and repeat
    rng = random.Random(seed)
    ctl = fleet(100)
    deliveries: list[tuple[datetime, AlarmStateChangeEvent]] = []
    for i in range(100):
        for k in range(10):
            sent = NOW + timedelta(seconds=rng.uniform(0, 1800))
            event = alarm_event(ctl, i, rng.uniform(5, 20), sent, f"e-{i}-{k}")
            for _ in range(rng.randint(1, 3)):
                deliveries.append((sent + timedelta(seconds=rng.uniform(0, 120)), event))
    deliveries.sort(key=lambda delivery: delivery[0])
    storm = Storm(ctl, rng)

    # When they arrive, with the workflows moving on a step at a time in between
    for at, event in deliveries:
        storm.deliver(event, at)
        storm.step_some(at)
    storm.drain(deliveries[-1][0])

    # Then no target ever had two workflows in flight, and every target was scaled out
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    assert max(storm.most_in_flight.values()) == 1
    capacity: MemoryCapacity = ctl.capacity  # type: ignore[assignment]
    assert all(seen.desired >= 2 for seen in capacity.observed.values())
    # And no change was applied twice: one change per execution that applied, never the same count twice in a row
    changes_by_target: dict[str, list[int]] = {}
    for target_id, _, count in capacity.changes:
        changes_by_target.setdefault(target_id, []).append(count)
    assert all(a != b for counts in changes_by_target.values() for a, b in itertools.pairwise(counts))
    assert len(capacity.changes) == storm.ended["succeeded"] + storm.ended["failed"]
    # And every lock was given back
    assert all(ctl.state.load(t).lock is None for t in capacity.observed)
    assert len(workflows.started) == sum(storm.ended.values())
    print(
        f"seed {seed}: {len(deliveries)} deliveries, {len(workflows.started)} workflows, {dict(storm.ended)}"
    )


# ------------------------------------------------------------------------------------------ the digest


def advisory_fleet(targets: int) -> StaticController:
    """Targets in advisory mode: every decision is a report to a person, none a workflow."""
    document = {"version": 1, "targets": [{**target(i), "advisory": True} for i in range(targets)]}
    observed_now = {f"variant/llm-{i:03d}/AllTraffic": observed(1) for i in range(targets)}
    return memory_controller(document, observed_now, settings=SETTINGS)


def test_a_target_is_told_once_per_window_and_the_rest_comes_as_one_digest() -> None:
    # Given an advisory target whose concurrency alarm fires three times in ten minutes
    ctl = advisory_fleet(1)
    outcomes = [
        dispatch_alarm(
            alarm_event(ctl, 0, 9.0 + k, NOW + timedelta(minutes=5 * k), f"e-{k}"),
            ctl,
            NOW + timedelta(minutes=5 * k),
        )
        for k in range(3)
    ]
    # Then the first report goes out, the other two are held and said to be in the history
    assert [o.dispatch for o in outcomes] == [Dispatch.NOTIFIED, Dispatch.HELD, Dispatch.HELD]
    notifier: RecordingNotifier = ctl.notifier  # type: ignore[assignment]
    assert len(notifier.published) == 1
    history = [r.outcome for r in ctl.state.history("variant/llm-000/AllTraffic")]
    assert history.count("advisory, held for the digest") == 2
    # When the evaluator runs a window after the first was held, Then one digest says how many and lists them
    evaluate_targets(ctl, NOW + timedelta(minutes=5 + 15))
    subject, message = notifier.published[-1]
    assert subject == "GenAI Autoscaler: 2 more report(s) about llm-000/AllTraffic"
    assert (
        "at most one report per target per 15 minutes, and at most 20 across the stack in that time"
        in message
    )
    assert ctl.state.load("variant/llm-000/AllTraffic").held_notifications is None


def test_the_stack_sends_at_most_its_cap_per_window_and_says_so_in_the_digests() -> None:
    # Given 30 advisory targets whose alarms all fire in the same minute
    ctl = advisory_fleet(30)
    for i in range(30):
        dispatch_alarm(alarm_event(ctl, i, 9.0, NOW, f"e-{i}"), ctl, NOW)
    notifier: RecordingNotifier = ctl.notifier  # type: ignore[assignment]
    # Then 20 reports go out at once and 10 are held by the cap
    assert len(notifier.published) == digest.CAP == 20
    # And a window later each held target gets its digest, which names the cap
    evaluate_targets(ctl, NOW + timedelta(minutes=15))
    digests = notifier.published[20:]
    assert len(digests) == 10
    assert all("held because the stack had reached that cap of 20" in message for _, message in digests)


def test_a_storm_of_reports_sends_at_most_the_cap_and_one_digest_per_target() -> None:
    # Given 100 advisory targets and 1,000 alarm events over half an hour, each delivered 1 to 3 times
    rng = random.Random(0)
    ctl = advisory_fleet(100)
    deliveries = []
    for i in range(100):
        for k in range(10):
            sent = NOW + timedelta(seconds=rng.uniform(0, 1800))
            event = alarm_event(ctl, i, rng.uniform(5, 20), sent, f"e-{i}-{k}")
            deliveries += [
                (sent + timedelta(seconds=rng.uniform(0, 120)), event) for _ in range(rng.randint(1, 3))
            ]
    deliveries.sort(key=lambda delivery: delivery[0])
    minute, reporting = NOW, 0
    for at, event in deliveries:
        while minute + timedelta(minutes=1) <= at:  # the evaluator, every minute
            minute += timedelta(minutes=1)
            reporting += sum(
                o.dispatch in (Dispatch.NOTIFIED, Dispatch.HELD) for o in evaluate_targets(ctl, minute)
            )
        reporting += dispatch_alarm(event, ctl, at).dispatch in (Dispatch.NOTIFIED, Dispatch.HELD)
    notifier: RecordingNotifier = ctl.notifier  # type: ignore[assignment]
    # Then at most CAP reports per window went out, plus at most one digest per target per window
    windows = (deliveries[-1][0] - NOW) // digest.WINDOW + 1
    reports_sent = [s for s, _ in notifier.published if "more report(s)" not in s]
    digests_sent = [s for s, _ in notifier.published if "more report(s)" in s]
    assert len(reports_sent) <= digest.CAP * windows
    assert len(digests_sent) <= 100 * windows
    # And none was lost: every report went out, came in a digest, or is still held for the next one
    in_digests = sum(int(subject.split(": ", 1)[1].split(" ", 1)[0]) for subject in digests_sent)
    still_held = sum(
        held.count
        for i in range(100)
        if (held := ctl.state.load(f"variant/llm-{i:03d}/AllTraffic").held_notifications) is not None
    )
    assert len(reports_sent) + in_digests + still_held == reporting
    print(f"{len(deliveries)} deliveries: {len(reports_sent)} reports and {len(digests_sent)} digests sent")


def test_a_redelivered_event_whose_workflow_has_ended_starts_nothing_and_leaves_no_lock() -> None:
    # Given an event whose workflow ran to its end (and gave its lock back), delivered again
    ctl = fleet(1)
    event = alarm_event(ctl, 0, 9.0, NOW, "e-1")
    first = dispatch_alarm(event, ctl, NOW)
    name = (first.execution_arn or "").rsplit(":", 1)[-1]
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    workflows.ended.add(name)
    ctl.state.update("variant/llm-000/AllTraffic", lambda s: s.model_copy(update={"lock": None}))
    # When the same event is decided on again, Then nothing starts, and the target is not left locked
    again = dispatch_alarm(event, ctl, NOW + timedelta(minutes=1))
    assert again.dispatch is Dispatch.NOTHING
    assert "already ran to its end" in (again.note or "")
    assert ctl.state.load("variant/llm-000/AllTraffic").lock is None


def test_an_expired_lock_whose_holder_still_runs_is_not_taken() -> None:
    # Given a workflow still running after its lock expired (a run that outlived its time to live)
    ctl = fleet(1)
    target_id = "variant/llm-000/AllTraffic"
    ctl.state.update(
        target_id, lambda s: acquire_lock(s, "wf-slow", NOW - timedelta(hours=2), timedelta(hours=1))
    )
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    workflows.started["wf-slow"] = {}
    # When an alarm is decided on, Then no second workflow starts
    outcome = dispatch_alarm(alarm_event(ctl, 0, 9.0, NOW, "e-1"), ctl, NOW)
    assert outcome.dispatch is Dispatch.NOTHING
    assert "wf-slow may still run" in (outcome.note or "")
    assert list(workflows.started) == ["wf-slow"]


def test_reports_held_for_a_target_removed_from_the_document_still_come_as_a_digest() -> None:
    # Given two reports about llm-000, the second held, and then llm-000 removed from the document
    ctl = advisory_fleet(2)
    for k, at in enumerate((NOW, NOW + timedelta(minutes=5))):
        dispatch_alarm(alarm_event(ctl, 0, 9.0 + k, at, f"e-{k}"), ctl, at)
    ctl.policies.document = {"version": 1, "targets": [{**target(1), "advisory": True}]}  # type: ignore[attr-defined]
    # When the evaluator runs a window later, Then the held report comes as a digest all the same
    evaluate_targets(ctl, NOW + timedelta(minutes=21))
    notifier: RecordingNotifier = ctl.notifier  # type: ignore[assignment]
    assert notifier.published[-1][0] == "GenAI Autoscaler: 1 more report(s) about variant/llm-000/AllTraffic"
    assert ctl.state.load("variant/llm-000/AllTraffic").held_notifications is None
    window = ctl.state.load("stack/notifications").notification_window
    assert window is not None
    assert window.pending == ()
