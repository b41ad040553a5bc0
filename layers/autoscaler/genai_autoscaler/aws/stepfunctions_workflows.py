"""WorkflowStarter on Step Functions: the scale workflow, started once per decision."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import WorkflowStarter
from genai_autoscaler.aws.errors import error_code, translate


class StepFunctionsWorkflows(WorkflowStarter):
    def __init__(self, stepfunctions: Any, state_machine_arn: str):
        self._sfn = stepfunctions
        self._arn = state_machine_arn

    def start(self, name: str, request: dict[str, Any]) -> str:
        try:
            # StartExecution with a name already used (and the same input) returns the running execution,
            # which makes a redelivered event start nothing new.
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(request)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return f"{self._arn.replace(':stateMachine:', ':execution:')}:{name}"
            raise translate(exc, f"starting workflow {name}") from exc
        return str(response["executionArn"])
