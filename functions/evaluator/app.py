"""Evaluator: every minute, every managed target (scale-in after stabilization, persisting alarms, no data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from genai_autoscaler.app.dispatch import CARRIED_OUT, Dispatch, evaluate_targets
from genai_autoscaler.aws.lambda_entry import lambda_handler, logger, metric_by, metrics
from genai_autoscaler.domain.dashboard import ACTION_METRIC, CAPACITY_METRIC

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


@lambda_handler
def handler(event: dict[str, Any], controller: Controller) -> dict[str, Any]:
    outcomes = evaluate_targets(controller, controller.now())
    acted = [o for o in outcomes if o.dispatch not in (Dispatch.NOTHING, Dispatch.FAILED)]
    failed = [o for o in outcomes if o.dispatch is Dispatch.FAILED]
    for outcome in failed:
        logger.error("evaluation failed", extra={"problem": outcome.note})
    for outcome in outcomes:
        if outcome.plan is not None and outcome.plan.current_capacity is not None:
            metric_by(CAPACITY_METRIC, "target", outcome.plan.target_id, outcome.plan.current_capacity)
        if outcome.note and outcome.dispatch is not Dispatch.FAILED and outcome.plan is not None:
            # A Bedrock model's quota not read from Service Quotas: the policy's figure stood in.
            logger.warning(
                "evaluated with a note", extra={"target": outcome.plan.target, "note": outcome.note}
            )
    metrics.add_metric(name="EvaluationErrors", unit=MetricUnit.Count, value=len(failed))
    for outcome in acted:
        assert outcome.plan is not None
        if outcome.dispatch in CARRIED_OUT:
            metric_by(ACTION_METRIC, "action", outcome.plan.action.value, 1)
        logger.info(
            "acted",
            extra={
                "target": outcome.plan.target,
                "action": outcome.plan.action,
                "dispatch": outcome.dispatch,
                "reason": outcome.plan.reason,
            },
        )
    metrics.add_metric(name="TargetsEvaluated", unit=MetricUnit.Count, value=len(outcomes))
    metrics.add_metric(
        name="WorkflowsStarted",
        unit=MetricUnit.Count,
        value=sum(o.dispatch is Dispatch.WORKFLOW for o in outcomes),
    )
    return {
        "evaluated": len(outcomes),
        "outcomes": [o.model_dump(mode="json") for o in acted],
        "failed": [o.note for o in failed],
    }
