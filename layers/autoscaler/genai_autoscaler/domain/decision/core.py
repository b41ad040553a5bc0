"""What every decision shares, whatever the target: its trigger, the order of its steps, and the Plan it ends in.

A trigger is either one alarm's state change (fast reaction to ALARM) or a periodic evaluation of all of a
target's signals (persistence: scale-in after stabilization, a still-firing alarm after a cooldown, missing
data that lasts, keep-warm). Whatever the family, a target is left alone while a workflow holds its lock; an
alarm firing is answered first; one alarm leaving ALARM decides nothing about the others, so that what a calm
target does (scale in, route back) is only ever decided from a full evaluation, and never on missing data.
The family modules (`sagemaker_capacity`, `bedrock_routing`) say what each of these steps means for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.demand import DemandTrend
from genai_autoscaler.domain.plan import ROUTING_ACTIONS, Action, Plan
from genai_autoscaler.domain.policy import TargetPolicy
from genai_autoscaler.domain.state import Lock, ObservedCapacity, TargetState


@dataclass(frozen=True)
class AlarmTransition:
    """One of the target's alarms changed state."""

    reading: SignalReading
    previous: AlarmState | None = None

    @property
    def readings(self) -> tuple[SignalReading, ...]:
        """The one reading that changed: all a transition knows of the target's signals."""
        return (self.reading,)


@dataclass(frozen=True)
class Evaluation:
    """Every alarm of the target, as it stands now."""

    readings: tuple[SignalReading, ...]


Trigger = AlarmTransition | Evaluation

# Actions a workflow carries out: in advisory mode they are only reported.
_CARRIED_OUT = frozenset({Action.SCALE_OUT, Action.SCALE_IN, Action.WARM}) | ROUTING_ACTIONS


def in_seconds(delta: timedelta) -> str:
    """`12 s`: a wait as a person reads it, rounded up, never negative."""
    return f"{max(0, math.ceil(delta.total_seconds()))} s"


def time_left(started: datetime | None, seconds: int, now: datetime) -> timedelta | None:
    """What is left at `now` of a wait of `seconds` (a cooldown, a window) that began at `started`; None when
    it is over or never began."""
    if started is None:
        return None
    ends = started + timedelta(seconds=seconds)
    return ends - now if now < ends else None


def figures(reading: SignalReading) -> dict[str, object]:
    """The Plan fields of the reading that led to it: which signal, its value and threshold, in what unit."""
    return {
        "signal": reading.signal,
        "observed_value": reading.value,
        "threshold": reading.threshold,
        "unit": reading.unit,
    }


class FamilyRules(Protocol):
    """What each step of `Decision.follow` means for one family of targets."""

    def in_progress(self, lock: Lock) -> str:
        """Why the target is left alone while `lock`'s holder works on it."""
        ...

    def settling(self) -> Plan | None:
        """A plan that leaves the target alone for a reason of its family (None: decide on)."""
        ...

    def alarming(self, alarming: list[SignalReading]) -> Plan:
        """The answer to the signals in ALARM (at least one)."""
        ...

    def recovering(self, reading: SignalReading) -> Plan:
        """The answer to one alarm going OK or losing its data: never the calm target's action."""
        ...

    def missing(self, missing: list[SignalReading]) -> Plan:
        """The answer to an evaluation where these signals (and none in ALARM) have no data."""
        ...

    def unwatched(self) -> Plan:
        """The answer to an evaluation that found none of the target's alarms."""
        ...

    def calm(self) -> Plan:
        """The answer to an evaluation where every signal is OK."""
        ...


@dataclass(frozen=True)
class Decision:
    """One decision's context (trigger, policy, remembered state, now) and the plans it can end in.

    `capacity` is a SageMaker target's capacity as observed (None for a Bedrock model, or a target not found);
    every plan carries it, so that the workflow can check that nothing changed since. `demand` is its recent
    invocations, when they were read (a scale-out is sized for their trend).
    """

    trigger: Trigger
    policy: TargetPolicy
    state: TargetState
    now: datetime
    capacity: ObservedCapacity | None = None
    demand: DemandTrend | None = None

    @property
    def transition(self) -> AlarmTransition | None:
        return self.trigger if isinstance(self.trigger, AlarmTransition) else None

    @property
    def readings(self) -> tuple[SignalReading, ...]:
        """The trigger's readings: the one that changed, or all of them."""
        return self.trigger.readings

    @property
    def newly_alarming(self) -> bool:
        """Whether the trigger is an alarm that has just gone to ALARM (a person hears of what is not done)."""
        return self.transition is not None and self.transition.reading.state is AlarmState.ALARM

    def plan(self, action: Action, reason: str, **fields: object) -> Plan:
        """The Plan: `fields` over the target's figures, the capacity observed, the changed alarm's figures."""
        base: dict[str, object] = {
            "action": action,
            "target": self.policy.name,
            "target_id": self.policy.target_id,
            "kind": self.policy.kind,
            "reason": reason,
            "decided_at": self.now,
        }
        if self.capacity is not None:
            base["current_capacity"] = self.capacity.desired
            if self.capacity.scalable_target is not None:
                base["observed_floor"] = self.capacity.scalable_target.min_capacity
        if self.transition is not None:
            base |= figures(self.transition.reading)
        if action in _CARRIED_OUT:
            base["advisory"] = self.policy.advisory
        return Plan.model_validate(base | fields)

    def ignore(self, reason: str, **fields: object) -> Plan:
        """A plan to do nothing, saying why."""
        return self.plan(Action.IGNORE, reason, **fields)

    def unheeded(self, why: str, notice: str = "") -> Plan:
        """Nothing done because of `why`: a person is told when an alarm has just fired (`notice` ends what
        they read), otherwise it is only recorded."""
        if self.newly_alarming:
            return self.plan(Action.NOTIFY_ONLY, f"{self.readings[0].describe()}, but {why}{notice}.")
        return self.ignore(f"{why}.")

    def follow(self, rules: FamilyRules) -> Plan:
        """The decision, in the order every family's targets obey; `rules` answers each step."""
        if self.state.lock_held(self.now):
            assert self.state.lock is not None
            return self.ignore(rules.in_progress(self.state.lock))
        settling = rules.settling()
        if settling is not None:
            return settling
        alarming = [r for r in self.readings if r.state is AlarmState.ALARM]
        if alarming:
            return rules.alarming(alarming)
        if self.transition is not None:
            return rules.recovering(self.transition.reading)
        missing = [r for r in self.readings if r.state is AlarmState.INSUFFICIENT_DATA]
        if missing:
            return rules.missing(missing)
        if not self.readings:
            return rules.unwatched()
        return rules.calm()
