"""Notifications, written for the owning team: target, signal, figures, what was done, what it cost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.domain import digest
from genai_autoscaler.domain.alarm_event import SIGNAL_LABELS, format_figure
from genai_autoscaler.domain.digest import HeldNotifications
from genai_autoscaler.domain.plan import ROUTING_ACTIONS, Action, Actuation, Plan
from genai_autoscaler.domain.policy import is_global_profile
from genai_autoscaler.domain.provisioned import ProvisionedBill, ProvisionedModel
from genai_autoscaler.domain.state import PauseRecord
from genai_autoscaler.domain.targets import capacity_units
from genai_autoscaler.domain.warm_up import WarmUpReport

SUBJECT_LIMIT = 99  # SNS Publish: "less than 100 characters", ASCII, no line breaks


class Notification(BaseModel):
    """What the team is told: the prose of an e-mail (subject, message), and for a chat card (domain/chat.py)
    the target it is about, what kind of news it is, and the commands that are the next step."""

    model_config = ConfigDict(frozen=True)

    subject: str
    message: str
    target: str | None = None
    event_type: str = "report"
    next_steps: tuple[str, ...] = ()


def _subject(text: str) -> str:
    ascii_text = " ".join(text.encode("ascii", "replace").decode().split())
    return ascii_text if len(ascii_text) <= SUBJECT_LIMIT else ascii_text[: SUBJECT_LIMIT - 3] + "..."


def _signal_lines(plan: Plan) -> list[str]:
    if plan.signal is None:
        return []
    lines = [f"Signal:   {SIGNAL_LABELS[plan.signal]}"]
    if plan.observed_value is not None:
        figure = format_figure(plan.observed_value, plan.unit)
        if plan.threshold is not None:
            figure += f" (threshold {format_figure(plan.threshold, plan.unit)})"
        lines.append(f"Observed: {figure}")
    return lines


def _capacity_line(plan: Plan) -> str | None:
    if plan.current_capacity is None or plan.desired_capacity is None or plan.action is Action.WARM:
        return None
    delta = plan.desired_capacity - plan.current_capacity
    what = (
        "Application Auto Scaling MinCapacity"
        if plan.actuation in (Actuation.RAISE_FLOOR, Actuation.RESTORE_FLOOR)
        else "Capacity"
    )
    change = f"{'+' if delta > 0 else '-'}{capacity_units(plan.kind, abs(delta))}"
    return f"{what}: {plan.current_capacity} -> {plan.desired_capacity} ({change})"


def _body(plan: Plan, headline: str, extra: list[str]) -> str:
    lines = [headline, "", f"Target:   {plan.target} ({plan.target_id})", *_signal_lines(plan)]
    if (capacity := _capacity_line(plan)) is not None:
        lines.append(capacity)
    lines += ["", f"Why: {plan.reason}", *extra, "", f"Decided at {plan.decided_at.isoformat()}."]
    return "\n".join(lines)


def _profile_word(plan: Plan) -> str:
    return "global" if plan.route_to and is_global_profile(plan.route_to) else "cross-region"


def _routing_lines(plan: Plan, billed: ProvisionedBill | None = None) -> list[str]:
    """A routing plan's destination and spend: every notification of a spend says its hourly cost (on-demand and
    a cross-region profile have none: they bill per token). `billed`: what the Provisioned Throughput just deleted
    cost from its purchase to its deletion, in place of what the route cost from the shift to the decision."""
    if plan.action not in ROUTING_ACTIONS:
        return []
    lines = [f"Route to: {plan.route_to}"] if plan.route_to else []
    if plan.service_tier == "priority":
        lines.append("Service tier: priority (callers pass serviceTier; the route client does it for them)")
    if plan.model_units is not None:
        term = "no commitment" if plan.commitment in (None, "none") else f"{plan.commitment} commitment"
        lines.append(f"Provisioned Throughput: {plan.model_units} model unit(s), {term}")
    if plan.hourly_cost_usd:
        lines.append(f"Cost: ${plan.hourly_cost_usd:,.2f} per hour")
    elif plan.hourly_cost_usd is not None:
        lines.append("Cost: billed per token, at on-demand prices (no hourly charge)")
    if plan.price_note:
        lines.append(f"Cost: {plan.price_note}")
    if plan.needs_approval:
        lines.append("A commitment is bought only after a person approves it.")
    if billed is not None:
        lines.append(f"Provisioned Throughput billed: {billed.describe()}")
    elif plan.spent_usd is not None:
        lines.append(f"Spent on the current route since the shift: ${plan.spent_usd:,.2f}")
    return lines


def for_decision(plan: Plan) -> Notification:
    """A decision reported without a workflow: notify-only, or what advisory mode would have done."""
    if plan.advisory:
        verb = {
            Action.SCALE_OUT: "would scale out",
            Action.SCALE_IN: "would scale in",
            Action.WARM: "would warm",
            Action.SHIFT_TO_PROFILE: f"would shift to its {_profile_word(plan)} profile",
            Action.SHIFT_TO_PRIORITY_TIER: "would shift to the Priority tier",
            Action.SHIFT_TO_PROVISIONED: "would shift to Provisioned Throughput",
            Action.REVERT_ROUTING: "would route back to on-demand",
        }
        headline = f"[advisory] {plan.target} {verb.get(plan.action, 'would act')}: nothing was changed."
        extra = _routing_lines(plan)
        if plan.action not in ROUTING_ACTIONS:
            extra.append("Advisory mode is on for this target: turn it off to act.")
        return Notification(
            subject=_subject(f"GenAI Autoscaler [advisory]: {plan.target} {verb.get(plan.action, '')}"),
            message=_body(plan, headline, extra),
            target=plan.target,
            event_type="advisory",
            next_steps=(f"genai-autoscaler status {plan.target}",),
        )
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {plan.target} needs attention"),
        message=_body(plan, f"{plan.target}: reported, nothing changed.", []),
        target=plan.target,
        event_type="attention",
        next_steps=(f"genai-autoscaler status {plan.target}", f"genai-autoscaler history {plan.target}"),
    )


def for_success(
    plan: Plan, warm_up: WarmUpReport | None, execution: str, warm_up_problem: str | None = None
) -> Notification:
    what = {
        Action.SCALE_OUT: f"scaled out to {capacity_units(plan.kind, plan.desired_capacity or 0)}",
        Action.SCALE_IN: f"scaled in to {capacity_units(plan.kind, plan.desired_capacity or 0)}",
        Action.WARM: "warmed",
    }[plan.action]
    if plan.actuation is Actuation.RAISE_FLOOR:
        what = f"floor raised to {plan.desired_capacity}"
    elif plan.actuation is Actuation.RESTORE_FLOOR:
        what = f"floor lowered to {plan.desired_capacity}"
    extra = []
    if warm_up is not None:
        verdict = "Warm-up passed" if warm_up.passed else "Warm-up did NOT pass"
        extra.append(f"{verdict}: {warm_up.describe()}.")
    elif warm_up_problem is not None:
        extra.append(f"Warm-up could NOT run ({warm_up_problem}); the capacity is serving without it.")
    extra.append(f"Workflow: {execution}")
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {plan.target} {what}"),
        message=_body(plan, f"{plan.target} {what}; it is InService.", extra),
        target=plan.target,
        event_type=plan.action.value,
        next_steps=(f"genai-autoscaler history {plan.target}",),
    )


def for_failure(plan: Plan, error: str, cause: str, safe_state: str, execution: str) -> Notification:
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {plan.action.value} of {plan.target} FAILED"),
        message=_body(
            plan,
            f"The {plan.action.value.replace('_', '-')} of {plan.target} failed: {error}.",
            [f"Cause: {cause}", f"Safe state: {safe_state}", f"Workflow: {execution}"],
        ),
        target=plan.target,
        event_type="failure",
        next_steps=(f"genai-autoscaler history {plan.target}", f"genai-autoscaler status {plan.target}"),
    )


def for_unreadable_input(workflow: str, execution: str, problem: str) -> Notification:
    """A failed execution whose input could not be read, so no step of it could have changed anything."""
    return Notification(
        subject=_subject(f"GenAI Autoscaler: a {workflow} workflow was refused its input"),
        message="\n".join(
            [
                f"The {workflow} workflow {execution} could not read its input, so nothing was changed.",
                f"What was wrong: {problem}",
                "Whoever started it: the input the workflow takes is in the README (Planned scale events).",
                f"Workflow: {execution}",
            ]
        ),
    )


def for_pause(target: str, pause: PauseRecord, resumed_by: str | None) -> Notification:
    """An operator paused `target` (resumed_by None), or resumed it (the pause lifted, and who lifted it)."""
    since = pause.at.isoformat(timespec="seconds")
    if resumed_by is None:
        return Notification(
            subject=_subject(f"GenAI Autoscaler: {target} paused"),
            message="\n".join(
                [
                    f"{target} is paused: the controller leaves it alone until it is resumed "
                    "(alarms are still reported).",
                    f"Paused by: {pause.by}, at {since}",
                    f"Reason: {pause.reason}",
                    f"To resume: genai-autoscaler resume {target}",
                ]
            ),
            target=target,
            event_type="paused",
            next_steps=(f"genai-autoscaler resume {target}",),
        )
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {target} resumed"),
        message="\n".join(
            [
                f"{target} is resumed: the controller acts on it again from its next event.",
                f"Resumed by: {resumed_by}",
                f"It was paused by {pause.by} at {since}: {pause.reason}",
            ]
        ),
        target=target,
        event_type="resumed",
    )


def for_hold_lifted(target: str, until: datetime, by: str) -> Notification:
    """An operator ended the hold on `target` (a planned event's window) before `until`."""
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {target} hold lifted"),
        message="\n".join(
            [
                f"The hold on {target}, which was to last until {until.isoformat(timespec='seconds')}, was lifted "
                "early: the controller decides for it again from its next event (back to what the load needs, "
                "through its usual scale-in).",
                f"Lifted by: {by}",
            ]
        ),
        target=target,
        event_type="hold_lifted",
        next_steps=(f"genai-autoscaler status {target}",),
    )


