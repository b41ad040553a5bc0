"""MetricReader on CloudWatch GetMetricData: the recent figures that size a scale-in and a scale-out's growth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import MetricReader
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.domain.signals import MetricQuery

_QUERIES_PER_REQUEST = 500  # GetMetricData's most MetricDataQueries a request


def metric_data_query(query: MetricQuery, query_id: str = "signal") -> dict[str, Any]:
    """GetMetricData's MetricDataQuery for `query`, named `query_id` in the results."""
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": query.namespace,
                "MetricName": query.metric_name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions],
            },
            "Period": query.period,
            "Stat": query.stat,
        },
        "ReturnData": True,
    }


class CloudWatchMetrics(MetricReader):
    def __init__(self, cloudwatch: Any):
        self._cloudwatch = cloudwatch

    def _fetch(
        self, requests: list[dict[str, Any]], start: datetime, end: datetime, what: str
    ) -> dict[str, list[tuple[datetime, float]]]:
        """The datapoints of each MetricDataQuery in `requests`, by its Id, oldest first (one GetMetricData,
        paginated); a refusal is translated, saying it was `what` being read."""
        points: dict[str, list[tuple[datetime, float]]] = {request["Id"]: [] for request in requests}
        try:
            for page in self._cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=requests, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
            ):
                for result in page.get("MetricDataResults", []):
                    points[result["Id"]] += zip(
                        result.get("Timestamps", []), map(float, result.get("Values", [])), strict=True
                    )
        except ClientError as exc:
            raise translate(exc, f"reading {what}") from exc
        return points

    def series(self, query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        request = metric_data_query(query)
        return sorted(
            self._fetch([request], start, end, f"{query.metric_name} of {query.target_id}")["signal"]
        )

    def series_of_each(
        self, queries: Sequence[MetricQuery], start: datetime, end: datetime
    ) -> list[list[tuple[datetime, float]]]:
        """`series` of each query over [start, end), in order: one GetMetricData for up to its limit of 500."""
        found: list[list[tuple[datetime, float]]] = []
        for first in range(0, len(queries), _QUERIES_PER_REQUEST):
            batch = queries[first : first + _QUERIES_PER_REQUEST]
            requests = [metric_data_query(query, f"q{i}") for i, query in enumerate(batch)]
            points = self._fetch(requests, start, end, f"{len(batch)} metrics")
            found += [sorted(points[f"q{i}"]) for i in range(len(batch))]
        return found

    def peak_of_each(
        self, windows: Sequence[tuple[MetricQuery, datetime]], end: datetime
    ) -> list[float | None]:
        """One GetMetricData for every query (up to its limit of 500 a request), from the earliest start; each
        query's peak over the datapoints from its own start."""
        found: list[float | None] = []
        for first in range(0, len(windows), _QUERIES_PER_REQUEST):
            batch = windows[first : first + _QUERIES_PER_REQUEST]
            start = min(query_start for _, query_start in batch)  # (rounded down by CloudWatch, as each is)
            read = self.series_of_each([query for query, _ in batch], start, end)  # one request
            for (query, query_start), points in zip(batch, read, strict=True):
                # As a request of its own would: GetMetricData takes a StartTime down to its period's start.
                since = query_start - timedelta(seconds=query_start.timestamp() % query.period)
                values = [value for at, value in points if at >= since]
                found.append(max(values) if values else None)
        return found

    def published(self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> bool:
        """ListMetrics with RecentlyActive (PT3H, the one value it takes): a metric with datapoints in the last
        three hours, for exactly these dimensions."""
        try:
            listed = self._cloudwatch.list_metrics(
                Namespace=namespace,
                MetricName=name,
                Dimensions=[{"Name": key, "Value": value} for key, value in dimensions],
                RecentlyActive="PT3H",
            )
        except ClientError as exc:
            raise translate(exc, f"listing {namespace} {name}") from exc
        wanted = sorted(dimensions)
        return any(
            sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])) == wanted
            for metric in listed.get("Metrics", [])
        )
