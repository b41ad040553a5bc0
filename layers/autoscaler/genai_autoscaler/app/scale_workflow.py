"""The steps of the scale workflow (statemachines/scale.asl.json), one function per Task state.

Each step receives the execution's state document and returns what the ASL stores under its ResultPath:
`$.lock`, `$.applied`, `$.capacity`, `$.warm_up`, `$.notification`. Errors are raised as the controller's
exceptions, whose class names are what the ASL's Retry and Catch match.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genai_autoscaler.app.ports import (
    CapacityActuator,
    EndpointDirectory,
    Notifier,
    PolicySource,
    StateStore,
    WarmUpInvoker,
)
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.app.workflow_state import ExecutionState, ScaleRequest
from genai_autoscaler.domain import notifications
from genai_autoscaler.domain.decision import plan_requested_scale
from genai_autoscaler.domain.guardrails import MAX_HOLD, capacity_problems, floor_problems, pause_problems
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, SageMakerPolicy, TargetPolicy
from genai_autoscaler.domain.state import (
    ActionRecord,
    AppliedChange,
    EventFloor,
    ObservedCapacity,
    TargetState,
    acquire_lock,
    after_capacity_change,
    after_failure,
    applying_by,
    release_lock,
)
from genai_autoscaler.domain.targets import MANAGEMENT_TAG
from genai_autoscaler.domain.warm_up import WarmUpReport, summarize
from genai_autoscaler.errors import (
    ActuationRejected,
    AutoscalerError,
    CaughtError,
    FloorHeld,
    InServiceTimeout,
    InvalidEvent,
    LockHeld,
    PlanRefused,
    StalePlan,
    TargetNotFound,
    problems_text,
    validation_problems,
)

# Statuses after which an update will not complete (DescribeEndpoint and DescribeInferenceComponent).
FAILED_STATUSES = frozenset({"Failed", "RollingBack", "UpdateRollbackFailed", "OutOfService", "Deleting"})


class ScaleWorkflowPorts(Protocol):
    """What the scale workflow's steps use."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def capacity(self) -> CapacityActuator: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def warm_up(self) -> WarmUpInvoker: ...

    @property
    def endpoints(self) -> EndpointDirectory: ...

    @property
    def notifier(self) -> Notifier:
        """For the chat card of what a step reports (the state machine publishes the e-mail)."""
        ...


class CapacityCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    ready: bool
    status: str
    desired: int
    current: int
    poll_seconds: int = 0  # until the next check (WaitForCapacity), as the published policy says


class WorkflowState(ExecutionState):
    """The scale execution's state document, as the ASL builds it."""

    WORKFLOW = "scale"
    FAILURE_STEP = "restore_safe_state"

    applied: AppliedChange | None = None
    deadline: datetime | None = None
    capacity: CapacityCheck | None = None
    warm_up: WarmUpReport | None = None
    warm_up_error: CaughtError | None = None

    @property
    def policy(self) -> SageMakerPolicy:
        policy: TargetPolicy = self.request.target_policy
        assert not isinstance(policy, BedrockModelPolicy)  # policy_checked, as the document was parsed
        return policy

    def policy_checked(self) -> None:
        if isinstance(self.request.target_policy, BedrockModelPolicy):
            raise ValueError(
                f"{self.request.target_policy.name} is a Bedrock model: the scale workflow does not apply"
            )


