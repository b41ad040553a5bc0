"""CloudWatch as the simulator sees it: the endpoint's metrics per period, visible after a delay, and alarms on them.

What the endpoint publishes (AWS/SageMaker, per variant):

- `ConcurrentRequestsPerModel`, high resolution (10 s), statistic Maximum: the busiest moment of the period.
  The model knows the mean number of requests in an instance; the Maximum over a period is taken as that mean
  plus 1.645 standard deviations of a Poisson count (its 95th percentile), as a request count is.
- `ModelLatency` per minute, in microseconds, with percentiles and its Average: from the latency distributions
  of the minute's requests.
- `Invocations` and `InvocationsPerInstance` (Sum per minute), `NoCapacityInvocationFailures`. SageMaker sends
  the invocation metrics with each request (the API reference's ScalingPolicyMetric), so a minute without a
  request has no datapoint: an alarm on them then has missing data, and target tracking, which does not scale
  in on insufficient data, keeps its fleet through an idle stretch.

A period's datapoint becomes visible `visibility_delay_s` after the period ends. Alarms are evaluated by
`genai_autoscaler_tools.sim.alarms.evaluate_alarm` every minute (every 10 s for periods under a minute), over an
evaluation range of recent periods, as CloudWatch does; a state change is handed to the alarm's listener.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from genai_autoscaler.domain.alarm_event import AlarmState

from genai_autoscaler_tools.sim.alarms import TreatMissingData, evaluate_alarm
from genai_autoscaler_tools.sim.endpoint import LATENCY_GRID, PEAK_SIGMAS, StepOutcome, latency_cdf

Floats = npt.NDArray[np.float64]


CONCURRENCY = "ConcurrentRequestsPerModel"
MODEL_LATENCY = "ModelLatency"
INVOCATIONS = "Invocations"
INVOCATIONS_PER_INSTANCE = "InvocationsPerInstance"
NO_CAPACITY = "NoCapacityInvocationFailures"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def _native_period(key: str) -> int:
    """The period a metric is published at: 10 s for the high-resolution concurrency, else a minute."""
    return 10 if key.startswith(CONCURRENCY) else 60


def busiest_moment(mean_in_flight: float, sigmas: float = PEAK_SIGMAS) -> float:
    """The Maximum of a period's concurrency, from its mean: `sigmas` standard deviations of a Poisson count above
    it (by default its 95th percentile)."""
    return mean_in_flight + sigmas * math.sqrt(mean_in_flight)


def quantile_from_cdf(cdf: Floats, q: float) -> float:
    """The q-quantile of a distribution given by its CDF on LATENCY_GRID."""
    return float(np.interp(q, cdf, LATENCY_GRID))


# The trapezoid rule's weight of each point of LATENCY_GRID, for integrals over it.
_TRAPEZOID: Floats = (
    np.concatenate(([0.0], np.diff(LATENCY_GRID))) / 2 + np.concatenate((np.diff(LATENCY_GRID), [0.0])) / 2
)


def mean_from_cdf(cdf: Floats) -> float:
    """The mean of a distribution given by its CDF on LATENCY_GRID: the integral of P(latency > t) (trapezoids),
    the grid's first point counted whole (below 10 ms every request is still in flight)."""
    return float(LATENCY_GRID[0] + _TRAPEZOID @ (1.0 - cdf))


@dataclass
class SimAlarm:
    """One alarm, in PutMetricAlarm's terms, and its state."""

    name: str
    metric: str
    stat: str  # "Maximum", "Sum", "Average" or "p95"
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: TreatMissingData
    listener: Callable[[SimAlarm, AlarmState, float], None]
    state: AlarmState = AlarmState.INSUFFICIENT_DATA
    since: float = 0.0
    recent: list[float] = field(default_factory=list)  # the evaluated datapoints of the last evaluation

    def __post_init__(self) -> None:
        if self.comparison not in _COMPARE:
            raise ValueError(f"alarm {self.name}: unknown comparison {self.comparison}")

    @property
    def evaluation_range(self) -> int:
        # CloudWatch reads a few more periods than it judges, so that late datapoints do not count as missing.
        return max(5, self.evaluation_periods + 2)

    def reason_data(self) -> str:
        """StateReasonData as CloudWatch writes it (the fields the controller reads)."""
        return json.dumps({"version": "1.0", "recentDatapoints": self.recent, "threshold": self.threshold})


@dataclass
class _Minute:
    """The current minute's figures, folded into datapoints when it ends."""

    served: float = 0.0
    invocations: float = 0.0
    no_capacity: float = 0.0
    instance_steps: float = 0.0
    steps: int = 0
    latency: list[tuple[float, StepOutcome]] = field(default_factory=list)  # (served, step) of each step


