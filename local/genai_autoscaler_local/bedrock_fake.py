"""A fake `bedrock` client for Provisioned Throughput, which moto does not implement.

`FakeBedrock` has the method names, keyword arguments, response dicts and exceptions of
`boto3.client("bedrock")` for the five operations the controller uses: CreateProvisionedModelThroughput,
GetProvisionedModelThroughput, DeleteProvisionedModelThroughput, ListProvisionedModelThroughputs and
ListTagsForResource. It holds the service model (botocore's bedrock-2023-04-20) to account:

- requests are checked as boto3 checks them before sending (required members, unknown members, types, minimum
  lengths and values: `ParamValidationError`, raised client-side, as boto3 raises it), then as the service checks
  them (enums, maximum lengths and values, patterns: `ValidationException` as a `ClientError`, as AWS answers);
- an omitted `clientRequestToken` is filled with a UUID, as boto3's `generate_idempotent_uuid` does;
- every response is checked against the operation's output shape (`check_response`, also used by the tests);
- errors are the operation's modelled error shapes, with their HTTP status, as the client's own exception
  classes (`fake.exceptions.ResourceNotFoundException` is a `ClientError`, as on a real client).

What AWS documents, the fake follows and cites; where AWS says nothing, the fake makes a plain choice and says so.
Provisioning takes `provisioning_seconds` of the injected clock (the time to InService is not documented).
"""

from __future__ import annotations

import copy
import functools
import random
import re
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import botocore.session
from botocore.errorfactory import BaseClientExceptions, ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import (
    ListShape,
    MapShape,
    NoShapeFoundError,
    OperationModel,
    Shape,
    StringShape,
    StructureShape,
)
from botocore.utils import parse_to_aware_datetime
from botocore.validate import ParamValidator

ACCOUNT = "123456789012"
REGION = "us-east-1"

# The length of a term is not in the API (only its end, commitmentExpirationTime): the fake takes 30 and 180 days.
COMMITMENT_TERMS = {"OneMonth": timedelta(days=30), "SixMonths": timedelta(days=180)}

# Which error Bedrock returns for deleting a committed PT before its term ends is not documented: the API
# Reference says only "You can't delete a Provisioned Throughput before the commitment term is over" and lists
# AccessDenied, Conflict, InternalServer, ResourceNotFound, Throttling and Validation for the operation. The fake
# answers ValidationException (ConflictException is the other candidate); the controller's adapter treats both
# alike, and `domain.provisioned.may_delete` keeps the controller from asking.
COMMITTED_DELETE_ERROR = "ValidationException"

# ListProvisionedModelThroughputs' default page size and sort order are not documented: the fake pages by 50,
# newest first.
DEFAULT_MAX_RESULTS = 50

# Geography prefixes of cross-region inference profile IDs (`us.anthropic...`): those are not models.
_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})


@functools.cache
def service_model() -> Any:
    return botocore.session.get_session().get_service_model("bedrock")


def operation_model(operation_name: str) -> OperationModel:
    model: OperationModel = service_model().operation_model(operation_name)
    return model


def _violation(value: Any, where: str, constraint: str) -> str:
    # The wording of AWS's ValidationException for a constraint (as for other Smithy-modelled services).
    return f"Value '{value}' at '{where}' failed to satisfy constraint: {constraint}"


