"""The scale workflow's steps on in-memory ports: each Task's contract, including its failures."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from genai_autoscaler.app.dispatch import ScaleRequest
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import TargetPolicy
from genai_autoscaler.domain.state import (
    Lock,
    ObservedCapacity,
    PauseRecord,
    TargetState,
    after_failure,
    remember_decision,
)
from genai_autoscaler.domain.targets import TargetKind
from genai_autoscaler.errors import (
    ActuationRejected,
    InServiceTimeout,
    InvalidEvent,
    LockHeld,
    PlanRefused,
    StalePlan,
    TransientAwsError,
)
from genai_autoscaler_tools.memory import FixedLatencyWarmUp, MemoryCapacity, memory_controller

from tests.unit.builders import NOW, component, observed, variant

TARGET = "variant/llm-prod/AllTraffic"


def published(policy: TargetPolicy | None = None, **ports: Any) -> Any:
    """An in-memory controller whose published document holds `policy` (the default variant's): what the
    steps that spend decide by."""
    return memory_controller({"targets": [(policy or variant()).model_dump(mode="json")]}, **ports)


def workflow(plan: Plan, policy: TargetPolicy) -> dict[str, Any]:
    """The state document as the ASL's Prepare state builds it."""
    request = ScaleRequest(plan=plan, policy=policy.model_dump(mode="json"))
    return {"request": request.model_dump(mode="json"), "execution": "wf-1"}


def locked(ctl: Any, plan: Plan, policy: TargetPolicy) -> dict[str, Any]:
    """The state document after AcquireLock, as Apply receives it."""
    return run_step(ctl, "acquire_lock", workflow(plan, policy), NOW)


def scale_out_plan(desired: int = 4, current: int = 2, actuation: Actuation = Actuation.SET_CAPACITY) -> Plan:
    return Plan(
        action=Action.SCALE_OUT,
        target="llm-prod/AllTraffic",
        target_id=TARGET,
        kind="sagemaker_variant",
        reason="p95 latency high",
        decided_at=NOW,
        current_capacity=current,
        desired_capacity=desired,
        actuation=actuation,
    )


def test_a_scale_out_runs_through_every_step() -> None:
    # Given a target at 2 instances and a plan for 4
    policy = variant(warm_up={"count": 3, "concurrency": 2, "max_latency_ms": 100})
    ctl = published(policy, observed={TARGET: observed(2)})
    doc = workflow(scale_out_plan(), policy)
    # When the steps run in the ASL's order
    for step in ("acquire_lock", "apply", "check_capacity", "warm_up", "record_success"):
        doc = run_step(ctl, step, doc, NOW)
    # Then capacity changed once, the warm-up ran, the state remembers, the lock is free, the team is told
    assert ctl.capacity.changes == [(TARGET, "set_capacity", 4)]  # type: ignore[attr-defined]
    assert doc["capacity"]["ready"] is True
    assert doc["warm_up"]["invocations"] == 3
    assert doc["warm_up"]["failures"] == 0
    state = ctl.state.load(TARGET)
    assert (state.lock, state.last_known_capacity, state.last_scale_out_at, state.last_warm_at) == (
        None,
        4,
        NOW,
        NOW,
    )
    assert ctl.state.history(TARGET)[0].outcome == "succeeded"
    assert "scaled out to 4 instances" in doc["notification"]["subject"]
    assert "Warm-up passed: 3/3" in doc["notification"]["message"]


def test_a_lock_held_by_another_workflow_stops_the_second() -> None:
    ctl = published(observed={TARGET: observed(2)})
    lock = Lock(owner="wf-0", acquired_at=NOW, expires_at=NOW + timedelta(hours=1))
    ctl.state.states[TARGET] = TargetState(target_id=TARGET, lock=lock)  # type: ignore[attr-defined]
    with pytest.raises(LockHeld, match="wf-0"):
        run_step(ctl, "acquire_lock", workflow(scale_out_plan(), variant()), NOW)


def test_the_same_execution_may_take_its_lock_again_after_a_retry() -> None:
    ctl = published(observed={TARGET: observed(2)})
    doc = workflow(scale_out_plan(), variant())
    run_step(ctl, "acquire_lock", doc, NOW)
    assert run_step(ctl, "acquire_lock", doc, NOW + timedelta(seconds=5))["lock"]["owner"] == "wf-1"


@pytest.mark.parametrize(
    ("seen", "match"),
    [
        (observed(3), "has 3, not the 2"),
        (observed(2, "Updating"), "Updating"),
        (observed(2, floor=(1, 8)), "registered"),
    ],
    ids=["count changed", "endpoint updating", "now under Application Auto Scaling"],
)
def test_apply_refuses_a_plan_the_target_no_longer_matches(seen: ObservedCapacity, match: str) -> None:
    ctl = published(observed={TARGET: seen})
    with pytest.raises(StalePlan, match=match):
        run_step(ctl, "apply", workflow(scale_out_plan(), variant()), NOW)
    assert not ctl.capacity.changes  # type: ignore[attr-defined]


def test_a_raised_floor_is_ready_once_the_count_reaches_it_and_is_remembered() -> None:
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = locked(ctl, scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant())
    doc = run_step(ctl, "apply", doc, NOW)
    assert doc["applied"]["previous"] == 1
    assert doc["applied"]["new"] == 4
    doc = run_step(ctl, "check_capacity", doc, NOW)
    doc = run_step(ctl, "record_success", doc, NOW)
    state = ctl.state.load(TARGET)
    assert (state.raised_floor, state.original_floor) == (4, 1)


def test_waiting_past_the_deadline_is_an_in_service_timeout() -> None:
    capacity = MemoryCapacity({TARGET: observed(2)})
    ctl = published(observed=capacity.observed)
    doc = run_step(ctl, "apply", locked(ctl, scale_out_plan(), variant()), NOW)
    # SageMaker still shows the old count, as an endpoint stuck in Updating would
    ctl.capacity.observed[TARGET] = ObservedCapacity(desired=4, current=2, status="Updating")  # type: ignore[attr-defined]
    assert run_step(ctl, "check_capacity", doc, NOW + timedelta(seconds=600))["capacity"]["ready"] is False
    with pytest.raises(InServiceTimeout, match="Updating with 2 of 4 after 1200 s"):
        run_step(ctl, "check_capacity", doc, NOW + timedelta(seconds=1200))


def test_after_a_failure_the_floor_is_restored_and_the_lock_released() -> None:
    # Given a workflow that raised the floor and then failed
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = workflow(scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant())
    doc = run_step(ctl, "acquire_lock", doc, NOW)
    doc = run_step(ctl, "apply", doc, NOW)
    cause = json.dumps({"errorType": "InServiceTimeout", "errorMessage": "llm-prod/AllTraffic is Updating"})
    doc["error"] = {"Error": "InServiceTimeout", "Cause": cause}
    # When the Catch runs the safe-state step
    doc = run_step(ctl, "restore_safe_state", doc, NOW + timedelta(minutes=20))
    # Then MinCapacity is back, the lock is free, the cooldown started, and the notification says all that
    assert ctl.capacity.changes[-1] == (TARGET, "set_floor", 1)  # type: ignore[attr-defined]
    state = ctl.state.load(TARGET)
    assert state.lock is None
    assert state.last_scale_out_at == NOW + timedelta(minutes=20)
    assert ctl.state.history(TARGET)[0].outcome == "failed"
    message = doc["notification"]["message"]
    assert "MinCapacity restored to 1" in message
    assert "llm-prod/AllTraffic is Updating" in message
    assert "FAILED" in doc["notification"]["subject"]


def test_warm_up_rotates_target_models_and_reports_slow_answers() -> None:
    policy = variant(
        multi_model=True,
        warm_up={"count": 4, "concurrency": 2, "target_models": ["a", "b"], "max_latency_ms": 10},
    )
    ctl = published(policy, observed={TARGET: observed(2)})
    doc = run_step(ctl, "warm_up", workflow(scale_out_plan(), policy), NOW)
    invoker: FixedLatencyWarmUp = ctl.warm_up  # type: ignore[assignment]
    assert sorted(model for _, model in invoker.calls) == ["a", "a", "b", "b"]
    assert doc["warm_up"]["p95_ms"] == 50.0
    assert doc["warm_up"]["limit_ms"] == 10


def test_a_scale_in_sends_no_warm_up() -> None:
    plan = scale_out_plan(desired=1, current=2).model_copy(update={"action": Action.SCALE_IN})
    assert run_step(published(), "warm_up", workflow(plan, variant()), NOW)["warm_up"] is None


@pytest.mark.parametrize(
    ("step", "document", "match"),
    [
        ("resize", {"request": {}, "execution": "x"}, "unknown workflow step 'resize'"),
        ("apply", {"execution": "x"}, "request: Field required"),
        (
            "apply",
            {"request": {"plan": {"action": "explode"}, "policy": {}}, "execution": "x"},
            "request.plan",
        ),
    ],
    ids=["unknown step", "no request", "bad plan"],
)
def test_bad_workflow_input_is_named(step: str, document: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidEvent, match=match):
        run_step(memory_controller(), step, document, NOW)


PLANNED = {
    "targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod", "capacity": {"min": 1, "max": 8}}]
}


