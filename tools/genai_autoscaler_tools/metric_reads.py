"""What a deployed variant's CloudWatch metrics say, read by the operator's tools (`trace export`, `status`).

`measure_concurrency_peak`: how its `ConcurrentRequestsPerModel` Maximum reads against the requests its instances
hold on average. That figure decides at what load a concurrency threshold is reached; the simulator takes it as
`concurrency_peak_sigmas` (1.645 by default, one instance queueing on its own), and here it is measured on the team's
own endpoint instead of assumed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from genai_autoscaler.aws.cloudwatch_metrics import CloudWatchMetrics
from genai_autoscaler.domain.demand import PUBLISH_DELAY_MINUTES
from genai_autoscaler.domain.policy import SageMakerVariantPolicy
from genai_autoscaler.domain.signals import (
    concurrency_query,
    invocations_query,
    model_latency_query,
)

MINUTE = 60
# CloudWatch keeps the datapoints of periods under a minute for three hours: GetMetricData returns none at 10 s
# for a StartTime further back than that (botocore's MetricStat.Period). The read starts a little after, so that
# the request is still within them when it arrives.
HIGH_RESOLUTION_RETENTION = timedelta(hours=3)
_RETENTION_MARGIN = timedelta(minutes=5)
# A 10 s Maximum says how the metric reads only where the instances hold enough to read: at least this many
# requests each on average, and MIN_PEAK_MINUTES such minutes in all.
MIN_MEAN_IN_FLIGHT = 1.0
MIN_PEAK_MINUTES = 20


def high_resolution_window(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The whole minutes of [start, end) whose 10 s datapoints CloudWatch still holds at `now`, without the last
    minutes it may not have taken in whole yet (their Invocations would be partial against whole Maxima)."""
    since = max(start, now - HIGH_RESOLUTION_RETENTION + _RETENTION_MARGIN)
    whole = since.replace(second=0, microsecond=0)
    since = whole if whole == since else whole + timedelta(minutes=1)
    settled = now.replace(second=0, microsecond=0) - timedelta(minutes=PUBLISH_DELAY_MINUTES)
    return since, min(end, settled)


def equivalent_threshold(threshold: float, assumed: float, measured: float) -> float:
    """The concurrency threshold that, on an endpoint whose Maximum reads `measured` standard deviations above the
    mean, is reached at the load `threshold` is reached at where it reads `assumed`: the same mean in flight per
    instance (the mean m solves m + assumed sqrt(m) = threshold)."""
    root = (-assumed + math.sqrt(assumed * assumed + 4 * threshold)) / 2
    mean = root * root
    return mean + measured * math.sqrt(mean)


@dataclass(frozen=True)
class ConcurrencyPeak:
    """How a variant's ConcurrentRequestsPerModel Maximum read over its busy 10 s periods: the mean in flight per
    instance (Little's law: invocations a second times the mean ModelLatency, over the instances serving) plus
    `sigmas` standard deviations of a Poisson count (the median over the periods)."""

    sigmas: float
    periods: int
    minutes: int
    instances: tuple[float, float]  # the fewest and most serving, over the minutes read
    mean_in_flight: tuple[float, float]  # per instance: the least and the most, over the minutes read

    @property
    def usable(self) -> bool:
        """A Maximum below the mean Little's law gives is no reading to replay with: ModelLatency then spans more
        than the requests' time in the container, or Invocations counts requests that never ran."""
        return self.sigmas >= 0

    def below_the_mean(self) -> str:
        """Why a reading that is not `usable` is none to replay with."""
        return (
            "read its ConcurrentRequestsPerModel Maximum below the mean in flight that Invocations and ModelLatency "
            f"give ({self.sigmas:.2f} sqrt(mean)): ModelLatency spans more than the time in the container, or "
            "failed requests count as invocations, so there is no figure to replay with"
        )

    def describe(self, name: str, assumed: float) -> str:
        """What was measured, and how to replay with it (`assumed`: what the simulator takes by default)."""
        fewest, most = self.instances
        fleet = f"{fewest:.0f}" if round(fewest) == round(most) else f"{fewest:.0f} to {most:.0f}"
        low, high = self.mean_in_flight
        over = (
            f"over {self.periods} busy 10 s periods ({self.minutes} minutes, {fleet} instances, {low:.1f} to "
            f"{high:.1f} requests each)"
        )
        if not self.usable:
            return f"{name} {self.below_the_mean()} {over}"
        return (
            f"{name}'s ConcurrentRequestsPerModel Maximum read the mean in flight per instance + "
            f"{self.sigmas:.2f} sqrt(mean) {over}: replay it with --endpoint-param "
            f"concurrency_peak_sigmas={self.sigmas:.2f} (simulate assumes {assumed:g}, instances queueing apart)"
        )


def measure_concurrency_peak(
    cloudwatch: Any, target: SageMakerVariantPolicy, start: datetime, end: datetime, now: datetime
) -> ConcurrencyPeak | None:
    """How `target`'s concurrency Maximum reads against its load, over the whole minutes of [start, end) whose
    10 s datapoints CloudWatch still holds at `now` (`high_resolution_window`); None with fewer than
    MIN_PEAK_MINUTES busy minutes there. CloudWatch's refusals come as AutoscalerError.

    The load of a minute is Little's law over its per-minute figures: Invocations / 60 x the mean ModelLatency
    (which includes the wait in the container's queue) is the mean in flight across the variant, and Invocations
    / InvocationsPerInstance the instances serving (SageMaker adds 1/instances per request). Each 10 s Maximum
    of the minute is then read as mean + sigmas x sqrt(mean), per instance: the median over the periods. The
    Maximum is the busiest instance's, so on a larger fleet it reads further above the mean: the figure holds for
    the fleet sizes it was measured at."""
    since, until = high_resolution_window(start, end, now)
    if since >= until:
        return None
    requests, per_instance, latency, peaks = (
        {at.replace(microsecond=0): value for at, value in points}
        for points in CloudWatchMetrics(cloudwatch).series_of_each(
            [
                invocations_query(target),
                invocations_query(target, per_unit=True),
                model_latency_query(target),
                concurrency_query(target),
            ],
            since,
            until,
        )
    )
    sigmas: list[float] = []
    minutes: set[datetime] = set()
    fleets: list[float] = []
    means: list[float] = []
    for moment, peak in sorted(peaks.items()):
        minute = moment.replace(second=0)
        invocations, shares = requests.get(minute), per_instance.get(minute)
        latency_us = latency.get(minute)
        if not invocations or not shares or latency_us is None:
            continue
        instances = invocations / shares
        mean = invocations / MINUTE * latency_us / 1e6 / instances
        if mean < MIN_MEAN_IN_FLIGHT:
            continue
        sigmas.append((peak - mean) / math.sqrt(mean))
        if minute not in minutes:
            minutes.add(minute)
            fleets.append(instances)
            means.append(mean)
    if len(minutes) < MIN_PEAK_MINUTES:
        return None
    return ConcurrencyPeak(
        sigmas=statistics.median(sigmas),
        periods=len(sigmas),
        minutes=len(minutes),
        instances=(min(fleets), max(fleets)),
        mean_in_flight=(min(means), max(means)),
    )
