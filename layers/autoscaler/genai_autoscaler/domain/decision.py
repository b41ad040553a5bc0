"""The decision engine: (trigger, policy, observed capacity, remembered state, now) -> Plan.

Pure: no AWS, no clock. The Lambdas, the CLI and the simulator all call `decide`.

A trigger is either one alarm's state change (fast reaction to ALARM) or a periodic evaluation of all of a
target's signals (persistence: scale-in after stabilization, a still-firing alarm after a cooldown, missing
data that lasts, keep-warm). Scale-in is only ever decided from a full evaluation, because one alarm going
OK says nothing about the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.bedrock import BedrockDemand, RoutingChoice, climb, descend, on_demand
from genai_autoscaler.domain.plan import ROUTING_ACTIONS, Action, Actuation, Plan
from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    InferenceComponentPolicy,
    SageMakerVariantPolicy,
    TargetPolicy,
)
from genai_autoscaler.domain.signals import PROPORTIONAL_SIGNALS, Signal
from genai_autoscaler.domain.state import ObservedCapacity, TargetState
from genai_autoscaler.domain.targets import capacity_unit, capacity_units


@dataclass(frozen=True)
class AlarmTransition:
    """One of the target's alarms changed state."""

    reading: SignalReading
    previous: AlarmState | None = None


@dataclass(frozen=True)
class Evaluation:
    """Every alarm of the target, as it stands now."""

    readings: tuple[SignalReading, ...]


Trigger = AlarmTransition | Evaluation


def _seconds(delta: timedelta) -> str:
    return f"{max(0, math.ceil(delta.total_seconds()))} s"


