"""The steps of the Bedrock routing workflow (statemachines/routing.asl.json), one function per Task state, as
app/scale_workflow.py does for SageMaker: each takes the execution's state document and returns what the state
machine merges into it.

Paths:
- to a cross-region profile (geographic or global) or the Priority tier: acquire_lock -> publish_route;
- to Provisioned Throughput: acquire_lock -> [request_approval -> (the person's answer) -> not_approved, for a
  commitment] -> buy_provisioned (a plan that names a profile sends callers there first, overflowing to the
  model, while the units provision) -> check_provisioned (polled until InService; past its deadline,
  InServiceTimeout; a no-commitment purchase the demand has outgrown meanwhile is replaced by a larger one)
  -> publish_route; any error after the lock -> abandon_provisioned (delete what this execution
  bought, leave the routing as it was);
- back to on-demand: acquire_lock -> publish_route -> (wait drain_seconds) -> release_provisioned.

Whenever publish_route moves callers off a Provisioned Throughput the controller bought, it hands it to
release_provisioned under `$.release`, with the lock kept through the drain.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from genai_autoscaler.app.approvals import approval_problem
from genai_autoscaler.app.bedrock_demand import DemandPorts, bedrock_demand
from genai_autoscaler.app.ports import (
    Notifier,
    PolicySource,
    ProvisionedThroughputs,
    RouteRegistry,
    StateStore,
)
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.app.workflow_state import ExecutionState
from genai_autoscaler.domain import notifications
from genai_autoscaler.domain.bedrock import (
    BedrockRoute,
    ServiceTier,
    bought,
    on_demand,
    on_profile,
    size_provisioned_throughput,
    with_overflow,
)
from genai_autoscaler.domain.guardrails import pause_problems, purchase_problems, route_problems
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, ProvisionedThroughputSettings
from genai_autoscaler.domain.provisioned import (
    ASSUMED_PROVISIONING_SECONDS,
    ProvisionedBill,
    ProvisionedModel,
    ProvisionedModelStatus,
    may_delete,
    purchase_prefix,
)
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_TARGET
from genai_autoscaler.domain.state import ActionRecord, TargetState, acquire_lock, release_lock
from genai_autoscaler.errors import (
    ActuationRejected,
    AutoscalerError,
    CaughtError,
    InServiceTimeout,
    InvalidEvent,
    PlanRefused,
    StalePlan,
)

LOCK_MARGIN = timedelta(minutes=30)

# A purchase still provisioning is replaced only when the ladder's figure for the demand is at least this many
# times its units (that figure adds up peaks, and may reach twice the demand: more than that shows the purchase
# too small), and only in the first part of its provisioning (this share of the time the model's last purchase
# took): each replacement starts the provisioning over, losing the time the one it replaces has had. Growth by
# a factor bounds how often (log3 of the policy's max_model_units); late in a provisioning, the units about to
# serve are worth more than larger ones a whole provisioning away.
GROWTH_TO_REPLACE = 3
GROWTH_WITHIN_SHARE = 0.5


class RoutingWorkflowPorts(DemandPorts, Protocol):
    """What the routing workflow's steps use (CloudWatch and the quotas: to grow a purchase while it provisions)."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def routes(self) -> RouteRegistry | None: ...

    @property
    def notifier(self) -> Notifier:
        """For the chat card of what a step reports (the state machine publishes the e-mail)."""
        ...


class Approval(BaseModel):
    """What the approver sends with SendTaskSuccess (`--task-output`)."""

    approved: bool
    by: str | None = None


class Release(BaseModel):
    """A Provisioned Throughput callers have just left, to delete after the drain."""

    model_config = ConfigDict(frozen=True)

    provisioned_arn: str
    drain_seconds: int = Field(ge=0)