def test_an_operators_planned_scale_becomes_a_plan_with_a_hold() -> None:
    # Given an operator's request for a launch
    ctl = memory_controller(PLANNED, observed={TARGET: observed(2)})
    doc = {
        "request": {
            "target": "llm-prod/AllTraffic",
            "desired_capacity": 6,
            "reason": "launch",
            "hold_minutes": 180,
        },
        "execution": "launch-1",
    }
    # When the workflow resolves it and runs
    doc = run_step(ctl, "plan_requested", doc, NOW)
    plan = ScaleRequest.model_validate(doc["request"]).plan
    assert (plan.action, plan.current_capacity, plan.desired_capacity) == (Action.SCALE_OUT, 2, 6)
    assert "Planned by a person: launch" in plan.reason
    for step in ("acquire_lock", "apply", "check_capacity", "record_success"):
        doc = run_step(ctl, step, doc, NOW)
    # Then the count is set (no step limit: a person chose it) and the target is held for the window
    assert ctl.capacity.changes == [(TARGET, "set_capacity", 6)]  # type: ignore[attr-defined]
    floor = ctl.state.load(TARGET).event_floor(NOW)
    assert floor is not None
    assert (floor.capacity, floor.until) == (6, NOW + timedelta(minutes=180))
    # And no alarm sized it: what it added is not given back sooner than the policy's window
    assert ctl.state.load(TARGET).alarm_scale_out_decided_at is None


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        ({"target": "chat-prod", "desired_capacity": 2, "reason": "x"}, "not a managed SageMaker target"),
        ({"target": "llm-prod/AllTraffic", "desired_capacity": 20, "reason": "x"}, r"outside .* \[1, 8\]"),
        ({"target": "llm-prod/AllTraffic", "desired_capacity": 2, "reason": "x"}, "already has 2"),
        ({"target": "llm-prod/AllTraffic", "desired_capacity": 3}, "reason: Field required"),
        (
            {"target": "llm-prod/AllTraffic", "desired_capacity": 3, "reason": "x", "size": "L"},
            "size: unknown field 'size'",
        ),
    ],
    ids=["unknown target", "above max", "nothing to do", "no reason", "unknown field"],
)
def test_a_planned_scale_that_cannot_be_done_is_refused_by_name(request_: dict[str, Any], match: str) -> None:
    ctl = memory_controller(PLANNED, observed={TARGET: observed(2)})
    with pytest.raises(InvalidEvent, match=match):
        run_step(ctl, "plan_requested", {"request": request_, "execution": "x"}, NOW)
    assert not ctl.capacity.changes  # type: ignore[attr-defined]


