"""Keep the controller's alarms equal to what the policies ask for: create, update, delete.

Runs after every deploy (CloudFormation stack status event), when the policy parameter changes, when a
management tag changes, and on a schedule.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app.ports import AlarmDirectory, EndpointDirectory, Notifier, PolicySource
from genai_autoscaler.app.quotas import QuotaPorts, tokens_per_minute_quota
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.families import by_family
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, TargetPolicy
from genai_autoscaler.domain.quotas import QuotaFigure
from genai_autoscaler.domain.signals import AlarmSpec, Signal, alarm_specs
from genai_autoscaler.domain.targets import MANAGEMENT_TAG


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
            ctl.notifier.publish(
                "GenAI Autoscaler: the policy document is invalid; nothing was changed",
                f"The policy document in {ctl.settings.policy_parameter_name or 'the policy parameter'} does not "
                "validate, so the alarms and every target's behaviour stay as they were.\n\n"
                + "\n".join(f"  {p}" for p in problems)
                + "\n\nCheck it with `genai-autoscaler validate-config FILE` and publish it again.",
            )
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

    for target in document.targets:
        quota = by_family(target, sagemaker=lambda _: None, bedrock=token_quota)
        for spec in alarm_specs(target, quota):
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
    return ReconcileReport(
        targets=[t.name for t in document.targets],
        created=created,
        updated=updated,
        deleted=stale,
        unchanged=len(set(wanted) | kept) - len(created) - len(updated),
        quota_notes=quota_notes,
    )


def _token_quota_alarm_name(ctl: ReconcilePorts, target: TargetPolicy) -> str:
    # A name depends on the target and the signal only: any figure gives the alarm's name.
    specs = alarm_specs(target, QuotaFigure(1, "any"))
    return ctl.alarms.alarm_name(next(spec for spec in specs if spec.signal is Signal.TOKEN_QUOTA))
