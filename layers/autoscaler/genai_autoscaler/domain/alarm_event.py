"""The EventBridge "CloudWatch Alarm State Change" event, and the signal reading it carries.

Shapes follow the event CloudWatch sends to EventBridge: `detail.configuration.metrics[]` holds `metricStat`
entries for metric alarms and `expression` entries for metric math; composite alarms carry `alarmRule` and no
metrics; `detail.state.reasonData` is a JSON *string*.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genai_autoscaler.domain.signals import Signal


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class _EventModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone")
    return value


def _finite(value: Any) -> float | None:
    """`value` as a finite float; None for anything else (NaN, infinity, a 400-digit integer, a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _reason_object(reason_data: str) -> dict[str, Any]:
    """`reasonData` parsed; ValueError naming what is wrong with it. CloudWatch writes a JSON object whose
    `recentDatapoints` (a list) and `threshold`, where present, are finite numbers."""
    try:
        data: Any = json.loads(reason_data)
    except (ValueError, RecursionError):
        raise ValueError("is not JSON (CloudWatch writes a JSON object)") from None
    if not isinstance(data, dict):
        raise ValueError(f"is JSON but not an object (got a {type(data).__name__})")
    datapoints = data.get("recentDatapoints", [])
    if not isinstance(datapoints, list) or any(_finite(v) is None for v in datapoints):
        raise ValueError("recentDatapoints must be a list of finite numbers")
    if "threshold" in data and _finite(data["threshold"]) is None:
        raise ValueError("threshold must be a finite number")
    return data


class AlarmStateValue(_EventModel):
    value: AlarmState
    reason: str = ""
    reason_data: str | None = Field(None, alias="reasonData")
    timestamp: datetime

    _timestamp_aware = field_validator("timestamp")(_aware)

    @field_validator("reason_data")
    @classmethod
    def _reason_data_as_cloudwatch_writes_it(cls, value: str | None) -> str | None:
        if value is not None:
            _reason_object(value)
        return value


class MetricDefinition(_EventModel):
    namespace: str
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(_EventModel):
    metric: MetricDefinition
    period: int
    stat: str
    unit: str | None = None


class AlarmMetric(_EventModel):
    id: str
    metric_stat: MetricStat | None = Field(None, alias="metricStat")
    expression: str | None = None
    return_data: bool | None = Field(None, alias="returnData")


class AlarmConfiguration(_EventModel):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)
    alarm_rule: str | None = Field(None, alias="alarmRule")

    @model_validator(mode="after")
    def _metrics_or_rule(self) -> Self:
        if not self.metrics and not self.alarm_rule:
            raise ValueError(
                "names no metrics and no alarmRule: a metric alarm's event lists its metrics, a composite "
                "alarm's carries its rule"
            )
        if any(m.metric_stat is None and not m.expression for m in self.metrics):
            raise ValueError("each of metrics needs a metricStat or an expression")
        return self


class AlarmDetail(_EventModel):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmStateValue
    previous_state: AlarmStateValue | None = Field(None, alias="previousState")
    configuration: AlarmConfiguration
    alarm_tags: dict[str, str] = Field(default_factory=dict, alias="alarmTags")


class AlarmStateChangeEvent(_EventModel):
    """The whole EventBridge envelope; `id` is unique per event and repeats on redelivery."""

    id: str
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    source: Literal["aws.cloudwatch"]
    account: str
    region: str
    time: datetime
    resources: list[str] = Field(min_length=1)
    detail: AlarmDetail

    _time_aware = field_validator("time")(_aware)

    @model_validator(mode="after")
    def _alarm_figures(self) -> Self:
        """A metric or metric-math alarm in ALARM says why in reasonData: its recent datapoints and threshold.
        Without them the event is not one CloudWatch sent, and nothing is decided on it."""
        state = self.detail.state
        if state.value is not AlarmState.ALARM or self.detail.configuration.alarm_rule:
            return self
        data = _reason_object(state.reason_data) if state.reason_data is not None else {}
        # An anomaly-detection alarm's threshold is a band (ThresholdMetricId), not one figure.
        band = any(
            "ANOMALY_DETECTION_BAND" in (m.expression or "") for m in self.detail.configuration.metrics
        )
        required = ("recentDatapoints",) if band else ("recentDatapoints", "threshold")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(
                f"detail.state.reasonData: an ALARM of a metric alarm gives {' and '.join(missing)}, and this "
                "one does not"
            )
        return self

    @property
    def alarm_arn(self) -> str:
        return self.resources[0]

    @property
    def single_metric(self) -> MetricStat | None:
        """The metric of a single-metric alarm; None for metric math and composite alarms."""
        stats = [m.metric_stat for m in self.detail.configuration.metrics if m.metric_stat is not None]
        has_expression = any(m.expression for m in self.detail.configuration.metrics)
        if len(stats) != 1 or has_expression:
            return None
        return stats[0]