# ---------------------------------------------------------------- retries, timeouts and races


def test_a_retried_apply_resumes_its_own_change_instead_of_calling_it_stale() -> None:
    # Given an apply that made its change, but whose answer Step Functions never got
    ctl = published(observed={TARGET: observed(2)})
    doc = run_step(ctl, "acquire_lock", workflow(scale_out_plan(), variant()), NOW)
    first = run_step(ctl, "apply", doc, NOW)
    # When the step runs again (Retry), with SageMaker already showing the new count
    again = run_step(ctl, "apply", doc, NOW + timedelta(seconds=5))
    # Then it reports the same change and does not make it twice
    assert again["applied"] == first["applied"]
    assert ctl.capacity.changes == [(TARGET, "set_capacity", 4)]  # type: ignore[attr-defined]


def test_a_floor_that_moved_since_the_decision_is_stale() -> None:
    plan = scale_out_plan(actuation=Actuation.RAISE_FLOOR).model_copy(update={"observed_floor": 1})
    ctl = published(observed={TARGET: observed(2, floor=(3, 8))})
    with pytest.raises(StalePlan, match="MinCapacity is 3, not the 1"):
        run_step(ctl, "apply", workflow(plan, variant()), NOW)


def test_a_plan_outside_the_policy_is_refused() -> None:
    ctl = published(observed={TARGET: observed(2)})
    with pytest.raises(PlanRefused, match=r"asks for 12, outside .* published capacity \[1, 8\]"):
        run_step(ctl, "apply", workflow(scale_out_plan(desired=12), variant()), NOW)


