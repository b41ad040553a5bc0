"""The steps of the Bedrock routing workflow, one function per Task state, as app/scale_workflow.py does for
SageMaker: each takes the execution's state document and returns what the state machine stores.

Paths:
- to a cross-region profile: acquire_lock -> publish_route;
- to Provisioned Throughput: acquire_lock -> [approval, for a commitment] -> buy_provisioned ->
  check_provisioned (polled until InService, past its deadline: InServiceTimeout) -> publish_route; any error
  after the purchase -> abandon_provisioned (delete it, routing untouched);
- back to on-demand: acquire_lock -> publish_route -> (wait drain_seconds) -> release_provisioned.

The state machine that runs them is not deployed yet (see README): today Bedrock plans are notified as advisory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from genai_autoscaler.app.controller import Controller
from genai_autoscaler.app.ports import ProvisionedThroughputs, RouteRegistry
from genai_autoscaler.app.routing import ScaleRequest
from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy, ProvisionedThroughputSettings
from genai_autoscaler.domain.provisioned import ProvisionedModelStatus, may_delete
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_TARGET
from genai_autoscaler.domain.state import ActionRecord, TargetState, acquire_lock, release_lock
from genai_autoscaler.errors import ActuationRejected, InServiceTimeout, InvalidEvent, validation_problems

LOCK_MARGIN = timedelta(minutes=30)


class RoutingWorkflowState(BaseModel):
    """The routing execution's state document."""

    model_config = ConfigDict(frozen=True)

    request: ScaleRequest
    execution: str
    approved: bool | None = None  # set by the approval task, for a commitment
    provisioned_arn: str | None = None
    deadline: AwareDatetime | None = None

    @classmethod
    def parse(cls, document: Any) -> RoutingWorkflowState:
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise InvalidEvent(f"routing workflow input is invalid: {validation_problems(exc)}") from None

    @property
    def plan(self) -> Plan:
        return self.request.plan

    @property
    def policy(self) -> BedrockModelPolicy:
        policy = self.request.target_policy
        if not isinstance(policy, BedrockModelPolicy):
            raise InvalidEvent(f"{policy.name} is not a Bedrock model: the routing workflow does not apply")
        return policy

    @property
    def provisioning(self) -> ProvisionedThroughputSettings:
        settings = self.policy.bedrock.provisioned_throughput
        if settings is None:
            raise InvalidEvent(f"{self.policy.name} has no provisioned_throughput settings")
        return settings


def _ports(ctl: Controller) -> tuple[RouteRegistry, ProvisionedThroughputs]:
    if ctl.routes is None or ctl.provisioned is None:
        raise InvalidEvent("this controller has no Bedrock routing or Provisioned Throughput ports")
    return ctl.routes, ctl.provisioned


def _record(wf: RoutingWorkflowState, now: datetime, outcome: str, error: str | None = None) -> ActionRecord:
    return ActionRecord(
        target_id=wf.plan.target_id,
        at=now,
        action=wf.plan.action.value,
        outcome=outcome,
        reason=wf.plan.reason,
        execution=wf.execution,
        error=error,
    )