class RoutingWorkflowState(ExecutionState):
    """The routing execution's state document."""

    WORKFLOW = "routing"
    FAILURE_STEP = "abandon_provisioned"

    approval: Approval | None = None  # the person's answer, for a commitment
    provisioned_arn: str | None = None  # what this execution bought
    replaced_arn: str | None = None  # what it bought before, replaced by a larger purchase: to delete
    deadline: AwareDatetime | None = None
    route: BedrockRoute | None = None  # where publish_route sent the callers
    release: Release | None = None

    @property
    def policy(self) -> BedrockModelPolicy:
        policy = self.request.target_policy
        assert isinstance(policy, BedrockModelPolicy)  # policy_checked, as the document was parsed
        return policy

    def policy_checked(self) -> None:
        if not isinstance(self.request.target_policy, BedrockModelPolicy):
            raise ValueError(
                f"{self.request.target_policy.name} is not a Bedrock model: the routing workflow does not apply"
            )

    @property
    def provisioning(self) -> ProvisionedThroughputSettings:
        settings = self.policy.bedrock.provisioned_throughput
        if settings is None:
            raise InvalidEvent(f"{self.policy.name} has no provisioned_throughput settings")
        return settings


def _published(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState) -> BedrockModelPolicy:
    """The model's policy as published now, which the steps that spend or move callers decide by
    (domain/guardrails.py). Raises PlanRefused when the model is no longer managed or the document is invalid."""
    try:
        policy = ctl.settings.policy_of(ctl.policies.load(), wf.plan.target_id)
    except PolicyError as exc:
        raise PlanRefused(f"the published policy document is invalid, so nothing is changed: {exc}") from None
    if not isinstance(policy, BedrockModelPolicy):
        raise PlanRefused(f"{wf.plan.target} is not a managed Bedrock model in the published policy")
    return policy


def _purchase(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState
) -> tuple[Plan, ProvisionedThroughputSettings]:
    """The purchase the published policy allows: the plan with its cost and term restated from the published
    prices (what the approver is shown and what is bought), and the settings to buy with.
    Raises PlanRefused, naming each figure the published policy does not allow."""
    policy = _published(ctl, wf)
    refused = purchase_problems(wf.plan, policy) + pause_problems(ctl.state.load(wf.plan.target_id))
    settings = policy.bedrock.provisioned_throughput
    if refused or settings is None:
        raise PlanRefused(f"{'; '.join(refused)}: nothing was bought")
    units = wf.plan.model_units or 0
    plan = wf.plan.model_copy(
        update={
            "hourly_cost_usd": units * settings.hourly_price_per_unit_usd,
            "commitment": settings.commitment,
            "needs_approval": settings.commitment != "none",
        }
    )
    return plan, settings


def _own(state: TargetState, wf: RoutingWorkflowState) -> bool:
    """Whether this execution holds the model's lock (a retried step finds its own work done)."""
    return state.lock is not None and state.lock.owner == wf.execution


def _ports(ctl: RoutingWorkflowPorts) -> tuple[RouteRegistry, ProvisionedThroughputs]:
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


def _lock_ttl(settings: ProvisionedThroughputSettings | None) -> timedelta:
    """How long the model's lock must hold for a whole change: approval, provisioning and drain, and a margin."""
    if settings is None:
        return LOCK_MARGIN
    waits = settings.approval_timeout_seconds + settings.in_service_timeout_seconds + settings.drain_seconds
    return LOCK_MARGIN + timedelta(seconds=waits)