def server_side_problems(shape: Shape, value: Any, path: str = "", parsed: bool = False) -> list[str]:
    """What the service rejects that boto3 does not check: enums, maximums and patterns (anchored, as the
    API Reference prints them). `value` has already passed botocore's ParamValidator. With `parsed` (a
    response, as boto3 returns it), timestamps must also be aware datetimes, as boto3's parser makes them."""
    problems: list[str] = []
    where = path or "input"
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                problems += server_side_problems(
                    member, value[name], f"{path}.{name}" if path else name, parsed
                )
    elif isinstance(shape, ListShape):
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            problems.append(
                _violation(value, where, f"Member must have length less than or equal to {maximum}")
            )
        for index, item in enumerate(value):
            problems += server_side_problems(shape.member, item, f"{where}[{index}]", parsed)
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            problems += server_side_problems(shape.value, item, f"{where}.{key}", parsed)
    elif isinstance(shape, StringShape):
        if shape.enum and value not in shape.enum:
            problems.append(
                _violation(value, where, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
            )
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            problems.append(
                _violation(value, where, f"Member must have length less than or equal to {maximum}")
            )
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            problems.append(
                _violation(value, where, f"Member must satisfy regular expression pattern: ^{pattern}$")
            )
    elif shape.type_name == "timestamp" and parsed:
        if not isinstance(value, datetime) or value.tzinfo is None:
            problems.append(f"{where}: {value!r} is not the aware datetime boto3 parses a timestamp into")
    elif shape.type_name in ("integer", "long"):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            problems.append(
                _violation(value, where, f"Member must have value less than or equal to {maximum}")
            )
    return problems


def check_request(operation_name: str, params: dict[str, Any]) -> None:
    """Raise what boto3 (ParamValidationError) or the service (ValidationException) would for `params`."""
    shape = operation_model(operation_name).input_shape
    assert shape is not None, f"{operation_name} takes no input"
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    problems = server_side_problems(shape, params)
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
        message = f"{count} detected: " + "; ".join(problems)
        raise _client_error(operation_name, "ValidationException", message)


def check_response(operation_name: str, response: dict[str, Any]) -> None:
    """Raise AssertionError unless `response` (with or without boto3's ResponseMetadata) fits the operation's
    output shape: members, types, required members, enums, lengths and patterns."""
    shape = operation_model(operation_name).output_shape
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    if shape is None:
        if body:
            raise AssertionError(f"{operation_name} has no output, got {body}")
        return
    report = ParamValidator().validate(body, shape)
    problems = server_side_problems(shape, body, parsed=True) if not report.has_errors() else []
    if report.has_errors() or problems:
        raise AssertionError(
            f"{operation_name} response does not fit the service model: "
            + (report.generate_report() if report.has_errors() else "; ".join(problems))
        )


@functools.cache
def _exceptions() -> BaseClientExceptions:
    return ClientExceptionsFactory().create_client_exceptions(service_model())


def _client_error(operation_name: str, code: str, message: str, **members: Any) -> ClientError:
    """The exception a real client raises for an error response `code`, with the shape's HTTP status."""
    try:
        status = int(service_model().shape_for(code).metadata.get("error", {}).get("httpStatusCode", 400))
    except NoShapeFoundError:  # a code the model does not define (a test may inject one)
        status = 400
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4()), "RetryAttempts": 0},
        "message": message,
        **members,
    }
    error_class: Any = _exceptions().from_code(code)
    error: ClientError = error_class(response, operation_name)
    return error


@dataclass
class FakeProvisionedModel:
    arn: str
    name: str
    model_arn: str
    foundation_model_arn: str
    model_units: int
    created_at: datetime
    ready_at: datetime | None  # None: stays Creating for ever (hang_next_create)
    outcome: str  # InService or Failed, from ready_at on
    commitment: str | None = None
    commitment_expires_at: datetime | None = None
    failure_message: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)

    def status(self, now: datetime) -> str:
        if self.ready_at is None or now < self.ready_at:
            return "Creating"
        return self.outcome

    def last_modified(self, now: datetime) -> datetime:
        return self.ready_at if self.ready_at is not None and now >= self.ready_at else self.created_at


