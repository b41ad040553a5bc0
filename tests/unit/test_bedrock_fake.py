"""The fake Bedrock client held to botocore's service model: what it rejects and how (client-side like boto3,
server-side like AWS), status over simulated time, idempotency tokens, injected failures, the deletion rule for
commitments, listings, and response shapes. In memory: no moto, no network."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from genai_autoscaler_local.bedrock_fake import (
    ACCOUNT,
    COMMITTED_DELETE_ERROR,
    REGION,
    FakeBedrock,
    check_response,
)
from genai_autoscaler_local.clock import SimClock

from tests.unit.bedrock_fixtures import DAY, MODEL, MODEL_ARN, PROVISIONING
from tests.unit.builders import NOW


def buy(bedrock: FakeBedrock, **overrides: Any) -> str:
    request: dict[str, Any] = {
        "modelUnits": 1,
        "provisionedModelName": "genai-autoscaler-claude",
        "modelId": MODEL,
        "clientRequestToken": "token-1",
        "tags": [{"key": "genai-autoscaler:owner", "value": "stack-a"}],
        **overrides,
    }
    arn: str = bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]
    return arn


def status_of(bedrock: FakeBedrock, arn: str) -> str:
    status: str = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"]
    return status


# ---------------------------------------------------------------------------------------- requests
VALID_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/abcdef123456"
CREATE = {"modelUnits": 1, "provisionedModelName": "pt-a", "modelId": MODEL}

REJECTED: list[tuple[str, str, dict[str, Any], type[Exception], str]] = [
    # boto3 checks these before sending: required, unknown, types, minimum lengths and values
    (
        "create_provisioned_model_throughput",
        "missing modelUnits",
        {"provisionedModelName": "pt-a", "modelId": MODEL},
        ParamValidationError,
        "Missing required parameter",
    ),
    (
        "create_provisioned_model_throughput",
        "zero units",
        {**CREATE, "modelUnits": 0},
        ParamValidationError,
        "valid min value: 1",
    ),
    (
        "create_provisioned_model_throughput",
        "units as text",
        {**CREATE, "modelUnits": "2"},
        ParamValidationError,
        "Invalid type",
    ),
    (
        "create_provisioned_model_throughput",
        "unknown member",
        {**CREATE, "commitment": "OneMonth"},
        ParamValidationError,
        "Unknown parameter",
    ),
    (
        "create_provisioned_model_throughput",
        "empty tag key",
        {**CREATE, "tags": [{"key": "", "value": "v"}]},
        ParamValidationError,
        "valid min length: 1",
    ),
    (
        "create_provisioned_model_throughput",
        "tags as a dict",
        {**CREATE, "tags": {"owner": "me"}},
        ParamValidationError,
        "Invalid type",
    ),
    (
        "list_provisioned_model_throughputs",
        "page of 0",
        {"maxResults": 0},
        ParamValidationError,
        "valid min value: 1",
    ),
    (
        "list_tags_for_resource",
        "short ARN",
        {"resourceARN": "arn:x"},
        ParamValidationError,
        "valid min length: 20",
    ),
    # AWS checks these: enums, maximums, patterns
    (
        "create_provisioned_model_throughput",
        "unknown term",
        {**CREATE, "commitmentDuration": "OneYear"},
        ClientError,
        "enum value set: [OneMonth, SixMonths]",
    ),
    (
        "create_provisioned_model_throughput",
        "name with a space",
        {**CREATE, "provisionedModelName": "pt a"},
        ClientError,
        "at 'provisionedModelName'",
    ),
    (
        "create_provisioned_model_throughput",
        "name of 64",
        {**CREATE, "provisionedModelName": "p" * 64},
        ClientError,
        "length less than or equal to 63",
    ),
    (
        "create_provisioned_model_throughput",
        "model ID with a space",
        {**CREATE, "modelId": "Claude 3"},
        ClientError,
        "at 'modelId'",
    ),
    (
        "create_provisioned_model_throughput",
        "token with a dot",
        {**CREATE, "clientRequestToken": "shift.1"},
        ClientError,
        "at 'clientRequestToken'",
    ),
    (
        "create_provisioned_model_throughput",
        "tag key with #",
        {**CREATE, "tags": [{"key": "a#b", "value": "v"}]},
        ClientError,
        "at 'tags[0].key'",
    ),
    (
        "get_provisioned_model_throughput",
        "ARN with a short id",
        {"provisionedModelId": VALID_ARN[:-1]},
        ClientError,
        "at 'provisionedModelId'",
    ),
    (
        "delete_provisioned_model_throughput",
        "name with a slash",
        {"provisionedModelId": "pt/a"},
        ClientError,
        "at 'provisionedModelId'",
    ),
    (
        "list_provisioned_model_throughputs",
        "page of 1001",
        {"maxResults": 1001},
        ClientError,
        "less than or equal to 1000",
    ),
    (
        "list_provisioned_model_throughputs",
        "unknown sort order",
        {"sortOrder": "Newest"},
        ClientError,
        "enum value set",
    ),
    (
        "list_provisioned_model_throughputs",
        "unknown status",
        {"statusEquals": "Deleting"},
        ClientError,
        "enum value set",
    ),
]


@pytest.mark.parametrize(
    ("method", "params", "raised", "says"),
    [case[0:1] + case[2:] for case in REJECTED],
    ids=[case[1] for case in REJECTED],
)
def test_bad_requests_are_refused_where_boto3_or_aws_refuses_them(
    bedrock: FakeBedrock, method: str, params: dict[str, Any], raised: type[Exception], says: str
) -> None:
    # Given an empty account
    # When a request breaks the service model
    with pytest.raises(raised) as refused:
        getattr(bedrock, method)(**params)

    # Then boto3's own check refuses it client-side, or the service answers ValidationException (HTTP 400)
    assert says in str(refused.value)
    if raised is ClientError:
        assert refused.value.response["Error"]["Code"] == "ValidationException"  # type: ignore[attr-defined]
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400  # type: ignore[attr-defined]
    # and nothing was bought
    assert bedrock.provisioned_model_arns() == []


def test_positional_arguments_are_refused_as_by_boto3(bedrock: FakeBedrock) -> None:
    # Given / When a call without keywords / Then a TypeError, as boto3's client methods take keywords only
    with pytest.raises(TypeError):
        bedrock.get_provisioned_model_throughput(VALID_ARN)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------------- status over time
STATUS_CASES: list[tuple[str, Callable[[FakeBedrock], None] | None, float, str, str | None]] = [
    ("just bought", None, 0, "Creating", None),
    ("a second before ready", None, PROVISIONING - 1, "Creating", None),
    ("ready", None, PROVISIONING, "InService", None),
    (
        "failure before the delay",
        lambda b: b.fail_next_create("Insufficient capacity"),
        PROVISIONING - 1,
        "Creating",
        None,
    ),
    (
        "failure after the delay",
        lambda b: b.fail_next_create("Insufficient capacity"),
        PROVISIONING,
        "Failed",
        "Insufficient capacity",
    ),
    ("hung, ten days on", lambda b: b.hang_next_create(), 10 * DAY, "Creating", None),
]


@pytest.mark.parametrize(
    ("fault", "after", "status", "failure"),
    [case[1:] for case in STATUS_CASES],
    ids=[case[0] for case in STATUS_CASES],
)
def test_status_moves_with_the_injected_clock(
    bedrock: FakeBedrock,
    clock: SimClock,
    fault: Callable[[FakeBedrock], None] | None,
    after: float,
    status: str,
    failure: str | None,
) -> None:
    # Given a purchase (with the injected fault, if any)
    if fault is not None:
        fault(bedrock)
    arn = buy(bedrock)

    # When simulated time passes
    clock.advance(after)
    described = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)

    # Then its status is the one Bedrock would report, with failureMessage only once Failed
    assert described["status"] == status
    assert described.get("failureMessage") == failure
    assert described["creationTime"] == NOW
    changed = status != "Creating"
    assert described["lastModifiedTime"] == (NOW + timedelta(seconds=PROVISIONING) if changed else NOW)


def test_an_injected_fault_applies_to_the_next_purchase_only(bedrock: FakeBedrock, clock: SimClock) -> None:
    # Given a failure injected, then two purchases
    bedrock.fail_next_create("Insufficient capacity")
    first = buy(bedrock, provisionedModelName="pt-first", clientRequestToken="t1")
    second = buy(bedrock, provisionedModelName="pt-second", clientRequestToken="t2")

    # When provisioning ends
    clock.advance(PROVISIONING)

    # Then only the first failed
    assert (status_of(bedrock, first), status_of(bedrock, second)) == ("Failed", "InService")


def test_a_model_is_found_by_its_name_as_well_as_its_arn(bedrock: FakeBedrock) -> None:
    arn = buy(bedrock)
    by_name = bedrock.get_provisioned_model_throughput(provisionedModelId="genai-autoscaler-claude")
    assert by_name["provisionedModelArn"] == arn


def test_arns_have_the_real_format_and_are_distinct(bedrock: FakeBedrock) -> None:
    arns = [buy(bedrock, provisionedModelName=f"pt-{n}", clientRequestToken=f"t{n}") for n in range(5)]
    assert len(set(arns)) == 5
    prefix = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/"
    assert all(arn.startswith(prefix) and len(arn) == len(prefix) + 12 for arn in arns)


# ---------------------------------------------------------------------------------------- idempotency
IDEMPOTENCY_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool, int]] = [
    # id, first request's overrides, second request's overrides, same ARN, model units bought
    ("same token, same request", {}, {}, True, 1),
    # clientRequestToken: "If this token matches a previous request, Amazon Bedrock ignores the request, but does
    # not return an error" (botocore's service model); the operation documents no mismatch error.
    ("same token, other units", {}, {"modelUnits": 3}, True, 1),
    ("same token, other name", {}, {"provisionedModelName": "pt-other"}, True, 1),
    (
        "other token, other name",
        {},
        {"clientRequestToken": "token-2", "provisionedModelName": "pt-other"},
        False,
        2,
    ),
]


@pytest.mark.parametrize(
    ("first", "second", "same_arn", "units"),
    [case[1:] for case in IDEMPOTENCY_CASES],
    ids=[case[0] for case in IDEMPOTENCY_CASES],
)
def test_the_client_request_token_makes_a_purchase_idempotent(
    bedrock: FakeBedrock, first: dict[str, Any], second: dict[str, Any], same_arn: bool, units: int
) -> None:
    # Given a purchase
    arn = buy(bedrock, **first)

    # When a second one is sent
    again = buy(bedrock, **second)

    # Then a repeated token buys nothing more and answers the first ARN, whatever else differs
    assert (again == arn) is same_arn
    bought = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert sum(summary["modelUnits"] for summary in bought) == units


def test_a_name_in_use_is_refused_under_another_token(bedrock: FakeBedrock) -> None:
    buy(bedrock)
    with pytest.raises(ClientError) as refused:
        buy(bedrock, clientRequestToken="token-2")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert len(bedrock.provisioned_model_arns()) == 1


def test_an_omitted_token_is_generated_as_boto3_does(bedrock: FakeBedrock) -> None:
    # Given two purchases without a token (boto3 fills clientRequestToken with a UUID)
    request = {"modelUnits": 1, "modelId": MODEL}
    first = bedrock.create_provisioned_model_throughput(provisionedModelName="pt-a", **request)
    second = bedrock.create_provisioned_model_throughput(provisionedModelName="pt-b", **request)
    # Then each is a purchase of its own
    assert first["provisionedModelArn"] != second["provisionedModelArn"]


def test_a_refused_purchase_does_not_use_up_its_token(bedrock: FakeBedrock) -> None:
    # Given a purchase refused for quota
    bedrock.refuse_next("CreateProvisionedModelThroughput", "ServiceQuotaExceededException", "No model units")
    with pytest.raises(bedrock.exceptions.ServiceQuotaExceededException):
        buy(bedrock)
    # When it is retried with the same token / Then it is bought
    assert status_of(bedrock, buy(bedrock)) == "Creating"


# ---------------------------------------------------------------------------------------- deletion
DELETION_CASES: list[tuple[str, str | None, float, str | None]] = [
    # id, commitment, seconds after the purchase, error code (None: deleted)
    ("no commitment, still Creating", None, 0, None),
    ("no commitment, InService", None, PROVISIONING, None),
    ("OneMonth, a day in", "OneMonth", DAY, COMMITTED_DELETE_ERROR),
    ("OneMonth, a second before the end", "OneMonth", 30 * DAY - 1, COMMITTED_DELETE_ERROR),
    ("OneMonth, at the end", "OneMonth", 30 * DAY, None),
    ("SixMonths, a month in", "SixMonths", 30 * DAY, COMMITTED_DELETE_ERROR),
    ("SixMonths, at the end", "SixMonths", 180 * DAY, None),
]


@pytest.mark.parametrize(
    ("commitment", "after", "error"),
    [case[1:] for case in DELETION_CASES],
    ids=[case[0] for case in DELETION_CASES],
)
def test_a_committed_model_cannot_be_deleted_before_its_term_ends(
    bedrock: FakeBedrock, clock: SimClock, commitment: str | None, after: float, error: str | None
) -> None:
    # Given a purchase, with or without a term
    arn = buy(bedrock, **({"commitmentDuration": commitment} if commitment else {}))
    clock.advance(after)

    # When it is deleted
    if error is None:
        bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
        # Then it is gone
        with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
            bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    else:
        # Then Bedrock refuses ("You can't delete a Provisioned Throughput before the commitment term is over")
        with pytest.raises(ClientError) as refused:
            bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
        assert refused.value.response["Error"]["Code"] == error
        assert "commitment" in refused.value.response["Error"]["Message"]
        assert bedrock.provisioned_model_arns() == [arn]


def test_a_commitment_is_reported_with_its_term_end(bedrock: FakeBedrock) -> None:
    committed = buy(bedrock, commitmentDuration="SixMonths")
    hourly = buy(bedrock, provisionedModelName="pt-hourly", clientRequestToken="token-2")

    described = bedrock.get_provisioned_model_throughput(provisionedModelId=committed)
    assert described["commitmentDuration"] == "SixMonths"
    assert described["commitmentExpirationTime"] == NOW + timedelta(days=180)
    plain = bedrock.get_provisioned_model_throughput(provisionedModelId=hourly)
    assert "commitmentDuration" not in plain
    assert "commitmentExpirationTime" not in plain


def test_deleting_what_does_not_exist_is_not_found(bedrock: FakeBedrock) -> None:
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as missing:
        bedrock.delete_provisioned_model_throughput(provisionedModelId=VALID_ARN)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_token_reused_after_a_delete_answers_the_deleted_arn(bedrock: FakeBedrock) -> None:
    # The fake's choice (the token window is not documented): a new purchase needs a new token.
    arn = buy(bedrock)
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    assert buy(bedrock) == arn
    assert bedrock.provisioned_model_arns() == []


# ---------------------------------------------------------------------------------------- models
MODEL_ID_CASES: list[tuple[str, str, str | None]] = [
    ("foundation model ID", MODEL, None),
    ("foundation model ARN", MODEL_ARN, None),
    ("context-length variant", "anthropic.claude-3-haiku-20240307-v1:0:200k", None),
    ("cross-region profile", f"us.{MODEL}", "ValidationException"),
    ("custom model name", "my-fine-tune", "ResourceNotFoundException"),
]


@pytest.mark.parametrize(
    ("model_id", "error"),
    [case[1:] for case in MODEL_ID_CASES],
    ids=[case[0] for case in MODEL_ID_CASES],
)
def test_provisioned_throughput_is_bought_for_a_model(
    bedrock: FakeBedrock, model_id: str, error: str | None
) -> None:
    if error is None:
        arn = buy(bedrock, modelId=model_id)
        described = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
        assert described["modelArn"] == described["foundationModelArn"]
        assert described["modelArn"].endswith(model_id.removeprefix(f"arn:aws:bedrock:{REGION}::"))
    else:
        with pytest.raises(ClientError) as refused:
            buy(bedrock, modelId=model_id)
        assert refused.value.response["Error"]["Code"] == error


# ---------------------------------------------------------------------------------------- listing and tags
@pytest.fixture
def three(bedrock: FakeBedrock, clock: SimClock) -> list[str]:
    """pt-0 (InService, model A), pt-1 (InService, model B), pt-2 (Creating, model A), a minute apart."""
    arns = []
    for n, model_id in enumerate([MODEL, "meta.llama3-70b-instruct-v1:0", MODEL]):
        arns.append(
            buy(bedrock, provisionedModelName=f"pt-{n}", clientRequestToken=f"t{n}", modelId=model_id)
        )
        clock.advance(60 if n < 2 else 0)
    clock.advance(PROVISIONING - 60)
    return arns


LIST_CASES: list[tuple[str, dict[str, Any], list[int]]] = [
    ("newest first by default", {}, [2, 1, 0]),
    ("oldest first", {"sortBy": "CreationTime", "sortOrder": "Ascending"}, [0, 1, 2]),
    ("in service", {"statusEquals": "InService", "sortOrder": "Ascending"}, [0, 1]),
    ("creating", {"statusEquals": "Creating"}, [2]),
    ("one model", {"modelArnEquals": MODEL_ARN, "sortOrder": "Ascending"}, [0, 2]),
    ("name contains", {"nameContains": "pt-1"}, [1]),
    ("created after", {"creationTimeAfter": NOW, "sortOrder": "Ascending"}, [1, 2]),
    ("created before", {"creationTimeBefore": NOW + timedelta(seconds=90)}, [1, 0]),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [case[1:] for case in LIST_CASES], ids=[case[0] for case in LIST_CASES]
)
def test_listing_filters_and_sorts(
    bedrock: FakeBedrock, three: list[str], filters: dict[str, Any], expected: list[int]
) -> None:
    listed = bedrock.list_provisioned_model_throughputs(**filters)
    assert [s["provisionedModelArn"] for s in listed["provisionedModelSummaries"]] == [
        three[i] for i in expected
    ]
    assert "nextToken" not in listed


def test_listing_pages_with_next_token(bedrock: FakeBedrock, three: list[str]) -> None:
    # Given three models / When they are listed two at a time
    first = bedrock.list_provisioned_model_throughputs(maxResults=2, sortOrder="Ascending")
    second = bedrock.list_provisioned_model_throughputs(
        maxResults=2, sortOrder="Ascending", nextToken=first["nextToken"]
    )
    # Then every one comes once, and the last page has no nextToken
    pages = first["provisionedModelSummaries"] + second["provisionedModelSummaries"]
    assert [s["provisionedModelArn"] for s in pages] == three
    assert "nextToken" not in second
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.list_provisioned_model_throughputs(nextToken="not-a-token")


def test_tags_are_listed_as_given(bedrock: FakeBedrock) -> None:
    tags = [{"key": "genai-autoscaler:owner", "value": "stack-a"}, {"key": "team", "value": "search"}]
    arn = buy(bedrock, tags=tags)
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == tags
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
        bedrock.list_tags_for_resource(resourceARN=VALID_ARN)


def test_more_than_fifty_tags_are_too_many(bedrock: FakeBedrock) -> None:
    tags = [{"key": f"k{n}", "value": "v"} for n in range(51)]
    with pytest.raises(bedrock.exceptions.TooManyTagsException) as refused:
        buy(bedrock, tags=tags)
    assert refused.value.response["resourceName"] == "genai-autoscaler-claude"


# ---------------------------------------------------------------------------------------- responses and errors
def test_every_response_fits_its_output_shape(bedrock: FakeBedrock, clock: SimClock) -> None:
    # Given one model of each kind: hourly InService, committed, failed
    hourly = buy(bedrock)
    committed = buy(
        bedrock, provisionedModelName="pt-c", clientRequestToken="t-c", commitmentDuration="OneMonth"
    )
    bedrock.fail_next_create("Insufficient capacity")
    failed = buy(bedrock, provisionedModelName="pt-f", clientRequestToken="t-f")
    clock.advance(PROVISIONING)

    # When every operation answers / Then each answer fits botocore's output shape
    responses = {
        "GetProvisionedModelThroughput": [
            bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
            for arn in (hourly, committed, failed)
        ],
        "ListProvisionedModelThroughputs": [bedrock.list_provisioned_model_throughputs()],
        "ListTagsForResource": [bedrock.list_tags_for_resource(resourceARN=hourly)],
        "DeleteProvisionedModelThroughput": [
            bedrock.delete_provisioned_model_throughput(provisionedModelId=hourly)
        ],
    }
    for operation, answers in responses.items():
        for answer in answers:
            check_response(operation, answer)
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


GOOD_GET: dict[str, Any] = {
    "provisionedModelName": "pt-a",
    "provisionedModelArn": VALID_ARN,
    "modelArn": MODEL_ARN,
    "desiredModelArn": MODEL_ARN,
    "foundationModelArn": MODEL_ARN,
    "modelUnits": 1,
    "desiredModelUnits": 1,
    "status": "InService",
    "creationTime": NOW,
    "lastModifiedTime": NOW,
}


def test_a_complete_get_response_fits() -> None:
    check_response("GetProvisionedModelThroughput", GOOD_GET)


MISFITS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "invented member",
        "CreateProvisionedModelThroughput",
        {"provisionedModelArn": VALID_ARN, "status": "Creating"},
    ),
    ("ARN in another format", "CreateProvisionedModelThroughput", {"provisionedModelArn": "pt-1"}),
    ("required member missing", "ListTagsForResource", {"tags": [{"key": "k"}]}),
    ("summary without its members", "ListProvisionedModelThroughputs", {"provisionedModelSummaries": [{}]}),
    ("status outside the enum", "GetProvisionedModelThroughput", {**GOOD_GET, "status": "Deleting"}),
    ("timestamp as a number", "GetProvisionedModelThroughput", {**GOOD_GET, "creationTime": 1}),
    (
        "naive timestamp",
        "GetProvisionedModelThroughput",
        {**GOOD_GET, "creationTime": NOW.replace(tzinfo=None)},
    ),
    ("body for an empty output", "DeleteProvisionedModelThroughput", {"deleted": True}),
]


@pytest.mark.parametrize(
    ("operation", "response"), [case[1:] for case in MISFITS], ids=[case[0] for case in MISFITS]
)
def test_check_response_refuses_what_the_model_does_not_allow(
    operation: str, response: dict[str, Any]
) -> None:
    with pytest.raises(AssertionError, match=r"does not fit|has no output"):
        check_response(operation, response)


INJECTED: list[tuple[str, str, int]] = [
    ("ThrottlingException", "GetProvisionedModelThroughput", 429),
    ("ServiceQuotaExceededException", "CreateProvisionedModelThroughput", 400),
    ("InternalServerException", "ListProvisionedModelThroughputs", 500),
    ("AccessDeniedException", "DeleteProvisionedModelThroughput", 403),
]


@pytest.mark.parametrize(("code", "operation", "status"), INJECTED, ids=[case[0] for case in INJECTED])
def test_injected_errors_are_the_clients_own_exceptions(
    bedrock: FakeBedrock, code: str, operation: str, status: int
) -> None:
    # Given an error injected for the next call of an operation
    arn = buy(bedrock, clientRequestToken="setup")
    bedrock.refuse_next(operation, code, "injected")
    calls: dict[str, Callable[[], Any]] = {
        "GetProvisionedModelThroughput": lambda: bedrock.get_provisioned_model_throughput(
            provisionedModelId=arn
        ),
        "CreateProvisionedModelThroughput": lambda: buy(bedrock, provisionedModelName="pt-b"),
        "ListProvisionedModelThroughputs": lambda: bedrock.list_provisioned_model_throughputs(),
        "DeleteProvisionedModelThroughput": lambda: bedrock.delete_provisioned_model_throughput(
            provisionedModelId=arn
        ),
    }
    # When it is called / Then it raises the modelled exception class (a ClientError) with the shape's status
    with pytest.raises(getattr(bedrock.exceptions, code)) as raised:
        calls[operation]()
    assert isinstance(raised.value, ClientError)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    # and the next call is served
    calls[operation]()


def test_a_naive_clock_is_refused() -> None:
    naive = FakeBedrock(lambda: NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        naive.list_provisioned_model_throughputs()
