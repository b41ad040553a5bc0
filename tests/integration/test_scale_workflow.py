"""Every path of statemachines/scale.asl.json, run for real: moto's Step Functions interpreter, the real
handlers in-process, the SageMaker fakes for the Updating phase, and simulated time (Wait states advance it).

Each test starts from an alarm, an evaluation or a hand-started execution, as in AWS, and checks what a
platform team would check: the capacity, the states the workflow went through, the notification, the history,
the lock and the cooldown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from genai_autoscaler.app.dispatch import Dispatch, dispatch
from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.decision import AlarmTransition, decide
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import SageMakerVariantPolicy
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import TargetState, acquire_lock

from tests.integration.conftest import (
    IC,
    IC_ID,
    LLM,
    LLM_ID,
    Launch,
    Scenario,
    document,
    ic_policy,
    llm_policy,
    sample_event,
)

PROVISIONING = 360
POLL = 30
HAPPY_PATH = ["Prepare", "IsPlanned", "AcquireLock", "Apply", "CheckCapacity", "IsServing"]
SUCCESS_TAIL = ["WarmUp", "RecordSuccess", "Notify", "Done"]
FAILURE_TAIL = ["RestoreSafeState", "NotifyFailure", "Failed"]


def count_invoke_endpoint(scenario: Scenario) -> list[dict[str, Any]]:
    """Records every InvokeEndpoint the controller sends (its warm-up requests)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    scenario.aws.world.hook(
        "sagemaker-runtime", "before-parameter-build.sagemaker-runtime.InvokeEndpoint", record
    )
    return calls


def scale_out_llm(scenario: Scenario, concurrency: float = 7) -> None:
    """Given llm-prod scaled out by the controller (1 -> 3 instances) through the whole workflow: its concurrency
    alarm fires at 7 per instance (threshold 4), sized to 70% of the threshold: 1 x 7 / 4 / 0.7 = 2.5, so 3.
    (7 is below twice the threshold: not a surge, so a later scale-out waits for the cooldown.)"""
    outcome = scenario.alarm(LLM, "concurrency", "ALARM", [concurrency])
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    scenario.notifications()  # drained: the callers check what is published after this scale


# ---------------------------------------------------------------------------------------------- happy path


@dataclass(frozen=True)
class ScaleOutCase:
    id: str
    instances: int
    capacity_max: int
    signal: str
    datapoint: float  # as the alarm's metric reports it (ModelLatency in microseconds)
    observed: str  # the notification's "Observed:" figures
    wanted: int  # what the signal asks for
    expected: int  # what the policy allows
    limited_by: str | None


# The policy: latency threshold 4,000 ms, 4 concurrent requests per instance (concurrency is sized to 70% of it),
# scale_out.max_step 2. Latency asks for one more instance whatever its overshoot; concurrency asks for
# ceil(instances x value / 4 / 0.7).
SCALE_OUT_CASES = [
    ScaleOutCase(
        "latency 9,100 ms against 4,000 ms asks for one more: 2 of 1",
        instances=1,
        capacity_max=4,
        signal="latency_p95",
        datapoint=9_100_000.0,
        observed="9,100 ms (threshold 4,000 ms)",
        wanted=2,
        expected=2,
        limited_by=None,
    ),
    ScaleOutCase(
        "concurrency 7 against 4 asks for 3 of 1",  # 1 x 7 / 4 / 0.7 = 2.5
        instances=1,
        capacity_max=4,
        signal="concurrency",
        datapoint=7.0,
        observed="7 (threshold 4)",
        wanted=3,
        expected=3,
        limited_by=None,
    ),
    ScaleOutCase(
        "concurrency 12 asks for 5 of 1; the step limit allows 3",  # 1 x 12 / 4 / 0.7 = 4.3
        instances=1,
        capacity_max=8,
        signal="concurrency",
        datapoint=12.0,
        observed="12 (threshold 4)",
        wanted=5,
        expected=3,
        limited_by="the step limit",
    ),
    ScaleOutCase(
        "concurrency 14 asks for 10 of 2; the policy max is 3",  # 2 x 14 / 4 / 0.7 = 10
        instances=2,
        capacity_max=3,
        signal="concurrency",
        datapoint=14.0,
        observed="14 (threshold 4)",
        wanted=10,
        expected=3,
        limited_by="the policy max",
    ),
]


