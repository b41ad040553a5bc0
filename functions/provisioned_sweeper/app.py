"""Provisioned Throughput sweeper: every 30 minutes, delete (or report) what the controller bought and no route
uses, so that nothing it bought bills unnoticed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from genai_autoscaler.app.sweeper import sweep_provisioned
from genai_autoscaler.aws.lambda_entry import lambda_handler, logger, metrics

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


@lambda_handler
def handler(event: dict[str, Any], controller: Controller) -> dict[str, Any]:
    report = sweep_provisioned(controller, controller.now())
    for problem in report.errors:
        logger.error("sweep problem", extra={"problem": problem})
    for finding in report.findings:
        logger.info(
            "provisioned throughput",
            extra={"arn": finding.arn, "verdict": finding.verdict, "reason": finding.reason},
        )
    metrics.add_metric(name="ProvisionedThroughputDeleted", unit=MetricUnit.Count, value=len(report.deleted))
    metrics.add_metric(
        name="ProvisionedThroughputReported", unit=MetricUnit.Count, value=len(report.reported)
    )
    metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=len(report.errors))
    return report.model_dump(mode="json")
