"""Alarm dispatch, from a signal to an outcome: identify the target, decide, then start a workflow, notify, or
remember. (Moving a Bedrock model's callers is the routing workflow's, `app.routing_workflow`.)

Two entry points share one dispatch: `dispatch_alarm` (an alarm's state-change event) and `evaluate_targets`
(the periodic evaluation of every managed target).
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app import locks, reports
from genai_autoscaler.app.bedrock_demand import DemandPorts, bedrock_demand
from genai_autoscaler.app.ports import (
    AlarmDirectory,
    CapacityActuator,
    Notifier,
    PolicySource,
    StateStore,
    WorkflowStarter,
)
from genai_autoscaler.app.quotas import BedrockQuotas, bedrock_quotas
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.app.workflow_state import ScaleRequest
from genai_autoscaler.domain.adopted import adopted_reading
from genai_autoscaler.domain.alarm_event import (
    AlarmSnapshot,
    AlarmStanding,
    AlarmState,
    AlarmStateChangeEvent,
    SignalReading,
    every_signal_ok,
    reading_from_state,
)
from genai_autoscaler.domain.bedrock import BedrockDemand
from genai_autoscaler.domain.decision import (
    AlarmTransition,
    Evaluation,
    Trigger,
    decide,
    just_scaled_out,
    utilization_window,
)
from genai_autoscaler.domain.demand import IDLE_LOOKBACK, DemandTrend, requests_per_minute, trend_window
from genai_autoscaler.domain.families import by_family
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.policy import (
    AdoptedAlarm,
    SageMakerPolicy,
    TargetPolicy,
)
from genai_autoscaler.domain.quotas import QuotaFigure
from genai_autoscaler.domain.signals import (
    PROPORTIONAL_SIGNALS,
    TAG_MANAGED_BY,
    TAG_SIGNAL,
    TAG_TARGET,
    AlarmSpec,
    Signal,
    alarm_specs,
    identify_metric,
    invocations_query,
)
from genai_autoscaler.domain.state import ActionRecord, ObservedCapacity, TargetState
from genai_autoscaler.domain.targets import TargetKind
from genai_autoscaler.errors import AutoscalerError, LockHeld


class DispatchPorts(DemandPorts, Protocol):
    """What alarm dispatch and the periodic evaluation use."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def capacity(self) -> CapacityActuator: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def alarms(self) -> AlarmDirectory: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def workflows(self) -> WorkflowStarter: ...


class Dispatch(StrEnum):
    WORKFLOW = "workflow_started"
    NOTIFIED = "notified"
    HELD = "held"  # a report held for the target's digest (domain/digest.py)
    REMEMBERED = "remembered"
    NOTHING = "nothing"
    TOO_OLD = "too_old"  # an event past the stack's maximum age: recorded, not acted on
    FAILED = "failed"  # an evaluation that could not be made (the others go on)


# What counts as an action carried out (the controller's per-action metric): started, reported or held.
CARRIED_OUT = frozenset({Dispatch.WORKFLOW, Dispatch.NOTIFIED, Dispatch.HELD})


class DispatchOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: Plan | None
    dispatch: Dispatch
    execution_arn: str | None = None
    note: str | None = None


def _not_ours(note: str) -> DispatchOutcome:
    return DispatchOutcome(plan=None, dispatch=Dispatch.NOTHING, note=note)


def _spec_for(
    policy: TargetPolicy, signal: Signal, token_quota: QuotaFigure | None = None, quota_usage: bool = False
) -> AlarmSpec | None:
    return next(
        (spec for spec in alarm_specs(policy, token_quota, quota_usage) if spec.signal is signal), None
    )


def _quotas_of(ctl: DispatchPorts, policy: TargetPolicy) -> BedrockQuotas | None:
    """A Bedrock model's quotas, read once per event or evaluation; None for other targets."""
    return by_family(policy, sagemaker=lambda _: None, bedrock=lambda model: bedrock_quotas(ctl, model))


def _observe(
    ctl: DispatchPorts, policy: TargetPolicy, now: datetime, quotas: BedrockQuotas | None, state: TargetState
) -> ObservedCapacity | BedrockDemand | None:
    """What the decision is made on: a SageMaker target's capacity (None: not found), a Bedrock model's demand."""
    return by_family(
        policy,
        sagemaker=ctl.capacity.observe,
        bedrock=lambda model: bedrock_demand(ctl, model, now, quotas, state.route),
    )