@pytest.mark.parametrize("case", SCALE_OUT_CASES, ids=[c.id for c in SCALE_OUT_CASES])
def test_alarm_scales_out_waits_for_in_service_warms_up_and_reports(
    launch: Launch, case: ScaleOutCase
) -> None:
    # Given llm-prod with `instances` instances, managed by a latency and concurrency policy, new instances
    # taking 6 minutes
    scenario = launch(
        document(llm_policy(capacity={"max": case.capacity_max})),
        endpoints={"llm-prod": case.instances},
        provisioning_seconds=PROVISIONING,
    )
    warm_ups = count_invoke_endpoint(scenario)
    started_at = scenario.aws.clock.now()

    # When its p95 latency or its concurrency alarm goes to ALARM
    outcome = scenario.alarm(LLM, case.signal, "ALARM", [case.datapoint])
    runs = scenario.workflows()

    # Then the router started exactly one scale-out workflow, which succeeded through every happy state
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    assert outcome["plan"]["action"] == Action.SCALE_OUT
    assert outcome["plan"]["desired_capacity"] == case.expected
    if case.limited_by:
        assert f"the signal asks for {case.wanted}; limited by {case.limited_by}" in outcome["plan"]["reason"]
    else:
        assert case.wanted == case.expected
        assert "limited by" not in outcome["plan"]["reason"]
    assert len(runs) == 1
    (run,) = runs
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    visited = scenario.visited(run)
    assert visited[: len(HAPPY_PATH)] == HAPPY_PATH
    assert visited[-len(SUCCESS_TAIL) :] == SUCCESS_TAIL
    assert "RestoreSafeState" not in visited

    # And the endpoint has the new count, reached only after the Updating phase was polled through
    assert scenario.aws.instance_count("llm-prod") == case.expected
    checks = scenario.step_calls("check_capacity")
    assert len(checks) == PROVISIONING // POLL + 1
    assert all(c.result["capacity"]["ready"] is False for c in checks[:-1])
    assert {c.result["capacity"]["status"] for c in checks[:-1]} == {"Updating"}
    assert {c.result["capacity"]["poll_seconds"] for c in checks[:-1]} == {POLL}  # the published policy's
    assert checks[-1].result["capacity"] == {
        "ready": True,
        "status": "InService",
        "desired": case.expected,
        "current": case.expected,
        "poll_seconds": 0,
    }
    assert visited.count("WaitForCapacity") == PROVISIONING // POLL

    # And the warm-up requests went to the endpoint's variant after it was InService
    assert len(warm_ups) == 4
    assert {(c["EndpointName"], c["TargetVariant"]) for c in warm_ups} == {("llm-prod", "AllTraffic")}
    (warm_up,) = scenario.step_calls("warm_up")
    assert warm_up.result["warm_up"]["invocations"] == 4
    assert warm_up.result["warm_up"]["failures"] == 0

    # And the state remembers the scale: lock released, cooldown started when the scale completed
    state = scenario.state()
    assert state.lock is None
    assert state.last_known_capacity == case.expected
    assert state.last_scale_out_at is not None
    assert state.last_scale_out_at >= started_at + timedelta(seconds=PROVISIONING)
    assert state.last_warm_at == state.last_scale_out_at

    # And the history has one record of the success
    (record,) = scenario.history()
    assert (record.action, record.outcome) == ("scale_out", "succeeded")
    assert (record.from_capacity, record.to_capacity) == (case.instances, case.expected)
    assert record.execution == run.name

    # And exactly one notification says what was done, with the figures observed (latency in milliseconds)
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {LLM} scaled out to {case.expected} instances"
    assert f"Observed: {case.observed}" in note["message"]
    delta = case.expected - case.instances
    added = f"+{delta} instance{'' if delta == 1 else 's'}"
    assert f"Capacity: {case.instances} -> {case.expected} ({added})" in note["message"]
    assert "Warm-up passed: 4/4 warm-up invocations succeeded" in note["message"]
    assert f"Workflow: {run.name}" in note["message"]


def test_alarm_still_firing_after_the_cooldown_scales_out_again_up_to_max(launch: Launch) -> None:
    # Given llm-prod scaled out 1 -> 3, its concurrency alarm still in ALARM (at 7 per instance, not a surge)
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    scale_out_llm(scenario)

    # When the evaluator runs during the scale-out cooldown
    scenario.advance(100)
    during_cooldown = scenario.evaluate()

    # Then it waits
    assert during_cooldown == []
    assert scenario.workflows() == []

    # When it runs after the cooldown, the alarm still firing
    scenario.advance(201)
    after_cooldown = scenario.evaluate()
    (run,) = scenario.workflows()

    # Then it scales out again, to the policy max (4), not beyond (3 x 7 / 4 / 0.7 asks for 8; the step allows 5)
    assert [o["plan"]["desired_capacity"] for o in after_cooldown] == [4]
    assert "the signal asks for 8; limited by the policy max" in after_cooldown[0]["plan"]["reason"]
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.aws.instance_count("llm-prod") == 4
    assert len(scenario.notifications()) == 1

    # When the alarm keeps firing at max
    scenario.advance(301)
    at_max = scenario.evaluate()

    # Then nothing more is done, and nobody is paged again
    assert at_max == []
    assert scenario.workflows() == []
    assert scenario.notifications() == []
    assert [r.to_capacity for r in scenario.history()] == [4, 3]


# ---------------------------------------------------------------------- Application Auto Scaling floor