def for_invalid_policy(parameter_name: str, problems: Sequence[str]) -> Notification:
    """The published policy document does not validate: nothing changed, and what is wrong."""
    return Notification(
        subject="GenAI Autoscaler: the policy document is invalid; nothing was changed",
        message=f"The policy document in {parameter_name or 'the policy parameter'} does not validate, so the "
        "alarms and every target's behaviour stay as they were.\n\n"
        + "\n".join(f"  {p}" for p in problems)
        + "\n\nCheck it with `genai-autoscaler validate-config FILE` and publish it again.",
        event_type="invalid_policy",
        next_steps=("genai-autoscaler validate-config FILE", "genai-autoscaler publish-config FILE"),
    )


def for_not_all_kept(warnings: Sequence[str]) -> Notification:
    """A valid document whose alarms are in step, but of which something could not be kept (a schedule
    Scheduler refused, the dashboard)."""
    return Notification(
        subject="GenAI Autoscaler: the policy document applies, but not all of it could be kept",
        message="The alarms are in step with the policy document, but:\n\n"
        + "\n".join(f"  {w}" for w in warnings),
        event_type="reconcile_warning",
        next_steps=("genai-autoscaler status",),
    )


def for_digest(target: str, held: HeldNotifications, now: datetime) -> Notification:
    """What was held back about `target` in the last window, in one message (domain/digest.py)."""
    minutes = digest.WINDOW.total_seconds() / 60
    lines = [
        f"{held.count} report(s) about {target} were held since {held.since.isoformat()}: the controller sends at "
        f"most one report per target per {minutes:g} minutes, and at most {digest.CAP} across the stack in that "
        "time; what it holds comes a window later, as one digest per target.",
    ]
    if held.capped:
        lines.append(
            f"{held.capped} of them were held because the stack had reached that cap of {digest.CAP}."
        )
    lines += [
        "",
        "The latest:",
        *(f"  {subject}" for subject in held.subjects),
        "",
        "Each is in the target's history.",
    ]
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {held.count} more report(s) about {target}"),
        message="\n".join(lines),
        target=target,
        event_type="digest",
        next_steps=(f"genai-autoscaler history {target}",),
    )