def test_restore_finds_a_change_step_functions_never_heard_about() -> None:
    # Given an Apply that raised the floor and then timed out in Step Functions ($.applied never written)
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = run_step(
        ctl, "acquire_lock", workflow(scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant()), NOW
    )
    run_step(ctl, "apply", doc, NOW)
    doc["error"] = {"Error": "States.Timeout", "Cause": ""}
    # When the Catch restores the safe state
    result = run_step(ctl, "restore_safe_state", doc, NOW)
    # Then the floor it raised is put back
    assert ctl.capacity.changes[-1] == (TARGET, "set_floor", 1)  # type: ignore[attr-defined]
    assert "MinCapacity restored to 1" in result["notification"]["message"]
    assert ctl.state.load(TARGET).applying is None


def test_a_floor_that_could_not_be_restored_is_remembered_for_scale_in() -> None:
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = run_step(
        ctl, "acquire_lock", workflow(scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant()), NOW
    )
    doc = run_step(ctl, "apply", doc, NOW)
    doc["error"] = {"Error": "InServiceTimeout", "Cause": ""}

    def refused(target: Any, floor: int) -> None:
        raise ActuationRejected("RegisterScalableTarget: AccessDenied")

    ctl.capacity.set_floor = refused  # type: ignore[method-assign]
    run_step(ctl, "restore_safe_state", doc, NOW)
    state = ctl.state.load(TARGET)
    assert (state.raised_floor, state.original_floor, state.lock) == (4, 1, None)


@pytest.mark.parametrize(
    ("seen", "match"),
    [
        (ObservedCapacity(desired=2, current=2, status="InService"), "rolled back"),
        (ObservedCapacity(desired=4, current=2, status="RollingBack"), "went to RollingBack"),
    ],
    ids=["InService at the old count", "rolling back"],
)
def test_an_update_sagemaker_undid_fails_at_once(seen: ObservedCapacity, match: str) -> None:
    ctl = published(observed={TARGET: observed(2)})
    doc = run_step(ctl, "apply", locked(ctl, scale_out_plan(), variant()), NOW)
    ctl.capacity.observed[TARGET] = seen  # type: ignore[attr-defined]
    with pytest.raises(ActuationRejected, match=match):
        run_step(ctl, "check_capacity", doc, NOW + timedelta(seconds=30))


def test_a_superseded_plan_releases_the_lock_quietly() -> None:
    ctl = published(observed={TARGET: observed(3)})
    doc = run_step(ctl, "acquire_lock", workflow(scale_out_plan(), variant()), NOW)
    doc["error"] = {"Error": "StalePlan", "Cause": json.dumps({"errorMessage": "has 3, not the 2"})}
    run_step(ctl, "release_superseded", doc, NOW)
    state = ctl.state.load(TARGET)
    assert (state.lock, state.last_scale_out_at, state.last_known_capacity) == (None, None, None)
    assert ctl.state.history(TARGET)[0].outcome == "superseded"


def test_apply_changes_nothing_without_the_lock() -> None:
    # Given a late Apply whose workflow no longer holds the lock (it expired, another took it)
    ctl = published(observed={TARGET: observed(2)})
    with pytest.raises(LockHeld, match="no longer holds the lock"):
        run_step(ctl, "apply", workflow(scale_out_plan(), variant()), NOW)
    assert not ctl.capacity.changes  # type: ignore[attr-defined]
    assert ctl.state.load(TARGET).applying is None


