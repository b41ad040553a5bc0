"""What the Lambda handlers share: the deployed controller (unless a test injects its own), and, for the
functions behind a workflow's Task states, checking the Task's payload and running the step it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from genai_autoscaler.app.controller import Controller
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.errors import InvalidEvent

StepRunner = Callable[[Controller, str, Any, datetime], Any]


def deployed_controller(injected: Controller | None = None) -> Controller:
    """`injected` when given (tests, the local harness); else the controller on AWS, from the environment the
    template sets. AwsController is imported here, so that a handler's import costs nothing it does not use."""
    if injected is not None:
        return injected
    from genai_autoscaler.aws.wiring import AwsController

    return AwsController(ControllerSettings.from_env())


def run_task(event: Any, controller: Controller | None, run: StepRunner, logger: Logger) -> Any:
    """Run the step a Task state's payload ({"step": ..., "state": {...}}) names."""
    if not isinstance(event, dict) or "step" not in event or not isinstance(event.get("state"), dict):
        raise InvalidEvent("a workflow step needs {'step': ..., 'state': {...}}")
    logger.append_keys(step=event["step"], execution=event["state"].get("execution"))
    ctl = deployed_controller(controller)
    return run(ctl, event["step"], event["state"], ctl.now())
