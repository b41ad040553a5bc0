"""Routing workflow steps: the Task states of statemachines/routing.asl.json, dispatched on `step`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from genai_autoscaler.app.controller import Controller
from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.aws.lambda_entry import run_task

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext, controller: Controller | None = None) -> Any:
    return run_task(event, controller, run_routing_step, logger)