def test_registered_variant_scales_out_by_raising_the_floor_and_restores_it_stepwise(launch: Launch) -> None:
    # Given llm-prod registered with Application Auto Scaling (MinCapacity 1, MaxCapacity 4)
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=120)
    scenario.aws.register_scalable_target("llm-prod", minimum=1, maximum=4)

    # When its concurrency alarm fires at 7 per instance (threshold 4): 1 x 7 / 4 / 0.7 = 2.5, so 3 instances
    outcome = scenario.alarm(LLM, "concurrency", "ALARM", [7.0])
    (run,) = scenario.workflows()

    # Then the workflow raised MinCapacity instead of setting the count, and waited for the count to follow
    assert outcome["plan"]["actuation"] == "raise_floor"
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.floor()["MinCapacity"] == 3
    assert scenario.floor()["MaxCapacity"] == 4
    assert scenario.aws.instance_count("llm-prod") == 3
    assert len(scenario.step_calls("check_capacity")) == 120 // POLL + 1
    state = scenario.state()
    assert (state.raised_floor, state.original_floor) == (3, 1)
    assert state.lock is None
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {LLM} floor raised to 3"
    assert "Application Auto Scaling MinCapacity: 1 -> 3 (+2 instances)" in note["message"]

    # When every signal is OK and stays so past the stabilization window (and the scale-in cooldown)
    scenario.alarm(LLM, "latency_p95", "OK", [1_500_000.0])
    scenario.alarm(LLM, "concurrency", "OK", [0.5])
    scenario.advance(901)
    outcomes = scenario.evaluate()
    (restore,) = scenario.workflows()

    # Then the floor comes down one step (scale_in.max_step 1), not straight to the original
    assert [o["plan"]["actuation"] for o in outcomes] == ["restore_floor"]
    assert restore.status == "SUCCEEDED", (restore.error, restore.cause)
    assert scenario.floor()["MinCapacity"] == 2
    state = scenario.state()
    assert (state.raised_floor, state.original_floor) == (2, 1)
    assert state.last_scale_in_at is not None
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {LLM} floor lowered to 2"

    # When the next window passes
    scenario.advance(901)
    scenario.evaluate()
    (second,) = scenario.workflows()

    # Then the floor is back where the controller found it, and the controller no longer owns it
    assert second.status == "SUCCEEDED", (second.error, second.cause)
    assert scenario.floor()["MinCapacity"] == 1
    state = scenario.state()
    assert (state.raised_floor, state.original_floor) == (None, None)

    # And later evaluations leave scale-in to Application Auto Scaling
    scenario.advance(901)
    assert scenario.evaluate() == []
    assert scenario.workflows() == []
    assert [r.action for r in scenario.history()] == ["scale_in", "scale_in", "scale_out"]


def time_out_warm_ups(scenario: Scenario) -> None:
    """Every InvokeEndpoint times out on the client side (a cold LLM answering its first request slowly)."""

    def read_timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com/invocations")

    scenario.aws.world.hook("sagemaker-runtime", "before-call.sagemaker-runtime.InvokeEndpoint", read_timeout)


def test_warm_up_that_times_out_keeps_the_capacity(launch: Launch) -> None:
    # Given llm-prod whose new instances do not answer the warm-up in time
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    time_out_warm_ups(scenario)

    # When its latency alarm fires
    scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    (run,) = scenario.workflows()

    # Then the scale stands, the timed-out invocations are counted as failed, and the lock is released
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.visited(run)[-4:] == SUCCESS_TAIL
    assert run.output is not None
    assert (run.output["warm_up"]["invocations"], run.output["warm_up"]["failures"]) == (4, 4)
    assert "Read timeout" in run.output["warm_up"]["errors"][0]
    assert scenario.aws.instance_count("llm-prod") == 2
    state = scenario.state()
    assert (state.lock, state.last_known_capacity, state.last_warm_at) == (None, 2, None)
    assert [r.outcome for r in scenario.history()] == ["succeeded"]


def test_warm_up_that_times_out_is_reported_to_the_team(launch: Launch) -> None:
    # Given llm-prod whose new instances do not answer the warm-up in time
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    time_out_warm_ups(scenario)

    # When its latency alarm fires and the scale completes
    scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED"

    # Then the notification says the warm-up did not pass, and why
    (note,) = scenario.notifications()
    assert "Warm-up did NOT pass: 0/4 warm-up invocations succeeded" in note["message"]
    assert "Read timeout" in note["message"]


# --------------------------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class FailureCase:
    id: str
    fault: Callable[[Scenario], None]
    error: str
    cause: str
    safe_state: str
    count_after: int
    floor_after: int | None = None
    checks: int | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    registered: bool = False


def _hang(scenario: Scenario) -> None:
    scenario.aws.world.hang_updates("llm-prod")


def _refuse(scenario: Scenario) -> None:
    # The account may run 1 ml.g4dn.xlarge: the one the endpoint has. Asking for a second is refused.
    scenario.aws.world.refuse_next_update(
        "llm-prod", message="The account-level service limit for ml.g4dn.xlarge is 1"
    )


SHORT_TIMEOUT = {"workflow": {"in_service_timeout_seconds": 60, "poll_interval_seconds": 30}}

FAILURE_CASES = [
    FailureCase(
        "endpoint never returns to InService: timeout",
        _hang,
        error="InServiceTimeout",
        cause="llm-prod/AllTraffic is Updating with 1 of 2 after 60 s",
        safe_state="the requested count 2 was left to SageMaker",
        count_after=2,
        checks=3,  # at 0 s, 30 s and 60 s, when the deadline has passed
        policy=SHORT_TIMEOUT,
    ),
    FailureCase(
        "SageMaker refuses the update: ResourceLimitExceeded",
        _refuse,
        error="ActuationRejected",
        cause="ResourceLimitExceeded: The account-level service limit for ml.g4dn.xlarge is 1",
        safe_state="nothing had been changed",
        count_after=1,
        checks=0,
    ),
    FailureCase(
        "raised floor never served: MinCapacity put back",
        _hang,
        error="InServiceTimeout",
        cause="is Updating with 1 of 2 after 60 s",
        safe_state="Application Auto Scaling MinCapacity restored to 1",
        count_after=2,
        floor_after=1,
        checks=3,
        policy=SHORT_TIMEOUT,
        registered=True,
    ),
]


