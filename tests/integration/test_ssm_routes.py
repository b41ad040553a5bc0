"""SsmRouteRegistry against moto's SSM: the parameter the callers read, as PutParameter leaves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from genai_autoscaler.app.ports import RouteRegistry
from genai_autoscaler.aws.ssm_routes import SsmRouteRegistry
from genai_autoscaler.domain.bedrock import RouteKind
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.errors import ActuationRejected, InvalidEvent, TransientAwsError
from genai_autoscaler_tools.memory import MemoryRoutes

REGION = "us-east-1"
STACK = "genai-autoscaler"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NAME = f"/genai-autoscaler/{STACK}/routes/anthropic.claude-3-5-sonnet-20240620-v1_3A0"
PROFILE = f"us.{MODEL}"
PT_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TO_PROFILE = PublishedRoute(model_id=PROFILE, kind=RouteKind.PROFILE, since=NOW, target=MODEL)
TO_PT = PublishedRoute(model_id=PT_ARN, kind=RouteKind.PROVISIONED, since=NOW, target=MODEL)


@pytest.fixture
def ssm(mocked_aws: None) -> Any:
    return boto3.client("ssm", region_name=REGION)


@pytest.fixture(params=["ssm", "memory"])
def registry(request: pytest.FixtureRequest) -> RouteRegistry:
    """The adapter and its in-memory stand-in, held to the same behaviour."""
    if request.param == "memory":
        return MemoryRoutes()
    return SsmRouteRegistry(request.getfixturevalue("ssm"), STACK)


def test_a_model_never_routed_has_no_route(registry: RouteRegistry) -> None:
    assert registry.current(MODEL) is None


def test_the_latest_route_is_the_current_one(registry: RouteRegistry) -> None:
    registry.publish(MODEL, TO_PROFILE)
    assert registry.current(MODEL) == TO_PROFILE

    registry.publish(MODEL, TO_PT)
    assert registry.current(MODEL) == TO_PT


def test_a_route_for_another_model_is_refused(registry: RouteRegistry) -> None:
    with pytest.raises(InvalidEvent, match="cannot be published"):
        registry.publish(f"meta.{MODEL}", TO_PROFILE)
    assert registry.current(f"meta.{MODEL}") is None


def test_the_parameter_is_a_standard_string_the_callers_can_read(ssm: Any) -> None:
    # Given a published route
    SsmRouteRegistry(ssm, STACK).publish(MODEL, TO_PROFILE)

    # Then it is one Standard String parameter under the stack's routes path, with a description
    described = ssm.describe_parameters(
        ParameterFilters=[
            {"Key": "Path", "Option": "Recursive", "Values": [f"/genai-autoscaler/{STACK}/routes"]}
        ]
    )["Parameters"]
    assert [(p["Name"], p["Type"], p["Tier"]) for p in described] == [(NAME, "String", "Standard")]
    assert MODEL in described[0]["Description"]
    # And its value is the route as JSON
    value = ssm.get_parameter(Name=NAME)["Parameter"]["Value"]
    assert PublishedRoute.from_json(value) == TO_PROFILE


def test_a_parameter_that_holds_no_route_is_reported(ssm: Any) -> None:
    ssm.put_parameter(Name=NAME, Value='{"model_id": "x"}', Type="String")

    with pytest.raises(InvalidEvent, match=f"route parameter {NAME} does not hold a route"):
        SsmRouteRegistry(ssm, STACK).current(MODEL)


@dataclass
class RefusingSsm:
    """An SSM client whose every call fails with `code`."""

    code: str

    def _fail(self, operation: str) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, operation)

    def get_parameter(self, **_: Any) -> None:
        self._fail("GetParameter")

    def put_parameter(self, **_: Any) -> None:
        self._fail("PutParameter")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ThrottlingException", TransientAwsError),
        ("InternalServerError", TransientAwsError),
        ("AccessDeniedException", ActuationRejected),
        ("ParameterLimitExceeded", ActuationRejected),
    ],
    ids=["throttled", "internal", "denied", "limit"],
)
def test_aws_errors_become_the_controllers_own_naming_the_parameter(
    code: str, error: type[Exception]
) -> None:
    routes = SsmRouteRegistry(RefusingSsm(code), STACK)

    with pytest.raises(error, match=f"writing route parameter {NAME}: {code}"):
        routes.publish(MODEL, TO_PROFILE)
    with pytest.raises(error, match=f"reading route parameter {NAME}: {code}"):
        routes.current(MODEL)
