"""The scale workflow under faults: statemachines/scale.asl.json run by the ASL interpreter on in-memory ports,
with each AWS call the steps make failing once (transient: the workflow's Retry must converge) or every time
(lasting: the execution must end in a safe state, and say so).

`-s` prints the fault matrix: call x transient/lasting -> the path the execution ended on and what it left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from genai_autoscaler.app import locks
from genai_autoscaler.app.dispatch import ScaleRequest
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.errors import AutoscalerError, TransientAwsError
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_tools.asl import ExecutionResult, StateMachine, TaskFailed, run_to_end
from genai_autoscaler_tools.memory import StaticController, memory_controller

from tests.unit.builders import NOW, observed, variant

SCALE_WORKFLOW = Path(__file__).resolve().parents[2] / "statemachines" / "scale.asl.json"
TARGET = "variant/llm-prod/AllTraffic"
POLICY = variant(warm_up={"count": 2, "concurrency": 1})

# Each AWS call the scale workflow's steps make, by the port method that makes it.
CALLS = {
    "ssm:GetParameter": ("policies", "load"),
    "sagemaker:Describe*": ("capacity", "observe"),
    "sagemaker:UpdateEndpointWeightsAndCapacities": ("capacity", "set_capacity"),
    "application-autoscaling:RegisterScalableTarget": ("capacity", "set_floor"),
    "dynamodb:GetItem": ("state", "load"),
    "dynamodb:TransactWriteItems": ("state", "update"),
    "sagemaker:InvokeEndpoint (warm-up)": ("warm_up", "invoke"),
    "sns:Publish": ("notifier", "publish"),
}
MATRIX: list[tuple[str, str, str, str, str]] = []


@dataclass
class Outcome:
    result: ExecutionResult
    ctl: StaticController

    @property
    def notes(self) -> list[tuple[str, str]]:
        published: list[tuple[str, str]] = self.ctl.notifier.published  # type: ignore[attr-defined]
        return published


def failing(target: Any, method: str, times: int | None, after: int = 0) -> None:
    """Make `target.method` fail for `times` calls (every call: None) once `after` calls have gone through:
    throttled, as the Lambda step reports it (TransientAwsError), or as the SNS integration reports it."""
    original = getattr(target, method)
    calls = [0]

    def fails(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > after and (times is None or calls[0] <= after + times):
            message = f"{method}: throttled (injected, call {calls[0]})"
            raise (
                TaskFailed("SNS.ThrottledException", message)
                if method == "publish"
                else TransientAwsError(message)
            )
        return original(*args, **kwargs)

    setattr(target, method, fails)


def scale_out(
    actuation: Actuation, fault: tuple[str, str] | None, times: int | None, after: int = 0
) -> Outcome:
    """A scale-out from 2 to 4 (a count set, or a floor raised), run to its end with `fault` injected."""
    clock = SimClock(NOW)
    floor = (1, 8) if actuation is Actuation.RAISE_FLOOR else None
    ctl = memory_controller(
        {"targets": [POLICY.model_dump(mode="json")]}, {TARGET: observed(2, floor=floor)}, clock=clock.now
    )
    plan = Plan(
        action=Action.SCALE_OUT,
        target=POLICY.name,
        target_id=TARGET,
        kind="sagemaker_variant",
        reason="concurrency 12 (threshold 4)",
        decided_at=NOW,
        current_capacity=2,
        desired_capacity=4,
        actuation=actuation,
        observed_floor=1 if floor else None,
    )
    if fault is not None:
        port, method = fault
        failing(getattr(ctl, port), method, times, after)

    def publish(parameters: dict[str, Any], token: str) -> dict[str, str]:
        ctl.notifier.publish(parameters["Subject"], parameters["Message"])
        return {"MessageId": token}

    machine = StateMachine.from_file(
        SCALE_WORKFLOW,
        {"ScaleStepsFunctionArn": "steps", "NotificationTopicArn": "topic"},
        tasks={
            "steps": lambda payload: run_step(ctl, payload["step"], payload["state"], clock.now()),
            "arn:aws:states:::sns:publish": publish,
        },
        catchable=(AutoscalerError,),
    )
    request = ScaleRequest(plan=plan, policy=POLICY.model_dump(mode="json")).model_dump(mode="json")
    result = run_to_end(machine, request, "wf-1", clock_advance=clock.advance)
    return Outcome(result, ctl)


def left(outcome: Outcome) -> str:
    """What the execution left: the capacity, the floor, the lock and the team's notification."""
    seen = outcome.ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    floor = f", floor {seen.scalable_target.min_capacity}" if seen.scalable_target else ""
    state = outcome.ctl.state.states.get(TARGET)  # type: ignore[attr-defined]
    lock = "lock held" if state is not None and state.lock is not None else "lock free"
    told = outcome.notes[-1][0].removeprefix("GenAI Autoscaler: ") if outcome.notes else "no notification"
    return f"{seen.desired} instances{floor}; {lock}; {told}"


