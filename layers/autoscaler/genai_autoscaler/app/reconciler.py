"""Keep the controller's alarms equal to what the policies ask for: create, update, delete.

Runs after every deploy (CloudFormation stack status event), when the policy parameter changes, when a
management tag changes, and on a schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app.ports import (
    AdoptedAlarmRules,
    AlarmDirectory,
    Dashboards,
    EndpointDirectory,
    EventSchedules,
    MetricReader,
    Notifier,
    PolicySource,
)
from genai_autoscaler.app.quotas import QuotaPorts, tokens_per_minute_quota
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.adopted import MAX_ADOPTED_RULES, MAX_RULE_NAME, rule_patterns, rule_prefix
from genai_autoscaler.domain.dashboard import dashboard_body, dashboard_name
from genai_autoscaler.domain.families import by_family
from genai_autoscaler.domain.notifications import for_invalid_policy, for_not_all_kept
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, TargetPolicy
from genai_autoscaler.domain.quotas import QuotaFigure
from genai_autoscaler.domain.recurring import event_schedules, schedule_prefix
from genai_autoscaler.domain.signals import ESTIMATED_TPM_QUOTA_USAGE, AlarmSpec, Signal, alarm_specs
from genai_autoscaler.domain.targets import MANAGEMENT_TAG
from genai_autoscaler.errors import AutoscalerError


class ReconcilePorts(QuotaPorts, Protocol):
    """What the reconciler uses."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def alarms(self) -> AlarmDirectory: ...

    @property
    def endpoints(self) -> EndpointDirectory: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def dashboards(self) -> Dashboards | None: ...

    @property
    def metrics(self) -> MetricReader: ...

    @property
    def schedules(self) -> EventSchedules | None: ...

    @property
    def adopted_rules(self) -> AdoptedAlarmRules | None: ...


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    targets: list[str] = []
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    unchanged: int = 0
    problems: list[str] = []
    # Quotas that could not be taken from Service Quotas (the policy's figure, or the alarm as it was, stood in).
    quota_notes: list[str] = []
    dashboard: str | None = None  # the dashboard put, by name
    # What could not be kept although the document is valid: a schedule Scheduler refused, the dashboard.
    warnings: list[str] = []
    # Recurring events' schedules (domain/recurring.py), by name.
    schedules_created: list[str] = []
    schedules_updated: list[str] = []
    schedules_deleted: list[str] = []
    # The EventBridge rules that bring adopted alarms' events to the router, by name; adopted alarms not found.
    adopted_rules: list[str] = []
    adopted_missing: list[str] = []