APPROVAL_TOKEN_LEAD = "Task token:\n"


def for_approval_request(plan: Plan, execution: str, timeout_seconds: int) -> Notification:
    """Asks a person to approve a commitment. The routing workflow appends the task token to the message
    (States.Format in statemachines/routing.asl.json), so the message ends with APPROVAL_TOKEN_LEAD."""
    hours = timeout_seconds / 3600
    instructions = [
        f"Nothing is bought until someone approves. With no answer within {hours:g} h, it counts as rejected.",
        "",
        "To answer: genai-autoscaler approve " + execution + " (or reject " + execution + ' --reason "WHY"),',
        "with your own AWS credentials: your identity, as AWS authenticates it, is recorded as the approver.",
        "",
        "Or POST to the stack's ApprovalUrl output, signed with your own AWS credentials (your identity, as",
        "AWS authenticates it, is recorded as the approver), with the task token at the end of this message:",
        f'  awscurl --service lambda -X POST "$APPROVAL_URL" -d \'{{"target_id": "{plan.target_id}", '
        f'"execution": "{execution}", "approved": true, "commitment": "{plan.commitment}", '
        f'"model_units": {plan.model_units}, "task_token": "TOKEN"}}\'',
        'To reject, the same with "approved": false, "reason": "WHY".',
        "",
        f"Workflow: {execution}",
        "",
    ]
    return Notification(
        subject=_subject(
            f"GenAI Autoscaler: APPROVE {plan.commitment} Provisioned Throughput for {plan.target}?"
        ),
        message=_body(
            plan,
            f"{plan.target} needs a Provisioned Throughput commitment: approve or reject.",
            _routing_lines(plan),
        )
        + "\n\n"
        + "\n".join(instructions)
        + APPROVAL_TOKEN_LEAD,
        target=plan.target,
        event_type="approval_request",
        next_steps=(
            f"genai-autoscaler approve {execution}",
            f'genai-autoscaler reject {execution} --reason "WHY"',
            "genai-autoscaler approvals",
        ),
    )