def _token_quota(quotas: BedrockQuotas | None) -> QuotaFigure | None:
    return quotas.tokens_per_minute.figure if quotas is not None else None


def _noted(outcome: DispatchOutcome, quotas: BedrockQuotas | None) -> DispatchOutcome:
    """The outcome, with what went wrong reading the model's quotas (the policy's figures stood in)."""
    if quotas is None or not quotas.notes:
        return outcome
    note = "; ".join(n for n in (outcome.note, *quotas.notes) if n)
    return outcome.model_copy(update={"note": note})


def dispatch_alarm(event: AlarmStateChangeEvent, ctl: DispatchPorts, now: datetime) -> DispatchOutcome:
    """Handle one alarm state change. Alarms that are not this controller's business end in Dispatch.NOTHING."""
    tags = event.detail.alarm_tags
    managed_by = tags.get(TAG_MANAGED_BY)
    if managed_by is not None and managed_by != ctl.settings.stack_name:
        return _not_ours(f"alarm is managed by {managed_by}, not {ctl.settings.stack_name}")
    if managed_by is None:
        adopted = ctl.settings.effective_policies(ctl.policies.load()).adopter_of(event.detail.alarm_name)
        if adopted is not None:
            return _route_adopted(event, ctl, now, *adopted)
    metric = event.single_metric
    if metric is None:
        return _route_math_alarm(event, ctl, now)
    identity = identify_metric(metric.metric.namespace, metric.metric.name, metric.metric.dimensions)
    if identity is None:
        return _not_ours(f"{metric.metric.namespace} {metric.metric.name} is not a watched signal")
    if managed_by is not None and (
        tags.get(TAG_TARGET) not in (None, identity.target_id)
        or tags.get(TAG_SIGNAL) not in (None, identity.signal)
    ):
        return _not_ours("the alarm's tags and its metric name different targets")

    # A variant picked up by its management tag (the alarm is ours): the reconciler gave it alarms.
    policy = ctl.settings.policy_of(
        ctl.policies.load(), identity.target_id, tagged_variant=managed_by is not None
    )
    if policy is None:
        return _not_ours(f"{identity.target_id} is not a managed target")
    quotas = None
    if identity.signal is Signal.TOKEN_QUOTA:
        # On Bedrock's EstimatedTPMQuotaUsage: the threshold is a share of the model's quota.
        quotas = _quotas_of(ctl, policy)
        spec = _spec_for(policy, identity.signal, _token_quota(quotas), quota_usage=True)
    else:
        spec = _spec_for(policy, identity.signal)  # the token quota plays no part
    if spec is None or spec.summed_metrics or spec.stat != metric.stat or spec.period != metric.period:
        # Someone else's alarm on a managed target's metric (another statistic or period): not ours.
        return _not_ours(f"alarm on {metric.metric.name} {metric.stat}/{metric.period}s is not one of ours")
    if event.detail.alarm_name != ctl.alarms.alarm_name(spec):
        # The same metric and statistic, but not the alarm the reconciler keeps, nor one a policy adopted.
        return _not_ours(
            f"{event.detail.alarm_name} is neither the controller's alarm on {metric.metric.name} "
            f"({ctl.alarms.alarm_name(spec)}) nor adopted by a policy"
        )
    return _transition(event, ctl, now, policy, _own_reading(event, spec), quotas or _quotas_of(ctl, policy))


def _own_reading(event: AlarmStateChangeEvent, spec: AlarmSpec) -> SignalReading:
    state = event.detail.state
    return reading_from_state(spec.signal, state.value, state.timestamp, state.reason_data, spec.unit)


def _route_adopted(
    event: AlarmStateChangeEvent,
    ctl: DispatchPorts,
    now: datetime,
    policy: TargetPolicy,
    adopted: AdoptedAlarm,
) -> DispatchOutcome:
    """A team's own alarm, adopted by `policy` as one of its signals: the figures its event carries, or, for a
    composite alarm, the policy's threshold and (for a signal that sizes a scale-out) its metric's peak now."""
    signal = Signal(adopted.signal)
    state = event.detail.state
    if state.value is AlarmState.INSUFFICIENT_DATA:
        # A team's alarm often treats missing data as missing: no traffic is then no news of the target.
        return _not_ours(f"adopted alarm {adopted.alarm_name} has no data: no news of {policy.name}")
    metric = event.single_metric
    watched = metric and identify_metric(
        metric.metric.namespace, metric.metric.name, metric.metric.dimensions
    )
    if metric and watched and (watched.target_id != policy.target_id or watched.signal is not signal):
        return _not_ours(
            f"adopted alarm {adopted.alarm_name} watches {metric.metric.name} of {watched.target_id}, not "
            f"{signal} of {policy.name}: check the policy's adopted_alarms"
        )
    quotas = _quotas_of(ctl, policy)
    spec = _spec_for(policy, signal, _token_quota(quotas))
    composite = event.detail.configuration.alarm_rule is not None
    reading = adopted_reading(
        adopted, policy, spec, state.value, state.timestamp, state.reason_data, composite
    )
    if composite and spec is not None and state.value is AlarmState.ALARM and signal in PROPORTIONAL_SIGNALS:
        reading = _peak_now(ctl, spec, reading, timedelta(seconds=spec.period * spec.evaluation_periods), now)
    return _transition(event, ctl, now, policy, reading, quotas)