@pytest.mark.parametrize("case", FAILURE_CASES, ids=[c.id for c in FAILURE_CASES])
def test_failed_scale_restores_a_safe_state_releases_the_lock_and_says_what_failed(
    launch: Launch, case: FailureCase
) -> None:
    # Given llm-prod at 1 instance, and a fault in SageMaker
    scenario = launch(document(llm_policy(**case.policy)), endpoints={"llm-prod": 1})
    if case.registered:
        scenario.aws.register_scalable_target("llm-prod", minimum=1, maximum=4)
    case.fault(scenario)

    # When its latency alarm fires (asking for one more instance: 2)
    scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    (run,) = scenario.workflows()

    # Then the workflow fails as ScaleFailed, through RestoreSafeState and NotifyFailure
    assert run.status == "FAILED"
    assert run.error == "ScaleFailed"
    visited = scenario.visited(run)
    assert visited[-len(FAILURE_TAIL) :] == FAILURE_TAIL
    assert "WarmUp" not in visited
    assert "Done" not in visited
    if case.checks is not None:
        assert len(scenario.step_calls("check_capacity")) == case.checks

    # And the failure notification names the error, its cause and the safe state left behind
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: scale_out of {LLM} FAILED"
    assert f"The scale-out of {LLM} failed: {case.error}." in note["message"]
    assert case.cause in note["message"]
    assert case.safe_state in note["message"]

    # And what could be put back was put back
    assert scenario.aws.instance_count("llm-prod") == case.count_after
    if case.floor_after is not None:
        assert scenario.floor()["MinCapacity"] == case.floor_after

    # And the lock is released, the cooldown started (no hammering), and the history says it failed
    state = scenario.state()
    assert state.lock is None
    assert state.last_scale_out_at is not None
    (record,) = scenario.history()
    assert (record.action, record.outcome) == ("scale_out", "failed")
    assert record.error is not None
    assert record.error.startswith(f"{case.error}: ")


# -------------------------------------------------------------------------------------------------- lock


def start_planned(scenario: Scenario, request: dict[str, Any], name: str) -> None:
    """An operator starts the scale workflow by hand with a planned scale (the stack's documented input)."""
    scenario.aws.sfn.start_execution(
        stateMachineArn=scenario.aws.stack.outputs["ScaleWorkflowArn"], name=name, input=json.dumps(request)
    )


def lock_target(scenario: Scenario, owner: str, acquired_ago: float, ttl: float) -> None:
    """The lock as another workflow left it in the state table."""
    ctl = scenario.aws.controller()
    acquired = scenario.aws.clock.now() - timedelta(seconds=acquired_ago)
    ctl.state.update(LLM_ID, lambda s: acquire_lock(s, owner, acquired, timedelta(seconds=ttl)))


def test_workflow_for_a_locked_target_ends_at_lock_contended_and_changes_nothing(launch: Launch) -> None:
    # Given llm-prod locked a minute ago by another workflow, for the next hour
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    lock_target(scenario, "scale_out-llm-prod-AllTraffic-other", acquired_ago=60, ttl=3600)

    # When its latency alarm fires
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])

    # Then the router leaves it to the workflow in progress
    assert outcome["dispatch"] == Dispatch.NOTHING
    assert "is in progress (scale_out-llm-prod-AllTraffic-other)" in outcome["plan"]["reason"]
    assert scenario.workflows() == []

    # When an operator starts a planned scale anyway
    start_planned(scenario, {"target": LLM, "desired_capacity": 3, "reason": "launch"}, "planned-launch")
    (run,) = scenario.workflows()

    # Then it succeeds at LockContended without touching the endpoint, and the lock stays the other's
    assert run.status == "SUCCEEDED"
    assert scenario.visited(run) == ["Prepare", "IsPlanned", "PlanRequested", "AcquireLock", "LockContended"]
    assert run.output is not None
    assert run.output["error"]["Error"] == "LockHeld"
    assert scenario.step_calls("apply") == []
    assert scenario.aws.instance_count("llm-prod") == 1
    state = scenario.state()
    assert state.lock is not None
    assert state.lock.owner == "scale_out-llm-prod-AllTraffic-other"
    assert scenario.notifications() == []
    assert scenario.history() == []


@pytest.mark.parametrize(
    ("acquired_ago", "history"),
    [(7200, ["succeeded"]), (600, ["lock_released", "succeeded"])],
    ids=["expired an hour ago: taken over", "ten minutes old, its holder ended: released, not after an hour"],
)
def test_a_lock_left_by_a_workflow_that_has_ended_does_not_hold_the_target(
    launch: Launch, acquired_ago: int, history: list[str]
) -> None:
    # Given llm-prod locked for an hour, `acquired_ago` seconds ago, by an execution Step Functions has no
    # record of running (it crashed, timed out, was stopped, or failed where it could not release the lock)
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    lock_target(scenario, "scale_out-llm-prod-AllTraffic-ended", acquired_ago=acquired_ago, ttl=3600)

    # When its latency alarm fires
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    (run,) = scenario.workflows()

    # Then the new workflow takes the target (a live lock only once the router has asked Step Functions, with
    # DescribeExecution, and said so in the history), scales, and releases it
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert "LockContended" not in scenario.visited(run)
    assert scenario.aws.instance_count("llm-prod") == 2  # latency: one more instance
    assert scenario.state().lock is None
    records = sorted(scenario.history(), key=lambda r: r.at)
    assert [r.outcome for r in records] == history
    assert all("scale_out-llm-prod-AllTraffic-ended held the lock" in r.reason for r in records[:-1])


# ---------------------------------------------------------------------------------------- planned scale