def reconcile(ctl: ReconcilePorts, report_problems: bool = True) -> ReconcileReport:
    """Bring the alarms in line with the effective policies; returns what changed.

    A policy document that does not validate changes nothing: the alarms stay as they are, the report lists
    every problem, and (with `report_problems`) the team is told which parameter holds the bad document.
    """
    tagged = ctl.endpoints.tagged_variants(MANAGEMENT_TAG)
    try:
        document = ctl.settings.effective_policies(ctl.policies.load(), tagged)
    except PolicyError as exc:
        problems = [f"{path}: {message}" for path, message in exc.problems]
        if report_problems:
            ctl.notifier.send(for_invalid_policy(ctl.settings.policy_parameter_name, problems))
        return ReconcileReport(problems=problems)
    owned = ctl.alarms.owned()
    wanted: dict[str, AlarmSpec] = {}
    kept: set[str] = set()
    quota_notes: list[str] = []

    def token_quota(model: BedrockModelPolicy) -> QuotaFigure | None:
        reading = tokens_per_minute_quota(ctl, model)
        quota_notes.extend(f"{model.name}: {note}" for note in reading.notes)
        if reading.unreadable:
            # Service Quotas failed this time: an existing alarm keeps the threshold of its last good read
            # rather than flapping to the policy's figure, or away, and back.
            kept.update({_token_quota_alarm_name(ctl, model)} & set(owned))
        return reading.figure

    def quota_usage(model: BedrockModelPolicy) -> bool:
        """Whether Bedrock publishes the model's EstimatedTPMQuotaUsage (else its alarm is metric math)."""
        dims = (("ModelId", model.model_id),)
        try:
            return ctl.metrics.published(
                ESTIMATED_TPM_QUOTA_USAGE.namespace, ESTIMATED_TPM_QUOTA_USAGE.name, dims
            )
        except AutoscalerError as exc:
            quota_notes.append(
                f"{model.name}: whether EstimatedTPMQuotaUsage is published is unknown ({exc})"
            )
            kept.update({_token_quota_alarm_name(ctl, model)} & set(owned))
            return False

    for target in document.targets:
        quota = by_family(target, sagemaker=lambda _: None, bedrock=token_quota)
        usage = by_family(target, sagemaker=lambda _: False, bedrock=quota_usage)
        for spec in alarm_specs(target, quota, usage):
            wanted[ctl.alarms.alarm_name(spec)] = spec
    created, updated = [], []
    for name, spec in sorted(wanted.items()):
        if name in kept:
            continue
        if name not in owned:
            created.append(name)
        elif owned[name] != spec.put_request(name):
            updated.append(name)
        else:
            continue
        ctl.alarms.put(spec)
    stale = sorted(set(owned) - set(wanted) - kept)
    if stale:
        ctl.alarms.delete(stale)
    warnings: list[str] = []
    schedules = _sync_schedules(ctl, document.targets, warnings)
    adopted = _sync_adopted(ctl, document.targets, warnings)
    dashboard = _put_dashboard(ctl, document.targets, list(wanted.values()), warnings)
    if warnings and report_problems:
        ctl.notifier.send(for_not_all_kept(warnings))
    return ReconcileReport(
        targets=[t.name for t in document.targets],
        created=created,
        updated=updated,
        deleted=stale,
        unchanged=len(set(wanted) | kept) - len(created) - len(updated),
        quota_notes=quota_notes,
        dashboard=dashboard,
        warnings=warnings,
        **schedules,
        **adopted,
    )


def _sync_schedules(
    ctl: ReconcilePorts, targets: Sequence[TargetPolicy], warnings: list[str]
) -> dict[str, list[str]]:
    """Keep one Scheduler schedule per recurring event, and none for events the document no longer has; a
    schedule Scheduler refuses (an expression or zone it does not know) is a problem, the others go on."""
    changed: dict[str, list[str]] = {
        "schedules_created": [],
        "schedules_updated": [],
        "schedules_deleted": [],
    }
    settings = ctl.settings
    if ctl.schedules is None:
        return changed
    wanted = {e.name: e for e in event_schedules(settings.stack_name, targets)}
    if wanted and not (settings.event_scheduler_role_arn and settings.event_schedule_group):
        warnings.append(
            "recurring events need the stack's EventSchedulerRole and EventScheduleGroup "
            "(EVENT_SCHEDULER_ROLE_ARN, EVENT_SCHEDULE_GROUP)"
        )
        return changed
    try:
        owned = ctl.schedules.owned(schedule_prefix(settings.stack_name))
    except AutoscalerError as exc:
        warnings.append(f"the recurring events' schedules could not be read: {exc}")
        return changed
    for name, event in sorted(wanted.items()):
        request = event.request(settings.scale_workflow_arn, settings.event_scheduler_role_arn)
        if owned.get(name) == request:
            continue
        try:
            ctl.schedules.put(request, exists=name in owned)
        except AutoscalerError as exc:
            warnings.append(f"event {event.event.name} of {event.target}: {exc}")
            continue
        changed["schedules_updated" if name in owned else "schedules_created"].append(name)
    for name in sorted(set(owned) - set(wanted)):
        try:
            ctl.schedules.delete(name)
        except AutoscalerError as exc:
            warnings.append(f"schedule {name} of an event no longer in the document: {exc}")
            continue
        changed["schedules_deleted"].append(name)
    return changed