SIGNAL_LABELS = {
    Signal.LATENCY_P95: "p95 latency",
    Signal.CONCURRENCY: "concurrency per unit",
    Signal.MODEL_LOADING_WAIT: "p95 model loading wait",
    Signal.NO_CAPACITY: "requests refused for lack of capacity",
    Signal.THROTTLES: "throttled requests",
    Signal.TOKEN_QUOTA: "tokens per minute",
    Signal.TTFT_P95: "p95 time to first token",
}


def format_figure(value: float, unit: str | None) -> str:
    """A metric value in the unit a person thinks in: SageMaker's microseconds become milliseconds."""
    if unit == "Microseconds":
        return f"{value / 1000:,.0f} ms"
    if unit == "Milliseconds":
        return f"{value:,.0f} ms"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class SignalReading:
    """A signal's alarm state, since when, and the figure that put it there."""

    signal: Signal
    state: AlarmState
    since: datetime
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    adopted_from: str | None = None  # the team's own alarm this reading came from (`adopted_alarms`)

    def describe(self) -> str:
        """E.g. `p95 latency 8200 ms (threshold 5000 ms)`, in units a person reads."""
        label = SIGNAL_LABELS[self.signal]
        if self.adopted_from is not None:
            label = f"{label} (alarm {self.adopted_from})"
        if self.value is None:
            if self.state is AlarmState.INSUFFICIENT_DATA:
                return label
            if self.threshold is not None:
                return f"{label}: {self.state} (threshold {format_figure(self.threshold, self.unit)})"
            return f"{label}: {self.state}"
        figure = format_figure(self.value, self.unit)
        if self.threshold is None:
            return f"{label} {figure}"
        return f"{label} {figure} (threshold {format_figure(self.threshold, self.unit)})"

    @property
    def ratio(self) -> float | None:
        """How far the signal stands from its threshold (1.0 = at it)."""
        if self.value is None or not self.threshold:
            return None
        return self.value / self.threshold


def every_signal_ok(readings: Sequence[SignalReading]) -> bool:
    """Whether there are readings and every one is OK: a calm target (its scale-in and its ramp watch)."""
    return bool(readings) and all(reading.state is AlarmState.OK for reading in readings)


@dataclass(frozen=True)
class ReasonFigures:
    value: float | None
    threshold: float | None


def reason_figures(reason_data: str | None) -> ReasonFigures:
    """The figures in an alarm's `reasonData`: the highest recent datapoint and the threshold.

    The highest is used because datapoint order is not documented and, for sizing, the peak of the
    evaluation window is the conservative reading in both directions.
    """
    if not reason_data:
        return ReasonFigures(None, None)
    try:
        data = _reason_object(reason_data)
    except ValueError:
        # An event's reasonData was checked as it was parsed; DescribeAlarms' is AWS's: keep what is usable.
        return ReasonFigures(None, None)
    datapoints = [float(v) for v in data.get("recentDatapoints", [])]
    threshold = data.get("threshold")
    return ReasonFigures(
        max(datapoints) if datapoints else None, None if threshold is None else float(threshold)
    )


def reading_from_state(
    signal: Signal, state: AlarmState, since: datetime, reason_data: str | None, unit: str | None
) -> SignalReading:
    figures = reason_figures(reason_data)
    return SignalReading(signal, state, since, figures.value, figures.threshold, unit)


@dataclass(frozen=True)
class AlarmStanding:
    """Any alarm's state as DescribeAlarms shows it (a metric or a composite alarm)."""

    state: AlarmState
    since: datetime
    reason_data: str | None = None
    composite: bool = False


@dataclass(frozen=True)
class AlarmSnapshot:
    """An alarm as DescribeAlarms shows it: its metric and its state."""

    namespace: str
    metric_name: str
    dimensions: dict[str, str]
    stat: str
    period: int
    state: AlarmState
    since: datetime
    reason_data: str | None = None
