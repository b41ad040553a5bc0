"""How the capacity adapter reads a variant's routing (`SageMakerCapacity.routing`): its requests and the answers
checked against botocore's SageMaker model with Stubber, for the cases moto does not produce (a summary that
carries the routing, a config deleted under a running endpoint, a caller not allowed to read it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from genai_autoscaler.aws.sagemaker_capacity import SageMakerCapacity
from genai_autoscaler.domain.policy import SageMakerVariantPolicy

TARGET = SageMakerVariantPolicy.model_validate(
    {"type": "sagemaker_variant", "endpoint_name": "llm-prod", "name": "llm-prod/AllTraffic"}
)
ENDPOINT = {"EndpointName": "llm-prod"}
CONFIG = {"EndpointConfigName": "llm-prod-config"}


@pytest.fixture
def stubbed() -> Iterator[tuple[SageMakerCapacity, Stubber]]:
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield SageMakerCapacity(client, autoscaling=None), stubber
        stubber.assert_no_pending_responses()


def endpoint(variant: dict[str, Any] | None = None, config: bool = True) -> dict[str, Any]:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    answer: dict[str, Any] = {
        "EndpointName": "llm-prod",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/llm-prod",
        "EndpointStatus": "InService",
        "CreationTime": now,
        "LastModifiedTime": now,
        "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 2, **(variant or {})}],
    }
    if config:
        answer["EndpointConfigName"] = "llm-prod-config"
    return answer


def endpoint_config(routing: str | None) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": "llm"}
    if routing is not None:
        variant["RoutingConfig"] = {"RoutingStrategy": routing}
    return {
        "EndpointConfigName": "llm-prod-config",
        "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/llm-prod-config",
        "ProductionVariants": [variant],
        "CreationTime": datetime(2026, 12, 7, tzinfo=UTC),
    }


def test_the_routing_in_the_variants_summary_is_read_without_the_config(
    stubbed: tuple[SageMakerCapacity, Stubber],
) -> None:
    capacity, stubber = stubbed
    summary = {"RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
    stubber.add_response("describe_endpoint", endpoint(summary), ENDPOINT)
    assert capacity.routing(TARGET) == "LEAST_OUTSTANDING_REQUESTS"


@pytest.mark.parametrize(("routing", "read"), [("LEAST_OUTSTANDING_REQUESTS", None), (None, "RANDOM")])
def test_else_the_endpoint_config_says_and_no_routing_config_is_sagemakers_default(
    stubbed: tuple[SageMakerCapacity, Stubber], routing: str | None, read: str | None
) -> None:
    capacity, stubber = stubbed
    stubber.add_response("describe_endpoint", endpoint(), ENDPOINT)
    stubber.add_response("describe_endpoint_config", endpoint_config(routing), CONFIG)
    assert capacity.routing(TARGET) == (read or routing)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "Could not find endpoint configuration llm-prod-config."),
        ("AccessDeniedException", "not authorized to perform: sagemaker:DescribeEndpointConfig"),
        ("ThrottlingException", "Rate exceeded"),
    ],
    ids=["config-deleted", "not-allowed", "throttled"],
)
def test_a_routing_that_cannot_be_read_is_unknown_not_a_failure(
    stubbed: tuple[SageMakerCapacity, Stubber], code: str, message: str
) -> None:
    capacity, stubber = stubbed
    stubber.add_response("describe_endpoint", endpoint(), ENDPOINT)
    stubber.add_client_error("describe_endpoint_config", code, message, expected_params=CONFIG)
    assert capacity.routing(TARGET) is None


def test_an_endpoint_without_a_config_name_or_the_variant_is_unknown(
    stubbed: tuple[SageMakerCapacity, Stubber],
) -> None:
    capacity, stubber = stubbed
    stubber.add_response("describe_endpoint", endpoint(config=False), ENDPOINT)
    assert capacity.routing(TARGET) is None
    stubber.add_response("describe_endpoint", endpoint(), ENDPOINT)
    other = endpoint_config("RANDOM")
    other["ProductionVariants"][0]["VariantName"] = "Canary"
    stubber.add_response("describe_endpoint_config", other, CONFIG)
    assert capacity.routing(TARGET) is None