def test_a_dead_workflows_change_is_not_inherited_by_the_next() -> None:
    # Given wf-1 applied 2 -> 4 and died with its change recorded; its lock expired
    ctl = published(observed={TARGET: observed(2)})
    run_step(ctl, "apply", locked(ctl, scale_out_plan(), variant()), NOW)
    assert ctl.state.load(TARGET).applying is not None
    # When wf-2 takes the lock two hours later
    later = NOW + timedelta(hours=2)
    second = workflow(scale_out_plan(desired=6, current=4), variant()) | {"execution": "wf-2"}
    run_step(ctl, "acquire_lock", second, later)
    # Then wf-1's change is not taken for wf-2's
    assert ctl.state.load(TARGET).applying is None
    result = run_step(ctl, "apply", second, later)
    assert (result["applied"]["previous"], result["applied"]["new"]) == (4, 6)


def test_after_a_throttled_floor_change_the_state_follows_what_aws_shows() -> None:
    # Given a raised floor 4 (from 1) being lowered to 3, and Application Auto Scaling throttling the call
    ctl = published(observed={TARGET: observed(4, floor=(4, 8))})
    ctl.state.states[TARGET] = TargetState(target_id=TARGET, raised_floor=4, original_floor=1)  # type: ignore[attr-defined]
    plan = scale_out_plan(desired=3, current=4, actuation=Actuation.RESTORE_FLOOR).model_copy(
        update={"action": Action.SCALE_IN, "observed_floor": 4}
    )
    doc = locked(ctl, plan, variant())

    def throttled(target: Any, floor: int) -> None:
        raise TransientAwsError("RegisterScalableTarget: ThrottlingException")

    ctl.capacity.set_floor = throttled  # type: ignore[method-assign]
    with pytest.raises(TransientAwsError):
        run_step(ctl, "apply", doc, NOW)
    doc["error"] = {"Error": "TransientAwsError", "Cause": ""}
    run_step(ctl, "restore_safe_state", doc, NOW)
    # Then the state records the floor AWS still has (4), not the one that was meant (3)
    state = ctl.state.load(TARGET)
    assert (state.raised_floor, state.original_floor, state.applying) == (4, 1, None)


# ---------------------------------------------------------------- the input is not the authority


def forged(plan: Plan, **policy_overrides: Any) -> dict[str, Any]:
    """A state document as someone allowed to start an execution could write it: plan and policy edited."""
    return workflow(plan, variant(**policy_overrides))


@pytest.mark.parametrize(
    ("plan", "published_policy", "seen", "match"),
    [
        (
            scale_out_plan(desired=50),
            variant(),
            observed(2),
            r"asks for 50, outside .* published capacity \[1, 8\]",
        ),
        (scale_out_plan(), variant(paused=True), observed(2), "is paused in the published policy"),
        (scale_out_plan(), variant(advisory=True), observed(2), "is advisory in the published policy"),
        (
            scale_out_plan(desired=6, actuation=Actuation.RAISE_FLOOR),
            variant(),
            observed(2, floor=(1, 5)),
            "above the Application Auto Scaling MaxCapacity 5",
        ),
        (
            scale_out_plan().model_copy(update={"hold_until": NOW + timedelta(days=30)}),
            variant(),
            observed(2),
            "more than 7 days",
        ),
    ],
    ids=["above the published max", "paused", "advisory", "floor above MaxCapacity", "a month's hold"],
)
def test_apply_holds_the_plan_to_the_published_policy_not_the_one_in_its_input(
    plan: Plan, published_policy: TargetPolicy, seen: ObservedCapacity, match: str
) -> None:
    # Given an execution whose input carries a policy that allows anything (max 64, not paused, not advisory)
    ctl = published(published_policy, observed={TARGET: seen})
    doc = run_step(ctl, "acquire_lock", forged(plan, capacity={"min": 1, "max": 64}), NOW)
    # When it applies, it is refused by what the published policy says, and nothing changes
    with pytest.raises(PlanRefused, match=match):
        run_step(ctl, "apply", doc, NOW)
    assert not ctl.capacity.changes  # type: ignore[attr-defined]
    assert ctl.state.load(TARGET).applying is None