def _sync_adopted(
    ctl: ReconcilePorts, targets: Sequence[TargetPolicy], warnings: list[str]
) -> dict[str, Any]:
    """Keep the rules that bring the adopted alarms' state changes to the router (none when nothing is
    adopted), and say which adopted alarms do not exist (their events would never come)."""
    adopters = {a.alarm_name: t.name for t in targets for a in t.adopted_alarms}
    found: dict[str, Any] = {"adopted_rules": [], "adopted_missing": []}
    if adopters:
        try:
            standing = ctl.alarms.standing(list(adopters))
        except AutoscalerError as exc:
            warnings.append(f"the adopted alarms could not be read: {exc}")
        else:
            found["adopted_missing"] = sorted(set(adopters) - set(standing))
            warnings.extend(
                f"adopted alarm {name!r} of {adopters[name]} does not exist: its signal is not watched"
                for name in found["adopted_missing"]
            )
    if ctl.adopted_rules is None:
        return found
    settings = ctl.settings
    prefix = rule_prefix(settings.stack_name)
    patterns, left = rule_patterns(sorted(adopters))
    if patterns and not settings.alarm_router_arn:
        warnings.append(
            "adopted alarms need the alarm router's ARN (ALARM_ROUTER_ARN): their events are not routed"
        )
        return found
    if patterns and len(f"{prefix}{len(patterns)}") > MAX_RULE_NAME:
        warnings.append(
            f"adopted alarms need rules named {prefix}<n>, longer than EventBridge's {MAX_RULE_NAME} characters: "
            "a stack name of at most 54 characters routes them"
        )
        return found
    warnings.extend(
        f"adopted alarm {name!r} of {adopters[name]} does not fit the {MAX_ADOPTED_RULES} rules' patterns: "
        "its events are not routed"
        for name in left
    )
    wanted = {f"{prefix}{n}": pattern for n, pattern in enumerate(patterns, start=1)}
    if len(prefix) >= MAX_RULE_NAME:
        return found  # no rule of this stack can have been made (their names would not fit): none to list
    try:
        owned = ctl.adopted_rules.owned(prefix)
        for name, pattern in wanted.items():
            if owned.get(name) != pattern:
                ctl.adopted_rules.put(name, pattern)
        for name in sorted(set(owned) - set(wanted)):
            ctl.adopted_rules.delete(name)
    except AutoscalerError as exc:
        warnings.append(f"the rules of adopted alarms could not be kept: {exc}")
        return found
    found["adopted_rules"] = sorted(wanted)
    return found


def _put_dashboard(
    ctl: ReconcilePorts, targets: Sequence[TargetPolicy], alarms: list[AlarmSpec], warnings: list[str]
) -> str | None:
    """The stack's dashboard, in step with the managed targets; its name (None when it could not be put)."""
    if ctl.dashboards is None:
        return None
    settings = ctl.settings
    workflows = [arn for arn in (settings.scale_workflow_arn, settings.routing_workflow_arn) if arn]
    region = ctl.dashboards.region
    name = dashboard_name(settings.stack_name, region)
    try:
        complaints = ctl.dashboards.put(name, dashboard_body(targets, alarms, region, workflows))
    except AutoscalerError as exc:
        warnings.append(f"dashboard {name}: {exc}")
        return None
    warnings.extend(f"dashboard {name}: {message}" for message in complaints)
    return name


def _token_quota_alarm_name(ctl: ReconcilePorts, target: TargetPolicy) -> str:
    # A name depends on the target and the signal only: any figure gives the alarm's name.
    specs = alarm_specs(target, QuotaFigure(1, "any"))
    return ctl.alarms.alarm_name(next(spec for spec in specs if spec.signal is Signal.TOKEN_QUOTA))