def acquire(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Take the model's lock for the whole change (approval, provisioning and drain included, as the published
    policy times them). A plan the routing has moved on from since it was decided is stale: the lock the router
    took for this execution is given back, and the next decision sees the route as it is now."""
    ttl = _lock_ttl(_published(ctl, wf).bedrock.provisioned_throughput)

    def locked(state: TargetState) -> TargetState:
        # Checked even when the router took the lock for this execution: the router and the evaluator may
        # decide from the same moment, and the other's workflow may have run to its end since. (No shift of
        # this execution's own precedes this step, so a retry cannot find its own.)
        if state.last_shift_at is not None and state.last_shift_at > wf.plan.decided_at:
            raise StalePlan(
                f"{wf.policy.name}'s routing changed at {state.last_shift_at.isoformat()}, after this plan was "
                f"decided ({wf.plan.decided_at.isoformat()})"
            )
        return acquire_lock(state, wf.execution, now, ttl)

    try:
        state = ctl.state.update(wf.plan.target_id, locked)
    except StalePlan:
        ctl.state.update(wf.plan.target_id, lambda current: release_lock(current, wf.execution))
        raise
    assert state.lock is not None
    return {"lock": {"owner": state.lock.owner, "expires_at": state.lock.expires_at.isoformat()}}


def request_approval(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """The approval request for a commitment; the state machine publishes it with its task token and waits."""
    plan, settings = _purchase(ctl, wf)
    if not plan.needs_approval:
        raise InvalidEvent(f"a {plan.action} plan without a commitment needs no approval")
    # The lock outlasts the wait as the published policy times it now (it may have changed since AcquireLock).
    ttl = _lock_ttl(settings)
    ctl.state.update(wf.plan.target_id, lambda state: acquire_lock(state, wf.execution, now, ttl))
    request = notifications.for_approval_request(plan, wf.execution, settings.approval_timeout_seconds)
    # What is asked, for `genai-autoscaler approvals` to read from the execution's history.
    terms = {
        "target_id": plan.target_id,
        "target": plan.target,
        "execution": wf.execution,
        "commitment": plan.commitment,
        "model_units": plan.model_units,
        "hourly_cost_usd": plan.hourly_cost_usd,
        "requested_at": now.isoformat(),
        "expires_at": (now + timedelta(seconds=settings.approval_timeout_seconds)).isoformat(),
    }
    # AwaitApproval's timeout, as the published policy says (TimeoutSecondsPath), not the execution's input
    return {
        "approval_request": request.model_dump()
        | {"timeout_seconds": settings.approval_timeout_seconds, "terms": terms}
    }


def not_approved(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Rejected, or no answer in time (States.Timeout): nothing bought, routing unchanged, the cooldown starts
    so that the same alarm does not ask again at once."""
    error = wf.error
    if error is None:
        why = f"{wf.approval.by or 'the approver'} answered no" if wf.approval else "no answer"
    elif error.error == "States.Timeout":
        why = f"no one answered within {wf.provisioning.approval_timeout_seconds} s"
    elif error.error == "Rejected":
        why = f"rejected: {error.message or 'no reason given'}"
    else:
        why = f"the approval could not be asked for ({error.error}: {error.message})"
    ctl.state.update(
        wf.plan.target_id,
        lambda s: release_lock(s.model_copy(update={"last_shift_at": now}), wf.execution),
        _record(wf, now, "rejected", why),
    )
    return {"notification": notifications.for_not_approved(wf.plan, why, wf.execution).model_dump()}


def purchase_identity(stack_name: str, execution: str) -> tuple[str, str]:
    """The provisioned model's name and the purchase's clientRequestToken, both from the execution's name.

    Execution names may hold `_`, which neither allows (name: ([0-9a-zA-Z][_-]?)+, at most 63 characters;
    token: [a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?, botocore's bedrock model). Names are unique in the
    account, so the name keeps the end of the execution's name, where routing.execution_name puts its digest.
    """
    token = re.sub(r"[^a-zA-Z0-9]+", "-", execution).strip("-")
    prefix = purchase_prefix(stack_name)
    return f"{prefix}{token[-(63 - len(prefix)) :].lstrip('-')}", token


