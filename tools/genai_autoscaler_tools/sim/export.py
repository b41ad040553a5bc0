"""Your own traffic as a trace: a deployed target's per-minute invocations (and, for Bedrock, tokens) read
from CloudWatch into the canonical rate series `timestamp,rate_rps[,input_tokens,output_tokens]`, where the
token columns are the mean per request of that minute."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from genai_autoscaler.aws.cloudwatch_metrics import CloudWatchMetrics
from genai_autoscaler.domain.policy import BedrockModelPolicy, TargetPolicy
from genai_autoscaler.domain.signals import MetricQuery, bedrock_demand_queries, invocations_query

MINUTE = 60


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


def read_traffic(
    cloudwatch: Any, target: TargetPolicy, start: datetime, end: datetime
) -> list[MinuteTraffic]:
    """Per-minute traffic of `target` in [start, end). Minutes without a datapoint had no request: CloudWatch
    publishes SageMaker and Bedrock invocation metrics only for minutes with traffic. CloudWatch's refusals come
    as AutoscalerError."""
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    queries = _queries(target)
    read = CloudWatchMetrics(cloudwatch).series_of_each(list(queries.values()), start, end)
    sums = {
        query_id: {moment.replace(second=0, microsecond=0): value for moment, value in points}
        for query_id, points in zip(queries, read, strict=True)
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
