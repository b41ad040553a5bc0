"""The decision engine: (trigger, policy, observed target, remembered state, now) -> Plan.

Pure: no AWS, no clock. The Lambdas, the CLI and the simulator all call `decide`. What every target obeys is
`core`'s; what a SageMaker target's capacity does is `sagemaker_capacity`'s and `sagemaker_scale_in`'s, where a
Bedrock model's traffic goes `bedrock_routing`'s. `decide` chooses between them, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from genai_autoscaler.domain.alarm_event import SignalReading
from genai_autoscaler.domain.bedrock import BedrockDemand
from genai_autoscaler.domain.decision import bedrock_routing, sagemaker_capacity
from genai_autoscaler.domain.decision.core import AlarmTransition, Decision, Evaluation, Trigger
from genai_autoscaler.domain.decision.sagemaker_planned import plan_requested_scale
from genai_autoscaler.domain.decision.sagemaker_scale_in import just_scaled_out
from genai_autoscaler.domain.decision.sagemaker_scale_in import utilization_window as _sagemaker_window
from genai_autoscaler.domain.demand import DemandTrend
from genai_autoscaler.domain.families import by_family
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.policy import TargetPolicy
from genai_autoscaler.domain.state import ObservedCapacity, TargetState

__all__ = [
    "AlarmTransition",
    "Evaluation",
    "Trigger",
    "decide",
    "just_scaled_out",
    "plan_requested_scale",
    "utilization_window",
]


def decide(
    trigger: Trigger,
    policy: TargetPolicy,
    observed: ObservedCapacity | BedrockDemand | None,
    state: TargetState,
    now: datetime,
    trend: DemandTrend | None = None,
) -> Plan:
    """Decide what to do about `policy`'s target; returns a Plan whose `reason` says why.

    `observed` is what AWS shows of the target: a SageMaker target's capacity (None when it does not exist), a
    Bedrock model's recent demand. `trend` is a SageMaker target's recent invocations, when they were read.
    `now` must be timezone-aware: raises ValueError if not.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    capacity = observed if isinstance(observed, ObservedCapacity) else None
    decision = Decision(trigger, policy, state, now, capacity, trend)
    if policy.paused:
        # Before anything else, whatever the family: a paused target is only reported on.
        return decision.unheeded(f"{policy.name} is paused", ": left alone")
    if state.pause is not None:
        paused = state.pause
        return decision.unheeded(f"{policy.name} is paused by {paused.by} ({paused.reason})", ": left alone")
    demand = observed if isinstance(observed, BedrockDemand) else BedrockDemand()
    return by_family(
        policy,
        sagemaker=lambda target: sagemaker_capacity.decide(decision, target),
        bedrock=lambda model: bedrock_routing.decide(decision, model, demand),
    )


def utilization_window(
    policy: TargetPolicy,
    readings: tuple[SignalReading, ...],
    state: TargetState,
    now: datetime,
    demand: DemandTrend | None = None,
) -> timedelta | None:
    """The window over which an evaluation should read the target's peak concurrency, because it may scale
    in by it: a SageMaker target watching concurrency, every signal OK for its stabilization window (which
    `demand`, its invocations of the last minutes, may shorten), or for the shorter one its lulls ask for, which
    only a fall may use. None when it may not (a Bedrock model has no capacity to size). An alarm's own figures
    date from its last transition.
    """
    return by_family(
        policy,
        sagemaker=lambda target: _sagemaker_window(target, readings, state, now, demand),
        bedrock=lambda _: None,
    )
