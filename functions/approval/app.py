"""Approval: a person's answer to a Provisioned Throughput commitment, through the function URL (AuthType
AWS_IAM). AWS authenticates the signed request and gives the caller's ARN in `requestContext.authorizer.iam`;
that ARN, not anything in the body, is recorded as who answered."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from genai_autoscaler.app.approvals import answer
from genai_autoscaler.aws.lambda_entry import lambda_handler, logger, metrics
from genai_autoscaler.errors import ActuationRejected, InvalidEvent

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _caller(event: dict[str, Any]) -> str:
    """The caller's ARN, as the function URL's IAM authorization verified it ("" when there is none)."""
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    iam = authorizer.get("iam") if isinstance(authorizer, dict) else None
    arn = iam.get("userArn") if isinstance(iam, dict) else None
    return arn if isinstance(arn, str) else ""


def _body(event: dict[str, Any]) -> Any:
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
        return json.loads(text)
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidEvent("the body is not JSON") from None


@lambda_handler
def handler(event: dict[str, Any], controller: Controller) -> dict[str, Any]:
    caller = _caller(event) if isinstance(event, dict) else ""
    try:
        if not isinstance(event, dict):
            raise InvalidEvent("not a function URL request")
        record = answer(controller, _body(event), caller, controller.now())
    except InvalidEvent as exc:
        return _response(403 if not caller else 400, {"error": str(exc)})
    except ActuationRejected as exc:
        return _response(409, {"error": str(exc)})
    logger.info(
        "answered", extra={"execution": record.execution, "approved": record.approved, "by": record.by}
    )
    metrics.add_metric(name="ApprovalsAnswered", unit=MetricUnit.Count, value=1)
    return _response(200, record.model_dump(mode="json"))
