"""A calm SageMaker target's scale-in: after the stabilization window and the cooldown, down to what its peak
concurrency over the window needs (and never blind to it), within the policy's optional step and its floor.

A target that Application Auto Scaling manages is not scaled in directly: the MinCapacity the controller raised
goes back down toward the one the team had, and the scaling policies take it from there.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from genai_autoscaler.domain.alarm_event import SignalReading, every_signal_ok
from genai_autoscaler.domain.decision.core import Decision, in_seconds, time_left
from genai_autoscaler.domain.demand import DEFAULT_COLD_START_SECONDS, DemandTrend
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import ObservedCapacity, TargetState
from genai_autoscaler.domain.targets import capacity_unit, capacity_units


def stable_since(readings: tuple[SignalReading, ...], state: TargetState) -> datetime:
    """Since when every signal has been OK and nothing was scaled: the start of the stabilization window."""
    ok_since = max(r.since for r in readings)
    return ok_since if state.last_scale_at is None else max(ok_since, state.last_scale_at)


def forecast_horizon(policy: SageMakerPolicy, state: TargetState) -> timedelta:
    """How long until capacity added now would serve, with the forecast's margin: the last cold start (AWS's
    upper figure until one was timed) and `forecast.margin_seconds`. The forecast is read that far ahead."""
    cold_start = state.cold_start_seconds or DEFAULT_COLD_START_SECONDS
    return timedelta(seconds=cold_start + policy.forecast.margin_seconds)


def just_scaled_out(state: TargetState, window: timedelta, now: datetime) -> bool:
    """Whether the last scale was a scale-out an alarm's figure sized (a person's plan, a planned event, the
    forecast and the ramp watch add capacity on purpose), serving since no longer than `window`: within it, the
    minutes since its decision are what the demand was read from; after it, what calm has lasted decides."""
    out = state.last_scale_out_at
    return (
        out is not None
        and state.alarm_scale_out_decided_at is not None
        and out == state.last_scale_at
        and now - out <= window
    )


def stabilization(
    policy: SageMakerPolicy,
    state: TargetState,
    now: datetime,
    demand: DemandTrend | None = None,
    *,
    fall: bool,
) -> timedelta:
    """How long every signal must stay OK before a scale-in: the policy's window, or shorter where nothing is
    left for it to insure. The long window insures against demand that returns, once it has fallen.

    - Within a window of a scale-out an alarm sized (`just_scaled_out`), while the invocations since its
      decision have held where they were at their busiest (`DemandTrend.held`: the demand has not fallen, so
      nothing can return) and do not rise (a ramp is the ramp watch's, and wants the window), no longer than the
      scale-in cooldown: capacity the demand never came to use (a scale-out sized from a queue that swelled the
      concurrency, a surge's) is given back once measured, not insured for the whole window.
    - For a `fall` (a scale-in to at most `target_utilization` of the capacity; a trim within the band below
      the alarm, the noise of a level, waits the rest), while the forecast acts and the target watches
      concurrency (what tells a fall from a trim), no longer than the target's own history says its demand takes
      to come back once it has fallen (`domain.returns`, measured hourly by the forecaster): traffic that falls
      and stays down is followed down sooner; bursty traffic keeps the window its lulls need.
    - While the target's own forecast is trusted and acts, no longer than it takes to add capacity back (the
      last cold start, and the forecast's margin): a forecast that has shown it foresees this traffic (it
      stands aside otherwise: history too short, error too large, random bursts) holds scale-in above what it
      expects over that time, and does the insuring instead."""
    window = timedelta(seconds=policy.scale_in.stabilization_seconds)
    if just_scaled_out(state, window, now) and demand is not None and demand.held and not demand.rising:
        window = min(window, timedelta(seconds=policy.scale_in.cooldown_seconds))
    measured = state.scale_in_window
    if (
        fall
        and policy.forecast.mode == "act"
        and policy.signals.concurrency_per_unit is not None
        and measured is not None
        and measured.applies(policy, now)
    ):
        window = min(window, timedelta(seconds=measured.seconds))
    expected = state.forecast
    if policy.forecast.mode != "act" or expected is None or expected.inflight_per_invocation is None:
        return window
    back = forecast_horizon(policy, state)
    if expected.peak(now, now + back) is None:  # standing aside, or stale
        return window
    return min(window, timedelta(seconds=math.ceil(back.total_seconds())))


def utilization_window(
    policy: SageMakerPolicy,
    readings: tuple[SignalReading, ...],
    state: TargetState,
    now: datetime,
    demand: DemandTrend | None = None,
) -> timedelta | None:
    """The window whose concurrency peak a scale-in is sized by, when an evaluation may scale in by concurrency
    (every signal OK that long, a concurrency signal watched); None when it may not. Once every signal has been
    OK for the whole stabilization window, that window; before, the shorter one the target's lulls ask for (a
    scale-in then goes ahead only for a fall)."""
    if policy.signals.concurrency_per_unit is None:
        return None
    if not every_signal_ok(readings):
        return None
    calm_for = now - stable_since(readings, state)
    whole = stabilization(policy, state, now, demand, fall=False)
    if calm_for >= whole:
        return whole
    window = stabilization(policy, state, now, demand, fall=True)
    return window if calm_for >= window else None


def scale_in(
    decision: Decision,
    policy: SageMakerPolicy,
    observed: ObservedCapacity,
    foreseen: tuple[int, str] | None = None,
) -> Plan:
    """The scale-in (or the floor lowered) that every signal staying OK allows, never below `foreseen` (the
    capacity the forecast expects to need soon, and why); IGNORE saying why when none."""
    now, state = decision.now, decision.state
    ok_since = stable_since(decision.readings, state)
    window = stabilization(policy, state, now, decision.demand, fall=True)
    left = time_left(ok_since, int(window.total_seconds()), now)
    if left is not None:
        return decision.ignore(f"All signals OK; stabilization window has {in_seconds(left)} left.")
    cooldown = time_left(state.last_scale_at, policy.scale_in.cooldown_seconds, now)
    if cooldown is not None:
        return decision.ignore(f"Scale-in cooldown has {in_seconds(cooldown)} left.")
    if observed.scalable_target is not None and state.raised_floor is None:
        return decision.ignore(
            f"All signals OK; Application Auto Scaling owns scale-in of {policy.name} "
            "(the controller has not raised its floor)."
        )
    needed, needed_why = _needed_by_utilization(decision.readings, policy, observed.desired)
    if needed is None:
        return decision.ignore(
            f"All signals OK, but no concurrency figures for {policy.name} over the stabilization window: "
            "holding (never scaling in blind)."
        )
    if foreseen is not None and foreseen[0] > needed:
        needed, needed_why = foreseen
    if observed.scalable_target is not None:
        return _restore_floor(decision, policy, needed, needed_why)

    current = observed.desired
    desired = max(policy.capacity_floor, needed, _least_after_step(policy, current))
    if desired >= current:
        why = (
            f"it is at its minimum ({policy.capacity_floor})"
            if current <= policy.capacity_floor
            else needed_why
        )
        return decision.ignore(
            f"All signals OK, but {policy.name} keeps {capacity_units(policy.kind, current)}: {why}."
        )
    if (
        trim := _trim_waits(decision, policy, current, needed, capacity_units(policy.kind, current))
    ) is not None:
        return trim
    return decision.plan(
        Action.SCALE_IN,
        f"All signals OK for {in_seconds(now - ok_since)}: scale {policy.name} in from "
        f"{capacity_units(policy.kind, current)} to {capacity_units(policy.kind, desired)}"
        + (f" ({needed_why})" if needed > 0 else "")
        + ".",
        desired_capacity=desired,
        actuation=Actuation.SET_CAPACITY,
    )


def _restore_floor(decision: Decision, policy: SageMakerPolicy, needed: int, needed_why: str) -> Plan:
    raised = decision.state.raised_floor
    assert raised is not None  # scale_in hands over only floors the controller raised
    original = decision.state.original_floor
    if original is None:
        original = policy.capacity.min
    # Back toward the floor the team had, within the step, never below what utilization needs or the policy's
    # own minimum.
    floor = max(original, policy.capacity.min, _least_after_step(policy, raised), min(needed, raised))
    if floor >= raised:
        return decision.ignore(f"All signals OK, but the raised MinCapacity {raised} stays: {needed_why}.")
    if (trim := _trim_waits(decision, policy, raised, needed, f"its MinCapacity {raised}")) is not None:
        return trim
    return decision.plan(
        Action.SCALE_IN,
        f"All signals OK: lower {policy.name}'s Application Auto Scaling MinCapacity from {raised} to "
        f"{floor} (it was {original} before the controller raised it); its policies scale in from there.",
        current_capacity=raised,
        desired_capacity=floor,
        actuation=Actuation.RESTORE_FLOOR,
    )


def _trim_waits(
    decision: Decision, policy: SageMakerPolicy, current: int, needed: int, what: str
) -> Plan | None:
    """IGNORE, saying why, when what the demand needs is a trim of `current`, not a fall (more than
    `target_utilization` of it: the noise of a level, within the band below the alarm), and every signal has not
    yet been OK for the window without the one the target's lulls ask for, which is for a fall; None otherwise."""
    if needed <= math.floor(current * policy.scale_in.target_utilization + 1e-9):
        return None
    whole = stabilization(policy, decision.state, decision.now, decision.demand, fall=False)
    left = time_left(
        stable_since(decision.readings, decision.state), int(whole.total_seconds()), decision.now
    )
    if left is None:
        return None
    return decision.ignore(
        f"All signals OK, but {policy.name} needs {capacity_units(policy.kind, needed)} of {what}: a trim, "
        f"no fall, waits the stabilization window, {in_seconds(left)} left."
    )


