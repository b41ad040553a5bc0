"""The decision engine, table-driven: one row per situation a platform team would recognise."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest
from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.decision import (
    AlarmTransition,
    Evaluation,
    Trigger,
    decide,
    plan_requested_scale,
)
from genai_autoscaler.domain.decision.sagemaker_scale_in import stabilization, utilization_window
from genai_autoscaler.domain.demand import DemandTrend
from genai_autoscaler.domain.forecast import DemandForecast
from genai_autoscaler.domain.plan import Action, Actuation
from genai_autoscaler.domain.policy import TargetPolicy, parse_policy_document
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import (
    EventFloor,
    Lock,
    ObservedCapacity,
    PauseRecord,
    ScalableTargetFloor,
    TargetState,
)

from tests.unit.builders import NOW, ago, component, concurrency, latency, measured_window, observed, variant

ALARM, OK, NO_DATA = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA


def state(**fields: object) -> TargetState:
    return TargetState.model_validate({"target_id": "variant/llm-prod/AllTraffic", **fields})


@dataclass
class Case:
    id: str
    trigger: Trigger
    action: Action
    desired: int | None = None
    reason: str = ""
    policy: TargetPolicy = field(default_factory=variant)
    seen: ObservedCapacity | None = field(default_factory=lambda: observed(2))
    remembered: TargetState = field(default_factory=state)
    actuation: Actuation | None = None
    advisory: bool = False


def alarm(reading: SignalReading) -> AlarmTransition:
    return AlarmTransition(reading, AlarmState.OK)


def evaluation(*readings: SignalReading) -> Evaluation:
    return Evaluation(tuple(readings))


SCALE_OUT = [
    Case(
        "latency far above target: one more instance (latency does not say how much load there is)",
        alarm(latency(ALARM, 9100)),
        Action.SCALE_OUT,
        3,
        actuation=Actuation.SET_CAPACITY,
    ),
    Case(
        "concurrency far above target: in proportion, capped by the step limit",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        4,
        "asks for 5; limited by the step limit",
        actuation=Actuation.SET_CAPACITY,
    ),
    Case(
        "no step limit (the default): to what the concurrency measures, in one step",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        5,
        policy=variant(scale_out={"cooldown_seconds": 300}),
    ),
    Case(
        "a step limit as a multiple of the current capacity",
        alarm(concurrency(ALARM, 15)),
        Action.SCALE_OUT,
        8,
        "asks for 11; limited by the step limit",
        policy=variant(scale_out={"max_factor": 2}, capacity={"min": 1, "max": 20}),
        seen=observed(4),
    ),
    Case(
        "a surge (concurrency at twice its threshold) does not wait for the scale-out cooldown",
        alarm(concurrency(ALARM, 16)),
        Action.SCALE_OUT,
        6,
        "surge at 2.0x the threshold: within the scale-out cooldown",
        policy=variant(scale_out={"cooldown_seconds": 300}),
        remembered=state(last_scale_out_at=ago(60)),
    ),
    Case(
        "short of a surge, the scale-out cooldown holds",
        alarm(concurrency(ALARM, 15)),
        Action.IGNORE,
        None,
        "cooldown has 240 s left",
        policy=variant(scale_out={"cooldown_seconds": 300}),
        remembered=state(last_scale_out_at=ago(60)),
    ),
    Case(
        "latency a little above target: one more instance", alarm(latency(ALARM, 4400)), Action.SCALE_OUT, 3
    ),
    Case(
        "near the maximum: capped by max",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        8,
        "policy max",
        seen=observed(7),
    ),
    Case(
        "at the maximum: notify that nothing more can be added",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "nothing more to add",
        seen=observed(8),
    ),
    Case(
        "concurrency above its threshold scales out to the scale-in target (2 x 12/(8 x 0.7) -> 5, step 2)",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        4,
    ),
    Case(
        "inside the scale-out cooldown: wait",
        alarm(latency(ALARM, 9100)),
        Action.IGNORE,
        None,
        "cooldown has 240 s left",
        remembered=state(last_scale_out_at=ago(60)),
    ),
    Case(
        "after the scale-out cooldown: act",
        alarm(latency(ALARM, 9100)),
        Action.SCALE_OUT,
        3,
        remembered=state(last_scale_out_at=ago(301)),
    ),
    Case(
        "a scale in progress holds the lock",
        alarm(latency(ALARM, 9100)),
        Action.IGNORE,
        None,
        "in progress",
        remembered=state(lock=Lock(owner="wf-1", acquired_at=ago(60), expires_at=NOW + timedelta(hours=1))),
    ),
    Case(
        "a lock left by a crashed workflow has expired",
        alarm(latency(ALARM, 9100)),
        Action.SCALE_OUT,
        3,
        remembered=state(lock=Lock(owner="wf-1", acquired_at=ago(7200), expires_at=ago(3600))),
    ),
    Case(
        "endpoint still Updating: wait for it",
        alarm(latency(ALARM, 9100)),
        Action.IGNORE,
        None,
        "Updating",
        seen=observed(2, "Updating"),
    ),
    Case(
        "Application Auto Scaling registered: raise its floor",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        4,
        "MinCapacity raised to 4",
        seen=observed(2, floor=(1, 10)),
        actuation=Actuation.RAISE_FLOOR,
    ),
    Case(
        "Application Auto Scaling MaxCapacity is a ceiling too",
        alarm(concurrency(ALARM, 12)),
        Action.SCALE_OUT,
        3,
        "Application Auto Scaling MaxCapacity",
        seen=observed(2, floor=(1, 3)),
        actuation=Actuation.RAISE_FLOOR,
    ),
    Case(
        "paused target: report, do not act",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "paused",
        policy=variant(paused=True),
    ),
    Case(
        "target paused by an operator: report who and why, do not act",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "paused by arn:aws:iam::123456789012:user/ops (load test)",
        remembered=state(
            pause=PauseRecord(by="arn:aws:iam::123456789012:user/ops", at=ago(60), reason="load test")
        ),
    ),
    Case(
        "advisory target: the same plan, flagged advisory",
        alarm(latency(ALARM, 9100)),
        Action.SCALE_OUT,
        3,
        policy=variant(advisory=True),
        advisory=True,
    ),
    Case(
        "target missing in SageMaker",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "not found",
        seen=None,
    ),
    Case(
        "capacity changed by hand: leave it alone and report",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "changed from 2 instances to 3 instances",
        seen=observed(3),
        remembered=state(last_known_capacity=2),
    ),
    Case(
        "during the manual-change hold nothing happens",
        alarm(latency(ALARM, 9100)),
        Action.IGNORE,
        None,
        "left alone until",
        remembered=state(manual_hold_until=NOW + timedelta(minutes=10)),
    ),
    Case(
        "floor changed by hand under Application Auto Scaling",
        alarm(latency(ALARM, 9100)),
        Action.NOTIFY_ONLY,
        None,
        "MinCapacity changed from 4 to 2",
        seen=observed(4, floor=(2, 10)),
        remembered=state(raised_floor=4, original_floor=1),
    ),
    Case(
        "inference component at zero wakes to one copy",
        alarm(SignalReading(Signal.NO_CAPACITY, ALARM, NOW, 12, 0, "Count")),
        Action.SCALE_OUT,
        1,
        policy=component(),
        seen=observed(0),
    ),
    Case(
        "INSUFFICIENT_DATA holds capacity", alarm(concurrency(NO_DATA, None)), Action.IGNORE, None, "holding"
    ),
    Case(
        "OK waits for the stabilization window",
        alarm(latency(OK, 1000)),
        Action.IGNORE,
        None,
        "stayed OK for 900 s",
    ),
    Case(
        "Bedrock throttling is reported",
        alarm(SignalReading(Signal.THROTTLES, ALARM, NOW, 37, 5, "Count")),
        Action.NOTIFY_ONLY,
        None,
        "throttled requests 37",
        policy=parse_policy_document(
            {"targets": [{"type": "bedrock_model", "model_id": "amazon.nova-pro-v1:0"}]}
        ).targets[0],
        seen=None,
    ),
]

EVALUATION = [
    Case(
        "all OK past the window: one step in, utilization allows",
        evaluation(latency(OK, 900, since=ago(1000)), concurrency(OK, 2, since=ago(1000))),
        Action.SCALE_IN,
        3,
        "peak concurrency 8.0 needs 2",
        seen=observed(4),
        actuation=Actuation.SET_CAPACITY,
    ),
    Case(
        "OK for less than the window",
        evaluation(latency(OK, 900, since=ago(100)), concurrency(OK, 2, since=ago(1000))),
        Action.IGNORE,
        None,
        "stabilization window has 800 s left",
        seen=observed(4),
    ),
    Case(
        "the window restarts at the last scale",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 2, since=ago(5000))),
        Action.IGNORE,
        None,
        "stabilization window has 700 s left",
        seen=observed(4),
        remembered=state(last_scale_out_at=ago(200)),
    ),
    Case(
        "scale-in cooldown longer than the window",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 2, since=ago(5000))),
        Action.IGNORE,
        None,
        "Scale-in cooldown has 200 s left",
        seen=observed(4),
        policy=variant(scale_in={"cooldown_seconds": 1200, "stabilization_seconds": 900}),
        remembered=state(last_scale_in_at=ago(1000)),
    ),
    Case(
        "at the minimum: stay",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 0.5, since=ago(5000))),
        Action.IGNORE,
        None,
        "at its minimum (1)",
        seen=observed(1),
    ),
    Case(
        "utilization still needs every instance",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 5, since=ago(5000))),
        Action.IGNORE,
        None,
        "needs 4",
        seen=observed(4),
    ),
    Case(
        "missing data long enough: notify once",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(NO_DATA, None, since=ago(1000))),
        Action.NOTIFY_ONLY,
        None,
        "never scaling in on missing data",
    ),
    Case(
        "missing data already reported: quiet",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(NO_DATA, None, since=ago(1000))),
        Action.IGNORE,
        None,
        "holding",
        remembered=state(insufficient_data_reported_since=ago(1000)),
    ),
    Case(
        "missing data, not yet for long: hold quietly",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(NO_DATA, None, since=ago(100))),
        Action.IGNORE,
        None,
        "holding",
    ),
    Case(
        "an alarm still firing after the cooldown: scale out again",
        evaluation(latency(ALARM, 9100, since=ago(900)), concurrency(OK, 2, since=ago(900))),
        Action.SCALE_OUT,
        3,
        remembered=state(last_scale_out_at=ago(400)),
    ),
    Case(
        "still firing at the maximum: no repeated notification",
        evaluation(latency(ALARM, 9100, since=ago(900))),
        Action.IGNORE,
        None,
        "policy max",
        seen=observed(8),
    ),
    Case(
        "floor raised by the controller is lowered stepwise",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 1, since=ago(5000))),
        Action.SCALE_IN,
        3,
        "MinCapacity from 4 to 3",
        seen=observed(4, floor=(4, 10)),
        remembered=state(raised_floor=4, original_floor=1),
        actuation=Actuation.RESTORE_FLOOR,
    ),
    Case(
        "a raised floor is never lowered below the policy's minimum",
        evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 0.5, since=ago(5000))),
        Action.IGNORE,
        None,
        "MinCapacity 2 stays",
        policy=variant(capacity={"min": 2, "max": 8}),
        seen=observed(2, floor=(2, 10)),
        remembered=state(raised_floor=2, original_floor=1),
    ),
    Case(
        "floor never raised: Application Auto Scaling owns scale-in",
        evaluation(latency(OK, 900, since=ago(5000))),
        Action.IGNORE,
        None,
        "owns scale-in",
        seen=observed(4, floor=(1, 10)),
    ),
    Case(
        "idle inference component steps down to zero",
        evaluation(SignalReading(Signal.CONCURRENCY, OK, ago(5000), 0, 2, "Count")),
        Action.SCALE_IN,
        0,
        policy=component(signals={"latency_p95_ms": None, "concurrency_per_unit": 2}),
        seen=observed(1),
    ),
    Case(
        "keep-warm interval elapsed",
        evaluation(latency(OK, 900, since=ago(100))),
        Action.WARM,
        2,
        "Keep-warm",
        policy=variant(warm_up={"keep_warm_interval_seconds": 900}),
        remembered=state(last_warm_at=ago(1000)),
    ),
    Case(
        "keep-warm not yet due",
        evaluation(latency(OK, 900, since=ago(100))),
        Action.IGNORE,
        None,
        "stabilization",
        policy=variant(warm_up={"keep_warm_interval_seconds": 900}),
        remembered=state(last_warm_at=ago(100)),
    ),
    Case(
        "loading wait at the maximum: load the models instead",
        evaluation(SignalReading(Signal.MODEL_LOADING_WAIT, ALARM, ago(60), 6.1e6, 2e6, "Microseconds")),
        Action.WARM,
        4,
        "loading its models",
        policy=variant(
            multi_model=True,
            capacity={"min": 1, "max": 4},
            signals={"model_loading_wait_ms": 2000},
            warm_up={"target_models": ["a.tar.gz"]},
        ),
        seen=observed(4),
    ),
    Case("no alarms yet", evaluation(), Action.IGNORE, None, "No alarms watch"),
]


@pytest.mark.parametrize("case", SCALE_OUT + EVALUATION, ids=lambda c: c.id)
def test_decide(case: Case) -> None:
    # Given a trigger, a policy, what AWS shows and what the controller remembers
    # When the engine decides
    plan = decide(case.trigger, case.policy, case.seen, case.remembered, NOW)
    # Then the plan is the expected one, with a reason a person can read
    assert plan.action is case.action, plan.reason
    assert plan.desired_capacity == case.desired
    assert case.reason in plan.reason
    assert plan.target == case.policy.name
    if case.actuation is not None:
        assert plan.actuation is case.actuation
    assert plan.advisory is case.advisory


def test_a_scale_out_is_sized_for_the_demand_one_measured_cold_start_ahead() -> None:
    # Given concurrency asking for 5 of 2 instances, invocations rising 10 a minute from 100 to 190, and the
    # last scale-out having taken 330 s to serve
    policy = variant(scale_out={"cooldown_seconds": 300}, capacity={"min": 1, "max": 20})
    trend = DemandTrend(tuple(100.0 + 10 * i for i in range(10)), age_seconds=30)
    remembered = state(cold_start_seconds=330.0)
    # When it decides
    plan = decide(alarm(concurrency(ALARM, 12)), policy, observed(2), remembered, NOW, trend)
    # Then it asks for what the demand will be when new capacity serves: 2 x 12/(8 x 0.7) x (190 + 60)/190
    assert plan.desired_capacity == 6
    assert "sized for 1.32x today's demand in 330 s" in plan.reason
    # And without a trend (or before the first scale-out was timed), what the concurrency measures now
    assert decide(alarm(concurrency(ALARM, 12)), policy, observed(2), remembered, NOW).desired_capacity == 5


def test_a_calm_target_is_scaled_out_ahead_of_a_ramp_its_trend_shows() -> None:
    # Given 4 instances peaking at 7 in flight each now (threshold 8: calm), invocations rising 10 a minute from
    # 100 to 190, and a cold start of 330 s: by then 190 + 60 = 250 a minute, 1.32x today's, 9.2 per instance
    policy = variant(scale_out={"cooldown_seconds": 300}, capacity={"min": 1, "max": 20})
    ramp = DemandTrend(tuple(100.0 + 10 * i for i in range(10)), age_seconds=30, concurrency_now=7)
    remembered = state(cold_start_seconds=330.0)
    # (the alarm's own figure is older and higher: the ramp goes by the concurrency's peak of now)
    calm = evaluation(latency(OK, 900, since=ago(60)), concurrency(OK, 9.5, since=ago(60)))
    plan = decide(calm, policy, observed(4), remembered, NOW, ramp)
    # Then it scales out before the alarm fires, to keep the threshold then: 4 x 9.2 / 8 = 4.6, so 5
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_OUT, 5)
    assert plan.reason.startswith(
        "Invocations rising: concurrency per instance at 7.0 now, 9.2 expected in 330 s"
    )
    # But not while the scale-out cooldown runs, nor when the trend keeps it under the threshold, nor without the
    # concurrency of now
    cooling = state(cold_start_seconds=330.0, last_scale_out_at=ago(60))
    assert decide(calm, policy, observed(4), cooling, NOW, ramp).action is not Action.SCALE_OUT
    for other in (replace(ramp, concurrency_now=5.0), replace(ramp, concurrency_now=None)):
        assert decide(calm, policy, observed(4), remembered, NOW, other).action is not Action.SCALE_OUT
    # Nor on minutes that do not rise beyond their noise (a flat level with one high minute)
    flat = (150.0, 160.0, 140.0, 155.0, 145.0, 150.0, 140.0, 160.0, 145.0, 190.0)
    noise = DemandTrend(flat, age_seconds=30, concurrency_now=7)
    assert not noise.rising
    assert decide(calm, policy, observed(4), remembered, NOW, noise).action is not Action.SCALE_OUT


def test_latency_alone_is_not_grown_for() -> None:
    trend = DemandTrend(tuple(100.0 + 10 * i for i in range(10)))
    plan = decide(alarm(latency(ALARM, 9100)), variant(), observed(2), state(), NOW, trend)
    assert plan.desired_capacity == 3
    assert "sized for" not in plan.reason


def test_scale_in_goes_to_the_need_at_once_or_one_unit_at_a_time_when_blind() -> None:
    calm = evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 1, since=ago(5000)))
    unlimited = {"cooldown_seconds": 600, "stabilization_seconds": 900}
    # Given 6 instances at a peak of 1 per instance: 6 in flight need 2 at 5.6 each, at once (no step limit)
    plan = decide(calm, variant(scale_in=unlimited), observed(6), state(), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)
    # But a target that watches no concurrency has no need to measure: one instance at a time
    blind = variant(scale_in=unlimited, signals={"latency_p95_ms": 4000, "concurrency_per_unit": None})
    plan = decide(evaluation(latency(OK, 900, since=ago(5000))), blind, observed(6), state(), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 5)


def test_a_planned_events_floor_holds_scale_in_for_its_window_and_not_scale_out() -> None:
    calm = evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 1, since=ago(5000)))
    policy = variant(
        capacity={"min": 1, "max": 8}, scale_in={"cooldown_seconds": 600, "stabilization_seconds": 900}
    )
    event = EventFloor(capacity=5, until=NOW + timedelta(hours=1), reason="Planned by a person: launch")
    # Given 6 instances whose load needs 2, held at 5 or more by a launch for another hour
    plan = decide(calm, policy, observed(6), state(event_floors=(event,)), NOW)
    # Then scale-in stops at the event's floor, and says why
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 5)
    assert "a planned event holds it at 5 until" in plan.reason
    # And an alarm during the window still scales out above it
    plan = decide(alarm(latency(ALARM, 9100)), policy, observed(5), state(event_floors=(event,)), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_OUT, 6)
    # And once the window is over, the target goes back to what the load needs
    over = EventFloor(capacity=5, until=NOW - timedelta(seconds=1), reason="launch")
    plan = decide(calm, policy, observed(6), state(event_floors=(over,)), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)


def test_below_an_events_floor_the_target_is_scaled_out_to_it_and_the_highest_floor_holds() -> None:
    calm = evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 1, since=ago(5000)))
    policy = variant(
        capacity={"min": 1, "max": 8}, scale_in={"cooldown_seconds": 600, "stabilization_seconds": 900}
    )
    day = EventFloor(capacity=4, until=NOW + timedelta(hours=8), reason="business hours")
    batch = EventFloor(capacity=6, until=NOW + timedelta(hours=1), reason="batch")
    over = EventFloor(capacity=8, until=NOW - timedelta(minutes=1), reason="yesterday")
    remembered = state(event_floors=(day, batch, over))
    # Given 2 instances while a batch holds 6 (the business day 4; yesterday's 8 is over)
    plan = decide(calm, policy, observed(2), remembered, NOW)
    # Then the controller scales out to the highest floor that holds (its own workflow may have been dropped)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_OUT, 6)
    assert "A planned event holds it at 6" in plan.reason
    # And after the batch, the business day's floor still holds scale-in
    plan = decide(calm, policy, observed(6), remembered, NOW + timedelta(hours=2))
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 4)


def test_manual_change_is_adopted_with_a_hold() -> None:
    plan = decide(alarm(latency(ALARM, 9100)), variant(), observed(3), state(last_known_capacity=2), NOW)
    assert plan.adopt_capacity == 3
    assert plan.manual_hold_until == NOW + timedelta(hours=1)


def test_missing_data_notification_names_when_it_started() -> None:
    trigger = evaluation(concurrency(NO_DATA, None, since=ago(1000)))
    plan = decide(trigger, variant(), observed(2), state(), NOW)
    assert plan.insufficient_data_since == ago(1000)


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(evaluation(), variant(), observed(2), state(), datetime(2026, 1, 1))  # noqa: DTZ001


def test_models_are_not_warmed_again_within_the_cooldown() -> None:
    policy = variant(
        multi_model=True,
        capacity={"min": 1, "max": 4},
        signals={"model_loading_wait_ms": 2000},
        warm_up={"target_models": ["a.tar.gz"]},
    )
    reading = SignalReading(Signal.MODEL_LOADING_WAIT, ALARM, ago(60), 6.1e6, 2e6, "Microseconds")
    plan = decide(evaluation(reading), policy, observed(4), state(last_warm_attempt_at=ago(60)), NOW)
    assert plan.action is Action.IGNORE
    assert "warmed 60 s ago" in plan.reason


def test_a_planned_scale_cannot_pass_the_application_auto_scaling_maximum() -> None:
    with pytest.raises(ValueError, match=r"above .* MaxCapacity 5"):
        plan_requested_scale(variant(), observed(2, floor=(1, 5)), 6, "launch", None, NOW)


def test_no_warm_up_is_planned_when_the_policy_turns_it_off() -> None:
    policy = variant(
        multi_model=True,
        capacity={"min": 1, "max": 4},
        signals={"model_loading_wait_ms": 2000},
        warm_up={"enabled": False, "target_models": ["a.tar.gz"]},
    )
    reading = SignalReading(Signal.MODEL_LOADING_WAIT, ALARM, ago(60), 6.1e6, 2e6, "Microseconds")
    plan = decide(evaluation(reading), policy, observed(4), state(), NOW)
    assert plan.action is Action.IGNORE


def _expecting(*per_minute: float, error: float = 0.05) -> TargetState:
    """A state whose forecast, made now, expects `per_minute` invocations (each value for 10 minutes)."""
    minutes = [v for v in per_minute for _ in range(10)]
    made = DemandForecast(
        made_at=NOW, method="daily", error=error, per_minute=minutes, inflight_per_invocation=0.2
    )
    return state(forecast=made, cold_start_seconds=300.0)


UNLIMITED = {
    "capacity": {"min": 1, "max": 20},
    "scale_out": {"cooldown_seconds": 300},
    "scale_in": {"cooldown_seconds": 600, "stabilization_seconds": 900},
}
FORECASTING = {**UNLIMITED, "forecast": {"margin_seconds": 300}}
CALM = evaluation(latency(OK, 900, since=ago(5000)), concurrency(OK, 1, since=ago(5000)))


def test_capacity_is_added_ahead_of_a_ramp_the_forecast_expects() -> None:
    # Given a calm target of 2 and a forecast of 20 a minute now, 400 a minute from minute 10 (within the cold
    # start of 300 s and the margin of 300 s)
    plan = decide(CALM, variant(**FORECASTING), observed(2), _expecting(20, 400), NOW)
    # Then it scales out now to what 400 a minute need: 400 x 0.2 in flight / (8 x 0.7) per instance -> 15
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_OUT, 15)
    assert plan.reason.startswith("Ahead of the demand: the forecast daily, error 5% over the last day")
    assert "expects 400 requests a minute within 600 s" in plan.reason
    # Even within the scale-out cooldown: the forecast does not read what the last scale-out added
    cooling = _expecting(20, 400).model_copy(update={"last_scale_out_at": ago(60)})
    assert decide(CALM, variant(**FORECASTING), observed(2), cooling, NOW).action is Action.SCALE_OUT


def test_a_level_is_left_to_the_reactive_part_and_a_far_ramp_to_later() -> None:
    # A level above what the target has, but no rise beyond twice the forecast's error: no pre-scale
    level = decide(CALM, variant(**FORECASTING), observed(2), _expecting(100, 105), NOW)
    assert level.action is not Action.SCALE_OUT
    # A ramp beyond the cold start and the margin: not yet
    later = decide(CALM, variant(**FORECASTING), observed(2), _expecting(20, 20, 400), NOW)
    assert later.action is not Action.SCALE_OUT


def test_scale_in_is_held_when_the_forecast_expects_the_demand_back() -> None:
    # Given 8 instances whose peak over the window needs 2, and demand of 20 a minute expected back to 150
    plan = decide(CALM, variant(**FORECASTING), observed(8), _expecting(140, 150), NOW)
    # Then it scales in only to what the forecast expects: 150 x 0.2 / 5.6 -> 6
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 6)
    assert "the forecast daily" in plan.reason


def test_a_trusted_forecast_shortens_the_stabilization_window_to_the_time_to_add_capacity_back() -> None:
    # Given 8 instances whose load needs 2, every signal OK for 700 s (the policy's window is 900 s), and a
    # forecast expecting 20 a minute over the next cold start (300 s) and margin (300 s)
    calm = evaluation(latency(OK, 900, since=ago(700)), concurrency(OK, 1, since=ago(700)))
    plan = decide(calm, variant(**FORECASTING), observed(8), _expecting(20, 20), NOW)
    # Then it scales in: the forecast holds scale-in above what it expects for that long, which is what the
    # long window insured against
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)
    # But not before 600 s; nor while the forecast stands aside or is only advisory: the policy's window then
    early = evaluation(latency(OK, 900, since=ago(500)), concurrency(OK, 1, since=ago(500)))
    assert (
        "stabilization window has 100 s left"
        in decide(early, variant(**FORECASTING), observed(8), _expecting(20, 20), NOW).reason
    )
    aside = _expecting(20, 20)
    assert aside.forecast is not None
    aside = aside.model_copy(
        update={"forecast": aside.forecast.model_copy(update={"stands_aside": "its error is above 25%"})}
    )
    assert (
        "stabilization window has 200 s left"
        in decide(calm, variant(**FORECASTING), observed(8), aside, NOW).reason
    )
    advisory = variant(**UNLIMITED, forecast={"margin_seconds": 300, "mode": "advisory"})
    assert decide(calm, advisory, observed(8), _expecting(20, 20), NOW).action is not Action.SCALE_IN


def test_the_window_its_returning_demand_asks_for_shortens_the_policys_while_fresh_and_acting() -> None:
    # Given 8 instances whose load needs 2, every signal OK for 700 s of the policy's 900, and the forecaster's
    # measure an hour ago that this target's demand, once fallen, does not come back within 600 s
    measure = measured_window(600, 900, measured_ago=3600)
    calm = evaluation(latency(OK, 900, since=ago(700)), concurrency(OK, 1, since=ago(700)))
    measured = state(scale_in_window=measure)
    plan = decide(calm, variant(**UNLIMITED), observed(8), measured, NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)
    assert stabilization(variant(**UNLIMITED), measured, NOW, fall=True) == timedelta(seconds=600)
    # Not once the measure is stale (the forecaster has not run for hours), nor in advisory mode or off
    stale = state(scale_in_window=measure.model_copy(update={"measured_at": ago(3 * 3600)}))
    assert "window has 200 s left" in decide(calm, variant(**UNLIMITED), observed(8), stale, NOW).reason
    for mode in ("advisory", "off"):
        policy = variant(**UNLIMITED, forecast={"mode": mode})
        assert decide(calm, policy, observed(8), measured, NOW).action is not Action.SCALE_IN
    # Nor once the policy's scale-in settings have changed since it was measured
    changed = variant(**{**UNLIMITED, "scale_in": {**UNLIMITED["scale_in"], "stabilization_seconds": 1200}})
    assert stabilization(changed, measured, NOW, fall=True) == timedelta(seconds=1200)
    for setting, value in (("cooldown_seconds", 300), ("target_utilization", 0.8)):
        other = variant(**{**UNLIMITED, "scale_in": {**UNLIMITED["scale_in"], setting: value}})
        assert stabilization(other, measured, NOW, fall=True) == timedelta(seconds=900)
    # Nor for a target that watches no concurrency: nothing tells its falls from its trims
    blind = variant(**UNLIMITED, signals={"latency_p95_ms": 900, "concurrency_per_unit": None})
    assert stabilization(blind, measured, NOW, fall=True) == timedelta(seconds=900)
    latency_only = evaluation(latency(OK, 900, since=ago(700)))
    assert "window has 200 s left" in decide(latency_only, blind, observed(8), measured, NOW).reason
    # Fresh for two and a half hours
    for age, seconds in ((9000, 600), (9001, 900)):
        aged = state(scale_in_window=measure.model_copy(update={"measured_at": ago(age)}))
        assert stabilization(variant(**UNLIMITED), aged, NOW, fall=True) == timedelta(seconds=seconds)
    # And it never lengthens the policy's window
    longer = state(scale_in_window=measure.model_copy(update={"seconds": 3600}))
    assert stabilization(variant(**UNLIMITED), longer, NOW, fall=True) == timedelta(seconds=900)


def test_the_lulls_window_never_lengthens_what_a_held_demand_shortens() -> None:
    # Given a scale-out an alarm sized 1000 s ago whose demand has held, and a measured window of 900 s (the
    # policy's is 1800 s, the cooldown 600 s)
    policy = variant(**{**UNLIMITED, "scale_in": {"cooldown_seconds": 600, "stabilization_seconds": 1800}})
    held = DemandTrend((300.0,) * 12)
    assert held.held
    scaled = state(
        last_scale_out_at=ago(1000),
        alarm_scale_out_decided_at=ago(1400),
        scale_in_window=measured_window(900, 1800, measured_ago=60),
    )
    # Then the window is the cooldown's, with the measure or without it
    assert stabilization(policy, scaled, NOW, held, fall=True) == timedelta(seconds=600)
    assert stabilization(policy, scaled, NOW, held, fall=False) == timedelta(seconds=600)


def test_a_fall_goes_within_the_policys_step_and_an_aas_floor_trim_waits_too() -> None:
    measure = measured_window(600, 900, measured_ago=60)
    calm = evaluation(latency(OK, 900, since=ago(700)), concurrency(OK, 1, since=ago(700)))
    # A fall from 10 to what 2 need, with a step of 1: one step down now, not a trim to wait for
    stepped = variant(**{**UNLIMITED, "scale_in": {**UNLIMITED["scale_in"], "max_step": 1}})
    plan = decide(calm, stepped, observed(10), state(scale_in_window=measure), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 9)
    # A MinCapacity the controller raised to 10, for a peak of 5 per instance (a trim: 9 of 10) waits the window
    aas = ObservedCapacity(
        desired=10,
        current=10,
        status="InService",
        scalable_target=ScalableTargetFloor(min_capacity=10, max_capacity=20),
    )
    trim = evaluation(latency(OK, 900, since=ago(700)), concurrency(OK, 5, since=ago(700)))
    raised = state(scale_in_window=measure, raised_floor=10, original_floor=1, last_known_capacity=10)
    plan = decide(trim, variant(**UNLIMITED), aas, raised, NOW)
    assert plan.action is Action.IGNORE
    assert "its MinCapacity 10: a trim, no fall, waits the stabilization window, 200 s left" in plan.reason
    # A fall of it goes
    plan = decide(calm, variant(**UNLIMITED), aas, raised, NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)


def test_the_window_of_the_lulls_is_for_a_fall_and_a_trim_waits_the_whole_window() -> None:
    # Given 10 instances, every signal OK for 700 s, and a measured window of 600 s (the policy's is 900 s)
    measured = state(scale_in_window=measured_window(600, 900, measured_ago=60))
    policy = variant(**UNLIMITED)
    readings = evaluation(latency(OK, 900, since=ago(700)), concurrency(OK, 1, since=ago(700))).readings
    # The peak is read over the 600 s
    assert utilization_window(policy, readings, measured, NOW) == timedelta(seconds=600)

    def at(peak: float, calm_for: float) -> str:
        calm = evaluation(latency(OK, 900, since=ago(calm_for)), concurrency(OK, peak, since=ago(calm_for)))
        plan = decide(calm, policy, observed(10), measured, NOW)
        return f"{plan.action} {plan.desired_capacity}" if plan.action is Action.SCALE_IN else plan.reason

    # A fall, to at most 70% of the capacity (the scale-in target: the band below the alarm), goes at once: a
    # peak of 3.5 per instance needs 35 / (8 x 0.7) -> 7
    assert at(3.5, 700) == "scale_in 7"
    # A trim, to more than 70%, waits the rest of the policy's window: a peak of 5 needs 50 / 5.6 -> 9
    assert at(5.0, 700) == (
        "All signals OK, but llm-prod/AllTraffic needs 9 instances of 10 instances: a trim, no fall, waits the "
        "stabilization window, 200 s left."
    )
    # Then it goes as before, with the peak read over the whole window
    assert at(5.0, 900) == "scale_in 9"
    whole = evaluation(latency(OK, 900, since=ago(900)), concurrency(OK, 1, since=ago(900))).readings
    assert utilization_window(policy, whole, measured, NOW) == timedelta(seconds=900)


def test_a_shortened_window_is_whole_seconds_for_the_dispatch_and_the_decision_alike() -> None:
    # Given a cold start timed at 300.4 s: the window is 300.4 + 300 s, rounded up to 601 s
    remembered = _expecting(20, 20).model_copy(update={"cold_start_seconds": 300.4})
    assert stabilization(variant(**FORECASTING), remembered, NOW, fall=True) == timedelta(seconds=601)
    # The dispatch reads the window's peak exactly when the decision may scale in by it: at 601 s, not before
    for ok_for, scales_in in ((600.6, False), (601.0, True)):
        calm = evaluation(latency(OK, 900, since=ago(ok_for)), concurrency(OK, 1, since=ago(ok_for)))
        window = utilization_window(variant(**FORECASTING), calm.readings, remembered, NOW)
        plan = decide(calm, variant(**FORECASTING), observed(8), remembered, NOW)
        assert (window is not None) is scales_in
        assert (plan.action is Action.SCALE_IN) is scales_in


def test_the_forecast_raises_a_scale_out_but_never_lowers_one() -> None:
    spike = alarm(concurrency(ALARM, 12))
    raised = decide(spike, variant(**FORECASTING), observed(2), _expecting(300, 300), NOW)
    assert raised.desired_capacity == 11  # 300 x 0.2 / 5.6 -> 11, above the 5 the concurrency asks for
    assert "raised to what the forecast daily" in raised.reason
    low = decide(spike, variant(**FORECASTING), observed(2), _expecting(10, 10), NOW)
    assert low.desired_capacity == 5


@pytest.mark.parametrize(
    ("rule", "stands_aside", "expected"),
    [
        ({"mode": "advisory"}, None, Action.IGNORE),
        ({"mode": "off"}, None, None),
        ({}, "its error over the last day (40%) is above 25%", None),
    ],
    ids=["advisory: reported, not done", "off", "standing aside"],
)
def test_an_advisory_off_or_standing_aside_forecast_adds_nothing(
    rule: dict[str, object], stands_aside: str | None, expected: Action | None
) -> None:
    remembered = _expecting(20, 400)
    assert remembered.forecast is not None
    remembered = remembered.model_copy(
        update={"forecast": remembered.forecast.model_copy(update={"stands_aside": stands_aside})}
    )
    policy = variant(**UNLIMITED, forecast={"margin_seconds": 300, **rule})
    plan = decide(CALM, policy, observed(1), remembered, NOW)
    assert plan.action is not Action.SCALE_OUT
    if expected is Action.IGNORE:
        assert plan.reason.startswith("Advisory forecast: it would scale llm-prod/AllTraffic out from 1")
        assert "to 15 instances" in plan.reason
    # Nor does it hold a scale-in: 8 instances at a peak of 1 each go to 2, as without a forecast
    assert decide(CALM, policy, observed(8), remembered, NOW).desired_capacity == 2
    # And an alarm is sized by its signal alone
    assert decide(alarm(concurrency(ALARM, 12)), policy, observed(2), remembered, NOW).desired_capacity == 5


def test_a_scale_out_ahead_of_the_demand_keeps_the_step_limit() -> None:
    staged = variant(**{**FORECASTING, "scale_out": {"max_step": 2, "max_factor": 1.5}})
    plan = decide(CALM, staged, observed(4), _expecting(20, 400), NOW)
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_OUT, 6)
    assert "the forecast asks for 15; limited by the step limit" in plan.reason


def _invocations(*per_minute: float) -> DemandTrend:
    return DemandTrend(per_minute)


def test_after_a_scale_out_the_demand_never_used_is_given_back_after_the_cooldown_not_the_window() -> None:
    # Given 8 instances a scale-out an alarm sized made 600 s ago (the scale-in cooldown; the window is 900 s),
    # every signal OK since, their load needing 2, and invocations flat at 400 a minute (within noise of their
    # busiest)
    scaled_out = state(last_scale_out_at=ago(600), alarm_scale_out_decided_at=ago(900))
    calm = evaluation(latency(OK, 900, since=ago(600)), concurrency(OK, 1, since=ago(600)))
    flat = _invocations(400, 410, 395, 402, 398, 405, 399, 401, 396, 404)
    plan = decide(calm, variant(**UNLIMITED), observed(8), scaled_out, NOW, flat)
    # Then it scales in now: nothing fell that could come back
    assert (plan.action, plan.desired_capacity) == (Action.SCALE_IN, 2)
    assert stabilization(variant(**UNLIMITED), scaled_out, NOW, flat, fall=True) == timedelta(seconds=600)
    # Not when the invocations fell from their busiest (beyond 4 Poisson deviations: 410 - 81), nor while they
    # rise (the ramp watch's), nor after a scale-in, nor a window after the scale-out, nor without the minutes,
    # nor after a scale-out no alarm sized: the policy's window
    fell = _invocations(400, 410, 395, 402, 398, 405, 330, 300, 280, 320)
    rising = _invocations(*(300 + 20 * i for i in range(10)))
    scaled_in = state(last_scale_in_at=ago(600), alarm_scale_out_decided_at=ago(4000))
    # calm since an alarm that scaled nothing: the whole window
    long_ago = state(last_scale_out_at=ago(3600), alarm_scale_out_decided_at=ago(3900))
    planned = state(
        last_scale_out_at=ago(600)
    )  # a person's plan, an event, the forecast: capacity on purpose
    for remembered, trend in (
        (scaled_out, fell),
        (scaled_out, rising),
        (scaled_in, flat),
        (scaled_out, None),
        (long_ago, flat),
        (planned, flat),
    ):
        assert stabilization(variant(**UNLIMITED), remembered, NOW, trend, fall=True) == timedelta(
            seconds=900
        )
        assert (
            "stabilization window has 300 s left"
            in decide(calm, variant(**UNLIMITED), observed(8), remembered, NOW, trend).reason
        )


def test_an_ok_transition_after_a_scale_out_an_alarm_sized_says_the_window_may_be_the_cooldown() -> None:
    # Given a concurrency alarm going OK 600 s after a scale-out an alarm sized (decided without the invocations)
    recovered = AlarmTransition(concurrency(OK, 1, since=NOW), AlarmState.ALARM)
    scaled_out = state(last_scale_out_at=ago(600), alarm_scale_out_decided_at=ago(900))
    plan = decide(recovered, variant(**UNLIMITED), observed(8), scaled_out, NOW)
    # Then it says both: the window, and the cooldown the minute's evaluation may find stands for it
    assert plan.reason.endswith(
        "scale-in is considered once every signal has stayed OK for 900 s "
        "(600 s if the invocations hold where they were since the scale-out)."
    )
    # After a person's planned scale-out, the window alone
    planned = decide(recovered, variant(**UNLIMITED), observed(8), state(last_scale_out_at=ago(600)), NOW)
    assert planned.reason.endswith("scale-in is considered once every signal has stayed OK for 900 s.")
