"""Forecaster: every hour, each SageMaker target's demand forecast from its own history, kept in its state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from genai_autoscaler.app.forecasting import refresh_forecasts
from genai_autoscaler.aws.lambda_entry import lambda_handler, logger, metrics

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


@lambda_handler
def handler(event: dict[str, Any], controller: Controller) -> dict[str, Any]:
    reports = refresh_forecasts(controller, controller.now())
    for report in reports:
        if report.problem is not None:
            logger.error("forecast failed", extra={"target": report.target, "problem": report.problem})
        else:
            # Advisory or not, what each forecast expects (or why it stands aside) is in the log every hour.
            logger.info("forecast", extra={"forecast": report.model_dump()})
    metrics.add_metric(
        name="ForecastsStandingAside",
        unit=MetricUnit.Count,
        value=sum(r.stands_aside is not None for r in reports),
    )
    metrics.add_metric(
        name="ForecastErrors", unit=MetricUnit.Count, value=sum(r.problem is not None for r in reports)
    )
    return {"forecasts": [r.model_dump(mode="json") for r in reports]}
