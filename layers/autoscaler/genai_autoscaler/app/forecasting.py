"""The forecaster: every hour, each SageMaker target's demand forecast from its own CloudWatch history.

A scheduled use case (functions/forecaster). For each target whose policy does not turn the forecast off, it
reads the per-minute `Invocations` of the last 14 days and, of the last day, the concurrency and invocations per
instance that turn demand into capacity; `domain.forecast` makes the forecast (or says why it stands aside), and
it is kept in the target's state, where every decision reads it. From the same invocations, `domain.returns`
measures how long the target's demand takes to come back once it has fallen: the scale-in window it needs, kept
beside the forecast. Nothing is scaled here: the evaluator raises capacity ahead of the demand the forecast
expects, the minute it is due, and scales in after the window measured.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app.ports import MetricReader, PolicySource, StateStore
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.demand import DEFAULT_COLD_START_SECONDS, requests_per_minute
from genai_autoscaler.domain.forecast import DAY, DemandForecast, forecast, history_window, inflight_ratio
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.returns import measure_window
from genai_autoscaler.domain.signals import Signal, alarm_specs, invocations_query
from genai_autoscaler.domain.state import TargetState


class ForecastPorts(Protocol):
    """What the forecaster uses."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def metrics(self) -> MetricReader: ...

    @property
    def state(self) -> StateStore: ...


class ForecastReport(BaseModel):
    """One target's forecast, as the forecaster logs it: what it expects over the next hour, or why not."""

    model_config = ConfigDict(frozen=True)

    target: str
    method: str | None = None
    error: float | None = None
    next_hour_peak_per_minute: float | None = None
    stands_aside: str | None = None
    # The scale-in window its returning demand asks for (None: too little history to tell).
    scale_in_window_seconds: int | None = None
    problem: str | None = None  # why no forecast could be made this hour (the last one ages out)


def refresh_forecasts(ctl: ForecastPorts, now: datetime) -> list[ForecastReport]:
    """Make and keep every forecasting SageMaker target's forecast; returns what each came to."""
    document = ctl.settings.effective_policies(ctl.policies.load())
    reports = []
    for policy in document.targets:
        if not isinstance(policy, SageMakerPolicy) or policy.forecast.mode == "off":
            continue
        try:
            invocations, made = target_forecast(ctl.metrics, policy, now)
            kept = ctl.state.update(policy.target_id, partial(_with_forecast, made, invocations, policy, now))
        except Exception as exc:
            # One target's trouble (a throttled read, a state conflict) must not stop the others' forecasts;
            # the handler logs it, and the target's last forecast stands aside once it no longer reaches.
            reports.append(ForecastReport(target=policy.name, problem=f"{type(exc).__name__}: {exc}"))
            continue
        peak = made.peak(now, now + timedelta(hours=1))
        reports.append(
            ForecastReport(
                target=policy.name,
                method=made.method,
                error=made.error,
                next_hour_peak_per_minute=peak,
                stands_aside=made.stands_aside,
                scale_in_window_seconds=kept.scale_in_window and kept.scale_in_window.seconds,
            )
        )
    return reports


def _with_forecast(
    made: DemandForecast,
    invocations: list[float | None],
    policy: SageMakerPolicy,
    now: datetime,
    state: TargetState,
) -> TargetState:
    """The state with the forecast and the scale-in window measured across the target's last cold start."""
    window = measure_window(
        invocations,
        now,
        policy.scale_in.stabilization_seconds,
        policy.scale_in.cooldown_seconds,
        state.cold_start_seconds or DEFAULT_COLD_START_SECONDS,
        policy.scale_in.target_utilization,
    )
    return state.model_copy(update={"forecast": made, "scale_in_window": window})


def target_forecast(
    metrics: MetricReader, policy: SageMakerPolicy, now: datetime
) -> tuple[list[float | None], DemandForecast]:
    """The target's per-minute invocations over the history as CloudWatch has them (None: no datapoint), and
    the forecast made at `now` from them, a minute without a datapoint read as `requests_per_minute` says."""
    start, end = history_window(now)
    invocations = metrics.per_period(invocations_query(policy), start, end)
    ratio = None
    concurrency = next((s for s in alarm_specs(policy) if s.signal is Signal.CONCURRENCY), None)
    if concurrency is not None and policy.signals.concurrency_per_unit is not None:
        # The busiest moment of each minute, per unit, against what each unit was sent that minute.
        peaks = replace(concurrency.query, period=60)
        day_start = end - timedelta(minutes=DAY)
        ratio = inflight_ratio(
            metrics.per_period(peaks, day_start, end),
            metrics.per_period(invocations_query(policy, per_unit=True), day_start, end),
            policy.signals.concurrency_per_unit,
        )
    made = forecast(requests_per_minute(invocations), start, now, ratio, policy.forecast.max_error)
    return invocations, made
