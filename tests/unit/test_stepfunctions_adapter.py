"""StepFunctionsWorkflows against a stand-in Step Functions client: what a redelivered event's start returns."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from genai_autoscaler.aws.stepfunctions_workflows import StepFunctionsWorkflows
from genai_autoscaler.domain.plan import Workflow

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:genai-scale"


class SecondStart:
    """StartExecution of a name already used; DescribeExecution answering `status`, or throttled (None)."""

    def __init__(self, status: str | None):
        self.status = status

    def start_execution(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "x"}}, "StartExecution")

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if self.status is None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "DescribeExecution")
        return {"executionArn": executionArn, "status": self.status}


@pytest.mark.parametrize(
    ("status", "started"),
    [("RUNNING", True), ("SUCCEEDED", False), (None, True)],
    ids=["still running", "ended", "cannot be told: taken to run (its lock must not be given back)"],
)
def test_a_name_already_used_returns_the_execution_unless_it_has_ended(
    status: str | None, started: bool
) -> None:
    workflows = StepFunctionsWorkflows(SecondStart(status), {Workflow.SCALE: ARN})
    arn = workflows.start("scale_out-x", {}, Workflow.SCALE)
    assert (arn is not None) is started