def test_planned_launch_scales_to_the_requested_count_and_holds_it(launch: Launch) -> None:
    # Given llm-prod at 1 instance with room for 8
    scenario = launch(
        document(llm_policy(capacity={"max": 8})), endpoints={"llm-prod": 1}, provisioning_seconds=120
    )
    request = sample_event("scale_workflow_planned_launch.json")  # 6 instances, held for 180 minutes
    requested_at = scenario.aws.clock.now()

    # When an operator starts the workflow for a launch
    start_planned(scenario, request, "planned-launch")
    (run,) = scenario.workflows()

    # Then the count asked for is set in one go (a person chose it: no step limit), and awaited
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    visited = scenario.visited(run)
    assert visited[:4] == ["Prepare", "IsPlanned", "PlanRequested", "AcquireLock"]
    assert visited[-len(SUCCESS_TAIL) :] == SUCCESS_TAIL
    assert scenario.aws.instance_count("llm-prod") == 6
    assert len(scenario.step_calls("check_capacity")) == 120 // POLL + 1

    # And the target is held for the launch, and the team told why
    state = scenario.state()
    assert state.lock is None
    floor = state.event_floor(requested_at)
    assert floor is not None
    assert (floor.capacity, floor.until) == (6, requested_at + timedelta(minutes=180))
    assert state.manual_hold_until is None  # a floor, not a hold: the controller may still scale it out
    (record,) = scenario.history()
    assert (record.action, record.outcome, record.from_capacity, record.to_capacity) == (
        "scale_out",
        "succeeded",
        1,
        6,
    )
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {LLM} scaled out to 6 instances"
    assert (
        "Planned by a person: product launch at 09:00 UTC (1 instance -> 6 instances; held until"
        in (note["message"])
    )

    # When latency is fine and the evaluator runs after the stabilization window, during the hold
    scenario.alarm(LLM, "latency_p95", "OK", [1_000_000.0])
    scenario.alarm(LLM, "concurrency", "OK", [0.1])
    scenario.advance(1800)
    outcomes = scenario.evaluate()

    # Then the launch capacity stays
    assert outcomes == []
    assert scenario.workflows() == []
    assert scenario.aws.instance_count("llm-prod") == 6


@dataclass(frozen=True)
class RefusedCase:
    id: str
    request: dict[str, Any]
    error: str
    cause: str


REFUSED_CASES = [
    RefusedCase(
        "unknown target",
        {"target": "chat-prod/AllTraffic", "desired_capacity": 2, "reason": "launch"},
        "InvalidEvent",
        "'chat-prod/AllTraffic' is not a managed SageMaker target; managed: llm-prod/AllTraffic",
    ),
    RefusedCase(
        "count above the policy max",
        {"target": LLM, "desired_capacity": 9, "reason": "launch"},
        "InvalidEvent",
        "desired_capacity 9 is outside llm-prod/AllTraffic's capacity [1, 4]; change the policy first",
    ),
    RefusedCase(
        "no reason given",
        {"target": LLM, "desired_capacity": 2},
        "InvalidEvent",
        "a planned scale needs {target, desired_capacity, reason}: reason: Field required",
    ),
    RefusedCase(
        "already at the count, nothing to hold",
        {"target": LLM, "desired_capacity": 1, "reason": "launch"},
        "InvalidEvent",
        "llm-prod/AllTraffic already has 1: nothing to do",
    ),
]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=[c.id for c in REFUSED_CASES])
def test_planned_scale_that_does_not_fit_the_policy_is_refused_without_change(
    launch: Launch, case: RefusedCase
) -> None:
    # Given llm-prod at 1 instance, min 1, max 4
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    # When an operator starts a planned scale that does not fit
    start_planned(scenario, case.request, "planned-refused")
    (run,) = scenario.workflows()

    # Then it fails at RequestRefused with the reason, before taking the lock or changing anything
    assert run.status == "FAILED"
    assert scenario.visited(run) == ["Prepare", "IsPlanned", "PlanRequested", "RequestRefused"]
    assert run.error == case.error
    assert run.cause is not None
    assert case.cause in run.cause
    assert scenario.step_calls("acquire_lock") == []
    assert scenario.aws.instance_count("llm-prod") == 1
    assert scenario.state().version == 0  # nothing remembered, no lock ever taken
    assert scenario.notifications() == []


def test_a_hand_started_execution_with_an_edited_plan_and_policy_changes_nothing(launch: Launch) -> None:
    # Given llm-prod at 1 instance, its published policy allowing at most 4
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    # When someone starts the scale workflow with a plan for 50 and a policy, in the input, that allows 64
    plan = Plan(
        action=Action.SCALE_OUT,
        target=LLM,
        target_id=LLM_ID,
        kind="sagemaker_variant",
        reason="forged",
        decided_at=scenario.aws.clock.now(),
        current_capacity=1,
        desired_capacity=50,
        actuation=Actuation.SET_CAPACITY,
    )
    forged = llm_policy(capacity={"max": 64}, name=LLM)
    start_planned(scenario, {"plan": plan.model_dump(mode="json"), "policy": forged}, "forged-scale")
    (run,) = scenario.workflows()

    # Then Apply holds the plan to the published policy: refused by name, nothing changed, the team told
    assert run.status == "FAILED"
    assert scenario.visited(run) == ["Prepare", "IsPlanned", "AcquireLock", "Apply", *FAILURE_TAIL]
    assert scenario.aws.instance_count("llm-prod") == 1
    (note,) = scenario.notifications()
    assert "PlanRefused" in note["message"]
    assert "the plan asks for 50, outside llm-prod/AllTraffic's published capacity [1, 4]" in note["message"]
    assert scenario.state().lock is None
    (record,) = scenario.history()
    assert (record.outcome, record.error is not None and record.error.startswith("PlanRefused")) == (
        "failed",
        True,
    )


