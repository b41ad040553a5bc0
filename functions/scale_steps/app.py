"""Scale workflow steps: the Task states of statemachines/scale.asl.json, dispatched on `step`."""

from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.aws.lambda_entry import task_handler

handler = task_handler(run_step)