def _route_math_alarm(event: AlarmStateChangeEvent, ctl: DispatchPorts, now: datetime) -> DispatchOutcome:
    """A metric-math alarm is the controller's only when its (propagated) tags say it is: there is no single
    metric to recognise it by."""
    tags = event.detail.alarm_tags
    if tags.get(TAG_MANAGED_BY) != ctl.settings.stack_name or TAG_TARGET not in tags:
        return _not_ours(
            "metric math and composite alarms are signals of this controller only when tagged so"
        )
    try:
        signal = Signal(tags.get(TAG_SIGNAL, ""))
    except ValueError:
        return _not_ours(f"the alarm's signal tag {tags.get(TAG_SIGNAL)!r} is no signal of this controller")
    document = ctl.settings.effective_policies(ctl.policies.load())
    policy = document.find(tags[TAG_TARGET])
    if policy is None:
        return _not_ours(f"{tags[TAG_TARGET]} is not a managed target")
    # The token-quota alarm exists where the model has a quota, from Service Quotas or from the policy.
    quotas = _quotas_of(ctl, policy)
    spec = _spec_for(policy, signal, _token_quota(quotas))
    if spec is None or not spec.summed_metrics:
        return _noted(_not_ours(f"{policy.name} has no {signal} metric-math alarm"), quotas)
    return _transition(event, ctl, now, policy, _own_reading(event, spec), quotas)


def _transition(
    event: AlarmStateChangeEvent,
    ctl: DispatchPorts,
    now: datetime,
    policy: TargetPolicy,
    reading: SignalReading,
    quotas: BedrockQuotas | None = None,
) -> DispatchOutcome:
    age = now - event.time
    if abs(age) > timedelta(seconds=ctl.settings.max_event_age_seconds):
        return _too_old(ctl, event, policy, age, now)
    previous = event.detail.previous_state.value if event.detail.previous_state else None
    return _decide_and_dispatch(ctl, AlarmTransition(reading, previous), policy, now, event.id, quotas)


def _too_old(
    ctl: DispatchPorts, event: AlarmStateChangeEvent, policy: TargetPolicy, age: timedelta, now: datetime
) -> DispatchOutcome:
    """An event past the maximum age (a redrive of the failed-events queue, a late redelivery) or from the
    future: what it says may no longer hold, so it goes into the target's history and changes nothing."""
    limit = ctl.settings.max_event_age_seconds
    when = (
        f"{age.total_seconds():,.0f} s old" if age >= timedelta(0) else f"{-age.total_seconds():,.0f} s ahead"
    )
    reason = (
        f"{event.detail.alarm_name} went to {event.detail.state.value} in an event {when} (the limit is {limit:,} s): "
        "not acted on; the evaluator reads the alarm as it stands now"
    )
    record = ActionRecord(
        target_id=policy.target_id, at=now, action="ignore", outcome="event_too_old", reason=reason
    )
    ctl.state.update(policy.target_id, lambda state: state, record)
    return DispatchOutcome(plan=None, dispatch=Dispatch.TOO_OLD, note=reason)


def readings_for(
    policy: TargetPolicy,
    snapshot: dict[str, AlarmSnapshot],
    ctl: DispatchPorts,
    token_quota: QuotaFigure | None = None,
) -> list[SignalReading]:
    """The target's signal readings from an alarm listing; alarms that do not (yet) exist are left out.
    `token_quota`: a Bedrock model's tokens-per-minute quota from Service Quotas (else the policy's)."""
    readings = []
    for spec in alarm_specs(policy, token_quota):
        alarm = snapshot.get(ctl.alarms.alarm_name(spec))
        if alarm is not None:
            readings.append(
                reading_from_state(spec.signal, alarm.state, alarm.since, alarm.reason_data, spec.unit)
            )
    return readings


