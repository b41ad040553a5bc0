"""BedrockProvisionedThroughputs: the ProvisionedThroughputs port on the fake Bedrock client, its requests checked
against botocore's service model with Stubber on a real boto3 client, and the domain's deletion rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.stub import Stubber
from genai_autoscaler.aws import bedrock_provisioned
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.provisioned import ProvisionedModel, ProvisionedModelStatus, may_delete
from genai_autoscaler.domain.signals import TAG_TARGET
from genai_autoscaler.errors import ActuationRejected, TransientAwsError
from genai_autoscaler_local.bedrock_fake import ACCOUNT, REGION, FakeBedrock, check_request, check_response
from genai_autoscaler_local.clock import SimClock

from tests.unit.bedrock_fixtures import DAY, MODEL, MODEL_ARN, PROVISIONING
from tests.unit.builders import NOW

OWNER = ("genai-autoscaler:stack", "stack-a")


@pytest.fixture
def throughputs(bedrock: FakeBedrock) -> BedrockProvisionedThroughputs:
    return BedrockProvisionedThroughputs(bedrock)


def buy(
    throughputs: BedrockProvisionedThroughputs,
    name: str = "gas-claude-1",
    token: str = "shift-1",
    units: int = 2,
    commitment: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    return throughputs.create(MODEL, units, name, commitment, token, dict([OWNER]) if tags is None else tags)


# ---------------------------------------------------------------------------------------- over the fake
def test_a_purchase_is_creating_then_in_service(
    throughputs: BedrockProvisionedThroughputs, clock: SimClock
) -> None:
    # Given a purchase of two hourly model units
    arn = buy(throughputs)

    # When it is described now and after provisioning
    creating = throughputs.describe(arn)
    clock.advance(PROVISIONING)
    ready = throughputs.describe(arn)

    # Then it is the domain's model, Creating then InService, with no commitment
    assert creating == ProvisionedModel(
        arn=arn,
        name="gas-claude-1",
        model_arn=MODEL_ARN,
        model_units=2,
        status=ProvisionedModelStatus.CREATING,
        created_at=NOW,
    )
    assert ready is not None
    assert ready.status is ProvisionedModelStatus.IN_SERVICE
    assert may_delete(ready, clock.now())[0]


def test_a_failed_purchase_says_why(
    throughputs: BedrockProvisionedThroughputs, bedrock: FakeBedrock, clock: SimClock
) -> None:
    bedrock.fail_next_create("Insufficient capacity for the requested model units")
    arn = buy(throughputs)
    clock.advance(PROVISIONING)
    failed = throughputs.describe(arn)
    assert failed is not None
    assert failed.status is ProvisionedModelStatus.FAILED
    assert failed.failure_message == "Insufficient capacity for the requested model units"


def test_a_hung_purchase_stays_creating(
    throughputs: BedrockProvisionedThroughputs, bedrock: FakeBedrock, clock: SimClock
) -> None:
    # Given a purchase that never finishes
    bedrock.hang_next_create()
    arn = buy(throughputs)
    # When the workflow's timeout has long passed
    clock.advance(6 * 3600)
    # Then it is still Creating, and (no commitment) it can be given up
    assert throughputs.describe(arn).status is ProvisionedModelStatus.CREATING  # type: ignore[union-attr]
    throughputs.delete(arn)
    assert throughputs.describe(arn) is None


def test_a_repeated_token_buys_nothing_more(
    throughputs: BedrockProvisionedThroughputs, bedrock: FakeBedrock
) -> None:
    # Given a purchase retried by the workflow with its token
    first = buy(throughputs)
    again = buy(throughputs, units=5)
    # Then one model, of the first request's units
    assert again == first
    assert bedrock.provisioned_model_arns() == [first]
    assert throughputs.describe(first).model_units == 2  # type: ignore[union-attr]


def test_a_committed_purchase_reports_its_term_end(
    throughputs: BedrockProvisionedThroughputs, clock: SimClock
) -> None:
    arn = buy(throughputs, commitment="OneMonth")
    described = throughputs.describe(arn)
    assert described is not None
    assert described.commitment == "OneMonth"
    assert described.commitment_expires_at is not None
    assert described.commitment_expires_at.tzinfo is UTC
    assert described.commitment_expires_at > NOW + timedelta(days=28)


def test_what_is_gone_is_none_and_deleting_it_again_is_harmless(
    throughputs: BedrockProvisionedThroughputs,
) -> None:
    arn = buy(throughputs)
    throughputs.delete(arn)
    throughputs.delete(arn)  # a retried step, or the sweeper after the workflow
    assert throughputs.describe(arn) is None


DELETIONS: list[tuple[str, str | None, float]] = [
    # id, commitment, seconds after the purchase
    ("hourly, creating", None, 0),
    ("hourly, in service", None, PROVISIONING),
    ("OneMonth, a week in", "OneMonth", 7 * DAY),
    ("OneMonth, over", "OneMonth", 31 * DAY),
    ("SixMonths, a month in", "SixMonths", 31 * DAY),
    ("SixMonths, over", "SixMonths", 181 * DAY),
]


@pytest.mark.parametrize(
    ("commitment", "after"), [case[1:] for case in DELETIONS], ids=[case[0] for case in DELETIONS]
)
def test_may_delete_agrees_with_what_bedrock_allows(
    throughputs: BedrockProvisionedThroughputs, clock: SimClock, commitment: str | None, after: float
) -> None:
    # Given a model, some time after its purchase
    arn = buy(throughputs, commitment=commitment)
    clock.advance(after)
    described = throughputs.describe(arn)
    assert described is not None

    # When the domain is asked, and the deletion is tried
    allowed, reason = may_delete(described, clock.now())
    if allowed:
        throughputs.delete(arn)
    else:
        with pytest.raises(ActuationRejected, match=f"deleting the provisioned model {arn}"):
            throughputs.delete(arn)

    # Then Bedrock did exactly what the domain said it would
    assert (throughputs.describe(arn) is None) is allowed
    assert (commitment or "no commitment") in reason


TRANSLATED: list[
    tuple[str, str, Callable[[BedrockProvisionedThroughputs, str], Any], type[Exception], str]
] = [
    (
        "create throttled",
        "CreateProvisionedModelThroughput",
        lambda t, _: buy(t, "gas-2", "shift-2"),
        TransientAwsError,
        "buying 2 model units of",
    ),
    (
        "create over quota",
        "CreateProvisionedModelThroughput",
        lambda t, _: buy(t, "gas-2", "shift-2"),
        ActuationRejected,
        "ServiceQuotaExceededException",
    ),
    (
        "describe throttled",
        "GetProvisionedModelThroughput",
        lambda t, arn: t.describe(arn),
        TransientAwsError,
        "describing the provisioned model",
    ),
    (
        "delete denied",
        "DeleteProvisionedModelThroughput",
        lambda t, arn: t.delete(arn),
        ActuationRejected,
        "AccessDeniedException",
    ),
    (
        "list failing",
        "ListProvisionedModelThroughputs",
        lambda t, _: t.created_by(*OWNER),
        TransientAwsError,
        "listing the provisioned models",
    ),
    (
        "tags throttled",
        "ListTagsForResource",
        lambda t, _: t.created_by(*OWNER),
        TransientAwsError,
        "reading the tags",
    ),
]
CODES = {
    "create throttled": "ThrottlingException",
    "create over quota": "ServiceQuotaExceededException",
    "describe throttled": "ThrottlingException",
    "delete denied": "AccessDeniedException",
    "list failing": "InternalServerException",
    "tags throttled": "ThrottlingException",
}


@pytest.mark.parametrize(
    ("case", "operation", "call", "raised", "says"), TRANSLATED, ids=[case[0] for case in TRANSLATED]
)
def test_aws_errors_become_the_controllers_own(
    throughputs: BedrockProvisionedThroughputs,
    bedrock: FakeBedrock,
    case: str,
    operation: str,
    call: Callable[[BedrockProvisionedThroughputs, str], Any],
    raised: type[Exception],
    says: str,
) -> None:
    # Given one model, and Bedrock answering the next call of an operation with an error
    arn = buy(throughputs)
    bedrock.refuse_next(operation, CODES[case], "injected")
    # When the port is used / Then throttling and 5xx are transient, the rest rejected, and the message says what
    with pytest.raises(raised, match=says):
        call(throughputs, arn)


def test_an_inference_profile_cannot_be_provisioned(throughputs: BedrockProvisionedThroughputs) -> None:
    with pytest.raises(ActuationRejected, match="ValidationException"):
        throughputs.create(f"us.{MODEL}", 1, "gas-profile", None, "shift-1", {})


def test_the_sweeper_finds_what_the_controller_created(
    throughputs: BedrockProvisionedThroughputs,
    bedrock: FakeBedrock,
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given five models, three tagged as this stack's, listed two per page
    monkeypatch.setattr(bedrock_provisioned, "LIST_PAGE_SIZE", 2)
    owners = [dict([OWNER]), {"team": "search"}, dict([OWNER]), {OWNER[0]: "stack-b"}, dict([OWNER])]
    arns = []
    for n, tags in enumerate(owners):
        arns.append(buy(throughputs, f"gas-{n}", f"shift-{n}", tags=tags))
        clock.advance(60)

    # When the sweeper asks what the stack created
    found = throughputs.created_by(*OWNER)

    # Then it gets those three, oldest first, as domain models
    assert [model.arn for model in found] == [arns[0], arns[2], arns[4]]
    assert all(model.failure_message is None and model.created_at.tzinfo is UTC for model in found)


def test_the_sweeper_learns_the_target_each_model_was_bought_for(
    throughputs: BedrockProvisionedThroughputs,
) -> None:
    # Given two of the stack's models, one tagged with the target it was bought for, one without
    tagged = buy(throughputs, "gas-0", "shift-0", tags={**dict([OWNER]), TAG_TARGET: f"bedrock/{MODEL}"})
    untagged = buy(throughputs, "gas-1", "shift-1")

    # When the sweeper asks what the stack created
    found = {model.arn: model.target_id for model in throughputs.created_by(*OWNER)}

    # Then each carries its genai-autoscaler:target tag, or None; describe does not read tags
    assert found == {tagged: f"bedrock/{MODEL}", untagged: None}
    described = throughputs.describe(tagged)
    assert described is not None
    assert described.target_id is None


def test_the_sweeper_skips_a_model_deleted_while_it_looks(
    throughputs: BedrockProvisionedThroughputs, bedrock: FakeBedrock
) -> None:
    first, second = buy(throughputs, "gas-0", "shift-0"), buy(throughputs, "gas-1", "shift-1")
    bedrock.refuse_next("ListTagsForResource", "ResourceNotFoundException", "gone")
    assert [model.arn for model in throughputs.created_by(*OWNER)] == [second]
    assert first != second


# ---------------------------------------------------------------------------------------- the exact requests
ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/k3jd8s0a2m4q"
SUMMARY = {
    "provisionedModelName": "gas-claude-1",
    "provisionedModelArn": ARN,
    "modelArn": MODEL_ARN,
    "desiredModelArn": MODEL_ARN,
    "foundationModelArn": MODEL_ARN,
    "modelUnits": 2,
    "desiredModelUnits": 2,
    "status": "InService",
    "creationTime": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    "lastModifiedTime": datetime(2026, 11, 24, 10, 12, tzinfo=UTC),
}
OTHER = {
    **SUMMARY,
    "provisionedModelName": "someone-else",
    "provisionedModelArn": ARN.replace("k3jd", "zzzz"),
}
LIST = {"maxResults": 100, "sortBy": "CreationTime", "sortOrder": "Ascending"}
TAGGED = {"tags": [{"key": OWNER[0], "value": OWNER[1]}]}
CREATE = {
    "modelUnits": 2,
    "provisionedModelName": "gas-claude-1",
    "modelId": MODEL,
    "clientRequestToken": "shift-1",
}

# id, the port call, [(operation, expected request, response)], what the call returns
EXCHANGES: list[
    tuple[
        str,
        Callable[[BedrockProvisionedThroughputs], Any],
        list[tuple[str, dict[str, Any], dict[str, Any]]],
        Any,
    ]
] = [
    (
        "create, hourly, tagged",
        lambda t: t.create(MODEL, 2, "gas-claude-1", None, "shift-1", {"b": "2", "a": "1"}),
        [
            (
                "CreateProvisionedModelThroughput",
                {**CREATE, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
                {"provisionedModelArn": ARN},
            )
        ],
        ARN,
    ),
    (
        "create, committed, untagged",
        lambda t: t.create(MODEL, 2, "gas-claude-1", "SixMonths", "shift-1", {}),
        [
            (
                "CreateProvisionedModelThroughput",
                {**CREATE, "commitmentDuration": "SixMonths"},
                {"provisionedModelArn": ARN},
            )
        ],
        ARN,
    ),
    (
        "describe",
        lambda t: t.describe(ARN),
        [
            (
                "GetProvisionedModelThroughput",
                {"provisionedModelId": ARN},
                {
                    **SUMMARY,
                    "commitmentDuration": "OneMonth",
                    "commitmentExpirationTime": datetime(2026, 12, 24, 10, tzinfo=UTC),
                },
            )
        ],
        ProvisionedModel(
            arn=ARN,
            name="gas-claude-1",
            model_arn=MODEL_ARN,
            model_units=2,
            status=ProvisionedModelStatus.IN_SERVICE,
            commitment="OneMonth",
            commitment_expires_at=datetime(2026, 12, 24, 10, tzinfo=UTC),
            created_at=datetime(2026, 11, 24, 10, tzinfo=UTC),
        ),
    ),
    (
        "delete",
        lambda t: t.delete(ARN),
        [("DeleteProvisionedModelThroughput", {"provisionedModelId": ARN}, {})],
        None,
    ),
    (
        "created_by, two pages",
        lambda t: [model.name for model in t.created_by(*OWNER)],
        [
            (
                "ListProvisionedModelThroughputs",
                LIST,
                {"provisionedModelSummaries": [SUMMARY], "nextToken": "page-2"},
            ),
            (
                "ListProvisionedModelThroughputs",
                {**LIST, "nextToken": "page-2"},
                {"provisionedModelSummaries": [OTHER]},
            ),
            ("ListTagsForResource", {"resourceARN": ARN}, TAGGED),
            ("ListTagsForResource", {"resourceARN": OTHER["provisionedModelArn"]}, {"tags": []}),
        ],
        ["gas-claude-1"],
    ),
]


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "bedrock", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.mark.parametrize(
    ("call", "exchanges", "returned"), [case[1:] for case in EXCHANGES], ids=[case[0] for case in EXCHANGES]
)
def test_the_requests_are_exactly_what_the_service_model_takes(
    stubbed: tuple[Any, Stubber],
    call: Callable[[BedrockProvisionedThroughputs], Any],
    exchanges: list[tuple[str, dict[str, Any], dict[str, Any]]],
    returned: Any,
) -> None:
    # Given a real boto3 bedrock client whose answers are stubbed (Stubber checks each answer against the
    # output shape), and requests that pass the service's own constraints (patterns, enums, maximums)
    client, stubber = stubbed
    for operation, request, response in exchanges:
        check_request(operation, request)
        check_response(operation, response)
        stubber.add_response(xform_name(operation), response, request)

    # When the port is used (boto3 validates and serializes each request before the stub answers)
    result = call(BedrockProvisionedThroughputs(client))

    # Then it sent exactly those requests, in order, and read the answers right
    stubber.assert_no_pending_responses()
    assert result == returned


def test_a_missing_model_is_none_through_a_real_client(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_provisioned_model_throughput",
        service_error_code="ResourceNotFoundException",
        service_message="Provisioned model not found",
        http_status_code=404,
        expected_params={"provisionedModelId": ARN},
    )
    assert BedrockProvisionedThroughputs(client).describe(ARN) is None


# ---------------------------------------------------------------------------------------- the deletion rule
def model(commitment: str | None, expires: datetime | None) -> ProvisionedModel:
    return ProvisionedModel(
        arn=ARN,
        name="gas-claude-1",
        model_arn=MODEL_ARN,
        model_units=1,
        status=ProvisionedModelStatus.IN_SERVICE,
        commitment=commitment,
        commitment_expires_at=expires,
        created_at=NOW,
    )


RULES: list[tuple[str, ProvisionedModel, bool, str]] = [
    ("no commitment", model(None, None), True, "no commitment"),
    (
        "term running",
        model("OneMonth", NOW + timedelta(days=1)),
        False,
        "runs until 2026-11-25T10:00:00+00:00",
    ),
    ("term ends now", model("SixMonths", NOW), True, "ended at"),
    ("term over", model("OneMonth", NOW - timedelta(days=1)), True, "ended at"),
    ("term end unknown", model("OneMonth", None), False, "does not report"),
]


@pytest.mark.parametrize(
    ("provisioned", "allowed", "says"), [case[1:] for case in RULES], ids=[case[0] for case in RULES]
)
def test_may_delete(provisioned: ProvisionedModel, allowed: bool, says: str) -> None:
    # Given a provisioned model / When asked at NOW / Then the answer, and a reason fit for a notification
    allowed_now, reason = may_delete(provisioned, NOW)
    assert allowed_now is allowed
    assert says in reason


def test_a_provisioned_model_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="created_at"):
        ProvisionedModel(
            arn=ARN,
            name="x",
            model_arn=MODEL_ARN,
            model_units=1,
            status="InService",
            created_at=datetime(2026, 1, 1),  # noqa: DTZ001
        )
