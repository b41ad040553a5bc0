"""Your own traffic as a trace: a deployed target's per-minute invocations (and, for Bedrock, tokens) read
from CloudWatch into the canonical rate series `timestamp,rate_rps[,input_tokens,output_tokens]`, where the
token columns are the mean per request of that minute.

And, for a SageMaker variant, how its `ConcurrentRequestsPerModel` Maximum reads against the requests its
instances hold on average (`measure_concurrency_peak`): the simulator's `concurrency_peak_sigmas`, which decides
when a concurrency threshold is reached, measured on the team's own endpoint rather than assumed.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from genai_autoscaler.aws.cloudwatch_metrics import metric_data_query
from genai_autoscaler.domain.policy import BedrockModelPolicy, SageMakerVariantPolicy, TargetPolicy
from genai_autoscaler.domain.signals import (
    CONCURRENCY_PER_MODEL,
    MODEL_LATENCY,
    MetricQuery,
    bedrock_demand_queries,
    invocations_query,
)

MINUTE = 60
# CloudWatch keeps the datapoints of periods under a minute for three hours: the 10 s Maximum is read there.
HIGH_RESOLUTION_RETENTION = timedelta(hours=3)
# A 10 s Maximum says how the metric reads only where the instances hold enough to read: at least this many
# requests each on average, and MIN_PEAK_MINUTES such minutes in all.
MIN_MEAN_IN_FLIGHT = 1.0
MIN_PEAK_MINUTES = 20


@dataclass(frozen=True)
class MinuteTraffic:
    start: datetime
    requests: float
    input_tokens: float | None = None
    output_tokens: float | None = None

    @property
    def rate_rps(self) -> float:
        return self.requests / MINUTE


def _queries(target: TargetPolicy) -> dict[str, MetricQuery]:
    """Query id -> the per-minute sum of a target's traffic the controller itself reads: requests, and for a
    Bedrock model its input and output tokens."""
    if isinstance(target, BedrockModelPolicy):
        demand = bedrock_demand_queries(target)
        return {
            "requests": demand["Invocations"],
            "input": demand["InputTokenCount"],
            "output": demand["OutputTokenCount"],
        }
    return {"requests": invocations_query(target)}


def _read(
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


def read_traffic(
    cloudwatch: Any, target: TargetPolicy, start: datetime, end: datetime
) -> list[MinuteTraffic]:
    """Per-minute traffic of `target` in [start, end). Minutes without a datapoint had no request: CloudWatch
    publishes SageMaker and Bedrock invocation metrics only for minutes with traffic."""
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    sums = {
        query_id: {moment.replace(second=0): value for moment, value in values.items()}
        for query_id, values in _read(cloudwatch, _queries(target), start, end).items()
    }
    minutes = []
    moment = start.replace(second=0, microsecond=0)
    while moment < end:
        requests = sums["requests"].get(moment, 0.0)
        tokens = {
            key: (sums[key].get(moment, 0.0) / requests if requests else None) if key in sums else None
            for key in ("input", "output")
        }
        minutes.append(MinuteTraffic(moment, requests, tokens["input"], tokens["output"]))
        moment += timedelta(seconds=MINUTE)
    return minutes


def write_rate_series(minutes: Iterable[MinuteTraffic], out: TextIO, with_tokens: bool) -> int:
    """Write the canonical rate series; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["timestamp", "rate_rps", "input_tokens", "output_tokens"]
        if with_tokens
        else ["timestamp", "rate_rps"]
    )
    rows = 0
    for minute in minutes:
        row: list[str] = [minute.start.isoformat(), f"{minute.rate_rps:.6g}"]
        if with_tokens:
            row += ["" if v is None else f"{v:.1f}" for v in (minute.input_tokens, minute.output_tokens)]
        writer.writerow(row)
        rows += 1
    return rows


def export_trace(cloudwatch: Any, target: TargetPolicy, start: datetime, end: datetime, output: Path) -> int:
    """Read a target's traffic and write it to `output`; returns the number of minutes written."""
    minutes = read_traffic(cloudwatch, target, start, end)
    with output.open("w", encoding="utf-8") as out:
        return write_rate_series(minutes, out, with_tokens=isinstance(target, BedrockModelPolicy))


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

    def describe(self, name: str) -> str:
        fewest, most = self.instances
        fleet = f"{fewest:.0f}" if round(fewest) == round(most) else f"{fewest:.0f} to {most:.0f}"
        low, high = self.mean_in_flight
        return (
            f"{name}'s ConcurrentRequestsPerModel Maximum read the mean in flight per instance + "
            f"{self.sigmas:.2f} sqrt(mean) over {self.periods} busy 10 s periods ({self.minutes} minutes, "
            f"{fleet} instances, {low:.1f} to {high:.1f} requests each): replay it with "
            f"--endpoint-param concurrency_peak_sigmas={self.sigmas:.2f} (simulate assumes "
            f"{_default_sigmas():g}, instances queueing apart)"
        )


def _default_sigmas() -> float:
    from genai_autoscaler_tools.sim.endpoint import EndpointModel

    return EndpointModel().concurrency_peak_sigmas


def measure_concurrency_peak(
    cloudwatch: Any, target: SageMakerVariantPolicy, start: datetime, end: datetime
) -> ConcurrencyPeak | None:
    """How `target`'s concurrency Maximum reads against its load, over the part of [start, end) within
    CloudWatch's three hours of 10 s datapoints; None with fewer than MIN_PEAK_MINUTES busy minutes there.

    The load of a minute is Little's law over its per-minute figures: Invocations / 60 x the mean ModelLatency
    (which includes the wait in the container's queue) is the mean in flight across the variant, and Invocations
    / InvocationsPerInstance the instances serving (SageMaker adds 1/instances per request). Each 10 s Maximum
    of the minute is then read as mean + sigmas x sqrt(mean), per instance."""
    since = max(start, end - HIGH_RESOLUTION_RETENTION)
    if since >= end:
        return None
    requests = invocations_query(target)
    dimensions = requests.dimensions
    read = _read(
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