def adopted_readings(
    policy: TargetPolicy, standing: dict[str, AlarmStanding], token_quota: QuotaFigure | None = None
) -> list[SignalReading]:
    """The readings of the alarms `policy` adopted, from a listing of them; alarms that do not exist are left
    out (the reconciler reports them)."""
    readings = []
    for adopted in policy.adopted_alarms:
        alarm = standing.get(adopted.alarm_name)
        # Without data, a team's alarm (missing data treated as missing, CloudWatch's default) says nothing.
        if alarm is not None and alarm.state is not AlarmState.INSUFFICIENT_DATA:
            spec = _spec_for(policy, Signal(adopted.signal), token_quota)
            readings.append(
                adopted_reading(
                    adopted, policy, spec, alarm.state, alarm.since, alarm.reason_data, alarm.composite
                )
            )
    return readings


def evaluate_targets(ctl: DispatchPorts, now: datetime) -> list[DispatchOutcome]:
    """Evaluate every managed target from one listing of the controller's alarms."""
    snapshot = ctl.alarms.snapshot()
    raw = ctl.policies.load()
    document = ctl.settings.effective_policies(raw)
    known = {t.target_id for t in document.targets}
    tagged = []
    for alarm in snapshot.values():
        identity = identify_metric(alarm.namespace, alarm.metric_name, alarm.dimensions)
        if identity and identity.kind is TargetKind.SAGEMAKER_VARIANT and identity.target_id not in known:
            tagged.append((alarm.dimensions["EndpointName"], alarm.dimensions["VariantName"]))
    if tagged:
        document = ctl.settings.effective_policies(raw, tagged)
    adopted = ctl.alarms.standing([a.alarm_name for t in document.targets for a in t.adopted_alarms])
    outcomes = []
    slot = now.strftime("%Y%m%dT%H%M")
    for policy in document.targets:
        try:
            outcomes.append(_evaluate(ctl, policy, snapshot, adopted, now, f"eval-{slot}"))
        except Exception as exc:
            # One target's trouble (throttling, a refused call, a network error, a bad state item) must not
            # stop the evaluation of the others; the handler logs and counts it.
            note = f"{policy.name}: {type(exc).__name__}: {exc}"
            outcomes.append(DispatchOutcome(plan=None, dispatch=Dispatch.FAILED, note=note))
    with suppress(AutoscalerError):  # reports held for targets that have left the document since
        reports.send_orphaned_digests(ctl, {p.target_id for p in document.targets}, now)
    return outcomes


def _evaluate(
    ctl: DispatchPorts,
    policy: TargetPolicy,
    snapshot: dict[str, AlarmSnapshot],
    adopted: dict[str, AlarmStanding],
    now: datetime,
    cause: str,
) -> DispatchOutcome:
    state = locks.release_if_ended(ctl, ctl.state.load(policy.target_id), now)
    # The digest of what was held, once its window has passed: sent before the decision, which may fail, and
    # not in its way when it cannot go now.
    if state.held_notifications is not None:
        with suppress(AutoscalerError):
            reports.send_digest(ctl, policy.target_id, policy.name, state, now)
    quotas = _quotas_of(ctl, policy)
    readings = tuple(
        readings_for(policy, snapshot, ctl, _token_quota(quotas))
        + adopted_readings(policy, adopted, _token_quota(quotas))
    )
    observed = _observe(ctl, policy, now, quotas, state)
    # A calm target's invocations: whether they rise (a ramp), or have held since a scale-out (its window).
    calm = _calm_invocations(ctl, policy, readings, state, now)
    window = utilization_window(policy, readings, state, now, calm)
    if window is not None:
        readings = _with_current_concurrency(ctl, policy, readings, window, now)
    readings = _firing_figures_now(ctl, policy, readings, now)
    # A firing alarm's trend (read only in ALARM), or a calm target's, with its ramp's concurrency where it rises.
    trend = _demand_trend(ctl, policy, readings, now) or _ramp(ctl, policy, calm, state, now)
    plan = decide(Evaluation(readings), policy, observed, state, now, trend)
    return _noted(dispatch(ctl, plan, policy, cause), quotas)