class PlannedScale(BaseModel):
    """What an operator starts the workflow with for a planned scale event (a launch, a batch window)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1, description="The target's name (or id) in the policy document.")
    desired_capacity: int = Field(ge=0)
    reason: str = Field(min_length=1, description="Said in the notification and the history.")
    hold_minutes: int = Field(
        0, ge=0, le=MAX_HOLD // timedelta(minutes=1), description="Leave the target alone this long after."
    )


def plan_requested(ctl: ScaleWorkflowPorts, document: Any, now: datetime) -> dict[str, Any]:
    """Turn an operator's PlannedScale into the ScaleRequest the rest of the workflow runs.

    Raises InvalidEvent naming what is wrong: an unknown target, a count outside [min, max], a bad field.
    """
    try:
        request = PlannedScale.model_validate(document.get("request") if isinstance(document, dict) else None)
    except ValidationError as exc:
        problems = problems_text(validation_problems(exc, whole="input"))
        raise InvalidEvent(
            f"a planned scale needs {{target, desired_capacity, reason}}: {problems}"
        ) from None
    policies = ctl.settings.effective_policies(ctl.policies.load())
    policy = policies.by_name(request.target) or policies.find(request.target)
    if policy is None or isinstance(policy, BedrockModelPolicy):
        managed = ", ".join(t.name for t in policies.targets if not isinstance(t, BedrockModelPolicy))
        raise InvalidEvent(
            f"{request.target!r} is not a managed SageMaker target; managed: {managed or 'none'}"
        )
    observed = _observe(ctl, policy)
    if not observed.in_service:
        raise StalePlan(f"{policy.name} is {observed.status}; start the planned scale once it is InService")
    hold_until = now + timedelta(minutes=request.hold_minutes) if request.hold_minutes else None
    if hold_until is not None:
        _hold_floor(ctl, policy, request, hold_until, observed, now)
    try:
        plan = plan_requested_scale(
            policy, observed, request.desired_capacity, request.reason, hold_until, now
        )
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None
    return {"request": ScaleRequest(plan=plan, policy=policy.model_dump(mode="json")).model_dump(mode="json")}


def _hold_floor(
    ctl: ScaleWorkflowPorts,
    policy: SageMakerPolicy,
    request: PlannedScale,
    until: datetime,
    observed: ObservedCapacity,
    now: datetime,
) -> None:
    """Hold the event's capacity as a floor for its window, written before anything is scaled: however this
    execution ends (the lock taken by another workflow, a failure), the controller keeps the target at the floor
    or above until `until`. Raises FloorHeld when the target already has the capacity (nothing to scale)."""
    floor = EventFloor(capacity=request.desired_capacity, until=until, reason=request.reason)
    ctl.state.update(policy.target_id, lambda state: state.with_event_floor(floor, now))
    # Under Application Auto Scaling the floor is its MinCapacity, which its own policies may scale down to.
    scalable = observed.scalable_target
    has = observed.desired if scalable is None else scalable.min_capacity
    if request.desired_capacity <= has:
        raise FloorHeld(
            f"{policy.name} has {has}{'' if scalable is None else ' as its MinCapacity'}, at least the "
            f"{request.desired_capacity} asked: held at {request.desired_capacity} or more until "
            f"{until.isoformat()} ({request.reason}); nothing to scale"
        )


def _published(ctl: ScaleWorkflowPorts, wf: WorkflowState) -> SageMakerPolicy:
    """The target's policy as published now, which a step that spends decides by (domain/guardrails.py).

    A variant neither the document nor the stack names has the defaults only if its endpoint carries the
    management tag, read from SageMaker here: not from the input, and not left to IAM, which cannot narrow the
    Application Auto Scaling floor to tagged endpoints.
    Raises PlanRefused when the target is no longer managed or the document cannot be used.
    """
    target_id = wf.plan.target_id
    try:
        raw = ctl.policies.load()
        policy = ctl.settings.policy_of(raw, target_id)
        if policy is None and target_id.startswith("variant/"):
            tagged = ctl.endpoints.is_tagged(target_id.split("/")[1], MANAGEMENT_TAG)
            policy = ctl.settings.policy_of(raw, target_id, tagged_variant=tagged)
    except PolicyError as exc:
        raise PlanRefused(f"the published policy document is invalid, so nothing is changed: {exc}") from None
    if policy is None or isinstance(policy, BedrockModelPolicy):
        raise PlanRefused(f"{wf.plan.target} is not a managed SageMaker target in the published policy")
    return policy


def _observe(ctl: ScaleWorkflowPorts, policy: SageMakerPolicy) -> ObservedCapacity:
    observed = ctl.capacity.observe(policy)
    if observed is None:
        raise TargetNotFound(f"{policy.name} no longer exists")
    return observed


def acquire(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """Take the target's lock for this execution, for as long as the published policy says; raises LockHeld
    when another workflow has it."""
    ttl = timedelta(seconds=_published(ctl, wf).workflow.lock_ttl_seconds)
    state = ctl.state.update(wf.plan.target_id, lambda s: acquire_lock(s, wf.execution, now, ttl))
    assert state.lock is not None
    return {"lock": {"owner": state.lock.owner, "expires_at": state.lock.expires_at.isoformat()}}


def apply(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """Make the plan's change, after checking it against the policy and the target as the plan saw it.

    The change is written to the state before it is made: a retried step (or one Step Functions gave up on
    while Lambda went on) finds it, and resumes it instead of mistaking its own change for someone else's.
    Returns the AppliedChange (None for a warm-up) and the deadline for reaching InService.
    Raises StalePlan when the target moved since the decision, PlanRefused for a plan the published policy
    does not allow (whatever policy the execution's input carries).
    """
    plan, policy = wf.plan, _published(ctl, wf)
    deadline = {"deadline": (now + timedelta(seconds=policy.workflow.in_service_timeout_seconds)).isoformat()}
    observed = _observe(ctl, policy)
    remembered = ctl.state.load(plan.target_id)
    started = applying_by(remembered, wf.execution)
    if started is not None and _already_made(started, observed):
        return {"applied": started.model_dump(mode="json"), **deadline}
    if not observed.in_service:
        raise StalePlan(f"{policy.name} is {observed.status}, not InService")
    refused = capacity_problems(plan, policy, observed, now) + pause_problems(remembered)
    if refused:
        raise PlanRefused(f"{'; '.join(refused)}: nothing was changed")
    if plan.action is Action.WARM:
        return {"applied": None, **deadline}
    desired, actuation = plan.desired_capacity, plan.actuation
    if desired is None or actuation is None:
        raise InvalidEvent(f"a {plan.action} plan needs desired_capacity and actuation")

    if actuation is Actuation.SET_CAPACITY:
        if observed.scalable_target is not None:
            raise StalePlan(f"{policy.name} was registered with Application Auto Scaling after the decision")
        previous = started.previous if started else observed.desired
        if observed.desired != (started.previous if started else plan.current_capacity):
            raise StalePlan(
                f"{policy.name} has {observed.desired}, not the {plan.current_capacity} the decision saw"
            )
    else:
        if observed.scalable_target is None:
            raise StalePlan(f"{policy.name} is no longer registered with Application Auto Scaling")
        floor = observed.scalable_target.min_capacity
        previous = started.previous if started else floor
        if floor != previous or (started is None and plan.observed_floor not in (None, floor)):
            raise StalePlan(
                f"{policy.name}'s MinCapacity is {floor}, not the {plan.observed_floor} the decision saw"
            )
    change = AppliedChange(actuation=actuation.value, previous=previous, new=desired, applied_at=now)

    def intend(state: TargetState) -> TargetState:
        # Only the lock holder changes capacity: a late Apply whose workflow has moved on must not.
        if state.lock is None or state.lock.owner != wf.execution or not state.lock.held_at(now):
            raise LockHeld(
                f"{wf.execution} no longer holds the lock of {plan.target_id}; nothing was changed"
            )
        return state.model_copy(update={"applying": change})

    ctl.state.update(plan.target_id, intend)
    try:
        if actuation is Actuation.SET_CAPACITY:
            ctl.capacity.set_capacity(policy, desired)
        else:
            ctl.capacity.set_floor(policy, desired)
    except (ActuationRejected, TargetNotFound):
        # AWS said no: nothing was changed. (After a transient error it is not known, so the intent stays.)
        ctl.state.update(plan.target_id, lambda state: state.model_copy(update={"applying": None}))
        raise
    return {"applied": change.model_dump(mode="json"), **deadline}


def _already_made(change: AppliedChange, observed: ObservedCapacity) -> bool:
    """Whether SageMaker (or Application Auto Scaling) already shows the change as requested."""
    if change.actuation == Actuation.SET_CAPACITY:
        return observed.desired == change.new
    return observed.scalable_target is not None and observed.scalable_target.min_capacity == change.new


def check_capacity(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """Whether the change is serving: InService with the new count (or at least the new floor).

    Raises ActuationRejected if SageMaker reports the update failed, InServiceTimeout past the deadline.
    """
    policy, applied = wf.policy, wf.applied
    observed = _observe(ctl, policy)
    if observed.status in FAILED_STATUSES:
        raise ActuationRejected(f"{policy.name} went to {observed.status} while scaling")
    rolled_back = applied is not None and applied.actuation == Actuation.SET_CAPACITY and observed.in_service
    if rolled_back and applied is not None and observed.desired != applied.new:
        raise ActuationRejected(
            f"{policy.name} is InService with {observed.desired}, not {applied.new}: the update was rolled back"
        )
    if applied is None or applied.actuation == Actuation.RESTORE_FLOOR:
        ready = observed.in_service
    elif applied.actuation == Actuation.RAISE_FLOOR:
        ready = observed.in_service and observed.current >= applied.new
    else:
        ready = observed.in_service and observed.current == applied.new
    if not ready and wf.deadline is not None and now >= wf.deadline:
        raise InServiceTimeout(
            f"{policy.name} is {observed.status} with {observed.current} of {observed.desired} after "
            f"{policy.workflow.in_service_timeout_seconds} s"
        )
    check = CapacityCheck(
        ready=ready,
        status=observed.status,
        desired=observed.desired,
        current=observed.current,
        poll_seconds=0 if ready else _poll_seconds(ctl, wf),
    )
    return {"capacity": check.model_dump()}


def _poll_seconds(ctl: ScaleWorkflowPorts, wf: WorkflowState) -> int:
    """The published policy's wait between checks; the input's when the published policy cannot be read or no
    longer names the target (only a wait hangs on it: a scale already made is not abandoned for it)."""
    try:
        return _published(ctl, wf).workflow.poll_interval_seconds
    except AutoscalerError:
        return wf.policy.workflow.poll_interval_seconds


def warm_up(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """Send the policy's warm-up invocations; returns the WarmUpReport (None when there is nothing to warm).

    A failed warm-up is reported, not raised: the capacity is serving, and undoing it would be worse.
    """
    plan, policy = wf.plan, _published(ctl, wf)
    settings = policy.warm_up
    if not settings.enabled or plan.action is Action.SCALE_IN or policy.paused or policy.advisory:
        return {"warm_up": None}
    body = (
        settings.payload.encode()
        if isinstance(settings.payload, str)
        else json.dumps(settings.payload).encode()
    )
    models: list[str | None] = list(settings.target_models) or [None]
    targets = [models[i % len(models)] for i in range(settings.count)]

    def one(model: str | None) -> float | str:
        try:
            return ctl.warm_up.invoke(policy, body, settings.content_type, model)
        except AutoscalerError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        results = list(pool.map(one, targets))
    latencies = [r for r in results if isinstance(r, float)]
    errors = [r for r in results if isinstance(r, str)]
    return {"warm_up": summarize(latencies, errors, settings.max_latency_ms).model_dump(mode="json")}


def _record(
    plan: Plan,
    now: datetime,
    outcome: str,
    execution: str,
    change: AppliedChange | None,
    error: str | None = None,
) -> ActionRecord:
    return ActionRecord(
        target_id=plan.target_id,
        at=now,
        action=plan.action.value,
        outcome=outcome,
        reason=plan.reason,
        from_capacity=change.previous if change else plan.current_capacity,
        to_capacity=change.new if change else plan.desired_capacity,
        execution=execution,
        error=error,
    )


def record_success(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """Start the cooldown, remember the new baseline, release the lock; returns the notification."""
    plan, change = wf.plan, wf.applied

    def succeeded(state: Any) -> Any:
        if change is not None:
            state = after_capacity_change(
                state, change, plan.action is Action.SCALE_OUT, now, plan.decided_at, plan.signal is not None
            )
        if plan.action is Action.WARM or wf.warm_up is not None:
            state = state.model_copy(update={"last_warm_attempt_at": now})  # the warm-up cooldown starts
        if wf.warm_up is not None and wf.warm_up.failures < wf.warm_up.invocations:
            state = state.model_copy(update={"last_warm_at": now})  # the model answered: it is warm
        return release_lock(state, wf.execution)

    ctl.state.update(plan.target_id, succeeded, _record(plan, now, "succeeded", wf.execution, change))
    warm_up_problem = f"{wf.warm_up_error.error}: {wf.warm_up_error.message}" if wf.warm_up_error else None
    notification = notifications.for_success(plan, wf.warm_up, wf.execution, warm_up_problem)
    return {"notification": notification.model_dump()}


def restore_safe_state(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """After a failure: put back what can be put back, start the cooldown, release the lock, say what happened.

    A raised Application Auto Scaling floor is restored, unless the capacity it asked for was already serving
    (the failure came after: warm-up, the record) and would be taken away again. A count set directly is left
    to SageMaker, which rolls a failed update back itself and refuses changes while an update is in progress.
    What was changed is read from the state, where Apply wrote it before making it; the input's word for it
    is taken only when the state cannot be read, and then only for a floor the published policy allows.
    Never raises: whatever it could not do is said in the notification.
    """
    plan, policy = wf.plan, wf.policy
    error = wf.error or CaughtError.model_validate({"Error": "Unknown", "Cause": ""})
    safe: list[str] = []
    try:
        # Also a change Step Functions did not hear back about (a timed-out Apply).
        change, trusted = applying_by(ctl.state.load(plan.target_id), wf.execution), True
    except AutoscalerError as exc:
        change, trusted = wf.applied, False
        safe.append(f"the state could not be read ({exc})")
    floor: int | None = None
    if change is None and wf.applied is not None and trusted:
        safe.append(
            "its lock had passed to another workflow, which now has the say over what this one changed"
        )
    elif change is None:
        safe.append("nothing had been changed")
    elif change.actuation == Actuation.RAISE_FLOOR:
        floor = change.new
        served = wf.capacity is not None and wf.capacity.ready
        refused = [] if trusted or served else _floor_refused(ctl, wf, change.previous)
        if served:
            safe.append(
                f"MinCapacity stays at {change.new}: the capacity was serving, and the next scale-in lowers it"
            )
        elif refused:
            safe.append(f"MinCapacity stays at {change.new}, not restored: {'; '.join(refused)}")
        else:
            try:
                ctl.capacity.set_floor(policy, change.previous)
                floor = change.previous
                safe.append(f"Application Auto Scaling MinCapacity restored to {change.previous}")
            except AutoscalerError as exc:
                safe.append(
                    f"could NOT restore MinCapacity to {change.previous} ({exc}); it stays {change.new}, and "
                    "the next scale-in lowers it"
                )
    elif change.actuation == Actuation.SET_CAPACITY:
        safe.append(
            f"the requested count {change.new} was left to SageMaker, which rolls back a failed update itself"
        )
    else:
        floor = change.new
        safe.append(f"MinCapacity stays at {change.new}")
    observed_capacity = None
    try:
        observed = ctl.capacity.observe(policy)
        if observed is not None:
            # What this workflow changed becomes the baseline; a count it never touched (someone else's
            # change, seen as a stale plan) must stay visible as a manual change to the next decision.
            observed_capacity = observed.desired if change is not None else None
            if observed.scalable_target is not None and floor is not None:
                floor = observed.scalable_target.min_capacity  # what AWS shows, not what was meant
            safe.append(f"{policy.name} is {observed.status} with {observed.current} of {observed.desired}")
    except AutoscalerError as exc:
        safe.append(f"its capacity could not be read ({exc})")

    def failed(state: Any) -> Any:
        state = after_failure(state, plan.action is Action.SCALE_OUT, change, observed_capacity, floor, now)
        return release_lock(state, wf.execution)

    summary = "; ".join(safe)
    try:
        ctl.state.update(
            plan.target_id,
            failed,
            _record(plan, now, "failed", wf.execution, change, f"{error.error}: {error.message}"),
        )
    except AutoscalerError as exc:
        summary += f"; the lock could NOT be released ({exc}): it expires on its own"
    notification = notifications.for_failure(plan, error.error, error.message, summary, wf.execution)
    return {"notification": notification.model_dump()}


def _floor_refused(ctl: ScaleWorkflowPorts, wf: WorkflowState, floor: int) -> list[str]:
    """Why the floor the input names may not be set: the published policy does not allow it, or cannot be read."""
    try:
        return floor_problems(_published(ctl, wf), floor)
    except AutoscalerError as exc:
        return [f"the published policy could not be read to check it ({exc})"]


def release_superseded(ctl: ScaleWorkflowPorts, wf: WorkflowState, now: datetime) -> dict[str, Any]:
    """The target moved between the decision and Apply (another scale, a person): nothing was changed, so
    this ends quietly. The lock is released; no cooldown starts; the next decision sees the target as it is."""
    plan = wf.plan
    reason = wf.error.message if wf.error else "the target changed since the decision"
    record = ActionRecord(
        target_id=plan.target_id,
        at=now,
        action=plan.action.value,
        outcome="superseded",
        reason=reason,
        from_capacity=plan.current_capacity,
        to_capacity=plan.desired_capacity,
        execution=wf.execution,
    )
    ctl.state.update(plan.target_id, lambda state: release_lock(state, wf.execution), record)
    return {"superseded": reason}


STEPS = {
    "acquire_lock": acquire,
    "apply": apply,
    "check_capacity": check_capacity,
    "warm_up": warm_up,
    "record_success": record_success,
    "restore_safe_state": restore_safe_state,
    "release_superseded": release_superseded,
}


def run_step(ctl: ScaleWorkflowPorts, step: str, document: Any, now: datetime) -> dict[str, Any]:
    """Run one named step; returns the execution's state document with the step's result merged in."""
    if step == "plan_requested":
        return {**document, **plan_requested(ctl, document, now)}
    return WorkflowState.run(STEPS, ctl, step, document, now)