def buy_provisioned(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Buy the plan's model units; the execution's name is the idempotency token (a retried step buys nothing
    more, and each execution buys its own). Units, budget and term are the published policy's, whatever the
    input says; a commitment is bought only once approved."""
    _, provisioned = _ports(ctl)
    if wf.plan.action is not Action.SHIFT_TO_PROVISIONED:
        raise InvalidEvent(f"a {wf.plan.action} plan buys no Provisioned Throughput")
    plan, settings = _purchase(ctl, wf)
    policy, committed = wf.policy, plan.needs_approval
    if committed:
        if wf.approval is None or not wf.approval.approved:
            raise ActuationRejected(f"a {settings.commitment} commitment for {policy.name} was not approved")
        units = plan.model_units or 0
        problem = approval_problem(ctl.state.load(plan.target_id), wf.execution, settings.commitment, units)
        if problem is not None:
            raise ActuationRejected(
                f"a {settings.commitment} commitment for {policy.name} {problem}: nothing was bought"
            )
    if plan.route_to is not None:  # checked, and callers moved to the free quotas, before anything is bought
        _interim(ctl, wf, plan.route_to, now)
    name, token = purchase_identity(ctl.settings.stack_name, wf.execution)
    arn = provisioned.create(
        model_id=settings.model_arn or policy.model_id,
        model_units=plan.model_units or 0,
        name=name,
        commitment=settings.commitment if committed else None,
        client_token=token,
        tags={TAG_MANAGED_BY: ctl.settings.stack_name, TAG_TARGET: plan.target_id},
    )
    deadline = now + timedelta(seconds=settings.in_service_timeout_seconds)
    return {"provisioned_arn": arn, "deadline": deadline.isoformat()}


def _interim(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, profile: str, now: datetime) -> None:
    """While the Provisioned Throughput provisions, callers go to the profile the plan names (the free quotas,
    overflowing to the model), when the published policy allows it; the lock stays held."""
    policy = _published(ctl, wf)
    refused = route_problems(wf.plan, policy)  # a purchase's interim route is checked as a shift to it
    if refused:
        raise PlanRefused(f"{'; '.join(refused)}: callers were not moved")
    state = ctl.state.load(wf.plan.target_id)
    if state.route is not None and state.route.model == profile:
        return  # a retried step: callers are there already
    if not _own(state, wf):
        raise StalePlan(f"{policy.name}'s lock is no longer this execution's: callers were not moved")
    routes, _ = _ports(ctl)
    route = with_overflow(policy, on_profile(profile, now))
    routes.publish(policy.model_id, PublishedRoute.of(route, policy.model_id))
    ctl.state.update(
        wf.plan.target_id, lambda current: current.model_copy(update={"route": route, "last_shift_at": now})
    )


def check_provisioned(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Whether the purchase is InService (Bedrock emits no event for it: the workflow polls); while it provisions,
    a larger one in its place when the demand has outgrown it (`_grown`).

    Raises ActuationRejected when it Failed (or vanished), InServiceTimeout past the deadline.
    """
    _, provisioned = _ports(ctl)
    if wf.provisioned_arn is None:
        raise InvalidEvent("nothing was bought to check")
    result = {} if wf.replaced_arn is None else _delete_replaced(ctl, wf, now)
    model = provisioned.describe(wf.provisioned_arn)
    if model is None:
        raise ActuationRejected(f"{wf.provisioned_arn} no longer exists")
    # A retry decides afresh: a larger purchase an attempt whose result was lost made in its place is taken up
    # first (found by the name it was given), never left to bill unowned.
    successor = provisioned.describe(_successor_identity(ctl, wf, model.arn)[0])
    if successor is not None and successor.arn == model.arn:
        successor = None
    ready = (successor or model).status is ProvisionedModelStatus.IN_SERVICE
    # The published policy, read once, where one of its figures is needed: the wait between checks, the price of
    # a purchase taken up, a growth's bounds.
    policy, unreadable = _published_or_why(ctl, wf) if successor is not None or not ready else (None, None)
    deadline = wf.deadline
    if successor is not None:
        result |= _replaced_by(wf, model, successor, now, _settings(wf, policy))
        model, deadline = successor, datetime.fromisoformat(result["deadline"])
    if model.status is ProvisionedModelStatus.FAILED:
        raise ActuationRejected(f"{model.arn} failed: {model.failure_message or 'no reason given'}")
    if not ready and deadline is not None and now >= deadline:
        raise InServiceTimeout(f"{model.arn} is {model.status.value} after its deadline")
    # WaitForProvisioning's interval, as the published policy says, not the execution's input
    poll = 0 if ready else _settings(wf, policy).poll_interval_seconds
    if ready:
        _timed(ctl, wf, model, now)
    elif successor is None and result.get("replaced_arn", wf.replaced_arn) is None:
        # (not while a purchase it replaced is still to delete: one at a time, so that none is dropped)
        result |= _grown(ctl, wf, model, now, policy, unreadable)
    return result | {"provisioned": {"ready": ready, "status": model.status.value, "poll_seconds": poll}}


def _published_or_why(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState
) -> tuple[BedrockModelPolicy | None, AutoscalerError | None]:
    """The published policy (`_published`), or why it cannot be had."""
    try:
        return _published(ctl, wf), None
    except AutoscalerError as exc:
        return None, exc


def _settings(
    wf: RoutingWorkflowState, published: BedrockModelPolicy | None
) -> ProvisionedThroughputSettings:
    """The published policy's Provisioned Throughput settings; the input's when the published policy cannot be
    read or no longer has them (only a wait and a price hang on them: a purchase made is not abandoned for it)."""
    return (published.bedrock.provisioned_throughput if published else None) or wf.provisioning


def _timed(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, model: ProvisionedModel, now: datetime
) -> None:
    """Remember how long the purchase took to be InService (the next one's growth is judged against it)."""
    took = max(0.0, (now - model.created_at).total_seconds())
    with suppress(AutoscalerError):  # only a later growth's judgement hangs on it
        ctl.state.update(wf.plan.target_id, lambda s: s.model_copy(update={"provisioning_seconds": took}))


def _successor_identity(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, replaced_arn: str
) -> tuple[str, str]:
    """The name and clientRequestToken of the purchase that replaces `replaced_arn` in this execution: one per
    purchase replaced, whatever its size, so that a retry finds it by name (GetProvisionedModelThroughput takes
    a name) and a create repeated with the token buys nothing more."""
    return purchase_identity(ctl.settings.stack_name, f"{wf.execution}-{replaced_arn.rsplit('/', 1)[-1]}")


def _grown(
    ctl: RoutingWorkflowPorts,
    wf: RoutingWorkflowState,
    model: ProvisionedModel,
    now: datetime,
    policy: BedrockModelPolicy | None,
    unreadable: AutoscalerError | None,
) -> dict[str, Any]:
    """A larger purchase in place of the no-commitment one still provisioning, when the ladder's figure for the
    demand is GROWTH_TO_REPLACE times its units or more; nothing to keep waiting for it.

    The first purchase is sized from the minutes that tripped the alarm, which may show little of the demand. A
    purchase of the ladder's size bought now serves one provisioning earlier than the replacement the ladder
    would buy once the first had served, throttled. It is held to the published policy as every purchase is
    (units, budget, the account's units, a pause), made only in the first part of the provisioning
    (GROWTH_WITHIN_SHARE of the time the model's last purchase took), and the lock is extended for its whole
    wait first. The one it replaces is deleted at the next poll. Whatever refuses it, or cannot be read or
    bought, leaves the purchase in progress to finish, and is said under `not_grown` (the execution's history).
    `policy` is the published one, read by the check (`unreadable`: why it could not be)."""
    _, provisioned = _ports(ctl)
    if model.commitment is not None or wf.plan.needs_approval:
        return {}  # a term approved as it is; it could not be deleted either
    if policy is None:
        assert unreadable is not None
        return _not_grown(unreadable)
    try:
        state = ctl.state.load(wf.plan.target_id)
        provisioning = state.provisioning_seconds or ASSUMED_PROVISIONING_SECONDS
        if (now - model.created_at).total_seconds() > GROWTH_WITHIN_SHARE * provisioning:
            return {}
        settings = policy.bedrock.provisioned_throughput
        if settings is None or settings.commitment != "none":
            return {"not_grown": f"{policy.name}'s published policy no longer buys without commitment"}
        sizing = size_provisioned_throughput(policy, bedrock_demand(ctl, policy, now, route=state.route))
        if sizing.wanted is None or sizing.wanted < GROWTH_TO_REPLACE * model.model_units:
            return {}
        if sizing.units < GROWTH_TO_REPLACE * model.model_units:  # what may be bought, within the bounds
            return {
                "not_grown": f"the published bounds allow {sizing.units} units ({sizing.explanation}), under "
                f"{GROWTH_TO_REPLACE}x the {model.model_units} coming: not worth starting the provisioning over"
            }
        plan = wf.plan.model_copy(
            update={"model_units": sizing.units, "hourly_cost_usd": sizing.hourly_cost_usd}
        )
        refused = purchase_problems(plan, policy) + pause_problems(state)
        if not _own(state, wf):
            refused.append("the model's lock is no longer this execution's")
        if refused:
            return {"not_grown": "; ".join(refused)}
        # The lock holds for the whole wait of the larger purchase, as AcquireLock times it.
        ctl.state.update(wf.plan.target_id, lambda s: acquire_lock(s, wf.execution, now, _lock_ttl(settings)))
        name, token = _successor_identity(ctl, wf, model.arn)
        arn = provisioned.create(
            model_id=settings.model_arn or policy.model_id,
            model_units=sizing.units,
            name=name,
            commitment=None,
            client_token=token,
            tags={TAG_MANAGED_BY: ctl.settings.stack_name, TAG_TARGET: plan.target_id},
        )
        successor = provisioned.describe(arn)
    except AutoscalerError as exc:
        # A purchase an unclear failure made after all is found by its name at the next poll.
        return _not_grown(exc)
    if successor is None:
        return {"not_grown": f"{arn} was bought but cannot be found; the next poll looks again"}
    return _replaced_by(wf, model, successor, now, settings, sizing.explanation)


def _not_grown(exc: AutoscalerError) -> dict[str, Any]:
    return {"not_grown": f"{type(exc).__name__}: {exc}; the purchase in progress goes on"}


def _replaced_by(
    wf: RoutingWorkflowState,
    model: ProvisionedModel,
    successor: ProvisionedModel,
    now: datetime,
    pt: ProvisionedThroughputSettings,
    why: str | None = None,
) -> dict[str, Any]:
    """The document's change when `successor` replaces `model`: the plan restated with its units and hourly cost
    at `pt`'s price (what the notification and the record give), its own deadline, and `model` to delete at the
    next poll (not at once: a retry must still find what it replaced)."""
    cost = successor.model_units * pt.hourly_price_per_unit_usd
    reason = (
        f"{wf.plan.reason} Grown while it provisioned, from {model.model_units} to {successor.model_units} model "
        f"units ({why + ', ' if why else ''}${cost:,.2f}/h, no commitment)."
    )
    plan = wf.plan.model_copy(
        update={"model_units": successor.model_units, "hourly_cost_usd": cost, "reason": reason}
    )
    deadline = successor.created_at + timedelta(seconds=pt.in_service_timeout_seconds)
    return {
        "request": wf.request.model_copy(update={"plan": plan}).model_dump(mode="json"),
        "provisioned_arn": successor.arn,
        "deadline": deadline.isoformat(),
        "replaced_arn": model.arn,
        "grown": {"at": now.isoformat(), "from_units": model.model_units, "to_units": successor.model_units},
    }


def _delete_lost_successor(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, replaced_arn: str, now: datetime
) -> list[str]:
    """For the failure step: delete a larger purchase a growth whose result was lost made in place of
    `replaced_arn` (found by its name); what became of it, if there was one."""
    try:
        _, provisioned = _ports(ctl)
        successor = provisioned.describe(_successor_identity(ctl, wf, replaced_arn)[0])
    except AutoscalerError as exc:
        return [f"could NOT look for the purchase that replaced {replaced_arn} ({exc}): the sweeper does"]
    return [] if successor is None else [_delete_or_say(ctl, successor.arn, now, "the sweeper retries")[0]]


def _delete_replaced(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Delete the purchase this execution replaced by a larger one: what became of it, and `replaced_arn`
    cleared once it is gone (a failed deletion is tried again at the next poll, and by the failure step)."""
    assert wf.replaced_arn is not None
    verdict, done = _delete_or_say(ctl, wf.replaced_arn, now, "tried again at the next poll")
    return {"replaced": verdict, "replaced_arn": None} if done else {"replaced": verdict}


def _delete_or_say(ctl: RoutingWorkflowPorts, arn: str, now: datetime, otherwise: str) -> tuple[str, bool]:
    """`_delete_if_allowed`, saying what became of `arn`, and whether the attempt went through (False: an AWS
    error, said with what happens `otherwise`)."""
    try:
        _, provisioned = _ports(ctl)
        return _delete_if_allowed(provisioned, arn, now, ctl.settings.stack_name)[0], True
    except AutoscalerError as exc:
        return f"could NOT delete {arn} ({exc}): {otherwise}", False


def _new_route(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, policy: BedrockModelPolicy, now: datetime
) -> BedrockRoute:
    plan = wf.plan
    if plan.action is Action.SHIFT_TO_PROFILE and plan.route_to:
        return on_profile(plan.route_to, now)
    if plan.action is Action.SHIFT_TO_PRIORITY_TIER and plan.route_to:
        # The same model (or profile) as now, served at the Priority tier.
        current = ctl.state.load(plan.target_id).route or on_demand(policy, now)
        return current.model_copy(update={"since": now, "service_tier": ServiceTier.PRIORITY})
    if plan.action is Action.SHIFT_TO_PROVISIONED and wf.provisioned_arn:
        _, provisioned = _ports(ctl)
        model = provisioned.describe(wf.provisioned_arn)
        if model is None or model.status is not ProvisionedModelStatus.IN_SERVICE:
            raise ActuationRejected(f"{wf.provisioned_arn} is not InService: callers are not sent to it")
        pt = policy.bedrock.provisioned_throughput
        cost = model.model_units * pt.hourly_price_per_unit_usd if pt else plan.hourly_cost_usd
        return bought(model.arn, now, model.model_units, model.commitment, cost)
    if plan.action is Action.REVERT_ROUTING:
        return on_demand(policy, now)
    raise InvalidEvent(f"a {plan.action} plan has no route to publish")


def publish_route(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """Send the callers where the plan says, and remember it. Only ever to a PT that is InService.

    Callers leaving a PT the controller bought: it goes under `release`, and the lock stays held through the
    drain (release_provisioned gives it back). Otherwise the lock is released here.
    """
    routes, _ = _ports(ctl)
    plan, policy = wf.plan, _published(ctl, wf)
    refused = route_problems(plan, policy)
    if refused:
        raise PlanRefused(f"{'; '.join(refused)}: callers were not moved")
    before = ctl.state.load(plan.target_id)
    previous = before.route
    route = with_overflow(policy, _new_route(ctl, wf, policy, now))
    routes.publish(policy.model_id, PublishedRoute.of(route, policy.model_id))
    if _own(before, wf) and previous is not None and previous.model == route.model and before.pending_release:
        leaving: str | None = before.pending_release  # a retry: the first attempt found what callers left
    elif (
        previous is not None
        and previous.created_by_controller
        and previous.provisioned_model_arn != route.provisioned_model_arn
    ):
        leaving = previous.provisioned_model_arn
    else:
        leaving = None

    def shifted(state: TargetState) -> TargetState:
        state = state.model_copy(update={"route": route, "last_shift_at": now, "pending_release": leaving})
        return state if leaving else release_lock(state, wf.execution)

    ctl.state.update(plan.target_id, shifted, _record(wf, now, "succeeded"))
    result: dict[str, Any] = {"route": route.model_dump(mode="json"), "releasing": leaving is not None}
    if leaving:
        pt = policy.bedrock.provisioned_throughput
        release = Release(provisioned_arn=leaving, drain_seconds=pt.drain_seconds if pt else 0)
        result["release"] = release.model_dump()
    else:
        result["notification"] = notifications.for_routing(plan, route.model, wf.execution).model_dump()
    return result


def _delete_if_allowed(
    provisioned: ProvisionedThroughputs, arn: str, now: datetime, stack_name: str
) -> tuple[str, ProvisionedModel | None]:
    """Delete `arn` when Bedrock allows it (see domain.provisioned.may_delete) and it is the stack's purchase by
    name (purchase_prefix); says what became of it, with the model when this call deleted it."""
    model = provisioned.describe(arn)
    if model is None:
        return f"{arn} was already gone", None
    if not model.name.startswith(purchase_prefix(stack_name)):
        return f"kept {arn}: its name ({model.name}) is not one this stack gives what it buys", None
    deletable, why = may_delete(model, now)
    if not deletable:
        return f"kept {arn}: {why}; the sweeper deletes it once it can", None
    provisioned.delete(arn)
    return f"deleted {arn} ({why})", model


def release_provisioned(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """After the drain: delete the PT callers have left, when Bedrock allows it; else say when it can be."""
    _, provisioned = _ports(ctl)
    if wf.release is None:
        raise InvalidEvent("nothing to release")
    verdict, deleted = _delete_if_allowed(
        provisioned, wf.release.provisioned_arn, now, ctl.settings.stack_name
    )
    ctl.state.update(wf.plan.target_id, lambda s: release_lock(s, wf.execution))
    route_to = wf.route.model if wf.route else wf.policy.model_id
    # What Bedrock billed, from the purchase to this deletion (the plan's figure runs from the shift to the decision).
    pt = wf.policy.bedrock.provisioned_throughput
    bill = (
        None
        if deleted is None or pt is None
        else ProvisionedBill.of(deleted, pt.hourly_price_per_unit_usd, now)
    )
    notification = notifications.for_routing(wf.plan, route_to, wf.execution, released=verdict, billed=bill)
    return {"released": verdict, "notification": notification.model_dump()}


def _in_use(
    ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState
) -> tuple[TargetState | None, str | None, list[str]]:
    """The model's state and the PT ARN its published route names, as far as they can be read."""
    problems: list[str] = []
    state: TargetState | None = None
    published: str | None = None
    try:
        state = ctl.state.load(wf.plan.target_id)
    except AutoscalerError as exc:
        problems.append(f"the model's state could not be read ({exc})")
    try:
        routes, _ = _ports(ctl)
        current = routes.current(wf.policy.model_id)
        published = current.model_id if current is not None else None
    except AutoscalerError as exc:
        problems.append(f"the published route could not be read ({exc})")
    return state, published, problems


def abandon_provisioned(ctl: RoutingWorkflowPorts, wf: RoutingWorkflowState, now: datetime) -> dict[str, Any]:
    """After a failure: delete what this execution bought unless callers use it, leave the routing as it was,
    release the lock, and say what failed. Never raises: what it could not do is said in the notification."""
    state, published, safe = _in_use(ctl, wf)
    remembered = state.route.provisioned_model_arn if state is not None and state.route is not None else None
    adopted: BedrockRoute | None = None
    if wf.provisioned_arn is None:
        safe.append("nothing was bought")
    elif wf.provisioned_arn in (remembered, published) or state is None or safe:
        # Published before the failure (the state write, or the release of what callers left, failed), or not
        # known not to be: callers may use it, so it stays, and the route callers read is remembered.
        safe.append(f"kept {wf.provisioned_arn}: callers may be using it")
        if published == wf.provisioned_arn and remembered != published:
            plan = wf.plan
            adopted = bought(published, now, plan.model_units, plan.commitment, plan.hourly_cost_usd)
    else:
        safe.append(_delete_or_say(ctl, wf.provisioned_arn, now, "the sweeper retries")[0])
    if wf.replaced_arn is not None:
        safe.append(_delete_replaced(ctl, wf, now)["replaced"])
    if wf.provisioned_arn is not None:
        safe.extend(_delete_lost_successor(ctl, wf, wf.provisioned_arn, now))
    if wf.release is not None:
        safe.append(f"{wf.release.provisioned_arn}, which callers had left, is left to the sweeper")
    interim = wf.plan.route_to if wf.plan.action is Action.SHIFT_TO_PROVISIONED else None
    if interim is not None and state is not None and state.route is not None and state.route.model == interim:
        safe.append(f"callers were sent to {interim} while it provisioned, and stay there")
    elif wf.route is None and adopted is None and published != wf.provisioned_arn:
        safe.append("routing unchanged")
    error = wf.error or CaughtError.model_validate({"Error": "Unknown", "Cause": ""})
    summary = "; ".join(safe)

    def failed(current: TargetState) -> TargetState:
        if not _own(current, wf):  # it never held the lock (a failure taking it): nothing of its own to undo
            return current
        update: dict[str, object] = {"last_shift_at": now}
        if adopted is not None:
            update["route"] = adopted
        return release_lock(current.model_copy(update=update), wf.execution)

    try:
        ctl.state.update(
            wf.plan.target_id, failed, _record(wf, now, "failed", f"{error.error}: {error.message}")
        )
    except AutoscalerError as exc:
        summary += f"; the lock could NOT be released ({exc}): it expires on its own"
    notification = notifications.for_failure(wf.plan, error.error, error.message, summary, wf.execution)
    return {"abandoned": summary, "notification": notification.model_dump()}


STEPS = {
    "acquire_lock": acquire,
    "request_approval": request_approval,
    "not_approved": not_approved,
    "buy_provisioned": buy_provisioned,
    "check_provisioned": check_provisioned,
    "publish_route": publish_route,
    "release_provisioned": release_provisioned,
    "abandon_provisioned": abandon_provisioned,
}


def run_routing_step(ctl: RoutingWorkflowPorts, step: str, document: Any, now: datetime) -> dict[str, Any]:
    """Run one named step; returns the state document with the step's result merged in."""
    return RoutingWorkflowState.run(STEPS, ctl, step, document, now)