def test_a_target_no_longer_in_the_published_policy_is_refused() -> None:
    plan = Plan(
        action=Action.SCALE_OUT,
        target="llama3-8b-ic",
        target_id="inference-component/llama3-8b-ic",
        kind="inference_component",
        reason="x",
        decided_at=NOW,
        current_capacity=1,
        desired_capacity=2,
        actuation=Actuation.SET_CAPACITY,
    )
    ctl = published(observed={plan.target_id: observed(1)})  # publishes llm-prod only
    with pytest.raises(PlanRefused, match="llama3-8b-ic is not a managed SageMaker target"):
        run_step(ctl, "acquire_lock", workflow(plan, component()), NOW)
    assert not ctl.capacity.changes  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "tagged", [False, True], ids=["untagged: refused", "tagged for management: defaults"]
)
def test_a_variant_no_document_names_is_changed_only_if_its_endpoint_carries_the_management_tag(
    tagged: bool,
) -> None:
    # Given an input that raises the floor of someone else's autoscaled endpoint, which the document does not name
    # (IAM cannot narrow Application Auto Scaling floors to tagged endpoints)
    target_id = "variant/someone-elses/AllTraffic"
    plan = scale_out_plan(actuation=Actuation.RAISE_FLOOR).model_copy(
        update={"target": "someone-elses/AllTraffic", "target_id": target_id, "observed_floor": 1}
    )
    ctl = published(observed={target_id: observed(2, floor=(1, 8))})
    if tagged:
        ctl.endpoints.tagged.append(("someone-elses", "AllTraffic"))  # type: ignore[attr-defined]
    doc = workflow(plan, variant(endpoint_name="someone-elses"))
    if not tagged:
        # Then nothing of it is touched: not even its lock is taken
        with pytest.raises(PlanRefused, match="someone-elses/AllTraffic is not a managed SageMaker target"):
            run_step(ctl, "acquire_lock", doc, NOW)
        assert not ctl.capacity.changes  # type: ignore[attr-defined]
        return
    run_step(ctl, "apply", run_step(ctl, "acquire_lock", doc, NOW), NOW)
    assert ctl.capacity.changes == [(target_id, "set_floor", 4)]  # type: ignore[attr-defined]


def test_a_warm_up_sends_what_the_published_policy_says() -> None:
    # Given an input that asks for 100 warm-up requests, where the published policy says 2
    ctl = published(variant(warm_up={"count": 2, "concurrency": 1}), observed={TARGET: observed(2)})
    doc = forged(scale_out_plan(), warm_up={"count": 100, "concurrency": 16})
    assert run_step(ctl, "warm_up", doc, NOW)["warm_up"]["invocations"] == 2


def test_a_policy_for_another_target_than_the_plans_is_invalid_input() -> None:
    doc = workflow(scale_out_plan(), variant())
    doc["request"]["policy"] = variant(endpoint_name="chat-prod").model_dump(mode="json")
    with pytest.raises(InvalidEvent, match="the plan is for variant/llm-prod/AllTraffic but the policy is"):
        run_step(published(), "apply", doc, NOW)


def test_restore_takes_the_change_from_the_state_not_from_the_input() -> None:
    # Given a raised floor 1 -> 4, and an input that claims it was raised from 50
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = locked(ctl, scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant())
    doc = run_step(ctl, "apply", doc, NOW)
    doc["applied"]["previous"] = 50
    doc["error"] = {"Error": "InServiceTimeout", "Cause": ""}
    # When the safe state is restored, the floor goes back to what the state recorded
    run_step(ctl, "restore_safe_state", doc, NOW)
    assert ctl.capacity.changes[-1] == (TARGET, "set_floor", 1)  # type: ignore[attr-defined]


def test_without_the_state_the_input_may_restore_only_a_floor_the_policy_allows() -> None:
    # Given a failure where the state table cannot be read, and an input naming a floor of 50
    ctl = published(observed={TARGET: observed(4, floor=(4, 8))})
    doc = locked(ctl, scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant())
    doc["applied"] = {"actuation": "raise_floor", "previous": 50, "new": 4, "applied_at": NOW.isoformat()}
    doc["error"] = {"Error": "TransientAwsError", "Cause": ""}

    def unreadable(target_id: str) -> Any:
        raise TransientAwsError("DynamoDB GetItem: ServiceUnavailable")

    ctl.state.load = unreadable  # type: ignore[method-assign]
    result = run_step(ctl, "restore_safe_state", doc, NOW)
    # Then nothing is set, and the notification says why
    assert not ctl.capacity.changes  # type: ignore[attr-defined]
    assert (
        "a floor of 50 is outside llm-prod/AllTraffic's published capacity [1, 8]"
        in result["notification"]["message"]
    )


