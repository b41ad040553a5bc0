"""A SageMaker target's decision: how many instances or copies it should have, and when to warm its models.

Scale-out answers the firing signals in proportion to their overshoot (for concurrency, the in-flight demand it
measures), grown for the demand expected once new capacity serves, in one step: within the policy's optional step
guard, its bounds and Application Auto Scaling's MaxCapacity. A surge (Knative's panic) does not wait for the
scale-out cooldown. A calm target whose invocations rise beyond their noise is scaled out before its concurrency
alarm fires, when their trend would take it there within a cold start. A target at its ceiling whose models load
slowly is warmed instead. Capacity a person changed is adopted and left alone for a while. Scale-in is
`sagemaker_scale_in`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.decision.core import Decision, Evaluation, figures, in_seconds, time_left
from genai_autoscaler.domain.decision.sagemaker_scale_in import (
    forecast_horizon,
    just_scaled_out,
    scale_in,
    stabilization,
)
from genai_autoscaler.domain.demand import DEFAULT_COLD_START_SECONDS
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.signals import PROPORTIONAL_SIGNALS, Signal
from genai_autoscaler.domain.state import Lock, ObservedCapacity, TargetState
from genai_autoscaler.domain.targets import capacity_unit, capacity_units


def decide(decision: Decision, policy: SageMakerPolicy) -> Plan:
    """The plan for a SageMaker target that is not paused; a notification (or nothing) when it does not exist."""
    observed = decision.capacity
    if observed is None:
        return decision.unheeded(f"{policy.name} was not found in SageMaker")
    return decision.follow(_Capacity(decision, policy, observed))


def forecast_floor(
    policy: SageMakerPolicy, observed: ObservedCapacity, state: TargetState, now: datetime
) -> tuple[int, str] | None:
    """The capacity the target's forecast expects it to need soon and why, as a decision now would weigh it
    (what `genai-autoscaler status` shows); None without a forecast to use."""
    floor = _Capacity(Decision(Evaluation(()), policy, state, now, observed), policy, observed).forecast
    return None if floor is None else (floor.units, floor.why)


@dataclass(frozen=True)
class _ForecastFloor:
    """The capacity the forecast expects the target to need soon, why, and whether it may act on it."""

    units: int
    why: str
    acts: bool  # not advisory
    rising: bool  # a ramp beyond the forecast's error, not a level


@dataclass(frozen=True)
class _Capacity:
    """The steps of `Decision.follow` for a SageMaker target whose capacity was observed."""

    decision: Decision
    policy: SageMakerPolicy
    observed: ObservedCapacity

    def in_progress(self, lock: Lock) -> str:
        return (
            f"A scale of {self.policy.name} is in progress ({lock.owner}); "
            f"lock held until {lock.expires_at.isoformat()}."
        )

    def settling(self) -> Plan | None:
        policy, observed, state = self.policy, self.observed, self.decision.state
        if not observed.in_service:
            return self.decision.ignore(f"{policy.name} is {observed.status}; waiting for it to settle.")
        if (held_until := state.held_by_hand_until(self.decision.now)) is not None:
            return self.decision.ignore(
                f"{policy.name} is left alone until {held_until.isoformat()}: a person changed its capacity."
            )
        return self._manual_change()

    def _manual_change(self) -> Plan | None:
        """A notification that adopts capacity someone else set, and holds the target; None if nobody did."""
        policy, observed, state = self.policy, self.observed, self.decision.state
        hold_until = self.decision.now + timedelta(seconds=policy.manual_change_hold_seconds)
        if observed.scalable_target is not None:
            floor = observed.scalable_target.min_capacity
            if state.raised_floor is None or floor == state.raised_floor:
                return None
            what = f"Application Auto Scaling MinCapacity changed from {state.raised_floor} to {floor}"
        else:
            if state.last_known_capacity is None or observed.desired == state.last_known_capacity:
                return None
            what = (
                f"capacity changed from {capacity_units(policy.kind, state.last_known_capacity)} to "
                f"{capacity_units(policy.kind, observed.desired)}"
            )
        return self.decision.plan(
            Action.NOTIFY_ONLY,
            f"{what} by someone other than the controller; leaving {policy.name} alone until "
            f"{hold_until.isoformat()}.",
            adopt_capacity=observed.desired,
            manual_hold_until=hold_until,
        )

    @property
    def cold_start_seconds(self) -> float:
        """How long new capacity takes to serve: as last timed on this target, else AWS's upper figure."""
        return self.decision.state.cold_start_seconds or DEFAULT_COLD_START_SECONDS

    @property
    def growth(self) -> float:
        """How many times today's demand the invocations' trend expects once new capacity serves."""
        demand = self.decision.demand
        return 1.0 if demand is None else demand.growth(self.cold_start_seconds)

    def _wanted(self, reading: SignalReading, current: int) -> int:
        """The capacity one firing signal asks for: in proportion to the overshoot (the in-flight demand it
        measures, for concurrency), grown for the demand one cold start ahead.

        Concurrency is sized to the scale-in target (`scale_in.target_utilization` of the threshold), not
        to the threshold itself: capacity sized to the threshold would alarm again at the next rise of the
        load, and the band between the two is what keeps the target from flapping.
        """
        if current == 0:
            return 1
        if reading.signal in PROPORTIONAL_SIGNALS and reading.ratio is not None:
            ratio = reading.ratio
            if reading.signal is Signal.CONCURRENCY:
                ratio /= self.policy.scale_in.target_utilization
            return max(current + 1, math.ceil(current * ratio * self.growth - 1e-9))
        return current + 1

    def _limited(self, wanted: int) -> tuple[int, str | None]:
        """What one scale-out from the current capacity may reach of `wanted`: within the policy's step guard
        and the ceiling; and what limited it (None: nothing did)."""
        current, rule = self.observed.desired, self.policy.scale_out
        limits: list[tuple[int, str]] = []  # (the most it allows, its name), the step guard first
        if rule.max_step is not None:
            limits.append((current + rule.max_step, "the step limit"))
        if rule.max_factor is not None:
            limits.append((max(current + 1, math.floor(current * rule.max_factor + 1e-9)), "the step limit"))
        ceiling, ceiling_name = self.ceiling
        limits.append((ceiling, f"the {ceiling_name}"))
        reach, name = min(limits, key=lambda limit: limit[0])
        return (wanted, None) if wanted <= reach else (reach, name)

    @property
    def ceiling(self) -> tuple[int, str]:
        """The most capacity the controller may ask for, and what sets it."""
        policy, scalable = self.policy, self.observed.scalable_target
        if scalable is not None and scalable.max_capacity < policy.capacity.max:
            return scalable.max_capacity, "Application Auto Scaling MaxCapacity"
        return policy.capacity.max, "policy max"

    @cached_property
    def forecast(self) -> _ForecastFloor | None:
        """The capacity the forecast expects the target to need from now until capacity added now would
        serve (its cold start and the policy's margin), within the ceiling; None without a forecast to use."""
        policy, state, now = self.policy, self.decision.state, self.decision.now
        expected = state.forecast
        per_unit = policy.signals.concurrency_per_unit
        if policy.forecast.mode == "off" or expected is None or per_unit is None:
            return None
        horizon = forecast_horizon(policy, state)
        peak = expected.peak(now, now + horizon)
        if peak is None or expected.inflight_per_invocation is None:
            return None
        target = per_unit * policy.scale_in.target_utilization
        needed = math.ceil(peak * expected.inflight_per_invocation / target - 1e-9)
        units = min(max(needed, policy.capacity_floor), self.ceiling[0])
        why = (
            f"the {expected.describe()} expects {peak:,.0f} requests a minute within {in_seconds(horizon)} "
            f"(a cold start and the margin), which need {capacity_units(policy.kind, needed)}"
        )
        return _ForecastFloor(units, why, policy.forecast.mode == "act", expected.rises(now, peak))

    def _panic(self, reading: SignalReading) -> bool:
        """Whether the reading is a surge: concurrency at `panic_ratio` times its threshold or more."""
        ratio = reading.ratio
        return (
            reading.signal is Signal.CONCURRENCY
            and ratio is not None
            and ratio >= self.policy.scale_out.panic_ratio
        )

    def alarming(self, alarming: list[SignalReading]) -> Plan:
        """Scale out to what the most demanding signal asks for, within the step guard, the bounds and the
        cooldown (which a surge does not wait for)."""
        policy, observed, decision = self.policy, self.observed, self.decision
        current = observed.desired
        lead = max(alarming, key=lambda r: self._wanted(r, current))
        wanted = self._wanted(lead, current)
        foreseen = self.forecast
        raised_by = foreseen if foreseen is not None and foreseen.acts and foreseen.units > wanted else None
        if raised_by is not None:
            wanted = raised_by.units
        reach, limited_by = self._limited(wanted)
        desired = max(policy.capacity.min, reach)
        if desired <= current:
            return self._at_ceiling(lead, f"its {self.ceiling[1]} ({capacity_units(policy.kind, current)})")

        panic = any(self._panic(r) for r in alarming)
        cooldown = time_left(
            decision.state.last_scale_out_at, policy.scale_out.cooldown_seconds, decision.now
        )
        if cooldown is not None and not panic:
            return decision.ignore(
                f"{lead.describe()}; scale-out cooldown has {in_seconds(cooldown)} left.", **figures(lead)
            )

        notes = []
        if cooldown is not None:
            notes.append(
                f"a surge at {lead.ratio:.1f}x the threshold: within the scale-out cooldown"
                if lead.ratio is not None
                else "a surge"
            )
        if raised_by is not None:
            notes.append(f"raised to what {raised_by.why}")
        elif self.growth > 1.0 and lead.signal in PROPORTIONAL_SIGNALS:
            notes.append(
                f"sized for {self.growth:.2f}x today's demand in {self.cold_start_seconds:.0f} s, when new "
                "capacity serves"
            )
        if desired < wanted and limited_by is not None:
            notes.append(f"the signal asks for {wanted}; limited by {limited_by}")
        return self._scale_out(desired, lead.describe(), notes, figures(lead))

    def _scale_out(self, desired: int, why: str, notes: list[str], lead: dict[str, object]) -> Plan:
        policy, observed = self.policy, self.observed
        reason = (
            f"{why}: scale {policy.name} out from {capacity_units(policy.kind, observed.desired)} to "
            f"{capacity_units(policy.kind, desired)}" + (f" ({'; '.join(notes)})" if notes else "") + "."
        )
        if observed.scalable_target is not None:
            reason += f" Application Auto Scaling manages it: MinCapacity raised to {desired}."
        return self.decision.plan(
            Action.SCALE_OUT,
            reason,
            desired_capacity=desired,
            actuation=Actuation.RAISE_FLOOR
            if observed.scalable_target is not None
            else Actuation.SET_CAPACITY,
            **lead,
        )

    def _ahead_of_demand(self) -> Plan | None:
        """A scale-out ahead of the rise the forecast expects (reported only, in advisory mode); None when it
        expects no rise beyond its own error (the reactive part keeps a level), or asks for no more than the
        target has. It does not wait for the scale-out cooldown: the forecast does not read the capacity the
        last scale-out added."""
        foreseen, current = self.forecast, self.observed.desired
        if foreseen is None or foreseen.units <= current or not foreseen.rising:
            return None
        desired, limited_by = self._limited(foreseen.units)
        if not foreseen.acts:
            return self.decision.ignore(
                f"Advisory forecast: it would scale {self.policy.name} out from "
                f"{capacity_units(self.policy.kind, current)} to "
                f"{capacity_units(self.policy.kind, desired)}: {foreseen.why}."
            )
        notes = [f"the forecast asks for {foreseen.units}; limited by {limited_by}"] if limited_by else []
        return self._scale_out(desired, "Ahead of the demand: " + foreseen.why, notes, {})

    def _ahead_of_trend(self) -> Plan | None:
        """A scale-out ahead of a ramp the alarms have not yet caught: while every signal is OK, invocations
        that rise beyond their noise (`DemandTrend.rising`) and would, by their trend, lift the concurrency past
        its threshold within one cold start. Sized to keep it at the threshold then (the alarm's scale-out
        sizes with the band to spare, once it fires), within the cooldown, the step guard and the ceiling; None
        when nothing says so."""
        policy, decision, current = self.policy, self.decision, self.observed.desired
        # The policy's threshold: an alarm's own figures date from its last change, and may predate the policy's.
        threshold, trend = policy.signals.concurrency_per_unit, decision.demand
        if threshold is None or current == 0:
            return None
        if trend is None or trend.concurrency_now is None or not trend.rising:
            return None
        now_per_unit = trend.concurrency_now
        expected = now_per_unit * self.growth
        if expected <= threshold:
            return None
        cooldown = time_left(
            decision.state.last_scale_out_at, policy.scale_out.cooldown_seconds, decision.now
        )
        if cooldown is not None:
            return None
        wanted = max(current + 1, math.ceil(current * expected / threshold - 1e-9))
        desired, limited_by = self._limited(wanted)
        if desired <= current:
            return None
        why = (
            f"Invocations rising: concurrency per {capacity_unit(policy.kind)} at {now_per_unit:.1f} now, "
            f"{expected:.1f} expected in {self.cold_start_seconds:.0f} s (the trend of the last minutes, "
            f"{self.growth:.2f}x), past its threshold {threshold:g}"
        )
        notes = [f"the trend asks for {wanted}; limited by {limited_by}"] if limited_by else []
        return self._scale_out(desired, why, notes, {})

    def _at_ceiling(self, lead: SignalReading, ceiling: str) -> Plan:
        """No more capacity to add: warm the models if they load slowly, else tell a person (once)."""
        policy, decision = self.policy, self.decision
        at_max = f"{lead.describe()}, but {policy.name} is at {ceiling}"
        warms = policy.warm_up.enabled and bool(policy.warm_up.target_models)
        if lead.signal is Signal.MODEL_LOADING_WAIT and warms:
            tried = decision.state.last_warm_attempt_at
            cooling = time_left(tried, policy.scale_out.cooldown_seconds, decision.now)
            if tried is not None and cooling is not None:
                return decision.ignore(
                    f"{at_max}; its models were warmed {in_seconds(decision.now - tried)} ago.",
                    **figures(lead),
                )
            return self._warm(f"{at_max}: loading its models with warm-up invocations.", figures(lead))
        if decision.newly_alarming:
            return decision.plan(Action.NOTIFY_ONLY, f"{at_max}: nothing more to add.", **figures(lead))
        return decision.ignore(f"{at_max}.", **figures(lead))

    def recovering(self, reading: SignalReading) -> Plan:
        policy = self.policy
        if reading.state is AlarmState.INSUFFICIENT_DATA:
            return self.decision.ignore(
                f"No data for {reading.describe()}: holding {policy.name} at "
                f"{capacity_units(policy.kind, self.observed.desired)}; a team notification follows "
                f"if it lasts {policy.signals.insufficient_data_notify_after_seconds} s."
            )
        decision = self.decision
        fall = stabilization(policy, decision.state, decision.now, decision.demand, fall=True)
        trim = stabilization(policy, decision.state, decision.now, decision.demand, fall=False)
        full = timedelta(seconds=policy.scale_in.stabilization_seconds)
        # A transition is decided without the invocations: after a scale-out an alarm sized, the minute's
        # evaluation may find the demand held, and the cooldown then stands for the window.
        sooner = (
            f" ({policy.scale_in.cooldown_seconds} s if the invocations hold where they were since the scale-out)"
            if decision.demand is None
            and just_scaled_out(decision.state, full, decision.now)
            and policy.scale_in.cooldown_seconds < fall.total_seconds()
            else ""
        )
        window = f"{fall.total_seconds():.0f} s"
        if trim > fall:  # the window the target's lulls ask for: a fall's
            window += f" for a fall, {trim.total_seconds():.0f} s for a trim"
        return decision.ignore(
            f"{reading.describe()} is OK; scale-in is considered once every signal has stayed OK for "
            f"{window}{sooner}."
        )

    def missing(self, missing: list[SignalReading]) -> Plan:
        """Hold the capacity (or raise it ahead of the demand the forecast expects: an idle endpoint publishes
        no concurrency); tell a person once when data has been missing for long."""
        ahead = self._ahead_of_demand()
        if ahead is not None and ahead.action is Action.SCALE_OUT:
            return ahead
        policy, decision = self.policy, self.decision
        since = min(r.since for r in missing)
        lasted = decision.now - since
        names = ", ".join(r.signal.value for r in missing)
        holding = f"holding {policy.name} at {capacity_units(policy.kind, self.observed.desired)}"
        limit = timedelta(seconds=policy.signals.insufficient_data_notify_after_seconds)
        if lasted >= limit and decision.state.insufficient_data_reported_since != since:
            return decision.plan(
                Action.NOTIFY_ONLY,
                f"No data for {names} since {since.isoformat()} ({in_seconds(lasted)}): {holding} and never "
                "scaling in on missing data. Is the endpoint receiving traffic and publishing metrics?",
                insufficient_data_since=since,
            )
        return decision.ignore(f"No data for {names}: {holding}.")

    def unwatched(self) -> Plan:
        return self.decision.ignore(f"No alarms watch {self.policy.name} yet; the reconciler creates them.")

    def calm(self) -> Plan:
        """Scale out ahead of the demand the forecast expects, or of a ramp the invocations show; else scale in
        if the target may (never below what the forecast expects, nor a planned event's floor in its window); if
        it stays, keep its models warm when that is due."""
        event = self.decision.state.event_floor(self.decision.now)
        event_why = (
            f"a planned event holds it at {event.capacity} until {event.until.isoformat()} ({event.reason})"
            if event is not None
            else ""
        )
        if event is not None and event.capacity > self.observed.desired:
            # Below an event's floor (its own workflow was dropped, failed, or found the lock taken): up to it.
            return self._scale_out(
                min(event.capacity, self.ceiling[0]), event_why[0].upper() + event_why[1:], [], {}
            )
        ahead = self._ahead_of_demand()
        if ahead is not None and ahead.action is Action.SCALE_OUT:
            return ahead
        rising = self._ahead_of_trend()
        if rising is not None:
            return rising
        foreseen = self.forecast
        held = (foreseen.units, foreseen.why) if foreseen is not None and foreseen.acts else None
        if event is not None and (held is None or event.capacity > held[0]):
            held = (event.capacity, event_why)
        plan = scale_in(self.decision, self.policy, self.observed, held)
        if plan.action is Action.IGNORE:
            # What an advisory forecast would do is said when nothing else is done (it changes nothing).
            return self._keep_warm() or ahead or plan
        return plan

    def _keep_warm(self) -> Plan | None:
        interval = self.policy.warm_up.keep_warm_interval_seconds
        if not self.policy.warm_up.enabled or interval is None or self.observed.desired < 1:
            return None
        if time_left(self.decision.state.last_warm_at, interval, self.decision.now) is not None:
            return None
        return self._warm(f"Keep-warm: no warm-up invocations for {interval} s or more.", {})

    def _warm(self, reason: str, lead: dict[str, object]) -> Plan:
        return self.decision.plan(Action.WARM, reason, desired_capacity=self.observed.desired, **lead)
