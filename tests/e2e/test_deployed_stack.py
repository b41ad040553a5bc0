"""Against a deployed stack: `GENAI_AUTOSCALER_STACK=<name> pytest -m e2e` with AWS credentials.

Only safe operations: it reads the stack, runs the reconciler, and starts a planned scale that the workflow
must refuse (an unknown target), so nothing in the account is scaled. Skipped without credentials.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

STACK = os.environ.get("GENAI_AUTOSCALER_STACK", "")


@pytest.fixture(scope="module")
def aws() -> Any:
    boto3 = pytest.importorskip("boto3")
    if not STACK:
        pytest.skip("set GENAI_AUTOSCALER_STACK to the name of a deployed stack")
    session = boto3.session.Session()
    if session.get_credentials() is None:
        pytest.skip("no AWS credentials")
    return session


def _outputs(aws: Any) -> dict[str, str]:
    stack = aws.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_the_reconciler_runs_and_reports(aws: Any) -> None:
    resources = aws.client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    reconciler = next(
        r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ReconcilerFunction"
    )
    response = aws.client("lambda").invoke(FunctionName=reconciler, Payload=b"{}")
    report = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, report
    assert report["problems"] == []
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}.")["MetricAlarms"]
    assert len(alarms) == len(report["created"]) + len(report["updated"]) + report["unchanged"]


def test_a_planned_scale_of_an_unknown_target_is_refused_and_changes_nothing(aws: Any) -> None:
    sfn = aws.client("stepfunctions")
    request = {"target": "no-such-endpoint/AllTraffic", "desired_capacity": 1, "reason": "e2e refusal check"}
    arn = sfn.start_execution(
        stateMachineArn=_outputs(aws)["ScaleWorkflowArn"],
        name=f"e2e-refusal-{int(time.time())}",
        input=json.dumps(request),
    )["executionArn"]
    for _ in range(60):
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        time.sleep(2)
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidEvent"
    assert "not a managed SageMaker target" in described["cause"]
