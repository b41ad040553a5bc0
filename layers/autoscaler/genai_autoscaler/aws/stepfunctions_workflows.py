"""WorkflowStarter on Step Functions: the scale and routing workflows, started once per decision."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import TaskTokens, WorkflowStarter
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.errors import ActuationRejected, InvalidEvent


class StepFunctionsWorkflows(WorkflowStarter):
    def __init__(self, stepfunctions: Any, state_machine_arns: Mapping[Workflow, str]):
        self._sfn = stepfunctions
        self._arns = dict(state_machine_arns)

    def start(self, name: str, request: dict[str, Any], workflow: Workflow = Workflow.SCALE) -> str | None:
        arn = self._arns.get(workflow)
        if not arn:
            raise InvalidEvent(f"no {workflow} workflow is configured for this function")
        try:
            # StartExecution with a name already used (and the same input) returns the running execution,
            # which makes a redelivered event start nothing new.
            response = self._sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(request))
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                # A redelivered event: the execution it started may still run, or may have ended long ago.
                # Nothing started only when Step Functions says it has ended; when that cannot be told, the
                # execution is taken to be running (its lock must not be given back).
                ended = self.running(name) is False
                return None if ended else f"{arn.replace(':stateMachine:', ':execution:')}:{name}"
            raise translate(exc, f"starting workflow {name}") from exc
        return str(response["executionArn"])

    def running(self, name: str) -> bool | None:
        for arn in self._arns.values():
            execution = f"{arn.replace(':stateMachine:', ':execution:')}:{name}"
            try:
                status = self._sfn.describe_execution(executionArn=execution)["status"]
            except ClientError as exc:
                if error_code(exc) == "ExecutionDoesNotExist":
                    continue
                return None  # throttled or refused: not known, so not taken for ended
            return bool(status == "RUNNING")
        return False


class StepFunctionsTaskTokens(TaskTokens):
    def __init__(self, stepfunctions: Any):
        self._sfn = stepfunctions

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._answer(
            "SendTaskSuccess", lambda: self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        )

    def fail(self, token: str, error: str, cause: str) -> None:
        self._answer(
            "SendTaskFailure", lambda: self._sfn.send_task_failure(taskToken=token, error=error, cause=cause)
        )

    @staticmethod
    def _answer(operation: str, call: Any) -> None:
        try:
            call()
        except ClientError as exc:
            if error_code(exc) in ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken"):
                raise ActuationRejected(
                    f"{operation}: the approval request is no longer waiting ({error_code(exc)}): it was answered, "
                    "timed out, or the token is not one"
                ) from exc
            raise translate(exc, operation) from exc