class _Decider:
    """One decision; a class only so the shared context is not passed to every step."""

    def __init__(
        self,
        trigger: Trigger,
        policy: TargetPolicy,
        observed: ObservedCapacity | BedrockDemand | None,
        state: TargetState,
        now: datetime,
    ):
        self.trigger = trigger
        self.policy = policy
        self.observed = observed
        self.state = state
        self.now = now
        self.readings = (trigger.reading,) if isinstance(trigger, AlarmTransition) else trigger.readings
        self.transition = trigger if isinstance(trigger, AlarmTransition) else None

    def plan(self, action: Action, reason: str, **fields: object) -> Plan:
        lead = self.transition.reading if self.transition else None
        base: dict[str, object] = {
            "action": action,
            "target": self.policy.name,
            "target_id": self.policy.target_id,
            "kind": self.policy.kind,
            "reason": reason,
            "decided_at": self.now,
        }
        if isinstance(self.observed, ObservedCapacity):
            base["current_capacity"] = self.observed.desired
            if self.observed.scalable_target is not None:
                base["observed_floor"] = self.observed.scalable_target.min_capacity
        if lead is not None:
            base |= {
                "signal": lead.signal,
                "observed_value": lead.value,
                "threshold": lead.threshold,
                "unit": lead.unit,
            }
        if action in (Action.SCALE_OUT, Action.SCALE_IN, Action.WARM) or action in ROUTING_ACTIONS:
            base["advisory"] = self.policy.advisory
        return Plan.model_validate(base | fields)

    def ignore(self, reason: str, **fields: object) -> Plan:
        return self.plan(Action.IGNORE, reason, **fields)

    @property
    def newly_alarming(self) -> bool:
        return self.transition is not None and self.transition.reading.state is AlarmState.ALARM

    def decide(self) -> Plan:
        policy = self.policy
        if policy.paused:
            if self.newly_alarming:
                return self.plan(
                    Action.NOTIFY_ONLY,
                    f"{self.readings[0].describe()}, but {policy.name} is paused: left alone.",
                )
            return self.ignore(f"{policy.name} is paused.")
        if isinstance(policy, BedrockModelPolicy):
            return self._bedrock(policy)
        if not isinstance(self.observed, ObservedCapacity):
            if self.newly_alarming:
                return self.plan(
                    Action.NOTIFY_ONLY,
                    f"{self.readings[0].describe()}, but {policy.name} was not found in SageMaker.",
                )
            return self.ignore(f"{policy.name} was not found in SageMaker.")
        return self._sagemaker(policy, self.observed)

    def _bedrock(self, policy: BedrockModelPolicy) -> Plan:
        state, now = self.state, self.now
        if state.lock_held(now):
            assert state.lock is not None
            return self.ignore(f"A routing change of {policy.name} is in progress ({state.lock.owner}).")
        demand = self.observed if isinstance(self.observed, BedrockDemand) else BedrockDemand()
        route = state.route or on_demand(policy, now)
        alarming = [r for r in self.readings if r.state is AlarmState.ALARM]
        if alarming:
            lead = alarming[0]
            choice = climb(policy, route, demand, state.last_shift_at, now)
            figures: dict[str, object] = {
                "signal": lead.signal,
                "observed_value": lead.value,
                "threshold": lead.threshold,
                "unit": lead.unit,
            }
            if choice.action == Action.NOTIFY_ONLY and not self.newly_alarming:
                return self.ignore(f"{lead.describe()}; {choice.reason}.", **figures)
            return self._routing(policy, choice, f"{lead.describe()} on {policy.name}", figures)
        if self.transition is not None:
            return self.ignore(
                f"{self.transition.reading.describe()}; {policy.name} routes back once every signal has stayed OK "
                f"for {policy.bedrock.hold_seconds} s."
            )
        if any(r.state is AlarmState.INSUFFICIENT_DATA for r in self.readings) or not self.readings:
            return self.ignore(f"Not every signal of {policy.name} has data: its routing is held.")
        ok_since = max(r.since for r in self.readings)
        choice = descend(policy, route, demand, ok_since, state.last_shift_at, now)
        return self._routing(policy, choice, f"All signals of {policy.name} OK", {})

    def _routing(
        self, policy: BedrockModelPolicy, choice: RoutingChoice, lead: str, figures: dict[str, object]
    ) -> Plan:
        action = Action(choice.action)
        reason = f"{lead}: {choice.reason}."
        fields: dict[str, object] = dict(figures)
        route = self.state.route
        if route is not None and route.hourly_cost_usd > 0:
            hours = max(0.0, (self.now - route.since).total_seconds() / 3600)
            fields["spent_usd"] = round(route.hourly_cost_usd * hours, 2)
        if action in ROUTING_ACTIONS:
            fields |= {
                "route_to": choice.route_to,
                "model_units": choice.model_units,
                "hourly_cost_usd": choice.hourly_cost_usd,
                "commitment": choice.commitment,
                "needs_approval": choice.needs_approval,
            }
        return self.plan(action, reason, **fields)

    def _sagemaker(
        self, policy: SageMakerVariantPolicy | InferenceComponentPolicy, observed: ObservedCapacity
    ) -> Plan:
        state, now = self.state, self.now
        if state.lock_held(now):
            assert state.lock is not None
            return self.ignore(
                f"A scale of {policy.name} is in progress ({state.lock.owner}); "
                f"lock held until {state.lock.expires_at.isoformat()}."
            )
        if not observed.in_service:
            return self.ignore(f"{policy.name} is {observed.status}; waiting for it to settle.")
        if state.manual_hold_until is not None and now < state.manual_hold_until:
            return self.ignore(
                f"{policy.name} is left alone until {state.manual_hold_until.isoformat()}: a person changed "
                "or planned its capacity."
            )
        manual = self._manual_change(policy, observed)
        if manual is not None:
            return manual

        alarming = [r for r in self.readings if r.state is AlarmState.ALARM]
        if alarming:
            return self._scale_out(policy, observed, alarming)
        if self.transition is not None:
            reading = self.transition.reading
            if reading.state is AlarmState.INSUFFICIENT_DATA:
                return self.ignore(
                    f"No data for {reading.describe()}: holding {policy.name} at "
                    f"{capacity_units(policy.kind, observed.desired)}; a team notification follows "
                    f"if it lasts {policy.signals.insufficient_data_notify_after_seconds} s."
                )
            return self.ignore(
                f"{reading.describe()} is OK; scale-in is considered once every signal has stayed OK for "
                f"{policy.scale_in.stabilization_seconds} s."
            )
        missing = [r for r in self.readings if r.state is AlarmState.INSUFFICIENT_DATA]
        if missing:
            return self._insufficient_data(policy, observed, missing)
        if not self.readings:
            return self.ignore(f"No alarms watch {policy.name} yet; the reconciler creates them.")
        scale_in = self._scale_in(policy, observed)
        if scale_in.action is Action.IGNORE:
            return self._keep_warm(policy, observed) or scale_in
        return scale_in

    def _manual_change(
        self, policy: SageMakerVariantPolicy | InferenceComponentPolicy, observed: ObservedCapacity
    ) -> Plan | None:
        state = self.state
        hold_until = self.now + timedelta(seconds=policy.manual_change_hold_seconds)
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
        return self.plan(
            Action.NOTIFY_ONLY,
            f"{what} by someone other than the controller; leaving {policy.name} alone until "
            f"{hold_until.isoformat()}.",
            adopt_capacity=observed.desired,
            manual_hold_until=hold_until,
        )

    def _wanted(self, reading: SignalReading, current: int) -> int:
        """The capacity one firing signal asks for, in proportion to the overshoot, like target tracking.

        Concurrency is sized to the scale-in target (`scale_in.target_utilization` of the threshold), not
        to the threshold itself: capacity sized to the threshold would alarm again at the next rise of the
        load, and the band between the two is what keeps the target from flapping.
        """
        if current == 0:
            return 1
        if reading.signal in PROPORTIONAL_SIGNALS and reading.ratio is not None:
            ratio = reading.ratio
            if reading.signal is Signal.CONCURRENCY and not isinstance(self.policy, BedrockModelPolicy):
                ratio /= self.policy.scale_in.target_utilization
            return max(current + 1, math.ceil(current * ratio - 1e-9))
        return current + 1

    def _scale_out(
        self,
        policy: SageMakerVariantPolicy | InferenceComponentPolicy,
        observed: ObservedCapacity,
        alarming: list[SignalReading],
    ) -> Plan:
        current = observed.desired
        lead = max(alarming, key=lambda r: self._wanted(r, current))
        wanted = self._wanted(lead, current)
        ceiling = policy.capacity.max
        ceiling_name = "policy max"
        if observed.scalable_target is not None and observed.scalable_target.max_capacity < ceiling:
            ceiling = observed.scalable_target.max_capacity
            ceiling_name = "Application Auto Scaling MaxCapacity"
        desired = max(policy.capacity.min, min(wanted, current + policy.scale_out.max_step, ceiling))
        figures: dict[str, object] = {
            "signal": lead.signal,
            "observed_value": lead.value,
            "threshold": lead.threshold,
            "unit": lead.unit,
        }

        if desired <= current:
            holding = capacity_units(policy.kind, current)
            at_max = f"{lead.describe()}, but {policy.name} is at its {ceiling_name} ({holding})"
            warms = policy.warm_up.enabled and bool(policy.warm_up.target_models)
            if lead.signal is Signal.MODEL_LOADING_WAIT and warms:
                tried = self.state.last_warm_attempt_at
                if tried is not None and self.now - tried < timedelta(
                    seconds=policy.scale_out.cooldown_seconds
                ):
                    return self.ignore(
                        f"{at_max}; its models were warmed {_seconds(self.now - tried)} ago.", **figures
                    )
                return self._warm(policy, f"{at_max}: loading its models with warm-up invocations.", figures)
            if self.newly_alarming:
                return self.plan(Action.NOTIFY_ONLY, f"{at_max}: nothing more to add.", **figures)
            return self.ignore(f"{at_max}.", **figures)

        if self.state.last_scale_out_at is not None:
            ready_at = self.state.last_scale_out_at + timedelta(seconds=policy.scale_out.cooldown_seconds)
            if self.now < ready_at:
                return self.ignore(
                    f"{lead.describe()}; scale-out cooldown has {_seconds(ready_at - self.now)} left.",
                    **figures,
                )

        limits = []
        if desired < wanted:
            limits.append(
                f"the signal asks for {wanted}; limited by "
                + (
                    "the step limit"
                    if desired == current + policy.scale_out.max_step
                    else f"the {ceiling_name}"
                )
            )
        reason = (
            f"{lead.describe()}: scale {policy.name} out from {capacity_units(policy.kind, current)} to "
            f"{capacity_units(policy.kind, desired)}" + (f" ({'; '.join(limits)})" if limits else "") + "."
        )
        if observed.scalable_target is not None:
            reason += f" Application Auto Scaling manages it: MinCapacity raised to {desired}."
        return self.plan(
            Action.SCALE_OUT,
            reason,
            desired_capacity=desired,
            actuation=Actuation.RAISE_FLOOR
            if observed.scalable_target is not None
            else Actuation.SET_CAPACITY,
            **figures,
        )

    def _insufficient_data(
        self,
        policy: SageMakerVariantPolicy | InferenceComponentPolicy,
        observed: ObservedCapacity,
        missing: list[SignalReading],
    ) -> Plan:
        since = min(r.since for r in missing)
        lasted = self.now - since
        names = ", ".join(r.signal.value for r in missing)
        holding = f"holding {policy.name} at {capacity_units(policy.kind, observed.desired)}"
        limit = timedelta(seconds=policy.signals.insufficient_data_notify_after_seconds)
        if lasted >= limit and self.state.insufficient_data_reported_since != since:
            return self.plan(
                Action.NOTIFY_ONLY,
                f"No data for {names} since {since.isoformat()} ({_seconds(lasted)}): {holding} and never "
                "scaling in on missing data. Is the endpoint receiving traffic and publishing metrics?",
                insufficient_data_since=since,
            )
        return self.ignore(f"No data for {names}: {holding}.")

    def _scale_in(
        self, policy: SageMakerVariantPolicy | InferenceComponentPolicy, observed: ObservedCapacity
    ) -> Plan:
        now, state = self.now, self.state
        window = timedelta(seconds=policy.scale_in.stabilization_seconds)
        ok_since = _stable_since(self.readings, state)
        if now - ok_since < window:
            return self.ignore(
                f"All signals OK; stabilization window has {_seconds(ok_since + window - now)} left."
            )
        if state.last_scale_at is not None:
            ready_at = state.last_scale_at + timedelta(seconds=policy.scale_in.cooldown_seconds)
            if now < ready_at:
                return self.ignore(f"Scale-in cooldown has {_seconds(ready_at - now)} left.")
        if observed.scalable_target is not None and state.raised_floor is None:
            return self.ignore(
                f"All signals OK; Application Auto Scaling owns scale-in of {policy.name} "
                "(the controller has not raised its floor)."
            )
        needed, needed_why = self._needed_by_utilization(policy, observed.desired)
        if needed is None:
            return self.ignore(
                f"All signals OK, but no concurrency figures for {policy.name} over the stabilization window: "
                "holding (never scaling in blind)."
            )
        if observed.scalable_target is not None:
            return self._restore_floor(policy, observed, needed, needed_why)

        current = observed.desired
        desired = max(policy.capacity_floor, current - policy.scale_in.max_step, needed)
        if desired >= current:
            why = (
                f"it is at its minimum ({policy.capacity_floor})"
                if current <= policy.capacity_floor
                else needed_why
            )
            return self.ignore(
                f"All signals OK, but {policy.name} keeps {capacity_units(policy.kind, current)}: {why}."
            )
        return self.plan(
            Action.SCALE_IN,
            f"All signals OK for {_seconds(now - ok_since)}: scale {policy.name} in from "
            f"{capacity_units(policy.kind, current)} to {capacity_units(policy.kind, desired)}"
            + (f" ({needed_why})" if needed > 0 else "")
            + ".",
            desired_capacity=desired,
            actuation=Actuation.SET_CAPACITY,
        )

    def _restore_floor(
        self,
        policy: SageMakerVariantPolicy | InferenceComponentPolicy,
        observed: ObservedCapacity,
        needed: int,
        needed_why: str,
    ) -> Plan:
        raised = self.state.raised_floor
        assert raised is not None  # _scale_in hands over only floors the controller raised
        original = self.state.original_floor if self.state.original_floor is not None else policy.capacity.min
        # Back toward the floor the team had, one step at a time, never below what utilization needs or the
        # policy's own minimum.
        floor = max(original, policy.capacity.min, raised - policy.scale_in.max_step, min(needed, raised))
        if floor >= raised:
            return self.ignore(f"All signals OK, but the raised MinCapacity {raised} stays: {needed_why}.")
        return self.plan(
            Action.SCALE_IN,
            f"All signals OK: lower {policy.name}'s Application Auto Scaling MinCapacity from {raised} to "
            f"{floor} (it was {original} before the controller raised it); its policies scale in from there.",
            current_capacity=raised,
            desired_capacity=floor,
            actuation=Actuation.RESTORE_FLOOR,
        )

    def _needed_by_utilization(
        self, policy: SageMakerVariantPolicy | InferenceComponentPolicy, current: int
    ) -> tuple[int | None, str]:
        """Units needed to keep concurrency per unit at the scale-in target.

        0 when the policy watches no concurrency (scale-in then goes by its step alone); None when it does
        but there is no figure to size by.
        """
        if policy.signals.concurrency_per_unit is None:
            return 0, "no concurrency signal"
        reading = next((r for r in self.readings if r.signal is Signal.CONCURRENCY), None)
        if reading is None or reading.value is None:
            return None, "no concurrency figures"
        per_unit_target = policy.signals.concurrency_per_unit * policy.scale_in.target_utilization
        total = reading.value * current
        needed = math.ceil(total / per_unit_target - 1e-9)
        return needed, (
            f"peak concurrency {total:.1f} needs {needed} at {per_unit_target:g} per "
            f"{capacity_unit(policy.kind)}"
        )

    def _keep_warm(
        self, policy: SageMakerVariantPolicy | InferenceComponentPolicy, observed: ObservedCapacity
    ) -> Plan | None:
        interval = policy.warm_up.keep_warm_interval_seconds
        if not policy.warm_up.enabled or interval is None or observed.desired < 1:
            return None
        last = self.state.last_warm_at
        if last is not None and self.now - last < timedelta(seconds=interval):
            return None
        return self._warm(policy, f"Keep-warm: no warm-up invocations for {interval} s or more.", {})

    def _warm(
        self,
        policy: SageMakerVariantPolicy | InferenceComponentPolicy,
        reason: str,
        figures: dict[str, object],
    ) -> Plan:
        return self.plan(
            Action.WARM,
            reason,
            desired_capacity=self.observed.desired if isinstance(self.observed, ObservedCapacity) else None,
            **figures,
        )