def _least_after_step(policy: SageMakerPolicy, count: int) -> int:
    """The least one scale-in may leave of `count`: the policy's step below it; without a step, no limit (down
    to the need at once), except for a target that watches no concurrency, which has no need to measure and
    goes one unit at a time."""
    step = policy.scale_in.max_step
    if step is None and policy.signals.concurrency_per_unit is None:
        step = 1
    return count - step if step is not None else 0


def _needed_by_utilization(
    readings: tuple[SignalReading, ...], policy: SageMakerPolicy, current: int
) -> tuple[int | None, str]:
    """Units needed to keep concurrency per unit at the scale-in target, and why.

    0 when the policy watches no concurrency (scale-in then goes by its step alone); None when it does
    but there is no figure to size by.
    """
    if policy.signals.concurrency_per_unit is None:
        return 0, "no concurrency signal"
    reading = next((r for r in readings if r.signal is Signal.CONCURRENCY), None)
    if reading is None or reading.value is None:
        return None, "no concurrency figures"
    per_unit_target = policy.signals.concurrency_per_unit * policy.scale_in.target_utilization
    total = reading.value * current
    needed = math.ceil(total / per_unit_target - 1e-9)
    return needed, (
        f"peak concurrency {total:.1f} needs {needed} at {per_unit_target:g} per {capacity_unit(policy.kind)}"
    )
