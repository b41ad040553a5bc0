"""The Provisioned Throughput sweeper: nothing the controller bought keeps billing unnoticed.

A scheduled use case (functions/provisioned_sweeper). It lists the Provisioned Throughput (PT) tagged as this
stack's, works out which of them a route uses or a routing workflow holds, and hands the rest to the domain's
`sweep`: an orphan is deleted when Bedrock allows it, else the owning team is told, at most once a day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.app.ports import (
    Notifier,
    PolicySource,
    ProvisionedThroughputs,
    RouteRegistry,
    StateStore,
)
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain import notifications
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError
from genai_autoscaler.domain.provisioned import (
    ProvisionedModel,
    SweepFinding,
    SweepVerdict,
    purchase_prefix,
    sweep,
)
from genai_autoscaler.domain.signals import TAG_MANAGED_BY
from genai_autoscaler.domain.state import ActionRecord, TargetState
from genai_autoscaler.domain.targets import bedrock_model_id

# A PT younger than this is left alone even when nothing seems to use it. The routing workflow holds the
# target's lock from before the purchase until the route is published, so the lock already protects what it
# buys; the grace covers what the lock cannot: the listing, the routes and the locks are read one after the
# other, not as one snapshot, and a purchase made by hand with the controller's tags deserves a moment too.
# 15 minutes of an orphan's billing is the price of that margin.
GRACE_SECONDS = 900

# What still bills (a commitment not over, a deletion that failed) is reported again at most this often.
REPORT_INTERVAL = timedelta(hours=24)

# PTs carry the target they were bought for (genai-autoscaler:target). One without that tag has no target's
# state to remember its reports in: they are kept under this id in the state table instead.
UNTARGETED = "provisioned-throughput/untargeted"

ACTION = "sweep_provisioned"


class SweeperPorts(Protocol):
    """What the Provisioned Throughput sweeper uses."""

    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def routes(self) -> RouteRegistry | None: ...

    @property
    def provisioned(self) -> ProvisionedThroughputs | None: ...


class SweepReport(BaseModel):
    """What one sweep found and did."""

    model_config = ConfigDict(frozen=True)

    findings: list[SweepFinding] = []
    deleted: list[str] = []  # ARNs deleted by this sweep
    reported: list[str] = []  # ARNs still billing that this sweep told the team about
    errors: list[str] = []


def _state_id(model: ProvisionedModel) -> str:
    return model.target_id or UNTARGETED


def sweep_provisioned(ctl: SweeperPorts, now: datetime) -> SweepReport:
    """Sweep the PT this stack created; returns the findings and what was deleted and reported.

    Deletes nothing while the policy document does not validate (its targets' routes cannot all be known), and
    keeps the PT of a target whose route or state cannot be read. A failed deletion, notification or state
    write is in `errors` and does not stop the rest. Raises when Bedrock's listing or the policy parameter
    cannot be read. A controller without the routing or Provisioned Throughput ports sweeps nothing.
    """
    routes, provisioned = ctl.routes, ctl.provisioned
    if routes is None or provisioned is None:
        return SweepReport()
    created = provisioned.created_by(TAG_MANAGED_BY, ctl.settings.stack_name)
    if not created:
        return SweepReport()
    try:
        document = ctl.settings.effective_policies(ctl.policies.load())
    except PolicyError as exc:
        problems = "; ".join(f"{path}: {message}" for path, message in exc.problems)
        return SweepReport(
            errors=[f"the policy document is invalid, so nothing was swept ({problems})"],
        )
    policies = {p.target_id: p for p in document.targets if isinstance(p, BedrockModelPolicy)}
    # A model whose policy was removed may still have a route: its PTs' tags name it.
    target_ids = sorted(set(policies) | {m.target_id for m in created if m.target_id is not None})

    uses = _read_uses(ctl.state, routes, policies, created, target_ids, now)
    routed_to, in_flight, states, unreadable = uses.routed_to, uses.in_flight, uses.states, uses.unreadable

    held = {
        m.arn: _why_held(m, unreadable)
        for m in created
        if m.target_id in unreadable or (unreadable and m.target_id is None)
    }
    findings = [SweepFinding(arn=arn, verdict=SweepVerdict.KEEP, reason=why) for arn, why in held.items()]
    judged = [m for m in created if m.arn not in held]
    findings += sweep(
        judged, routed_to, in_flight, now, GRACE_SECONDS, purchase_prefix(ctl.settings.stack_name)
    )
    errors = [f"{target_id}: {problem}" for target_id, problem in unreadable.items()]

    models = {m.arn: m for m in created}
    deleted, failed = _delete(ctl.state, provisioned, models, findings, now, errors)

    billing = [(models[f.arn], f.reason) for f in findings if f.verdict is SweepVerdict.REPORT]
    still_billing = [model for model, _ in [*billing, *failed]]
    if any(m.target_id is None for m in still_billing):
        try:
            states[UNTARGETED] = ctl.state.load(UNTARGETED)
        except Exception as exc:  # then they are reported as if never before: better twice than never
            errors.append(f"{UNTARGETED}: {type(exc).__name__}: {exc}")
    due = {m.arn for m in still_billing if _report_due(states.get(_state_id(m)), m.arn, now)}

    reported: list[str] = []
    if deleted or due:
        message = notifications.for_provisioned_sweep(
            ctl.settings.stack_name,
            deleted,
            [(m, why) for m, why in billing if m.arn in due],
            [(m, why) for m, why in failed if m.arn in due],
            now,
        )
        try:
            ctl.notifier.send(message)
            reported = sorted(due)
        except Exception as exc:
            errors.append(f"notifying: {type(exc).__name__}: {exc}")

    errors += _remember_reports(ctl, states, still_billing, set(reported), set(held), now)
    return SweepReport(
        findings=findings,
        deleted=[model.arn for model, _ in deleted],
        reported=reported,
        errors=errors,
    )


@dataclass
class _Uses:
    """What keeps a PT: the ARNs routes name, the PTs of models a workflow is working on, what each target
    remembers, and the targets whose route or state could not be read (by target id, why)."""

    routed_to: set[str] = field(default_factory=set)
    in_flight: set[str] = field(default_factory=set)
    states: dict[str, TargetState] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def _read_uses(
    store: StateStore,
    routes: RouteRegistry,
    policies: dict[str, BedrockModelPolicy],
    created: list[ProvisionedModel],
    target_ids: list[str],
    now: datetime,
) -> _Uses:
    uses = _Uses()
    for target_id in target_ids:
        model_id = policies[target_id].model_id if target_id in policies else bedrock_model_id(target_id)
        if model_id is None:
            uses.unreadable[target_id] = f"{target_id} is not the id of a Bedrock model"
            continue
        try:
            # The route first, then the state: a workflow publishes the route before it records it and
            # releases the lock, so whichever moment the two reads fall on, they see the route or the lock.
            published = routes.current(model_id)
            state = store.load(target_id)
        except Exception as exc:
            uses.unreadable[target_id] = f"{type(exc).__name__}: {exc}"
            continue
        uses.states[target_id] = state
        if published is not None:  # whatever its kind: a route that names the PT keeps it
            uses.routed_to.add(published.model_id)
        if state.route is not None and state.route.provisioned_model_arn is not None:
            uses.routed_to.add(state.route.provisioned_model_arn)
        if state.lock_held(now):
            uses.in_flight |= {m.arn for m in created if m.target_id == target_id}
    return uses


def _delete(
    store: StateStore,
    provisioned: ProvisionedThroughputs,
    models: dict[str, ProvisionedModel],
    findings: list[SweepFinding],
    now: datetime,
    errors: list[str],
) -> tuple[list[tuple[ProvisionedModel, str]], list[tuple[ProvisionedModel, str]]]:
    """Delete what the findings say to; returns (deleted, why) and (failed, problem); problems go to `errors`."""
    deleted: list[tuple[ProvisionedModel, str]] = []
    failed: list[tuple[ProvisionedModel, str]] = []
    for finding in findings:
        if finding.verdict is not SweepVerdict.DELETE:
            continue
        model = models[finding.arn]
        try:
            provisioned.delete(model.arn)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            errors.append(problem if model.arn in problem else f"deleting {model.arn}: {problem}")
            failed.append((model, problem))
            continue
        deleted.append((model, finding.reason))
        record = ActionRecord(
            target_id=_state_id(model),
            at=now,
            action=ACTION,
            outcome="deleted",
            reason=f"{model.arn}: {finding.reason}",
        )
        try:
            store.update(_state_id(model), partial(_forget, arns={model.arn}), record)
        except Exception as exc:
            errors.append(f"recording the deletion of {model.arn}: {type(exc).__name__}: {exc}")
    return deleted, failed


def _why_held(model: ProvisionedModel, unreadable: dict[str, str]) -> str:
    if model.target_id is None:
        return "it names no target, and the route or state of a target could not be read: it may be in use"
    return f"the route or state of {model.target_id} could not be read ({unreadable[model.target_id]})"


def _report_due(state: TargetState | None, arn: str, now: datetime) -> bool:
    last = state.orphans_reported_at.get(arn) if state is not None else None
    return last is None or now - last >= REPORT_INTERVAL


def _forget(state: TargetState, arns: set[str]) -> TargetState:
    kept = {arn: at for arn, at in state.orphans_reported_at.items() if arn not in arns}
    return (
        state if kept == state.orphans_reported_at else state.model_copy(update={"orphans_reported_at": kept})
    )


def _remember_reports(
    ctl: SweeperPorts,
    states: dict[str, TargetState],
    still_billing: list[ProvisionedModel],
    reported: set[str],
    held: set[str],
    now: datetime,
) -> list[str]:
    """Write down when each PT still billing was reported, and forget the ones that no longer bill (deleted,
    or routed to again); what could not be judged this time is left as it was. Returns the errors."""
    billing_by_state: dict[str, set[str]] = defaultdict(set)
    for model in still_billing:
        billing_by_state[_state_id(model)].add(model.arn)
    errors = []
    for state_id, state in states.items():
        billing = billing_by_state.get(state_id, set())
        if not billing and not state.orphans_reported_at:
            continue

        def remember(current: TargetState, billing: set[str] = billing) -> TargetState:
            kept = {
                arn: at for arn, at in current.orphans_reported_at.items() if arn in billing or arn in held
            }
            kept |= {arn: now for arn in billing & reported}
            if kept == current.orphans_reported_at:
                return current
            return current.model_copy(update={"orphans_reported_at": kept})

        try:
            ctl.state.update(state_id, remember)
        except Exception as exc:
            errors.append(f"remembering the reports of {state_id}: {type(exc).__name__}: {exc}")
    return errors