class FakeBedrock:
    """A stand-in for `boto3.client("bedrock")` (Provisioned Throughput only); see the module's docstring."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        region: str = REGION,
        account: str = ACCOUNT,
        provisioning_seconds: float = 600,
        seed: int = 0,
    ):
        self.clock = clock
        self.region = region
        self.account = account
        self.provisioning_seconds = provisioning_seconds
        self.exceptions: Any = _exceptions()  # the modelled error classes, as `client.exceptions`
        self._random = random.Random(seed)
        self._models: dict[str, FakeProvisionedModel] = {}  # by ARN, in creation order
        self._arn_of_token: dict[str, str] = {}
        self._next_create_fault: tuple[str, str | None] | None = None  # ("fail", message) or ("hang", None)
        self._refusals: dict[str, tuple[str, str]] = {}
        self._lock = threading.RLock()
        # Called with each operation's name and parameters as it is called (as a boto3 client's before-call is).
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ fault injection
    def fail_next_create(self, message: str) -> None:
        """The next purchase is accepted, and goes from Creating to Failed (with `message`) after the delay."""
        self._next_create_fault = ("fail", message)

    def hang_next_create(self) -> None:
        """The next purchase is accepted and stays Creating for ever."""
        self._next_create_fault = ("hang", None)

    def refuse_next(self, operation_name: str, code: str, message: str) -> None:
        """The next call of `operation_name` (e.g. "CreateProvisionedModelThroughput") fails with `code`
        (e.g. ThrottlingException, ServiceQuotaExceededException) after its request has passed validation."""
        self._refusals[operation_name] = (code, message)

    # ------------------------------------------------------------------ for tests
    def provisioned_model_arns(self) -> list[str]:
        with self._lock:
            return list(self._models)

    # ------------------------------------------------------------------ the client's operations
    def create_provisioned_model_throughput(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateProvisionedModelThroughput", params, self._create)

    def get_provisioned_model_throughput(self, **params: Any) -> dict[str, Any]:
        return self._call("GetProvisionedModelThroughput", params, self._get)

    def delete_provisioned_model_throughput(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteProvisionedModelThroughput", params, self._delete)

    def list_provisioned_model_throughputs(self, **params: Any) -> dict[str, Any]:
        return self._call("ListProvisionedModelThroughputs", params, self._list)

    def list_tags_for_resource(self, **params: Any) -> dict[str, Any]:
        return self._call("ListTagsForResource", params, self._list_tags)

    # ------------------------------------------------------------------ the service
    def _call(
        self,
        operation_name: str,
        params: dict[str, Any],
        handler: Callable[[dict[str, Any], datetime], dict[str, Any]],
    ) -> dict[str, Any]:
        for observer in self.observers:
            observer(operation_name, params)
        model = operation_model(operation_name)
        params = copy.deepcopy(params)
        for member in model.idempotent_members:  # boto3 fills them in before validating
            if member not in params:
                params[member] = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        with self._lock:
            check_request(operation_name, params)
            refusal = self._refusals.pop(operation_name, None)
            if refusal is not None:
                raise _client_error(operation_name, *refusal)
            now = self.clock()
            if now.tzinfo is None:
                raise ValueError("the fake's clock must return timezone-aware datetimes")
            response = handler(params, now)
        check_response(operation_name, response)
        status = int(model.http.get("responseCode", 200))
        return {
            **copy.deepcopy(response),
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "RequestId": str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        }

    def _error(self, operation_name: str, code: str, message: str, **members: Any) -> ClientError:
        return _client_error(operation_name, code, message, **members)

    def _find(self, operation_name: str, provisioned_model_id: str) -> FakeProvisionedModel:
        # provisionedModelId is "The Amazon Resource Name (ARN) or name of the Provisioned Throughput".
        found = self._models.get(provisioned_model_id) or next(
            (model for model in self._models.values() if model.name == provisioned_model_id), None
        )
        if found is None:
            raise self._error(
                operation_name,
                "ResourceNotFoundException",
                f"Provisioned model {provisioned_model_id} not found",
            )
        return found

    def _model_arns(self, model_id: str) -> tuple[str, str]:
        """(modelArn, foundationModelArn) of a CreateProvisionedModelThroughput modelId."""
        operation = "CreateProvisionedModelThroughput"
        if model_id.startswith("arn:"):
            if ":foundation-model/" not in model_id:
                # Custom models: the fake knows none (their base model would be needed for foundationModelArn).
                raise self._error(operation, "ResourceNotFoundException", f"Model {model_id} not found")
            return model_id, model_id
        if "." not in model_id:  # a custom model's name
            raise self._error(operation, "ResourceNotFoundException", f"Model {model_id} not found")
        if model_id.split(".", 1)[0] in _PROFILE_PREFIXES:
            # "Inference profiles cannot use PT" (reference/aws-facts.md); the error code is the fake's choice.
            raise self._error(
                operation,
                "ValidationException",
                f"{model_id} is an inference profile; Provisioned Throughput is bought for a model",
            )
        arn = f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}"
        return arn, arn

    def _new_arn(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            resource_id = "".join(self._random.choice(alphabet) for _ in range(12))
            arn = f"arn:aws:bedrock:{self.region}:{self.account}:provisioned-model/{resource_id}"
            if arn not in self._models:
                return arn

    def _create(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        operation = "CreateProvisionedModelThroughput"
        token = params["clientRequestToken"]
        if token in self._arn_of_token:
            # clientRequestToken (service model): "If this token matches a previous request, Amazon Bedrock
            # ignores the request, but does not return an error." No mismatch error is documented (the
            # operation's errors hold no ConflictException), so a different request with the same token gets
            # the first one's ARN too. The fake remembers tokens for ever, even past a delete: the window is
            # not documented.
            return {"provisionedModelArn": self._arn_of_token[token]}
        model_arn, foundation_model_arn = self._model_arns(params["modelId"])
        name = params["provisionedModelName"]
        if any(model.name == name for model in self._models.values()):
            # Names identify PT (provisionedModelId takes one), so they are unique; the error code is a guess.
            raise self._error(
                operation, "ValidationException", f"Provisioned model name {name} already exists"
            )
        tags = list(params.get("tags", []))
        if len(tags) > 50:
            # TooManyTagsException: "more tags than can be associated with a resource (50 tags per resource)".
            raise self._error(
                operation,
                "TooManyTagsException",
                "The request contains more tags than can be associated with a resource (50 tags per resource)",
                resourceName=name,
            )
        fault, self._next_create_fault = self._next_create_fault, None
        commitment = params.get("commitmentDuration")
        model = FakeProvisionedModel(
            arn=self._new_arn(),
            name=name,
            model_arn=model_arn,
            foundation_model_arn=foundation_model_arn,
            model_units=params["modelUnits"],
            created_at=now,
            ready_at=None
            if fault and fault[0] == "hang"
            else now + timedelta(seconds=self.provisioning_seconds),
            outcome="Failed" if fault and fault[0] == "fail" else "InService",
            failure_message=fault[1] if fault and fault[0] == "fail" else None,
            commitment=commitment,
            # Set at purchase: when Bedrock starts the term (purchase or InService) is not documented.
            commitment_expires_at=now + COMMITMENT_TERMS[commitment] if commitment else None,
            tags=tags,
        )
        self._models[model.arn] = model
        self._arn_of_token[token] = model.arn
        return {"provisionedModelArn": model.arn}

    def _get(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        model = self._find("GetProvisionedModelThroughput", params["provisionedModelId"])
        described = self._summary(model, now)  # Get's output has the summary's members and failureMessage
        if model.status(now) == "Failed" and model.failure_message is not None:
            described["failureMessage"] = model.failure_message
        return described

    def _summary(self, model: FakeProvisionedModel, now: datetime) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "provisionedModelName": model.name,
            "provisionedModelArn": model.arn,
            "modelArn": model.model_arn,
            "desiredModelArn": model.model_arn,
            "foundationModelArn": model.foundation_model_arn,
            "modelUnits": model.model_units,
            "desiredModelUnits": model.model_units,
            "status": model.status(now),
            "creationTime": model.created_at,
            "lastModifiedTime": model.last_modified(now),
        }
        if model.commitment is not None:
            summary["commitmentDuration"] = model.commitment
            summary["commitmentExpirationTime"] = model.commitment_expires_at
        return summary

    def _delete(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        operation = "DeleteProvisionedModelThroughput"
        model = self._find(operation, params["provisionedModelId"])
        if model.commitment_expires_at is not None and now < model.commitment_expires_at:
            # "You can't delete a Provisioned Throughput before the commitment term is over." (the operation's
            # documentation); the error code is not documented, see COMMITTED_DELETE_ERROR.
            raise self._error(
                operation,
                COMMITTED_DELETE_ERROR,
                f"Provisioned model {model.name} has a {model.commitment} commitment until "
                f"{model.commitment_expires_at.isoformat()} and cannot be deleted before it ends",
            )
        # Whether a PT still Creating may be deleted is not documented; the fake lets it (the console's Delete
        # and the API's say nothing of status), which the controller relies on to give up a hung purchase.
        del self._models[model.arn]
        return {}

    def _list(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        operation = "ListProvisionedModelThroughputs"
        models = list(self._models.values())
        if "creationTimeAfter" in params:
            after = parse_to_aware_datetime(params["creationTimeAfter"])
            models = [model for model in models if model.created_at > after]
        if "creationTimeBefore" in params:
            before = parse_to_aware_datetime(params["creationTimeBefore"])
            models = [model for model in models if model.created_at < before]
        if "statusEquals" in params:
            models = [model for model in models if model.status(now) == params["statusEquals"]]
        if "modelArnEquals" in params:
            models = [model for model in models if model.model_arn == params["modelArnEquals"]]
        if "nameContains" in params:
            models = [model for model in models if params["nameContains"] in model.name]
        descending = params.get("sortOrder", "Descending") == "Descending"
        models.sort(key=lambda model: model.created_at, reverse=descending)
        start = 0
        if "nextToken" in params:
            if not params["nextToken"].isdigit():
                raise self._error(operation, "ValidationException", "Invalid pagination token")
            start = int(params["nextToken"])
        end = start + params.get("maxResults", DEFAULT_MAX_RESULTS)
        page: dict[str, Any] = {
            "provisionedModelSummaries": [self._summary(m, now) for m in models[start:end]]
        }
        if end < len(models):
            page["nextToken"] = str(end)
        return page

    def _list_tags(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        model = self._models.get(params["resourceARN"])
        if model is None:
            raise self._error(
                "ListTagsForResource",
                "ResourceNotFoundException",
                f"Resource {params['resourceARN']} not found",
            )
        return {"tags": [dict(tag) for tag in model.tags]}