# -------------------------------------------------------------------------------------- duplicate event


def test_duplicate_alarm_event_starts_one_workflow_and_returns_the_first_outcome(launch: Launch) -> None:
    # Given one alarm state-change event
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    alarm_name = scenario.aws.alarm_name(LLM, "latency_p95")
    event = scenario.aws.cloudwatch.state_change_event(
        alarm_name, "ALARM", [9_100_000.0], scenario.aws.clock.now()
    )

    # When EventBridge delivers it twice, ten seconds apart
    first = scenario.routed(scenario.aws.bus.put(event))
    scenario.advance(10)
    second = scenario.routed(scenario.aws.bus.put(event))
    runs = scenario.workflows()

    # Then the router ran twice but decided once: the second answer is the first, decided_at included
    assert len(scenario.router_calls()) == 2
    assert first["dispatch"] == Dispatch.WORKFLOW
    assert second == first

    # And one workflow scaled once
    assert len(runs) == 1
    assert len(scenario.executions()) == 1
    assert runs[0].status == "SUCCEEDED", (runs[0].error, runs[0].cause)
    assert len(scenario.step_calls("apply")) == 1
    assert scenario.aws.instance_count("llm-prod") == 2  # 1 + 1 for latency, once
    assert len(scenario.notifications()) == 1

    # And the idempotency record is in the stack's table, completed
    table = scenario.aws.stack.resource("IdempotencyTable")
    items = scenario.aws.ddb.scan(TableName=table)["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"


# ------------------------------------------------------------------------------------------------ scale-in


def test_scale_in_after_a_scale_out_waits_for_the_stabilization_window(launch: Launch) -> None:
    # Given llm-prod scaled out to 3 by the controller, and every signal back to OK
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    scale_out_llm(scenario)
    scenario.alarm(LLM, "latency_p95", "OK", [1_500_000.0])
    scenario.alarm(LLM, "concurrency", "OK", [0.5])

    # When the evaluator runs before the window has passed
    scenario.advance(600)
    early = scenario.evaluate()

    # Then nothing happens yet
    assert early == []
    assert scenario.workflows() == []

    # When it runs once the window has passed
    scenario.advance(301)
    outcomes = scenario.evaluate()
    (run,) = scenario.workflows()

    # Then one scale-in workflow removes one instance (scale_in.max_step) and says so
    assert [o["plan"]["action"] for o in outcomes] == ["scale_in"]
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert "WarmUp" in scenario.visited(run)
    assert scenario.aws.instance_count("llm-prod") == 2
    state = scenario.state()
    assert state.lock is None
    assert state.last_known_capacity == 2
    assert state.last_scale_in_at is not None
    assert [(r.action, r.outcome) for r in scenario.history()] == [
        ("scale_in", "succeeded"),
        ("scale_out", "succeeded"),
    ]
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {LLM} scaled in to 2 instances"
    assert "Capacity: 3 -> 2 (-1 instance)" in note["message"]
    assert "Warm-up" not in note["message"]


@dataclass(frozen=True)
class ScaleInCase:
    id: str
    instances: int
    minimum: int
    max_step: int
    expected: int | None  # None: no scale-in


SCALE_IN_CASES = [
    ScaleInCase("4 -> 3 by one step", 4, 1, 1, 3),
    ScaleInCase("4 -> 2 with a step of 2", 4, 1, 2, 2),
    ScaleInCase("3 -> 2: min 2 stops a step of 2", 3, 2, 2, 2),
    ScaleInCase("at min: stays", 2, 2, 1, None),
]


@pytest.mark.parametrize("case", SCALE_IN_CASES, ids=[c.id for c in SCALE_IN_CASES])
def test_scale_in_removes_at_most_max_step_and_never_goes_below_min(
    launch: Launch, case: ScaleInCase
) -> None:
    # Given llm-prod idle at `instances`, every signal OK
    policy = llm_policy(
        capacity={"min": case.minimum, "max": 4},
        scale_in={"max_step": case.max_step},
    )
    scenario = launch(document(policy), endpoints={"llm-prod": case.instances}, provisioning_seconds=60)
    scenario.alarm(LLM, "latency_p95", "OK", [1_000_000.0])
    scenario.alarm(LLM, "concurrency", "OK", [0.0])

    # When the evaluator runs after the stabilization window
    scenario.advance(901)
    outcomes = scenario.evaluate()
    runs = scenario.workflows()

    # Then it scales in within the limits, or leaves a target at its minimum alone
    if case.expected is None:
        assert outcomes == []
        assert runs == []
        assert scenario.aws.instance_count("llm-prod") == case.instances
        return
    (run,) = runs
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert outcomes[0]["plan"]["desired_capacity"] == case.expected
    assert scenario.aws.instance_count("llm-prod") == case.expected
    assert case.instances - case.expected <= case.max_step
    assert scenario.aws.instance_count("llm-prod") >= case.minimum


# ------------------------------------------------------------------------------------- INSUFFICIENT_DATA


def test_missing_data_holds_capacity_and_is_reported_once(launch: Launch) -> None:
    # Given llm-prod, whose team wants to hear of missing data after 2 minutes
    policy = llm_policy(signals={"insufficient_data_notify_after_seconds": 120})
    scenario = launch(document(policy), endpoints={"llm-prod": 2})

    # When its concurrency alarm goes to INSUFFICIENT_DATA
    outcome = scenario.alarm(LLM, "concurrency", "INSUFFICIENT_DATA", [])

    # Then capacity is held: no workflow, no notification yet
    assert outcome["dispatch"] == Dispatch.NOTHING
    assert outcome["plan"]["action"] == Action.IGNORE
    assert "holding llm-prod/AllTraffic at 2 instances" in outcome["plan"]["reason"]
    assert scenario.workflows() == []
    assert scenario.notifications() == []

    # When the evaluator runs before the notification delay, then after it, then again
    scenario.advance(60)
    before = scenario.evaluate()
    before_notes = scenario.notifications()
    scenario.advance(61)
    after = scenario.evaluate()
    after_notes = scenario.notifications()
    scenario.advance(60)
    again = scenario.evaluate()
    again_notes = scenario.notifications()

    # Then exactly one notification is sent, when the delay has passed, and never a workflow
    assert (before, before_notes) == ([], [])
    assert [o["dispatch"] for o in after] == [Dispatch.NOTIFIED]
    (note,) = after_notes
    assert note["subject"] == f"GenAI Autoscaler: {LLM} needs attention"
    assert "No data for concurrency since" in note["message"]
    assert (
        "holding llm-prod/AllTraffic at 2 instances and never scaling in on missing data" in note["message"]
    )
    assert (again, again_notes) == ([], [])
    assert scenario.workflows() == []
    assert scenario.aws.instance_count("llm-prod") == 2
    assert scenario.state().insufficient_data_reported_since is not None
    assert [(r.action, r.outcome) for r in scenario.history()] == [("notify_only", "notified")]


# ------------------------------------------------------------------------------------------ manual change


def test_capacity_changed_by_a_person_is_adopted_and_left_alone_during_the_hold(launch: Launch) -> None:
    # Given llm-prod scaled out to 3 by the controller
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=120)
    scale_out_llm(scenario)

    # When a person sets it to 2 in the console (SageMaker updates it for a while)
    scenario.aws.world.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName="llm-prod",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    during_update = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    scenario.advance(121)

    # And its latency alarm fires again once the endpoint is InService
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])

    # Then the controller waited out the update, then reported the change instead of scaling
    assert during_update["dispatch"] == Dispatch.NOTHING
    assert "is Updating; waiting for it to settle" in during_update["plan"]["reason"]
    assert outcome["dispatch"] == Dispatch.NOTIFIED
    assert outcome["plan"]["action"] == Action.NOTIFY_ONLY
    assert scenario.workflows() == []
    (note,) = scenario.notifications()
    assert (
        "capacity changed from 3 instances to 2 instances by someone other than the controller"
        in (note["message"])
    )
    state = scenario.state()
    assert state.last_known_capacity == 2
    assert state.manual_hold_until == scenario.aws.clock.now() + timedelta(seconds=3600)

    # When the alarm fires again during the hold (the scale-out cooldown long past)
    scenario.advance(1800)
    held = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])

    # Then the target is left alone, silently
    assert held["dispatch"] == Dispatch.NOTHING
    assert f"left alone until {state.manual_hold_until.isoformat()}" in held["plan"]["reason"]
    assert scenario.workflows() == []
    assert scenario.notifications() == []
    assert scenario.aws.instance_count("llm-prod") == 2
    assert len(scenario.executions()) == 1  # only the controller's own scale-out


