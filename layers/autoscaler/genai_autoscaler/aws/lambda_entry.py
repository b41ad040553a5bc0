"""What every Lambda handler shares, written once: one Logger and one Metrics for the service (configured by the
template's Globals: POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE), the entry decorator that applies
them, the deployed controller (unless a test injects its own), and, for the functions behind a workflow's Task
states, checking the Task's payload and running the step it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.errors import InvalidEvent

Result = TypeVar("Result")
Handler = Callable[..., Result]

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller

    UseCase = Callable[[dict[str, Any], Controller], Result]
    StepRunner = Callable[[Controller, str, Any, datetime], Any]

logger = Logger()
metrics = Metrics()


def metric_by(name: str, dimension: str, of: str, value: float) -> None:
    """One count with a dimension of its own beside the service's (an action's kind, a target), flushed at once:
    the dashboard's per-action and per-target graphs (domain/dashboard.py)."""
    if metrics.service is None:
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions={"service": metrics.service}
    ) as metric:
        metric.add_dimension(name=dimension, value=of)


def deployed_controller(injected: Controller | None = None) -> Controller:
    """`injected` when given (tests, the local harness); else the controller on AWS, from the environment the
    template sets. AwsController is imported here, so that a handler's import costs nothing it does not use."""
    if injected is not None:
        return injected
    from genai_autoscaler.aws.wiring import AwsController

    return AwsController(ControllerSettings.from_env())


def lambda_handler(use: UseCase[Result], *, with_metrics: bool = True) -> Handler[Result]:
    """The Lambda handler `handler(event, context, controller=None)` of `use(event, controller)`: the context
    logged with every line (the previous invocation's keys cleared), the metrics `use` adds flushed as EMF at
    the end (`with_metrics`), and the deployed controller unless one is injected."""

    @wraps(use)
    def handler(
        event: dict[str, Any], context: LambdaContext, controller: Controller | None = None
    ) -> Result:
        return use(event, deployed_controller(controller))

    flushed = metrics.log_metrics(handler) if with_metrics else handler
    return logger.inject_lambda_context(flushed, clear_state=True)


def task_handler(run: StepRunner) -> Handler[Any]:
    """The Lambda handler of a workflow's Task states: runs the step the payload ({"step": ..., "state": {...}})
    names; raises InvalidEvent for another payload."""

    def run_task(event: Any, controller: Controller) -> Any:
        if not isinstance(event, dict) or not isinstance(event.get("step"), str):
            raise InvalidEvent("a workflow step needs {'step': '<name>', 'state': {...}}")
        if not isinstance(event.get("state"), dict):
            raise InvalidEvent(f"workflow step {event['step'][:64]!r} needs its 'state' as a mapping")
        logger.append_keys(step=event["step"], execution=event["state"].get("execution"))
        return run(controller, event["step"], event["state"], controller.now())

    run_task.__name__ = run_task.__qualname__ = run.__name__
    return lambda_handler(run_task, with_metrics=False)  # a step emits no metric of its own