CASES = [
    (call, actuation, kind)
    for call in CALLS
    for actuation in (Actuation.SET_CAPACITY, Actuation.RAISE_FLOOR)
    for kind in ("transient", "lasting")
    if not (call.startswith("application-autoscaling") and actuation is Actuation.SET_CAPACITY)
    if not (call.startswith("sagemaker:Update") and actuation is Actuation.RAISE_FLOOR)
]


@pytest.fixture(scope="module", autouse=True)
def print_matrix() -> Iterator[None]:
    yield
    print(
        "\ncall                                           actuation      fault      ended on            left"
    )
    for row in MATRIX:
        print(f"{row[0]:<46} {row[1]:<14} {row[2]:<10} {row[3]:<19} {row[4]}")


@pytest.mark.parametrize(("call", "actuation", "kind"), CASES, ids=[f"{c} {a} {k}" for c, a, k in CASES])
def test_a_fault_in_any_call_converges_or_ends_in_a_safe_reported_state(
    call: str, actuation: Actuation, kind: str
) -> None:
    outcome = scale_out(actuation, CALLS[call], times=1 if kind == "transient" else None)
    result, ctl = outcome.result, outcome.ctl
    ended = "Done" if result.visited[-1] == "Done" else result.visited[-1]
    if "RestoreSafeState" in result.visited:
        ended = f"{ended} (restored)"
    MATRIX.append((call, actuation.value, kind, ended, left(outcome)))
    seen = ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    state = ctl.state.states.get(TARGET)  # type: ignore[attr-defined]

    if kind == "transient":
        # The workflow's Retry absorbs it: the scale completes and the team is told
        assert result.status == "SUCCEEDED", (result.error, result.cause, result.visited)
        assert "RestoreSafeState" not in result.visited
        assert seen.desired == 4
        assert state is not None
        assert state.lock is None
        assert outcome.notes[-1][0].endswith(("scaled out to 4 instances", "floor raised to 4"))
        return

    # A lasting fault: never beyond the plan, and a safe state
    assert seen.desired in (2, 4)
    if call == "sns:Publish":
        # The scale is done; only the notification is lost (a Notify that fails ends the execution at Done)
        assert (result.status, seen.desired, outcome.notes) == ("SUCCEEDED", 4, [])
        return
    if call == "sagemaker:InvokeEndpoint (warm-up)":
        # The capacity is serving and stays; the failed warm-up is said in the success notification
        assert result.status == "SUCCEEDED"
        assert seen.desired == 4
        assert "Warm-up" in outcome.notes[-1][1]
        return
    # Any other lasting fault ends at RestoreSafeState and the failure notification, or, where the state itself
    # cannot be read or written, fails with the lock left to expire or to be released at the next decision
    # (app/locks.py), never with a floor raised for capacity that did not serve
    assert result.status == "FAILED"
    if seen.scalable_target is not None and seen.desired < 4:
        assert seen.scalable_target.min_capacity <= 2
    if call.startswith("dynamodb"):
        return
    assert "RestoreSafeState" in result.visited
    assert "FAILED" in outcome.notes[-1][0]
    assert state is not None
    assert state.lock is None


def test_a_state_table_outage_at_record_success_keeps_the_served_floor_and_frees_the_target_soon() -> None:
    # Given a floor raised 1 -> 4 that served, and DynamoDB refusing every write from RecordSuccess on
    # (the writes before it: AcquireLock's and Apply's)
    outcome = scale_out(Actuation.RAISE_FLOOR, ("state", "update"), times=None, after=2)
    result, ctl = outcome.result, outcome.ctl
    # Then the execution fails through RestoreSafeState, which keeps the floor the capacity served at, and says
    # that the lock could not be released
    assert result.visited[-4:] == ["RecordSuccess", "RestoreSafeState", "NotifyFailure", "Failed"]
    seen = ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    assert (seen.desired, seen.scalable_target.min_capacity) == (4, 4)
    assert ctl.capacity.changes == [(TARGET, "set_floor", 4)]  # type: ignore[attr-defined]
    message = outcome.notes[-1][1]
    assert "MinCapacity stays at 4: the capacity was serving" in message
    assert "the lock could NOT be released" in message
    # And once DynamoDB is back, the next decision finds the lock's execution ended and releases it, minutes
    # later rather than at the end of its hour
    ctl.state.update = type(ctl.state).update.__get__(ctl.state)  # type: ignore[method-assign]
    workflows = ctl.workflows
    workflows.started["wf-1"] = {}  # type: ignore[attr-defined]
    workflows.ended.add("wf-1")  # type: ignore[attr-defined]
    later = ctl.now() + timedelta(minutes=3)
    state = locks.release_if_ended(ctl, ctl.state.load(TARGET), later)
    assert state.lock is None
    assert ctl.state.history(TARGET)[0].outcome == "lock_released"
