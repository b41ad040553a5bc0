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


def test_many_peaks_in_one_read_are_each_querys_own(cloudwatch: Any) -> None:
    from genai_autoscaler.domain.policy import BedrockModelPolicy
    from genai_autoscaler.domain.signals import bedrock_demand_queries

    model = parse_policy_document(
        {"targets": [{"type": "bedrock_model", "model_id": "anthropic.m-v1:0"}]}
    ).targets[0]
    assert isinstance(model, BedrockModelPolicy)
    queries = bedrock_demand_queries(model)
    profile = bedrock_demand_queries(model, "us.anthropic.m-v1:0")
    # Given a quarter of an hour of token counts under the model and its profile, throttles early and late
    for minute in range(15):
        for model_id, tokens, throttles in (
            ("anthropic.m-v1:0", 1000 + minute, 9 if minute < 5 else 2),
            ("us.anthropic.m-v1:0", 500 + 2 * minute, 0),
        ):
            cloudwatch.put_metric_data(
                Namespace="AWS/Bedrock",
                MetricData=[
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                        "Timestamp": START + timedelta(minutes=minute, seconds=10),
                        "Value": value,
                    }
                    for name, value in (("InputTokenCount", tokens), ("InvocationThrottles", throttles))
                ],
            )
    reader = CloudWatchMetrics(cloudwatch)
    end = START + timedelta(minutes=15)
    windows = [
        (queries["InputTokenCount"], START),
        (profile["InputTokenCount"], START),
        (queries["InvocationThrottles"], START + timedelta(minutes=7, seconds=30)),  # after a shift
        (queries["Invocations"], START),  # nothing published
    ]
    # When they are read in one request, each is what a request of its own reads
    assert reader.peak_of_each(windows, end) == [reader.peak(q, s, end) for q, s in windows]
    assert reader.peak_of_each(windows, end) == [1014.0, 528.0, 2.0, None]


def test_many_series_in_one_read_are_each_querys_own(cloudwatch: Any) -> None:
    target = parse_policy_document(
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod"}]}
    ).targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    # Given two minutes of a variant's invocations and invocations per instance (2 instances)
    for minute, value in ((0, 120.0), (1, 180.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": "llm-prod"},
                        {"Name": "VariantName", "Value": "AllTraffic"},
                    ],
                    "Timestamp": START + timedelta(minutes=minute, seconds=20),
                    "Value": figure,
                }
                for name, figure in (("Invocations", value), ("InvocationsPerInstance", value / 2))
            ],
        )
    reader = CloudWatchMetrics(cloudwatch)
    queries = [invocations_query(target), invocations_query(target, per_unit=True)]
    end = START + timedelta(minutes=5)
    # When they are read in one request, each is what a request of its own reads
    assert reader.series_of_each(queries, START, end) == [reader.series(q, START, end) for q in queries]
    assert reader.series_of_each(queries, START, end)[1] == [
        (START, 60.0),
        (START + timedelta(minutes=1), 90.0),
    ]