class SimCloudWatch:
    """Per-period datapoints of one variant's metrics, and the alarms that watch them."""

    def __init__(
        self,
        step_seconds: float,
        visibility_delay_s: float = 60.0,
        high_resolution_delay_s: float = 10.0,
        peak_sigmas: float = PEAK_SIGMAS,
    ):
        if 60 % step_seconds:
            raise ValueError(f"the step ({step_seconds} s) must divide a minute")
        self.step_seconds = step_seconds
        self.peak_sigmas = peak_sigmas
        self.delays = {60: visibility_delay_s, 10: high_resolution_delay_s}
        # metric/stat -> period start -> value
        self.series: dict[str, dict[float, float]] = {}
        self.alarms: list[SimAlarm] = []
        self._minute = _Minute()
        self.minute_latency_cdfs: list[tuple[float, float, Floats]] = []  # (minute start, served, cdf)

    def add_alarm(self, alarm: SimAlarm) -> SimAlarm:
        if alarm.period not in (10, 60):
            raise ValueError(
                f"alarm {alarm.name}: the simulator models periods of 10 and 60 s, not {alarm.period}"
            )
        self.alarms.append(alarm)
        return alarm

    def _put(self, key: str, start: float, value: float) -> None:
        self.series.setdefault(key, {})[start] = value

    def record(self, now: float, step: StepOutcome, arrivals: float, serving: int) -> None:
        """The metrics of the step that starts at `now`."""
        if serving > 0:
            mean = step.concurrency_per_instance
            busiest = busiest_moment(mean, self.peak_sigmas)
            points = self.series.setdefault(f"{CONCURRENCY}/Maximum", {})
            # Each 10 s period the step overlaps gets the Maximum of the steps within it.
            start = math.floor(now / 10) * 10.0
            while start < now + self.step_seconds - 1e-9:
                points[start] = max(points.get(start, 0.0), busiest)
                start += 10.0
        minute = self._minute
        minute.steps += 1
        minute.instance_steps += serving
        # Every request sent to an instance is an invocation, whatever became of it.
        minute.invocations += arrivals if serving > 0 else 0.0
        minute.no_capacity += step.failed if serving == 0 else 0.0
        if step.served > 0:
            minute.served += step.served
            minute.latency.append((step.served, step))
        if minute.steps * self.step_seconds >= 60:
            self._close_minute(now + self.step_seconds - 60)

    def _close_minute(self, start: float) -> None:
        minute, self._minute = self._minute, _Minute()
        instances = minute.instance_steps / minute.steps
        self._put(f"{NO_CAPACITY}/Sum", start, minute.no_capacity)
        if instances > 0 and minute.invocations > 0:
            self._put(f"{INVOCATIONS}/Sum", start, minute.invocations)
            self._put(f"{INVOCATIONS_PER_INSTANCE}/Sum", start, minute.invocations / instances)
        if minute.served > 0:
            cdf = latency_cdf([step for _, step in minute.latency], [w for w, _ in minute.latency])
            self._put(f"{MODEL_LATENCY}/p95", start, quantile_from_cdf(cdf, 0.95) * 1e6)  # microseconds
            self._put(f"{MODEL_LATENCY}/Average", start, mean_from_cdf(cdf) * 1e6)
            self.minute_latency_cdfs.append((start, minute.served, cdf))

    def _readable_until(self, key: str, period: int, now: float) -> float:
        """The latest period start whose datapoint can be read at `now`: the period ends, then the metric's
        publication delay passes."""
        return now - period - self.delays[_native_period(key)]

    def visible(self, key: str, period: int, start: float, now: float) -> float | None:
        """The datapoint of the period starting at `start`, if it exists and can be read at `now`.

        A period longer than the metric's own (a minute of the 10 s concurrency) aggregates its datapoints
        by the statistic: the Maximum of Maximums, the Sum of Sums.
        """
        native = _native_period(key)
        if start > self._readable_until(key, period, now):
            return None
        points = self.series.get(key, {})
        if period <= native:
            return points.get(start)
        values = [v for k in range(period // native) if (v := points.get(start + k * native)) is not None]
        if not values:
            return None
        return max(values) if key.endswith("/Maximum") else sum(values)

    def datapoints(
        self, key: str, period: int, begin: float, end: float, now: float | None = None
    ) -> list[tuple[float, float]]:
        """The datapoints (period start, value) of periods starting in [begin, end) that can be read at `now`
        (by default `end`), oldest first (GetMetricData)."""
        first = math.ceil(begin / period) * period
        now = end if now is None else now
        starts = np.arange(first, end, period).tolist()
        if period <= _native_period(key):  # the datapoints as they are (the common case: no aggregation)
            points, last = self.series.get(key, {}), self._readable_until(key, period, now)
            return [
                (start, value)
                for start in starts
                if start <= last and (value := points.get(start)) is not None
            ]
        return [
            (start, value) for start in starts if (value := self.visible(key, period, start, now)) is not None
        ]

    def peak(self, key: str, period: int, begin: float, end: float) -> float | None:
        """The highest visible datapoint of periods starting in [begin, end) (GetMetricData, then max)."""
        values = [value for _, value in self.datapoints(key, period, begin, end)]
        return max(values) if values else None

    def evaluate(self, now: float) -> None:
        """Evaluate the alarms due at `now` (a step boundary)."""
        for alarm in self.alarms:
            interval = 60 if alarm.period >= 60 else 10
            if now % interval:
                continue
            key = f"{alarm.metric}/{alarm.stat}"
            last_start = (now // alarm.period) * alarm.period - alarm.period
            starts = [last_start - k * alarm.period for k in reversed(range(alarm.evaluation_range))]
            values = [self.visible(key, alarm.period, s, now) for s in starts]
            compare = _COMPARE[alarm.comparison]
            breaching = [None if v is None else compare(v, alarm.threshold) for v in values]
            state = evaluate_alarm(
                breaching,
                alarm.evaluation_periods,
                alarm.datapoints_to_alarm,
                alarm.treat_missing,
                alarm.state,
            )
            alarm.recent = [v for v in values if v is not None][-alarm.evaluation_periods :]
            if state is not alarm.state:
                previous, alarm.state, alarm.since = alarm.state, state, now
                alarm.listener(alarm, previous, now)
