"""Invariants of the decision engine, for any policy, signals and memory hypothesis can think of."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, decide
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import InferenceComponentPolicy, SageMakerPolicy, parse_policy_document
from genai_autoscaler.domain.returns import ReturnWindow
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import Lock, ObservedCapacity, ScalableTargetFloor, TargetState
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW, concurrency, latency, measured_window, observed, variant

SIGNALS = [Signal.LATENCY_P95, Signal.CONCURRENCY, Signal.NO_CAPACITY]


@dataclass
class Situation:
    policy: SageMakerPolicy
    observed: ObservedCapacity
    state: TargetState
    trigger: AlarmTransition | Evaluation


@st.composite
def policies(draw: st.DrawFn) -> SageMakerPolicy:
    to_zero = draw(st.booleans())
    minimum = 0 if to_zero else draw(st.integers(1, 6))
    maximum = draw(st.integers(max(minimum, 1), 12))
    raw = {
        "capacity": {"min": minimum, "max": maximum},
        "scale_out": {"max_step": draw(st.integers(1, 4)), "cooldown_seconds": draw(st.integers(0, 900))},
        "scale_in": {
            "max_step": draw(st.integers(1, 3)),
            "cooldown_seconds": draw(st.integers(0, 1800)),
            "stabilization_seconds": draw(st.integers(0, 1800)),
            "target_utilization": draw(st.floats(0.3, 1.0)),
        },
        "signals": {"latency_p95_ms": 4000, "concurrency_per_unit": draw(st.floats(1, 16))},
        "advisory": draw(st.booleans()),
    }
    if to_zero:
        raw |= {
            "type": "inference_component",
            "inference_component_name": "ic",
            "endpoint_name": "ep",
            "scale_to_zero": True,
        }
    else:
        raw |= {"type": "sagemaker_variant", "endpoint_name": "ep"}
    policy = parse_policy_document({"targets": [raw]}).targets[0]
    assert not isinstance(policy, str)
    return policy  # type: ignore[return-value]


seconds_ago = st.integers(0, 7200).map(lambda s: NOW - timedelta(seconds=s))
maybe_ago = st.none() | seconds_ago
# Two in three targets have not scaled lately, so that cooldowns do not hide the other rules.
rarely_ago = st.integers(0, 2).flatmap(lambda i: seconds_ago if i == 0 else st.none())


@st.composite
def readings(draw: st.DrawFn, quiet: bool = False) -> SignalReading:
    signal = draw(st.sampled_from(SIGNALS))
    state = AlarmState.OK if quiet else draw(st.sampled_from(list(AlarmState)))
    value = None if state is AlarmState.INSUFFICIENT_DATA else draw(st.floats(0, 50))
    threshold = {Signal.LATENCY_P95: 4e6, Signal.CONCURRENCY: 8.0, Signal.NO_CAPACITY: 0.0}[signal]
    if value is not None and signal is Signal.LATENCY_P95:
        value *= 4e5
    return SignalReading(signal, state, draw(seconds_ago), value, threshold, None)


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    policy = draw(policies())
    current = draw(st.integers(policy.capacity.min, policy.capacity.max))
    floor = None
    if draw(st.booleans()):
        aas_min = draw(st.integers(policy.capacity.min, current))
        floor = ScalableTargetFloor(min_capacity=aas_min, max_capacity=draw(st.integers(max(current, 1), 16)))
    lock = None
    if draw(st.integers(0, 3)) == 0:
        acquired = draw(seconds_ago)
        lock = Lock(
            owner="other",
            acquired_at=acquired,
            expires_at=acquired + timedelta(seconds=draw(st.integers(60, 7200))),
        )
    raised = draw(st.none() | st.integers(current, current)) if floor else None
    state = TargetState(
        target_id=policy.target_id,
        lock=lock,
        last_scale_out_at=draw(rarely_ago),
        last_scale_in_at=draw(rarely_ago),
        raised_floor=raised,
        original_floor=policy.capacity.min if raised is not None else None,
        last_known_capacity=draw(st.none() | st.just(current)),
        scale_in_window=draw(
            st.none()
            | st.builds(
                ReturnWindow,
                measured_at=seconds_ago,
                seconds=st.integers(0, 3600),
                policy_window_seconds=st.sampled_from([policy.scale_in.stabilization_seconds, 60]),
                cooldown_seconds=st.just(policy.scale_in.cooldown_seconds),
                target_utilization=st.just(policy.scale_in.target_utilization),
                why=st.just("measured"),
            )
        ),
    )
    observed = ObservedCapacity(desired=current, current=current, status="InService", scalable_target=floor)
    kind = draw(st.sampled_from(["transition", "evaluation", "quiet evaluation"]))
    if kind == "transition":
        trigger: AlarmTransition | Evaluation = AlarmTransition(draw(readings()), AlarmState.OK)
    else:
        # A third of the cases are quiet (every signal OK), so that scale-in is explored as much as scale-out.
        quiet = kind == "quiet evaluation"
        trigger = Evaluation(tuple(draw(st.lists(readings(quiet=quiet), min_size=int(quiet), max_size=4))))
    return Situation(policy, observed, state, trigger)


def _plan(s: Situation) -> Plan:
    return decide(s.trigger, s.policy, s.observed, s.state, NOW)


@settings(max_examples=600, deadline=None)
@given(situations())
def test_capacity_stays_within_min_and_max(s: Situation) -> None:
    plan = _plan(s)
    if plan.action in (Action.SCALE_OUT, Action.SCALE_IN):
        assert plan.desired_capacity is not None
        assert s.policy.capacity.min <= plan.desired_capacity <= s.policy.capacity.max
        if not isinstance(s.policy, InferenceComponentPolicy) or not s.policy.scale_to_zero:
            assert plan.desired_capacity >= 1
        if s.observed.scalable_target is not None and plan.action is Action.SCALE_OUT:
            assert plan.desired_capacity <= s.observed.scalable_target.max_capacity


@settings(max_examples=600, deadline=None)
@given(situations())
def test_steps_stay_within_their_limits(s: Situation) -> None:
    plan = _plan(s)
    if plan.action is Action.SCALE_OUT:
        assert plan.current_capacity is not None
        assert plan.desired_capacity is not None
        assert 0 < plan.desired_capacity - plan.current_capacity <= max(s.policy.scale_out.max_step, 1)
    if plan.action is Action.SCALE_IN:
        assert plan.current_capacity is not None
        assert plan.desired_capacity is not None
        assert 0 < plan.current_capacity - plan.desired_capacity <= s.policy.scale_in.max_step


@settings(max_examples=600, deadline=None)
@given(situations())
def test_a_held_lock_means_no_action(s: Situation) -> None:
    plan = _plan(s)
    if s.state.lock is not None and s.state.lock.held_at(NOW):
        assert plan.action in (Action.IGNORE, Action.NOTIFY_ONLY)
        assert not plan.runs_workflow


@settings(max_examples=600, deadline=None)
@given(situations())
def test_cooldowns_are_respected(s: Situation) -> None:
    plan = _plan(s)
    if plan.action is Action.SCALE_OUT and s.state.last_scale_out_at is not None:
        cooled = NOW - s.state.last_scale_out_at >= timedelta(seconds=s.policy.scale_out.cooldown_seconds)
        readings = (s.trigger.reading,) if isinstance(s.trigger, AlarmTransition) else s.trigger.readings
        # Only a surge (concurrency at panic_ratio times its threshold) scales out within the cooldown.
        surge = any(
            r.signal is Signal.CONCURRENCY
            and r.state is AlarmState.ALARM
            and r.ratio is not None
            and r.ratio >= s.policy.scale_out.panic_ratio
            for r in readings
        )
        assert cooled or (surge and "surge" in plan.reason)
    if plan.action is Action.SCALE_IN and s.state.last_scale_at is not None:
        assert NOW - s.state.last_scale_at >= timedelta(seconds=s.policy.scale_in.cooldown_seconds)
        assert NOW - s.state.last_scale_at >= _least_window(s)


@settings(max_examples=600, deadline=None)
@given(situations())
def test_never_scales_in_on_missing_data_or_a_single_alarm(s: Situation) -> None:
    plan = _plan(s)
    if plan.action is Action.SCALE_IN:
        assert isinstance(s.trigger, Evaluation), "scale-in needs every signal, not one transition"
        assert all(r.state is AlarmState.OK for r in s.trigger.readings)
        stable_since = max(r.since for r in s.trigger.readings)
        assert NOW - stable_since >= _least_window(s)


@settings(max_examples=400, deadline=None)
@given(
    current=st.integers(2, 40),
    utilization=st.floats(0.3, 1.0),
    per_unit=st.floats(1, 16),
    load=st.floats(0, 1),
    window=st.integers(60, 3600),
    measured_share=st.floats(0, 1),
    calm_share=st.floats(0, 1.2),
    step=st.none() | st.integers(1, 20),
)
def test_the_lulls_window_is_for_a_fall_only(
    current: int,
    utilization: float,
    per_unit: float,
    load: float,
    window: int,
    measured_share: float,
    calm_share: float,
    step: int | None,
) -> None:
    """Where the target's lulls ask for a window shorter than the policy's, a scale-in that has not waited the
    policy's whole window leaves at most `target_utilization` of the capacity (a fall); a fall that has waited
    the lulls' window does scale in."""
    scale_in: dict[str, object] = {
        "cooldown_seconds": 0,
        "stabilization_seconds": window,
        "target_utilization": utilization,
    }
    if step is not None:
        scale_in["max_step"] = step
    policy = variant(
        capacity={"min": 1, "max": 64},
        scale_in=scale_in,
        signals={"latency_p95_ms": 4000, "concurrency_per_unit": per_unit},
    )
    lulls = measured_window(
        round(window * measured_share), window, target_utilization=utilization, cooldown_seconds=0
    )
    calm = timedelta(seconds=round(window * calm_share))
    value = load * per_unit
    readings = (
        latency(AlarmState.OK, 100, since=NOW - calm),
        concurrency(AlarmState.OK, value, since=NOW - calm, threshold=per_unit),
    )
    state = TargetState(target_id=policy.target_id, scale_in_window=lulls)
    plan = decide(Evaluation(readings), policy, observed(current), state, NOW)
    needed = math.ceil(value * current / (per_unit * utilization) - 1e-9)
    fall = needed <= math.floor(current * utilization + 1e-9)
    if plan.action is Action.SCALE_IN and calm < timedelta(seconds=window):
        assert fall, plan.reason
    if fall and needed < current and calm >= timedelta(seconds=lulls.seconds):
        assert plan.action is Action.SCALE_IN, plan.reason


def _least_window(s: Situation) -> timedelta:
    """The policy's stabilization window, or the one the target's lulls ask for where a fresh measure against
    it stands (the cases drawn here have no forecast and no invocations)."""
    window = timedelta(seconds=s.policy.scale_in.stabilization_seconds)
    measured = s.state.scale_in_window
    if (
        s.policy.forecast.mode == "act"
        and s.policy.signals.concurrency_per_unit is not None
        and measured is not None
        and measured.applies(s.policy, NOW)
    ):
        return min(window, timedelta(seconds=measured.seconds))
    return window


@settings(max_examples=600, deadline=None)
@given(situations())
def test_scale_out_only_on_a_firing_signal(s: Situation) -> None:
    plan = _plan(s)
    readings = (s.trigger.reading,) if isinstance(s.trigger, AlarmTransition) else s.trigger.readings
    if plan.action is Action.SCALE_OUT:
        assert any(r.state is AlarmState.ALARM for r in readings)
        expected = Actuation.RAISE_FLOOR if s.observed.scalable_target else Actuation.SET_CAPACITY
        assert plan.actuation is expected
    assert plan.reason  # every decision says why
