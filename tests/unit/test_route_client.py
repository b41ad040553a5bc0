"""The route a Bedrock caller resolves: the parameter's name (domain and client agree, reversibly, within SSM's
naming rules), the published value, and the callers' client `genai_autoscaler_route.ModelRoute` on moto's SSM:
resolved, cached for the TTL, refreshed after it, and never failing the caller's request."""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import genai_autoscaler_route
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from genai_autoscaler.aws.ssm_routes import SsmRouteRegistry
from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind
from genai_autoscaler.domain.routes import (
    PublishedRoute,
    model_id_of_segment,
    parameter_segment,
    route_parameter_name,
)
from genai_autoscaler_route import ModelRoute
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

REGION = "us-east-1"
STACK = "genai-autoscaler"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = f"us.{MODEL}"
PT_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# PutParameter's Name: a-zA-Z0-9_.- and '/' between levels (botocore's SSM service model, "Naming Constraints").
SSM_NAME = re.compile(r"/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")


# ---------------------------------------------------------------------------------------------- the name


@pytest.mark.parametrize(
    ("model_id", "segment"),
    [
        (MODEL, "anthropic.claude-3-5-sonnet-20240620-v1_3A0"),
        (PROFILE, "us.anthropic.claude-3-5-sonnet-20240620-v1_3A0"),
        ("amazon.titan-embed-text-v2:0:8k", "amazon.titan-embed-text-v2_3A0_3A8k"),
        ("meta.llama3_1-8b", "meta.llama3_5F1-8b"),
        ("vendor.model_3A0", "vendor.model_5F3A0"),  # an escape-looking ID stays distinct
        (PT_ARN, "arn_3Aaws_3Abedrock_3Aus-east-1_3A123456789012_3Aprovisioned-model_2Fabc123def456"),
        ("é", "_C3_A9"),
    ],
    ids=["model", "profile", "two-colons", "underscore", "escape-lookalike", "arn", "non-ascii"],
)
def test_a_model_id_becomes_one_valid_ssm_name_segment_and_back(model_id: str, segment: str) -> None:
    # Given a model ID  When it is named
    name = route_parameter_name(STACK, model_id)

    # Then the name is /genai-autoscaler/<stack>/routes/<segment>, valid for SSM, and the segment decodes back
    assert name == f"/genai-autoscaler/{STACK}/routes/{segment}"
    assert SSM_NAME.fullmatch(name)
    assert model_id_of_segment(parameter_segment(model_id)) == model_id


@pytest.mark.parametrize(
    "segment",
    ["", "a:b", "a/b", "_3a", "_4", "_41", "_FF", "a b"],
    ids=["empty", "colon", "slash", "lower-hex", "short-escape", "needless-escape", "not-utf8", "space"],
)
def test_text_no_model_id_becomes_is_not_a_segment(segment: str) -> None:
    with pytest.raises(ValueError, match="not a route parameter segment"):
        model_id_of_segment(segment)


@pytest.mark.parametrize(
    ("stack", "model_id"),
    [("", MODEL), ("1stack", MODEL), ("my_stack", MODEL), ("a/b", MODEL), (STACK, "")],
    ids=["empty-stack", "digit-first", "underscore", "slash", "empty-model"],
)
def test_domain_and_client_refuse_the_same_bad_names(stack: str, model_id: str) -> None:
    with pytest.raises(ValueError, match=r"stack name|model ID"):
        route_parameter_name(stack, model_id)
    with pytest.raises(ValueError, match=r"stack name|model ID"):
        genai_autoscaler_route.route_parameter_name(stack, model_id)


@given(model_id=st.text(min_size=1, max_size=80))
def test_domain_and_client_name_every_model_id_alike_and_reversibly(model_id: str) -> None:
    name = route_parameter_name(STACK, model_id)

    assert genai_autoscaler_route.route_parameter_name(STACK, model_id) == name
    assert SSM_NAME.fullmatch(name)
    assert model_id_of_segment(name.rsplit("/", 1)[1]) == model_id


