"""MetricReader on CloudWatch GetMetricData: the current figures behind a signal, for sizing scale-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import MetricReader
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.domain.signals import MetricQuery


class CloudWatchMetrics(MetricReader):
    def __init__(self, cloudwatch: Any):
        self._cloudwatch = cloudwatch

    def peak(self, query: MetricQuery, start: datetime, end: datetime) -> float | None:
        request = {
            "Id": "signal",
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
        values: list[float] = []
        try:
            for page in self._cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=[request], StartTime=start, EndTime=end
            ):
                for result in page.get("MetricDataResults", []):
                    values += [float(v) for v in result.get("Values", [])]
        except ClientError as exc:
            raise translate(exc, f"reading {query.metric_name} of {query.target_id}") from exc
        return max(values) if values else None