def acquire(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Take the model's lock for the whole change: approval, provisioning and drain included."""
    policy = wf.policy
    pt = policy.bedrock.provisioned_throughput
    ttl = LOCK_MARGIN + timedelta(
        seconds=(pt.approval_timeout_seconds + pt.in_service_timeout_seconds + pt.drain_seconds) if pt else 0
    )
    state = ctl.state.update(wf.plan.target_id, lambda s: acquire_lock(s, wf.execution, now, ttl))
    assert state.lock is not None
    return {"lock": {"owner": state.lock.owner, "expires_at": state.lock.expires_at.isoformat()}}


def buy_provisioned(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Buy the plan's model units; the execution's name is the idempotency token (a retried step buys nothing
    more, and each execution buys its own). A commitment is bought only once approved."""
    _, provisioned = _ports(ctl)
    plan, policy, settings = wf.plan, wf.policy, wf.provisioning
    if plan.action is not Action.SHIFT_TO_PROVISIONED or not plan.model_units:
        raise InvalidEvent(f"a {plan.action} plan buys no Provisioned Throughput")
    committed = settings.commitment != "none"
    if committed and wf.approved is not True:
        raise ActuationRejected(f"a {settings.commitment} commitment for {policy.name} was not approved")
    arn = provisioned.create(
        model_id=settings.model_arn or policy.model_id,
        model_units=plan.model_units,
        name=f"{ctl.settings.stack_name}-{wf.execution}"[:63],
        commitment=settings.commitment if committed else None,
        client_token=wf.execution,
        tags={TAG_MANAGED_BY: ctl.settings.stack_name, TAG_TARGET: plan.target_id},
    )
    deadline = now + timedelta(seconds=settings.in_service_timeout_seconds)
    return {"provisioned_arn": arn, "deadline": deadline.isoformat()}


def check_provisioned(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Whether the purchase is InService (Bedrock emits no event for it: the workflow polls).

    Raises ActuationRejected when it Failed (or vanished), InServiceTimeout past the deadline.
    """
    _, provisioned = _ports(ctl)
    if wf.provisioned_arn is None:
        raise InvalidEvent("nothing was bought to check")
    model = provisioned.describe(wf.provisioned_arn)
    if model is None:
        raise ActuationRejected(f"{wf.provisioned_arn} no longer exists")
    if model.status is ProvisionedModelStatus.FAILED:
        raise ActuationRejected(f"{wf.provisioned_arn} failed: {model.failure_message or 'no reason given'}")
    ready = model.status is ProvisionedModelStatus.IN_SERVICE
    if not ready and wf.deadline is not None and now >= wf.deadline:
        raise InServiceTimeout(f"{wf.provisioned_arn} is {model.status.value} after its deadline")
    return {"provisioned": {"ready": ready, "status": model.status.value}}


def publish_route(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Send the callers where the plan says, and remember it. Only ever to a PT that is InService."""
    routes, provisioned = _ports(ctl)
    plan, policy = wf.plan, wf.policy
    previous = ctl.state.load(plan.target_id).route
    if plan.action is Action.SHIFT_TO_PROFILE and plan.route_to:
        route = BedrockRoute(kind=RouteKind.PROFILE, model=plan.route_to, since=now)
    elif plan.action is Action.SHIFT_TO_PROVISIONED and wf.provisioned_arn:
        model = provisioned.describe(wf.provisioned_arn)
        if model is None or model.status is not ProvisionedModelStatus.IN_SERVICE:
            raise ActuationRejected(f"{wf.provisioned_arn} is not InService: callers are not sent to it")
        route = BedrockRoute(
            kind=RouteKind.PROVISIONED,
            model=model.arn,
            since=now,
            provisioned_model_arn=model.arn,
            model_units=model.model_units,
            commitment=model.commitment or "none",
            hourly_cost_usd=plan.hourly_cost_usd or 0.0,
            created_by_controller=True,
        )
    elif plan.action is Action.REVERT_ROUTING:
        route = BedrockRoute(kind=RouteKind.ON_DEMAND, model=policy.model_id, since=now)
    else:
        raise InvalidEvent(f"a {plan.action} plan has no route to publish")
    routes.publish(policy.model_id, PublishedRoute.of(route, policy.model_id))
    releasing = previous.provisioned_model_arn if previous and previous.created_by_controller else None

    def shifted(state: TargetState) -> TargetState:
        state = state.model_copy(update={"route": route, "last_shift_at": now})
        # Back on-demand, the lock is kept through the drain: release_provisioned gives it back.
        return state if releasing and route.kind is RouteKind.ON_DEMAND else release_lock(state, wf.execution)

    ctl.state.update(plan.target_id, shifted, _record(wf, now, "succeeded"))
    if releasing and route.kind is RouteKind.ON_DEMAND:
        # What callers have left is released after the drain (release_provisioned reads provisioned_arn).
        pt = policy.bedrock.provisioned_throughput
        drain = pt.drain_seconds if pt else 0
        return {"route": route.model_dump(mode="json"), "provisioned_arn": releasing, "drain_seconds": drain}
    return {"route": route.model_dump(mode="json"), "drain_seconds": 0}


def release_provisioned(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """After the drain: delete the PT callers have left, when Bedrock allows it; else say when it can be."""
    _, provisioned = _ports(ctl)
    arn = wf.provisioned_arn
    verdict = "nothing to release"
    if arn is not None:
        model = provisioned.describe(arn)
        if model is None:
            verdict = f"{arn} was already gone"
        else:
            deletable, why = may_delete(model, now)
            if deletable:
                provisioned.delete(arn)
                verdict = f"deleted {arn} ({why})"
            else:
                verdict = f"kept {arn}: {why}; the sweeper deletes it once it can"
    ctl.state.update(wf.plan.target_id, lambda s: release_lock(s, wf.execution))
    return {"released": verdict}


def abandon_provisioned(ctl: Controller, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """After a failure: delete what this execution bought, leave the routing as it was, release the lock."""
    _, provisioned = _ports(ctl)
    verdict = "nothing was bought"
    if wf.provisioned_arn is not None:
        model = provisioned.describe(wf.provisioned_arn)
        if model is not None:
            deletable, why = may_delete(model, now)
            if deletable:
                provisioned.delete(wf.provisioned_arn)
                verdict = f"deleted {wf.provisioned_arn}"
            else:
                verdict = f"could not delete {wf.provisioned_arn}: {why}"
    ctl.state.update(
        wf.plan.target_id,
        lambda s: release_lock(s.model_copy(update={"last_shift_at": now}), wf.execution),
        _record(wf, now, "failed", verdict),
    )
    return {"abandoned": verdict}


STEPS = {
    "acquire_lock": acquire,
    "buy_provisioned": buy_provisioned,
    "check_provisioned": check_provisioned,
    "publish_route": publish_route,
    "release_provisioned": release_provisioned,
    "abandon_provisioned": abandon_provisioned,
}


def run_routing_step(ctl: Controller, step: str, document: Any, now: datetime) -> dict[str, Any]:
    """Run one named step; returns the state document with the step's result merged in."""
    if step not in STEPS:
        raise InvalidEvent(f"unknown routing step {step!r}; known: {', '.join(STEPS)}")
    return {**document, **STEPS[step](ctl, RoutingWorkflowState.parse(document), now)}
