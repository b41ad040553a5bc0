"""Reconciler: alarms for every managed target, after deploys, policy or tag changes, and on a schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from genai_autoscaler.app.reconciler import reconcile
from genai_autoscaler.aws.lambda_entry import lambda_handler, logger, metrics

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller


@lambda_handler
def handler(event: dict[str, Any], controller: Controller) -> dict[str, Any]:
    logger.append_keys(trigger=event.get("detail-type", "direct invocation"))
    # The team hears of an invalid document when it is published or deployed, not on every scheduled run.
    report = reconcile(controller, report_problems=event.get("source") in ("aws.ssm", "aws.cloudformation"))
    if report.problems:
        logger.error("policy document invalid; nothing changed", extra={"problems": report.problems})
    else:
        if report.warnings:
            logger.warning("not all of the document could be kept", extra={"warnings": report.warnings})
        # Under one key: the report's `created` is a LogRecord attribute, which logging refuses to overwrite.
        logger.info("reconciled", extra={"alarms": report.model_dump()})
    if report.quota_notes:
        logger.warning("quotas not taken from Service Quotas", extra={"quota_notes": report.quota_notes})
    for name, value in (
        ("AlarmsCreated", report.created),
        ("AlarmsUpdated", report.updated),
        ("AlarmsDeleted", report.deleted),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(value))
    return report.model_dump(mode="json")