def test_a_failure_after_the_capacity_served_keeps_the_floor() -> None:
    # Given a raised floor that was serving when the record step failed
    ctl = published(observed={TARGET: observed(2, floor=(1, 8))})
    doc = locked(ctl, scale_out_plan(actuation=Actuation.RAISE_FLOOR), variant())
    doc = run_step(ctl, "apply", doc, NOW)
    ctl.capacity.observed[TARGET] = observed(4, floor=(4, 8))  # type: ignore[attr-defined]
    doc = run_step(ctl, "check_capacity", doc, NOW + timedelta(minutes=6))
    assert doc["capacity"]["ready"] is True
    doc["error"] = {"Error": "TransientAwsError", "Cause": "DynamoDB: ServiceUnavailable"}
    # When the safe state is restored, the floor stays, and stays remembered as raised for scale-in
    result = run_step(ctl, "restore_safe_state", doc, NOW + timedelta(minutes=7))
    assert ctl.capacity.changes == [(TARGET, "set_floor", 4)]  # type: ignore[attr-defined]
    assert "MinCapacity stays at 4: the capacity was serving" in result["notification"]["message"]
    state = ctl.state.load(TARGET)
    assert (state.raised_floor, state.original_floor, state.lock) == (4, 1, None)


def test_the_wait_between_checks_is_the_published_policys_not_the_inputs() -> None:
    # Given an input that asks for a check every 5 s, where the published policy says 60
    ctl = published(variant(workflow={"poll_interval_seconds": 60}), observed={TARGET: observed(2)})
    doc = run_step(
        ctl, "apply", locked(ctl, scale_out_plan(), variant(workflow={"poll_interval_seconds": 5})), NOW
    )
    ctl.capacity.observed[TARGET] = ObservedCapacity(desired=4, current=2, status="Updating")  # type: ignore[attr-defined]
    # Then the check says to wait the published 60 s (WaitForCapacity reads $.capacity.poll_seconds)
    assert run_step(ctl, "check_capacity", doc, NOW)["capacity"]["poll_seconds"] == 60


def test_a_failure_step_that_cannot_read_its_input_still_gives_back_the_routers_lock() -> None:
    # Given the lock the router took for execution wf-1, and a state document whose policy cannot be read
    ctl = published(observed={TARGET: observed(2)})
    doc = locked(ctl, scale_out_plan(), variant())
    doc["request"]["policy"] = {"type": "sagemaker_variant"}  # no endpoint: not a policy
    # When the failure step runs, Then it reports the unreadable input and gives the lock back
    result = run_step(ctl, "restore_safe_state", doc, NOW)
    assert "could not read its input" in result["notification"]["message"]
    assert ctl.state.load(TARGET).lock is None


def test_a_target_paused_since_the_decision_is_not_changed() -> None:
    # Given a scale-out under way when an operator pauses the target
    ctl = published(observed={TARGET: observed(2)})
    doc = run_step(ctl, "acquire_lock", workflow(scale_out_plan(), variant()), NOW)
    pause = PauseRecord(by="arn:aws:iam::123456789012:user/ops", at=NOW, reason="load test")
    ctl.state.update(TARGET, lambda s: s.model_copy(update={"pause": pause}))
    # When it comes to apply, it is refused by name and nothing is changed
    with pytest.raises(
        PlanRefused, match=r"was paused by arn:aws:iam::123456789012:user/ops .* \(load test\)"
    ):
        run_step(ctl, "apply", doc, NOW)
    assert ctl.capacity.changes == []  # type: ignore[attr-defined]


def test_a_failed_or_advisory_scale_out_forgets_the_alarm_sized_one_before() -> None:
    # Given a target whose last successful scale-out an alarm sized
    remembered = TargetState(target_id=TARGET, alarm_scale_out_decided_at=NOW - timedelta(hours=3))
    # After a failed scale-out, or one advisory mode only reported, nothing was added to give back sooner
    failed = after_failure(remembered, True, None, 4, None, NOW)
    assert (failed.last_scale_out_at, failed.alarm_scale_out_decided_at) == (NOW, None)
    advisory = Plan(
        action=Action.SCALE_OUT,
        target="llm-prod/AllTraffic",
        target_id=TARGET,
        kind=TargetKind.SAGEMAKER_VARIANT,
        reason="r",
        decided_at=NOW,
        advisory=True,
    )
    reported = remember_decision(remembered, advisory)
    assert (reported.last_scale_out_at, reported.alarm_scale_out_decided_at) == (NOW, None)
