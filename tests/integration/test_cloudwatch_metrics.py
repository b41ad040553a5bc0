"""The CloudWatch MetricReader on moto: GetMetricData's datapoints oldest first, and their peak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler.aws.cloudwatch_metrics import CloudWatchMetrics
from genai_autoscaler.domain.policy import SageMakerVariantPolicy, parse_policy_document
from genai_autoscaler.domain.signals import invocations_query

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def cloudwatch(mocked_aws: None) -> Any:
    return boto3.client("cloudwatch", region_name="us-east-1")


def test_a_variants_invocations_are_read_oldest_first(cloudwatch: Any) -> None:
    target = parse_policy_document(
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod"}]}
    ).targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    # Given three minutes of invocations, put in no particular order
    for minute, value in ((2, 300.0), (0, 120.0), (1, 180.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": "llm-prod"},
                        {"Name": "VariantName", "Value": "AllTraffic"},
                    ],
                    "Timestamp": START + timedelta(minutes=minute, seconds=20),
                    "Value": value,
                }
            ],
        )
    metrics = CloudWatchMetrics(cloudwatch)
    # When they are read per minute
    points = metrics.series(invocations_query(target), START, START + timedelta(minutes=5))
    # Then each minute's Sum comes stamped with its minute, oldest first; the peak is the busiest
    assert points == [(START + timedelta(minutes=m), v) for m, v in ((0, 120.0), (1, 180.0), (2, 300.0))]
    assert metrics.peak(invocations_query(target), START, START + timedelta(minutes=5)) == 300.0
    # And another variant has none
    other = target.model_copy(update={"endpoint_name": "other"})
    assert metrics.series(invocations_query(other), START, START + timedelta(minutes=5)) == []