def _firing_figures_now(
    ctl: DispatchPorts, policy: TargetPolicy, readings: tuple[SignalReading, ...], now: datetime
) -> tuple[SignalReading, ...]:
    """The readings, with each alarm still in ALARM that sizes in proportion given its figure of now: the
    peak over its evaluation periods (None without datapoints, which asks for one more unit).

    An alarm's own figures date from its last state change: sized against the capacity of now, they would
    ask again for what a scale-out since has already added, and compound.
    """
    fresh = []
    for reading in readings:
        spec = _spec_for(policy, reading.signal)
        # An adopted alarm's figures are its own (against its own threshold), but for a composite's, which has none.
        own_figures = reading.adopted_from is not None and reading.value is not None
        if (
            reading.state is AlarmState.ALARM
            and reading.signal in PROPORTIONAL_SIGNALS
            and spec is not None
            and not own_figures
        ):
            reading = _peak_now(
                ctl, spec, reading, timedelta(seconds=spec.period * spec.evaluation_periods), now
            )
        fresh.append(reading)
    return tuple(fresh)


def _peak_now(
    ctl: DispatchPorts, spec: AlarmSpec, reading: SignalReading, window: timedelta, now: datetime
) -> SignalReading:
    """The reading with its alarm's metric at its peak over the last `window` (None without datapoints)."""
    return replace(reading, value=ctl.metrics.peak(spec.query, now - window, now))


# A calm target's concurrency "now", for a ramp its trend projects: the peak of its last two minutes.
RAMP_WINDOW = timedelta(minutes=2)


def _calm_invocations(
    ctl: DispatchPorts,
    policy: TargetPolicy,
    readings: tuple[SignalReading, ...],
    state: TargetState,
    now: datetime,
) -> DemandTrend | None:
    """For a target that watches concurrency (a SageMaker one) with every signal OK: its invocations per minute,
    one metric read a minute: over the trend's minutes, and back to the decision of its last scale-out when an
    alarm sized it and it serves since no longer than the stabilization window (`just_scaled_out`: whether the
    demand has held since is read from them all, a burst that ended during the cold start included).
    None for any other target, or when they cannot be read (a ramp then waits for the next minute, or for the
    alarm; scale-in for the whole window)."""
    if _spec_for(policy, Signal.CONCURRENCY) is None:
        return None
    if not every_signal_ok(readings):
        return None

    def read(target: SageMakerPolicy) -> DemandTrend | None:
        window = timedelta(seconds=target.scale_in.stabilization_seconds)
        since = state.alarm_scale_out_decided_at if just_scaled_out(state, window, now) else None
        return _invocations(ctl, target, now, since)

    return by_family(policy, sagemaker=read, bedrock=lambda _: None)


def _ramp(
    ctl: DispatchPorts,
    policy: TargetPolicy,
    calm: DemandTrend | None,
    state: TargetState,
    now: datetime,
) -> DemandTrend | None:
    """A calm target's invocations (`_calm_invocations`), with, when they rise, its concurrency's peak since the
    later of RAMP_WINDOW ago and its last scale decision (figures from well before are per unit of another
    capacity; CloudWatch reads whole periods, so the one the decision falls in is read too): what a ramp is
    projected from. A second metric read while they rise; the invocations alone when the concurrency cannot be
    read, or when the target was scaled just now (no ramp is projected without it)."""
    spec = _spec_for(policy, Signal.CONCURRENCY)
    if calm is None or spec is None or not calm.rising:
        return calm
    since = now - RAMP_WINDOW
    if state.last_scale_at is not None:
        since = max(since, state.last_scale_at)
    if since >= now:
        return calm
    try:
        recent = ctl.metrics.peak(spec.query, since, now)
    except AutoscalerError:
        return calm
    return calm if recent is None else replace(calm, concurrency_now=recent)


def _demand_trend(
    ctl: DispatchPorts, policy: TargetPolicy, readings: tuple[SignalReading, ...], now: datetime
) -> DemandTrend | None:
    """A SageMaker target's invocations per minute over the trend's minutes, read only when a signal is in
    ALARM (a scale-out is sized for their trend); None otherwise, for a Bedrock model, or without datapoints."""
    if not any(r.state is AlarmState.ALARM for r in readings):
        return None
    return by_family(
        policy,
        sagemaker=lambda target: _invocations(ctl, target, now),
        bedrock=lambda _: None,
    )


