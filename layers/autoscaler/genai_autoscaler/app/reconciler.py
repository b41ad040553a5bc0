"""Keep the controller's alarms equal to what the policies ask for: create, update, delete.

Runs after every deploy (CloudFormation stack status event), when the policy parameter changes, when a
management tag changes, and on a schedule.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app.controller import Controller
from genai_autoscaler.domain.policy import PolicyError
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.domain.targets import MANAGEMENT_TAG


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    targets: list[str] = []
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    unchanged: int = 0
    problems: list[str] = []


def reconcile(ctl: Controller, report_problems: bool = True) -> ReconcileReport:
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
    wanted = {
        ctl.alarms.alarm_name(spec): spec for target in document.targets for spec in alarm_specs(target)
    }
    owned = ctl.alarms.owned()
    created, updated = [], []
    for name, spec in sorted(wanted.items()):
        if name not in owned:
            created.append(name)
        elif owned[name] != spec.put_request(name):
            updated.append(name)
        else:
            continue
        ctl.alarms.put(spec)
    stale = sorted(set(owned) - set(wanted))
    if stale:
        ctl.alarms.delete(stale)
    return ReconcileReport(
        targets=[t.name for t in document.targets],
        created=created,
        updated=updated,
        deleted=stale,
        unchanged=len(wanted) - len(created) - len(updated),
    )