def test_the_client_does_not_import_the_controller() -> None:
    source = Path(genai_autoscaler_route.__file__).read_text(encoding="utf-8")

    assert not re.search(r"^\s*(from|import)\s+genai_autoscaler\b", source, re.MULTILINE)


# ---------------------------------------------------------------------------------------------- the value


def test_a_route_round_trips_through_json_in_utc() -> None:
    route = PublishedRoute(
        model_id=PT_ARN,
        kind=RouteKind.PROVISIONED,
        since=datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        target=MODEL,
    )

    text = route.to_json()

    assert PublishedRoute.from_json(text) == route
    assert route.since == NOW
    assert '"since":"2026-11-24T10:00:00Z"' in text


def test_the_controllers_route_is_published_with_its_target() -> None:
    remembered = BedrockRoute(kind=RouteKind.PROFILE, model=PROFILE, since=NOW)

    assert PublishedRoute.of(remembered, MODEL) == PublishedRoute(
        model_id=PROFILE, kind=RouteKind.PROFILE, since=NOW, target=MODEL
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"since": "2026-11-24T10:00:00"}, "since"),
        ({"model_id": ""}, "model_id"),
        ({"kind": "spot"}, "kind"),
        ({"kind": "on_demand", "model_id": PROFILE}, "on_demand route calls its target"),
        ({"extra": 1}, "extra"),
    ],
    ids=["naive-since", "empty-model", "unknown-kind", "on-demand-elsewhere", "unknown-field"],
)
def test_a_value_that_is_not_a_route_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    raw = {"model_id": PROFILE, "kind": "profile", "since": "2026-11-24T10:00:00Z", "target": MODEL, **fields}

    with pytest.raises(ValidationError, match=field):
        PublishedRoute.model_validate(raw)


# ---------------------------------------------------------------------------------------------- the client


@dataclass
class SsmProbe:
    """Counts GetParameter calls and, while `failure` is set, fails them as SSM or the network would."""

    calls: int = 0
    failure: Exception | None = None

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


THROTTLED = ClientError(
    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetParameter"
)
DENIED = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")
UNREACHABLE = EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/")


@pytest.fixture
def ssm(mocked_aws: None) -> Any:
    return boto3.client("ssm", region_name=REGION)


@pytest.fixture
def probe(ssm: Any) -> SsmProbe:
    probe = SsmProbe()
    ssm.meta.events.register("before-call.ssm.GetParameter", probe)
    return probe


def route_to(ssm: Any, model_id: str, kind: RouteKind = RouteKind.PROFILE) -> None:
    """Publish as the controller does."""
    SsmRouteRegistry(ssm, STACK).publish(
        MODEL, PublishedRoute(model_id=model_id, kind=kind, since=NOW, target=MODEL)
    )


def test_a_caller_is_sent_where_the_controller_routes_it(ssm: Any, probe: SsmProbe) -> None:
    # Given the controller routes the model to its cross-region profile
    route_to(ssm, PROFILE)

    # When a caller asks
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm)

    # Then it calls the profile, read from the parameter both sides name alike
    assert route.model_id() == PROFILE
    assert route.parameter_name == route_parameter_name(STACK, MODEL)
    assert probe.calls == 1


def test_a_model_never_routed_is_called_by_its_own_id(ssm: Any, probe: SsmProbe) -> None:
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm)

    assert route.model_id() == MODEL
    assert route.model_id() == MODEL
    assert probe.calls == 1  # the absence is cached too


