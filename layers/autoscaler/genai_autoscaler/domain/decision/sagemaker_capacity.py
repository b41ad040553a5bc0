"""A SageMaker target's decision: how many instances or copies it should have, and when to warm its models.

Scale-out answers the firing signals in proportion to their overshoot, within the policy's step, its bounds and
Application Auto Scaling's MaxCapacity; a target at its ceiling whose models load slowly is warmed instead.
Capacity a person changed is adopted and left alone for a while. Scale-in is `sagemaker_scale_in`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.decision.core import Decision, figures, in_seconds, time_left
from genai_autoscaler.domain.decision.sagemaker_scale_in import scale_in
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.signals import PROPORTIONAL_SIGNALS, Signal
from genai_autoscaler.domain.state import Lock, ObservedCapacity
from genai_autoscaler.domain.targets import capacity_units


def decide(decision: Decision, policy: SageMakerPolicy) -> Plan:
    """The plan for a SageMaker target that is not paused; a notification (or nothing) when it does not exist."""
    observed = decision.capacity
    if observed is None:
        return decision.unheeded(f"{policy.name} was not found in SageMaker")
    return decision.follow(_Capacity(decision, policy, observed))


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
        if state.manual_hold_until is not None and self.decision.now < state.manual_hold_until:
            return self.decision.ignore(
                f"{policy.name} is left alone until {state.manual_hold_until.isoformat()}: a person changed "
                "or planned its capacity."
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
            if reading.signal is Signal.CONCURRENCY:
                ratio /= self.policy.scale_in.target_utilization
            return max(current + 1, math.ceil(current * ratio - 1e-9))
        return current + 1

    def alarming(self, alarming: list[SignalReading]) -> Plan:
        """Scale out to what the most demanding signal asks for, within the step, the bounds and the cooldown."""
        policy, observed, decision = self.policy, self.observed, self.decision
        current = observed.desired
        lead = max(alarming, key=lambda r: self._wanted(r, current))
        wanted = self._wanted(lead, current)
        ceiling = policy.capacity.max
        ceiling_name = "policy max"
        if observed.scalable_target is not None and observed.scalable_target.max_capacity < ceiling:
            ceiling = observed.scalable_target.max_capacity
            ceiling_name = "Application Auto Scaling MaxCapacity"
        desired = max(policy.capacity.min, min(wanted, current + policy.scale_out.max_step, ceiling))
        if desired <= current:
            return self._at_ceiling(lead, f"its {ceiling_name} ({capacity_units(policy.kind, current)})")

        cooldown = time_left(
            decision.state.last_scale_out_at, policy.scale_out.cooldown_seconds, decision.now
        )
        if cooldown is not None:
            return decision.ignore(
                f"{lead.describe()}; scale-out cooldown has {in_seconds(cooldown)} left.", **figures(lead)
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
        return decision.plan(
            Action.SCALE_OUT,
            reason,
            desired_capacity=desired,
            actuation=Actuation.RAISE_FLOOR
            if observed.scalable_target is not None
            else Actuation.SET_CAPACITY,
            **figures(lead),
        )

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
        return self.decision.ignore(
            f"{reading.describe()} is OK; scale-in is considered once every signal has stayed OK for "
            f"{policy.scale_in.stabilization_seconds} s."
        )

    def missing(self, missing: list[SignalReading]) -> Plan:
        """Hold the capacity; tell a person once when data has been missing for long."""
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
        """Scale in if the target may; if it stays, keep its models warm when that is due."""
        plan = scale_in(self.decision, self.policy, self.observed)
        if plan.action is Action.IGNORE:
            return self._keep_warm() or plan
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