def _stable_since(readings: tuple[SignalReading, ...], state: TargetState) -> datetime:
    """Since when every signal has been OK and nothing was scaled: the start of the stabilization window."""
    ok_since = max(r.since for r in readings)
    return ok_since if state.last_scale_at is None else max(ok_since, state.last_scale_at)


def wants_current_utilization(
    policy: TargetPolicy, readings: tuple[SignalReading, ...], state: TargetState, now: datetime
) -> bool:
    """Whether an evaluation may scale in by concurrency, so that the caller should give the concurrency
    reading the peak of the stabilization window. (An alarm's own figures date from its last transition.)"""
    if isinstance(policy, BedrockModelPolicy) or policy.signals.concurrency_per_unit is None:
        return False
    if not readings or any(r.state is not AlarmState.OK for r in readings):
        return False
    return now - _stable_since(readings, state) >= timedelta(seconds=policy.scale_in.stabilization_seconds)


def decide(
    trigger: Trigger,
    policy: TargetPolicy,
    observed: ObservedCapacity | BedrockDemand | None,
    state: TargetState,
    now: datetime,
) -> Plan:
    """Decide what to do about `policy`'s target; returns a Plan whose `reason` says why.

    `observed` is what AWS shows of the target: a SageMaker target's capacity (None when it does not exist), a
    Bedrock model's recent demand. `now` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Decider(trigger, policy, observed, state, now).decide()


def plan_requested_scale(
    policy: SageMakerVariantPolicy | InferenceComponentPolicy,
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