def test_the_answer_is_cached_for_the_ttl_and_refreshed_after_it(ssm: Any, probe: SsmProbe) -> None:
    # Given a caller that resolved the profile
    clock = Clock()
    route_to(ssm, PROFILE)
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm, ttl_seconds=30, clock=clock)
    assert route.model_id() == PROFILE

    # When the controller moves the traffic to Provisioned Throughput
    route_to(ssm, PT_ARN, RouteKind.PROVISIONED)

    # Then callers keep the cached profile until the TTL has passed, then call the PT
    clock.now += 29.9
    assert [route.model_id() for _ in range(100)] == [PROFILE] * 100
    assert probe.calls == 1
    clock.now += 0.1
    assert route.model_id() == PT_ARN
    assert probe.calls == 2


@pytest.mark.parametrize("failure", [THROTTLED, DENIED, UNREACHABLE], ids=["throttled", "denied", "network"])
def test_an_ssm_failure_keeps_the_last_good_answer_and_warns_once(
    ssm: Any, probe: SsmProbe, failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a caller that resolved the profile
    clock = Clock()
    route_to(ssm, PROFILE)
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm, ttl_seconds=30, clock=clock)
    assert route.model_id() == PROFILE

    # When SSM fails at every refresh for a while
    probe.failure = failure
    answers = []
    with caplog.at_level(logging.WARNING, logger="genai_autoscaler_route"):
        for _ in range(3):
            clock.now += 30
            answers.append(route.model_id())

    # Then the caller keeps the profile, SSM is asked once per TTL, and one warning says why
    assert answers == [PROFILE] * 3
    assert probe.calls == 4
    assert len(caplog.records) == 1
    assert route.parameter_name in caplog.records[0].getMessage()

    # And once SSM answers again, the next outage is reported again
    probe.failure = None
    clock.now += 30
    assert route.model_id() == PROFILE
    probe.failure = failure
    clock.now += 30
    with caplog.at_level(logging.WARNING, logger="genai_autoscaler_route"):
        assert route.model_id() == PROFILE
    assert len(caplog.records) == 2


@pytest.mark.parametrize("failure", [THROTTLED, UNREACHABLE], ids=["throttled", "network"])
def test_an_ssm_failure_before_any_answer_calls_the_model_itself(
    ssm: Any, probe: SsmProbe, failure: Exception
) -> None:
    route_to(ssm, PROFILE)
    probe.failure = failure

    assert ModelRoute(MODEL, stack=STACK, ssm_client=ssm).model_id() == MODEL


@pytest.mark.parametrize(
    "value",
    ["not json", '["a"]', '{"kind": "profile"}', '{"model_id": ""}', '{"model_id": 7}'],
    ids=["not-json", "list", "no-model-id", "empty-model-id", "number"],
)
def test_a_value_without_a_route_keeps_the_last_good_answer(ssm: Any, value: str) -> None:
    clock = Clock()
    route_to(ssm, PROFILE)
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm, clock=clock)
    assert route.model_id() == PROFILE

    ssm.put_parameter(Name=route.parameter_name, Value=value, Type="String", Overwrite=True)
    clock.now += 30

    assert route.model_id() == PROFILE


def test_concurrent_callers_share_one_read(ssm: Any, probe: SsmProbe) -> None:
    # Given a route and many request threads starting at once
    route_to(ssm, PROFILE)
    route = ModelRoute(MODEL, stack=STACK, ssm_client=ssm)
    start = threading.Barrier(16)

    def call() -> str:
        start.wait()
        return route.model_id()

    # When they all ask
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: call(), range(16)))

    # Then they all get the route, from one GetParameter
    assert answers == [PROFILE] * 16
    assert probe.calls == 1


@pytest.mark.parametrize(
    "arguments",
    [{"base_model_id": ""}, {"stack": "my_stack"}, {"ttl_seconds": -1}],
    ids=["no-model", "bad-stack", "negative-ttl"],
)
def test_a_misconfigured_route_fails_when_made_not_when_called(ssm: Any, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"model ID|stack name|ttl_seconds"):
        ModelRoute(**{"base_model_id": MODEL, "ssm_client": ssm, **arguments})