def test_manual_change_racing_a_scale_is_still_respected(launch: Launch) -> None:
    # Given llm-prod scaled out to 3 by the controller, and a decision to go to 4 made on that count
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, provisioning_seconds=60)
    scale_out_llm(scenario)
    ctl = scenario.aws.controller()
    policy = ctl.settings.effective_policies(ctl.policies.load()).by_name(LLM)
    assert isinstance(policy, SageMakerVariantPolicy)
    now = ctl.now()
    reading = SignalReading(
        Signal.LATENCY_P95, AlarmState.ALARM, now, 9_100_000.0, 4_000_000.0, "Microseconds"
    )
    plan = decide(
        AlarmTransition(reading), policy, ctl.capacity.observe(policy), TargetState(target_id=LLM_ID), now
    )
    assert (plan.current_capacity, plan.desired_capacity) == (3, 4)

    # When a person sets 2 before the workflow applies the decision
    scenario.aws.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="llm-prod",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    dispatch(ctl, plan, policy, "raced-by-a-person")
    (stale,) = scenario.workflows()
    # Then the workflow ends quietly as superseded: nothing changed, no cooldown, no failure alarm
    assert stale.status == "SUCCEEDED"
    assert scenario.visited(stale)[-2:] == ["ReleaseSuperseded", "Superseded"]
    assert scenario.notifications() == []
    assert scenario.history()[0].outcome == "superseded"

    # And latency alarms again a little later
    scenario.advance(60)
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])
    scenario.workflows()

    # Then the person's 2 instances are reported and left alone, as any manual change is
    assert outcome["dispatch"] == Dispatch.NOTIFIED
    assert "by someone other than the controller" in outcome["plan"]["reason"]
    assert scenario.aws.instance_count("llm-prod") == 2


# ----------------------------------------------------------------------------------- paused and advisory


@dataclass(frozen=True)
class HandsOffCase:
    id: str
    policy: dict[str, Any]
    parameters: dict[str, str]
    subject: str
    message: list[str]
    history_outcome: str