def for_not_approved(plan: Plan, why: str, execution: str) -> Notification:
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {plan.target} commitment not approved; nothing bought"),
        message=_body(
            plan,
            f"The {plan.commitment} commitment for {plan.target} was not bought: {why}.",
            [*_routing_lines(plan), "Routing is unchanged.", f"Workflow: {execution}"],
        ),
        target=plan.target,
        event_type="not_approved",
        next_steps=(f"genai-autoscaler history {plan.target}",),
    )


def for_routing(
    plan: Plan,
    route_to: str,
    execution: str,
    released: str | None = None,
    billed: ProvisionedBill | None = None,
) -> Notification:
    """A routing change made: where callers go now, what it costs, and what was given back (`billed`: what the
    Provisioned Throughput deleted cost, from its purchase to its deletion)."""
    what = {
        Action.SHIFT_TO_PROFILE: f"shifted to its {_profile_word(plan)} profile",
        Action.SHIFT_TO_PRIORITY_TIER: "shifted to the Priority tier",
        Action.SHIFT_TO_PROVISIONED: "shifted to Provisioned Throughput",
        Action.REVERT_ROUTING: "routed back to on-demand",
    }.get(plan.action, "rerouted")
    extra = [*_routing_lines(plan, billed), f"Callers now use: {route_to}"]
    if released is not None:
        extra.append(f"Released: {released}")
    extra.append(f"Workflow: {execution}")
    return Notification(
        subject=_subject(f"GenAI Autoscaler: {plan.target} {what}"),
        message=_body(plan, f"{plan.target} {what}.", extra),
        target=plan.target,
        event_type=plan.action.value,
        next_steps=(f"genai-autoscaler status {plan.target}",),
    )


def _provisioned_lines(model: ProvisionedModel) -> list[str]:
    term = f"{model.commitment} commitment" if model.commitment else "no commitment (billed by the hour)"
    units = f"{model.model_units} model unit{'s' if model.model_units != 1 else ''}"
    return [
        f"  {model.name}",
        f"    ARN:     {model.arn}",
        f"    Target:  {model.target_id or 'none (it has no genai-autoscaler:target tag)'}",
        f"    What:    {units} of {model.model_arn}, {term}, {model.status.value}",
        f"    Created: {model.created_at.isoformat()}",
    ]


def for_provisioned_sweep(
    stack: str,
    deleted: Sequence[tuple[ProvisionedModel, str]],
    billing: Sequence[tuple[ProvisionedModel, str]],
    failed: Sequence[tuple[ProvisionedModel, str]],
    now: datetime,
) -> Notification:
    """What the Provisioned Throughput sweeper deleted, and what it found unused but still billing.

    `deleted` and `billing` pair each model with the sweeper's reason (`SweepFinding.reason`); `failed` pairs
    each model it meant to delete with the error Bedrock gave.
    """
    counts = []
    if deleted:
        counts.append(f"{len(deleted)} deleted")
    if billing or failed:
        counts.append(f"{len(billing) + len(failed)} still billing")
    lines = [
        f"The controller of stack {stack} found Provisioned Throughput it bought that no caller is routed to and "
        "no workflow is using: a workflow failed or was interrupted, or a route was changed by hand. "
        "Provisioned Throughput bills every hour it exists, used or not.",
    ]
    if deleted:
        lines += ["", f"DELETED: billing stopped at {now.isoformat()}."]
        for model, reason in deleted:
            lines += [*_provisioned_lines(model), f"    Why:     {reason}"]
    if billing:
        lines += [
            "",
            "STILL BILLING: Bedrock does not let it be deleted yet.",
        ]
        for model, reason in billing:
            until = (
                f"at least {model.commitment_expires_at.isoformat()} (the end of its {model.commitment} term)"
                if model.commitment_expires_at is not None
                else "at least the end of its term, which Bedrock does not report"
            )
            lines += [*_provisioned_lines(model), f"    Bills until: {until}", f"    Why:     {reason}"]
        lines += [
            "",
            "The sweeper deletes it at its first run once Bedrock allows it. The Amazon Bedrock User Guide says "
            "a commitment renews at the end of each term: if it is not wanted, make sure it will not be renewed "
            "before the date above. If callers should use it, route them to it: each model's route is an SSM "
            f"parameter under /genai-autoscaler/{stack}/routes/.",
        ]
    if failed:
        lines += ["", "COULD NOT BE DELETED: it still bills; the next sweep tries again."]
        for model, error in failed:
            lines += [*_provisioned_lines(model), f"    Error:   {error}"]
    lines += [
        "",
        "What is still billing is reported again once a day while it lasts.",
        f"Swept at {now.isoformat()}.",
    ]
    return Notification(
        subject=_subject(f"GenAI Autoscaler: unused Provisioned Throughput {', '.join(counts)}"),
        message="\n".join(lines),
    )
