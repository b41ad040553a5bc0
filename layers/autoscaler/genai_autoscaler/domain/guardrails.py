"""What a workflow checks a plan against at the moment it spends: the policy as published now.

A workflow's input carries the plan and the policy it was decided by, and anyone allowed to start an execution
can write both. So the steps that change capacity, invoke an endpoint, buy Provisioned Throughput or move callers
re-read the published document and hold the plan to it; the copy in the input is never the authority. An
operator's pause, kept in the state store, stops them as well.
Each check returns the problems it found, as sentences naming the figure; an empty list lets the step go on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from genai_autoscaler.domain.bedrock import allowed_profiles, priority_offered, purchase_caps
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy, SageMakerPolicy, TargetPolicy
from genai_autoscaler.domain.state import ObservedCapacity, TargetState

# The longest an operator's planned scale may hold a target (app.scale_workflow.PlannedScale allows no more).
MAX_HOLD = timedelta(days=7)


def _outside(policy: SageMakerPolicy, count: int) -> str | None:
    """How `count` lies outside the policy's capacity; None when within [min, max]."""
    limits = policy.capacity
    if limits.min <= count <= limits.max:
        return None
    return f"outside {policy.name}'s published capacity [{limits.min}, {limits.max}]"


def pause_problems(state: TargetState) -> list[str]:
    """Why nothing may be spent on the target now that an operator paused it; empty when it is not paused."""
    paused = state.pause
    if paused is None:
        return []
    return [f"{state.target_id} was paused by {paused.by} at {paused.at.isoformat()} ({paused.reason})"]


def _hands_off(policy: TargetPolicy) -> list[str]:
    if policy.paused:
        return [f"{policy.name} is paused in the published policy"]
    if policy.advisory:
        return [f"{policy.name} is advisory in the published policy: the controller changes nothing"]
    return []


def capacity_problems(
    plan: Plan, policy: SageMakerPolicy, observed: ObservedCapacity, now: datetime
) -> list[str]:
    """Why `plan` may not set `policy`'s target's capacity now: outside [min, max], above the Application Auto
    Scaling MaxCapacity a floor is raised under, a hold longer than a planned scale may ask for, or a target
    the policy leaves alone. Empty when it may."""
    problems = _hands_off(policy)
    desired = plan.desired_capacity
    if desired is not None and (outside := _outside(policy, desired)):
        problems.append(f"the plan asks for {desired}, {outside}")
    scalable = observed.scalable_target
    if (
        desired is not None
        and plan.actuation is Actuation.RAISE_FLOOR
        and scalable is not None
        and desired > scalable.max_capacity
    ):
        problems.append(
            f"the plan raises the floor to {desired}, above the Application Auto Scaling MaxCapacity "
            f"{scalable.max_capacity}"
        )
    if plan.hold_until is not None and plan.hold_until > now + MAX_HOLD:
        problems.append(
            f"the plan holds {policy.name} until {plan.hold_until.isoformat()}, more than {MAX_HOLD.days} days"
        )
    return problems


def floor_problems(policy: SageMakerPolicy, floor: int) -> list[str]:
    """Why a failed workflow may not put the Application Auto Scaling floor back to `floor`."""
    outside = _outside(policy, floor)
    return [f"a floor of {floor} is {outside}"] if outside else []


def purchase_problems(plan: Plan, policy: BedrockModelPolicy) -> list[str]:
    """Why `plan` may not buy Provisioned Throughput under `policy`: no settings, more model units than the
    policy's max_model_units or hourly budget allow, or a target the policy leaves alone. (The account's
    granted units are AWS's to enforce: CreateProvisionedModelThroughput refuses a purchase beyond them.)"""
    problems = _hands_off(policy)
    settings = policy.bedrock.provisioned_throughput
    if settings is None:
        return [*problems, f"{policy.name} has no provisioned_throughput settings in the published policy"]
    units = plan.model_units or 0
    if units < 1:
        problems.append("the plan buys no model units")
    for cap, name in purchase_caps(policy, settings):
        if units > cap:
            problems.append(f"the plan buys {units} model units, more than {name} allows ({cap})")
    return problems


def route_problems(plan: Plan, policy: BedrockModelPolicy) -> list[str]:
    """Why `plan` may not send `policy`'s callers where it says: a profile the published policy does not name
    (or a global one where it keeps data within the geography), a Priority tier it does not offer, or a target
    the policy leaves alone. (A Provisioned Throughput route is checked as it is bought.)"""
    problems = [] if plan.action is Action.REVERT_ROUTING else _hands_off(policy)
    settings = policy.bedrock
    allowed = allowed_profiles(policy)
    interim = plan.action is Action.SHIFT_TO_PROVISIONED and plan.route_to is not None
    if (plan.action is Action.SHIFT_TO_PROFILE or interim) and plan.route_to not in allowed:
        published = f"it names {', '.join(sorted(allowed))}" if allowed else "it names none on its ladder"
        problems.append(f"the plan sends callers to {plan.route_to}, but {published} in the published policy")
    if plan.action is Action.SHIFT_TO_PRIORITY_TIER and plan.route_to not in {policy.model_id, *allowed}:
        problems.append(
            f"the plan keeps callers on {plan.route_to} at the Priority tier, but the published policy does not "
            "allow that route"
        )
    if plan.action is Action.SHIFT_TO_PRIORITY_TIER and not priority_offered(settings):
        problems.append(
            "the published policy has no priority_tier rung: the Priority tier costs more per token"
        )
    return problems
