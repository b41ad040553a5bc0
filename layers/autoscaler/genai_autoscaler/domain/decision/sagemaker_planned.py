"""A person's planned scale of a SageMaker target (a launch, a batch window), as a Plan."""

from __future__ import annotations

from datetime import datetime

from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.state import ObservedCapacity
from genai_autoscaler.domain.targets import capacity_units


def plan_requested_scale(
    policy: SageMakerPolicy,
    observed: ObservedCapacity,
    desired: int,
    reason: str,
    hold_until: datetime | None,
    now: datetime,
) -> Plan:
    """A person's planned scale (a launch, a batch window) as a Plan; raises ValueError outside [min, max].

    Step limits and cooldowns do not apply: a person chose the count. The bounds of the policy still do.
    """
    if not policy.capacity.min <= desired <= policy.capacity.max:
        raise ValueError(
            f"desired_capacity {desired} is outside {policy.name}'s capacity "
            f"[{policy.capacity.min}, {policy.capacity.max}]; change the policy first"
        )
    current = observed.desired
    if desired == current and hold_until is None:
        raise ValueError(f"{policy.name} already has {desired}: nothing to do")
    held = f"; held until {hold_until.isoformat()}" if hold_until else ""
    floor: int | None = None
    if observed.scalable_target is not None:
        if desired > observed.scalable_target.max_capacity:
            raise ValueError(
                f"desired_capacity {desired} is above {policy.name}'s Application Auto Scaling MaxCapacity "
                f"{observed.scalable_target.max_capacity}"
            )
        floor = observed.scalable_target.min_capacity
        current, actuation = floor, Actuation.RAISE_FLOOR if desired > floor else Actuation.RESTORE_FLOOR
    else:
        actuation = Actuation.SET_CAPACITY
    return Plan(
        action=Action.SCALE_OUT if desired >= current else Action.SCALE_IN,
        target=policy.name,
        target_id=policy.target_id,
        kind=policy.kind,
        reason=(
            f"Planned by a person: {reason} ({capacity_units(policy.kind, current)} -> "
            f"{capacity_units(policy.kind, desired)}{held})."
        ),
        decided_at=now,
        current_capacity=current,
        desired_capacity=desired,
        actuation=actuation,
        observed_floor=floor,
        hold_until=hold_until,
    )
