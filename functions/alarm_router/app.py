"""Alarm router: a "CloudWatch Alarm State Change" event -> decision -> workflow, notification or nothing."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from genai_autoscaler.app.dispatch import CARRIED_OUT, Dispatch, dispatch_alarm
from genai_autoscaler.aws.lambda_entry import deployed_controller, logger, metric_by, metrics
from genai_autoscaler.domain.alarm_event import AlarmStateChangeEvent
from genai_autoscaler.domain.dashboard import ACTION_METRIC
from genai_autoscaler.errors import InvalidEvent, problems_text, validation_problems
from pydantic import ValidationError

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller

# EventBridge may deliver an event twice: the second delivery, within the hour, returns the first one's outcome.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=3600)


def parse_event(event: Any) -> AlarmStateChangeEvent:
    try:
        return AlarmStateChangeEvent.model_validate(event)
    except ValidationError as exc:
        problems = problems_text(validation_problems(exc, whole="event"))
        raise InvalidEvent(f"not a CloudWatch Alarm State Change event: {problems}") from None


@cache
def dispatch_once(persistence: BasePersistenceLayer) -> Callable[..., dict[str, Any]]:
    """`dispatch_alarm`, once per event id, remembered in `persistence` (made once per store)."""

    def route_once(
        event: dict[str, Any], alarm: AlarmStateChangeEvent, controller: Controller
    ) -> dict[str, Any]:
        return dispatch_alarm(alarm, controller, controller.now()).model_dump(mode="json")

    # Powertools keys each record with "<function>.<module>.<qualified name>#<hash of the event id>": the name
    # the records were written under before this function moved, so that a delivery repeated across a deploy is
    # still recognised.
    route_once.__qualname__ = "handler.<locals>.route_once"
    remembered = idempotent_function(
        data_keyword_argument="event", persistence_store=persistence, config=IDEMPOTENCY
    )
    return remembered(route_once)  # type: ignore[no-any-return]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    controller: Controller | None = None,
    persistence: BasePersistenceLayer | None = None,
) -> dict[str, Any]:
    alarm = parse_event(event)
    logger.append_keys(alarm_name=alarm.detail.alarm_name, event_id=alarm.id, state=alarm.detail.state.value)
    controller = deployed_controller(controller)
    if persistence is None:
        persistence = controller.idempotency
    IDEMPOTENCY.register_lambda_context(context)
    # Only the id is the idempotency key's: the rest of the event (which may hold anything in fields the parse
    # ignores, nested as deep as JSON allows) is not handed to the idempotency layer, which copies what it gets.
    outcome = dispatch_once(persistence)(event={"id": alarm.id}, alarm=alarm, controller=controller)
    plan = outcome.get("plan") or {}
    logger.info(
        "routed",
        extra={
            "dispatch": outcome["dispatch"],
            "action": plan.get("action"),
            "reason": plan.get("reason") or outcome.get("note"),
            "note": outcome.get("note"),  # e.g. a quota not read from Service Quotas
        },
    )
    if outcome["dispatch"] == Dispatch.WORKFLOW:
        metrics.add_metric(name="WorkflowsStarted", unit=MetricUnit.Count, value=1)
    if outcome["dispatch"] in CARRIED_OUT and plan.get("action"):
        metric_by(ACTION_METRIC, "action", plan["action"], 1)
    if outcome["dispatch"] == Dispatch.TOO_OLD:
        logger.warning("event too old to act on", extra={"note": outcome.get("note")})
        metrics.add_metric(name="EventsTooOld", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="AlarmEvents", unit=MetricUnit.Count, value=1)
    return outcome
