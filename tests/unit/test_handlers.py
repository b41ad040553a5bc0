"""The handlers in-process, logging at INFO as they do in Lambda (the local harness runs them quieter)."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from genai_autoscaler.aws.lambda_entry import logger
from genai_autoscaler_local.lambda_runtime import FakeContext
from genai_autoscaler_tools.memory import memory_controller

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
DOCUMENT: dict[str, Any] = {
    "version": 1,
    "targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod", "variant_name": "AllTraffic"}],
}


def handler_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"handler_{name}", FUNCTIONS / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def info_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[pytest.LogCaptureFixture]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # the metrics are not what is tested
    level = logger.log_level
    logger.setLevel("INFO")
    caplog.set_level(logging.INFO, logger=logger.name)
    yield caplog
    logger.setLevel(level)


def test_the_reconciler_logs_its_report_at_info(info_logs: pytest.LogCaptureFixture) -> None:
    # Given a policy document with one target, and the reconciler logging at INFO as the template sets it
    ctl = memory_controller(DOCUMENT)
    # When it reconciles (its report lists the alarms it created: `created` is also a LogRecord attribute)
    report = handler_module("reconciler").handler({}, FakeContext("reconciler", "arn"), controller=ctl)
    # Then it returns the report and logs it, rather than failing on the log line
    assert report["created"]
    assert any(record.getMessage() == "reconciled" for record in info_logs.records)


class RememberedRecords(BasePersistenceLayer):
    """Powertools' idempotency store in memory: what the DynamoDB table would hold, by key."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        if data_record.idempotency_key in self.records:
            raise IdempotencyItemAlreadyExistsError
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


def test_the_alarm_router_remembers_an_event_under_the_key_it_always_had(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the alarm router as Lambda loads it (module `app`), and an alarm event
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "AlarmRouter")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    spec = importlib.util.spec_from_file_location("app", FUNCTIONS / "alarm_router" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    router = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(router)
    event = json.loads((FUNCTIONS.parent / "events" / "alarm_latency_alarm.json").read_text())
    store = RememberedRecords()
    # When it is delivered twice
    outcomes = [
        router.handler(
            event,
            FakeContext("AlarmRouter", "arn"),
            controller=memory_controller(DOCUMENT),
            persistence=store,
        )
        for _ in range(2)
    ]
    # Then the second delivery returns the first one's outcome, from one record keyed as before the handlers
    # moved (a key that changed would dispatch again an event redelivered across a deploy)
    assert outcomes[0] == outcomes[1]
    [key] = store.records
    assert key.startswith("AlarmRouter.app.handler.<locals>.route_once#")


def url_request(body: Any, caller: str | None = "arn:aws:iam::123456789012:user/dana") -> dict[str, Any]:
    """A function URL request (payload format 2.0) as Lambda gives it, the caller's ARN from AWS_IAM auth."""
    context: dict[str, Any] = {"http": {"method": "POST"}}
    if caller is not None:
        context["authorizer"] = {"iam": {"userArn": caller}}
    text = body if isinstance(body, str) else json.dumps(body)
    return {"version": "2.0", "requestContext": context, "body": text, "isBase64Encoded": False}


ANSWER = {
    "target_id": "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
    "execution": "shift_to_provisioned-x",
    "task_token": "t",
    "approved": True,
    "commitment": "OneMonth",
    "model_units": 5,
}


@pytest.mark.parametrize(
    ("request_", "status", "says"),
    [
        (url_request(ANSWER), 200, '"by": "arn:aws:iam::123456789012:user/dana"'),
        (url_request(ANSWER, caller=None), 403, "no authenticated caller"),
        (url_request("{not json"), 400, "not JSON"),
        (url_request({**ANSWER, "approved": "yes"}), 400, "approved: Input should be a valid boolean"),
    ],
    ids=["signed and well formed", "no IAM caller", "not JSON", "not a yes or no"],
)
def test_the_approval_function_answers_with_a_status_and_records_only_a_good_request(
    monkeypatch: pytest.MonkeyPatch, request_: dict[str, Any], status: int, says: str
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    ctl = memory_controller(DOCUMENT)
    response = handler_module("approval").handler(request_, FakeContext("Approval", "arn"), controller=ctl)
    assert response["statusCode"] == status
    assert says in response["body"]
    recorded = ctl.state.load(ANSWER["target_id"]).approval  # type: ignore[arg-type]
    assert (recorded is not None) is (status == 200)
    assert len(ctl.tasks.succeeded) == (status == 200)  # type: ignore[attr-defined]
