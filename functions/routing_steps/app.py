"""Routing workflow steps: the Task states of statemachines/routing.asl.json, dispatched on `step`."""

from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.aws.lambda_entry import task_handler

handler = task_handler(run_routing_step)
