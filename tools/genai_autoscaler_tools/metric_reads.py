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

from genai_autoscaler.aws.cloudwatch_metrics import metric_data_query
from genai_autoscaler.domain.policy import SageMakerVariantPolicy
from genai_autoscaler.domain.signals import (
    CONCURRENCY_PER_MODEL,
    MODEL_LATENCY,
    MetricQuery,
    invocations_query,
)

MINUTE = 60
# CloudWatch keeps the datapoints of periods under a minute for three hours: the 10 s Maximum is read there.
HIGH_RESOLUTION_RETENTION = timedelta(hours=3)
# A 10 s Maximum says how the metric reads only where the instances hold enough to read: at least this many
# requests each on average, and MIN_PEAK_MINUTES such minutes in all.
MIN_MEAN_IN_FLIGHT = 1.0
MIN_PEAK_MINUTES = 20


def read_metrics(
    cloudwatch: Any, by_id: dict[str, MetricQuery], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    """Query id -> (period start -> value) of each query over [start, end): GetMetricData, every page."""
    queries = [metric_data_query(query, query_id) for query_id, query in by_id.items()]
    read: dict[str, dict[datetime, float]] = {query_id: {} for query_id in by_id}
    for page in cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end
    ):
        for result in page.get("MetricDataResults", []):
            for moment, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                read[result["Id"]][moment.replace(microsecond=0)] = float(value)
    return read


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

    def describe(self, name: str, assumed: float) -> str:
        """What was measured, and how to replay with it (`assumed`: what the simulator takes by default)."""
        fewest, most = self.instances
        fleet = f"{fewest:.0f}" if round(fewest) == round(most) else f"{fewest:.0f} to {most:.0f}"
        low, high = self.mean_in_flight
        return (
            f"{name}'s ConcurrentRequestsPerModel Maximum read the mean in flight per instance + "
            f"{self.sigmas:.2f} sqrt(mean) over {self.periods} busy 10 s periods ({self.minutes} minutes, "
            f"{fleet} instances, {low:.1f} to {high:.1f} requests each): replay it with "
            f"--endpoint-param concurrency_peak_sigmas={self.sigmas:.2f} (simulate assumes {assumed:g}, "
            "instances queueing apart)"
        )


def measure_concurrency_peak(
    cloudwatch: Any, target: SageMakerVariantPolicy, start: datetime, end: datetime
) -> ConcurrencyPeak | None:
    """How `target`'s concurrency Maximum reads against its load, over the part of [start, end) within
    CloudWatch's three hours of 10 s datapoints; None with fewer than MIN_PEAK_MINUTES busy minutes there.

    The load of a minute is Little's law over its per-minute figures: Invocations / 60 x the mean ModelLatency
    (which includes the wait in the container's queue) is the mean in flight across the variant, and Invocations
    / InvocationsPerInstance the instances serving (SageMaker adds 1/instances per request). Each 10 s Maximum
    of the minute is then read as mean + sigmas x sqrt(mean), per instance."""
    # Whole minutes, so that each 10 s datapoint finds its minute's (GetMetricData's periods start at StartTime).
    since = max(start, end - HIGH_RESOLUTION_RETENTION)
    since = since.replace(second=0, microsecond=0) + (timedelta(minutes=1) if since.second else timedelta(0))
    if since >= end:
        return None
    requests = invocations_query(target)
    dimensions = requests.dimensions
    read = read_metrics(
        cloudwatch,
        {
            "requests": requests,
            "per_instance": invocations_query(target, per_unit=True),
            "latency": MetricQuery(
                target.target_id,
                "latency",
                MODEL_LATENCY.namespace,
                MODEL_LATENCY.name,
                dimensions,
                60,
                "Average",
            ),
            "peak": MetricQuery(
                target.target_id,
                "peak",
                CONCURRENCY_PER_MODEL.namespace,
                CONCURRENCY_PER_MODEL.name,
                dimensions,
                10,
                "Maximum",
            ),
        },
        since,
        end,
    )
    sigmas: list[float] = []
    minutes: set[datetime] = set()
    fleets: list[float] = []
    means: list[float] = []
    for moment, peak in sorted(read["peak"].items()):
        minute = moment.replace(second=0)
        invocations = read["requests"].get(minute)
        per_instance = read["per_instance"].get(minute)
        latency_us = read["latency"].get(minute)
        if not invocations or not per_instance or latency_us is None:
            continue
        instances = invocations / per_instance
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
        sigmas=max(0.0, statistics.median(sigmas)),
        periods=len(sigmas),
        minutes=len(minutes),
        instances=(min(fleets), max(fleets)),
        mean_in_flight=(min(means), max(means)),
    )