def _invocations(
    ctl: DispatchPorts, target: SageMakerPolicy, now: datetime, since: datetime | None = None
) -> DemandTrend | None:
    """The target's requests per minute over the trend's minutes, from the minute of `since` when earlier. Read
    from IDLE_LOOKBACK before them, so that a minute without invocations after the target's last ones reads as
    none (`requests_per_minute`), not as unknown; in the same one read."""
    start, end = trend_window(now)
    if since is not None:
        start = min(start, since.replace(second=0, microsecond=0))
    try:
        read = ctl.metrics.per_period(invocations_query(target), start - IDLE_LOOKBACK, end)
    except AutoscalerError:
        return None  # the trend only grows a scale-out: without it, the alarm is still answered
    minutes = requests_per_minute(read)[int(IDLE_LOOKBACK.total_seconds() // 60) :]
    known = [i for i, value in enumerate(minutes) if value is not None]
    if not known:
        return None
    # From the first minute with a datapoint to the last (gaps between stay gaps). A datapoint is stamped
    # with its minute's start; its figure stands for the middle of that minute.
    age = (now - (start + timedelta(minutes=known[-1]))).total_seconds() - 30.0
    return DemandTrend(tuple(minutes[known[0] : known[-1] + 1]), max(0.0, age))


def _with_current_concurrency(
    ctl: DispatchPorts,
    policy: TargetPolicy,
    readings: tuple[SignalReading, ...],
    window: timedelta,
    now: datetime,
) -> tuple[SignalReading, ...]:
    """The readings, with concurrency at its peak over the last `window` (None without datapoints)."""
    spec = _spec_for(policy, Signal.CONCURRENCY)
    if spec is None:
        return readings
    return tuple(
        replace(_peak_now(ctl, spec, r, window, now), threshold=spec.threshold)
        if r.signal is Signal.CONCURRENCY
        else r
        for r in readings
    )


def execution_name(target_id: str, action: Action, cause: str) -> str:
    """A Step Functions execution name (80 chars of [A-Za-z0-9-_]) that repeats for a repeated cause."""
    digest = hashlib.sha256(f"{target_id}|{action}|{cause}".encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{action}-{target_id.split('/', 1)[-1]}")[:60]
    return f"{readable}-{digest}"


def _decide_and_dispatch(
    ctl: DispatchPorts,
    trigger: Trigger,
    policy: TargetPolicy,
    now: datetime,
    cause: str,
    quotas: BedrockQuotas | None = None,
) -> DispatchOutcome:
    state = locks.release_if_ended(ctl, ctl.state.load(policy.target_id), now)
    observed = _observe(ctl, policy, now, quotas, state)
    plan = decide(trigger, policy, observed, state, now, _demand_trend(ctl, policy, trigger.readings, now))
    return _noted(dispatch(ctl, plan, policy, cause), quotas)


def dispatch(ctl: DispatchPorts, plan: Plan, policy: TargetPolicy, cause: str) -> DispatchOutcome:
    """Carry out a plan's consequences: a workflow, a notification, or only state to remember."""
    if plan.workflow is not None:
        request = ScaleRequest(plan=plan, policy=policy.model_dump(mode="json"))
        name = execution_name(plan.target_id, plan.action, cause)
        try:
            locks.reserve(ctl, plan.target_id, name, plan.decided_at)
        except LockHeld as exc:
            # Another event's workflow took the target since this decision read its state: it acts for both.
            return DispatchOutcome(plan=plan, dispatch=Dispatch.NOTHING, note=f"not started: {exc}")
        try:
            arn = ctl.workflows.start(name, request.model_dump(mode="json"), plan.workflow)
        except Exception:
            with suppress(AutoscalerError):  # what failed first is what the caller must see
                locks.cancel(ctl, plan.target_id, name)
            raise
        if arn is None:  # a redelivered event whose workflow has run to its end
            locks.cancel(ctl, plan.target_id, name)
            return DispatchOutcome(
                plan=plan, dispatch=Dispatch.NOTHING, note=f"{name} already ran to its end"
            )
        return DispatchOutcome(plan=plan, dispatch=Dispatch.WORKFLOW, execution_arn=arn)

    remembers = plan.adopt_capacity is not None or plan.insufficient_data_since is not None
    if plan.notifies or remembers:
        sent = reports.remember(ctl, plan)
        if plan.notifies and not sent:
            return DispatchOutcome(plan=plan, dispatch=Dispatch.HELD, note="held for the target's digest")
        return DispatchOutcome(
            plan=plan, dispatch=Dispatch.NOTIFIED if plan.notifies else Dispatch.REMEMBERED
        )
    return DispatchOutcome(plan=plan, dispatch=Dispatch.NOTHING)