HANDS_OFF_CASES = [
    HandsOffCase(
        "paused target",
        {"paused": True},
        {},
        f"GenAI Autoscaler: {LLM} needs attention",
        [f"but {LLM} is paused: left alone."],
        "notified",
    ),
    HandsOffCase(
        "advisory target",
        {"advisory": True},
        {},
        f"GenAI Autoscaler [advisory]: {LLM} would scale out",
        [f"[advisory] {LLM} would scale out: nothing was changed.", "Capacity: 1 -> 2 (+1 instance)"],
        "advisory",
    ),
    HandsOffCase(
        "advisory stack (AdvisoryMode=true)",
        {},
        {"AdvisoryMode": "true"},
        f"GenAI Autoscaler [advisory]: {LLM} would scale out",
        [f"[advisory] {LLM} would scale out: nothing was changed.", "Capacity: 1 -> 2 (+1 instance)"],
        "advisory",
    ),
]


@pytest.mark.parametrize("case", HANDS_OFF_CASES, ids=[c.id for c in HANDS_OFF_CASES])
def test_paused_and_advisory_targets_start_no_workflow_and_say_why(
    launch: Launch, case: HandsOffCase
) -> None:
    # Given llm-prod paused, or in advisory mode
    scenario = launch(
        document(llm_policy(**case.policy)), endpoints={"llm-prod": 1}, parameters=case.parameters
    )

    # When its latency alarm fires
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9_100_000.0])

    # Then no workflow runs and the capacity is untouched
    assert outcome["dispatch"] == Dispatch.NOTIFIED
    assert scenario.workflows() == []
    assert scenario.executions() == []
    assert scenario.aws.instance_count("llm-prod") == 1

    # And one notification says what would have been done, or that it was left alone
    (note,) = scenario.notifications()
    assert note["subject"] == case.subject
    for line in case.message:
        assert line in note["message"]
    assert "Observed: 9,100 ms (threshold 4,000 ms)" in note["message"]
    assert [r.outcome for r in scenario.history()] == [case.history_outcome]


# ---------------------------------------------------------------------------- inference component at zero


def test_inference_component_at_zero_copies_wakes_on_refused_requests(launch: Launch) -> None:
    # Given an inference component scaled to zero on a shared endpoint
    scenario = launch(
        document(ic_policy()), endpoints={"shared-gpu-endpoint": 1}, provisioning_seconds=PROVISIONING
    )
    scenario.aws.world.add_inference_component(IC, "shared-gpu-endpoint", copies=0)
    warm_ups = count_invoke_endpoint(scenario)

    # When requests are refused for lack of copies
    outcome = scenario.alarm(IC, "no_capacity", "ALARM", [12.0])
    (run,) = scenario.workflows()

    # Then one copy is started through UpdateInferenceComponentRuntimeConfig, and awaited
    assert outcome["plan"]["action"] == Action.SCALE_OUT
    assert (outcome["plan"]["current_capacity"], outcome["plan"]["desired_capacity"]) == (0, 1)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    described = scenario.aws.world.client("sagemaker").describe_inference_component(InferenceComponentName=IC)
    assert described["InferenceComponentStatus"] == "InService"
    assert described["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    checks = scenario.step_calls("check_capacity")
    assert len(checks) == PROVISIONING // POLL + 1
    assert checks[0].result["capacity"]["status"] == "Updating"

    # And the warm-up went to the component, and the state, the history and the team know
    assert len(warm_ups) == 4
    assert {(c["EndpointName"], c["InferenceComponentName"]) for c in warm_ups} == {
        ("shared-gpu-endpoint", IC)
    }
    state = scenario.state(IC_ID)
    assert (state.lock, state.last_known_capacity) == (None, 1)
    assert [r.outcome for r in scenario.history(IC_ID)] == ["succeeded"]
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {IC} scaled out to 1 copy"
    assert "Observed: 12 (threshold 0)" in note["message"]
    assert "Capacity: 0 -> 1 (+1 copy)" in note["message"]


def test_idle_inference_component_scales_in_to_zero_copies_step_by_step(
    launch: Launch,
) -> None:
    # Given an inference component at 2 copies whose policy removes at most one copy per scale-in
    # (scale_in.max_step 1; without it, scale-in would go straight down to what the concurrency needs), idle:
    # every signal OK
    policy = ic_policy(scale_in={"max_step": 1})
    scenario = launch(document(policy), endpoints={"shared-gpu-endpoint": 1}, provisioning_seconds=60)
    scenario.aws.world.add_inference_component(IC, "shared-gpu-endpoint", copies=2)
    for signal in ("latency_p95", "concurrency", "no_capacity"):
        scenario.alarm(IC, signal, "OK", [0.0])

    # When the evaluator runs after each stabilization window
    counts = []
    for _ in range(3):
        scenario.advance(901)
        scenario.evaluate()
        runs = scenario.workflows()
        assert all(run.status == "SUCCEEDED" for run in runs), [(r.error, r.cause) for r in runs]
        described = scenario.aws.world.client("sagemaker").describe_inference_component(
            InferenceComponentName=IC
        )
        counts.append(described["RuntimeConfig"]["CurrentCopyCount"])

    # Then it goes 2 -> 1 -> 0, one copy at a time, and stays at zero (capacity.min 0)
    assert counts == [1, 0, 0]
    subjects = [n["subject"] for n in scenario.notifications()]
    assert subjects == [
        f"GenAI Autoscaler: {IC} scaled in to 1 copy",
        f"GenAI Autoscaler: {IC} scaled in to 0 copies",
    ]
    assert scenario.state(IC_ID).last_known_capacity == 0
