"""Scale workflow steps: the Task states of statemachines/scale.asl.json, dispatched on `step`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from genai_autoscaler.app.controller import Controller
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.errors import InvalidEvent

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext, controller: Controller | None = None) -> Any:
    if not isinstance(event, dict) or "step" not in event or "state" not in event:
        raise InvalidEvent("a workflow step needs {'step': ..., 'state': ...}")
    logger.append_keys(step=event["step"], execution=event.get("state", {}).get("execution"))
    if controller is None:
        from genai_autoscaler.aws.wiring import AwsController

        controller = AwsController(ControllerSettings.from_env())
    return run_step(controller, event["step"], event["state"], controller.now())
