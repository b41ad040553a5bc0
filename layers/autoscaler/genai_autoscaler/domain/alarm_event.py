"""The EventBridge "CloudWatch Alarm State Change" event, and the signal reading it carries.

Shapes follow the event CloudWatch sends to EventBridge: `detail.configuration.metrics[]` holds `metricStat`
entries for metric alarms and `expression` entries for metric math; composite alarms carry `alarmRule` and no
metrics; `detail.state.reasonData` is a JSON *string*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class AlarmStateValue(_EventModel):
    value: AlarmState
    reason: str = ""
    reason_data: str | None = Field(None, alias="reasonData")
    timestamp: datetime

    _timestamp_aware = field_validator("timestamp")(_aware)


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


class AlarmDetail(_EventModel):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmStateValue
    previous_state: AlarmStateValue | None = Field(None, alias="previousState")
    configuration: AlarmConfiguration = AlarmConfiguration()
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

    def describe(self) -> str:
        """E.g. `p95 latency 8200 ms (threshold 5000 ms)`, in units a person reads."""
        label = SIGNAL_LABELS[self.signal]
        if self.value is None:
            return label if self.state is AlarmState.INSUFFICIENT_DATA else f"{label}: {self.state}"
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
        data: Any = json.loads(reason_data)
    except json.JSONDecodeError:
        return ReasonFigures(None, None)
    if not isinstance(data, dict):
        return ReasonFigures(None, None)
    datapoints = [float(v) for v in data.get("recentDatapoints") or [] if isinstance(v, int | float)]
    threshold = data.get("threshold")
    return ReasonFigures(
        max(datapoints) if datapoints else None,
        float(threshold) if isinstance(threshold, int | float) else None,
    )


def reading_from_state(
    signal: Signal, state: AlarmState, since: datetime, reason_data: str | None, unit: str | None
) -> SignalReading:
    figures = reason_figures(reason_data)
    return SignalReading(signal, state, since, figures.value, figures.threshold, unit)


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
