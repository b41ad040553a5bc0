"""What the controller tells people about a decision it carries out without a workflow (notify-only, advisory):
sent at once, or held for the target's digest when the target was told something in the last window or the
stack has reached its cap (domain/digest.py). The evaluator sends the digests that are due, every minute."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Protocol

from genai_autoscaler.app.ports import Notifier, StateStore
from genai_autoscaler.domain import digest, notifications
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.state import ActionRecord, TargetState, remember_decision
from genai_autoscaler.errors import AutoscalerError

# The state item that holds the stack's count of reports in the current window.
STACK_NOTIFICATIONS = "stack/notifications"


class ReportPorts(Protocol):
    @property
    def state(self) -> StateStore: ...

    @property
    def notifier(self) -> Notifier: ...


def remember(ctl: ReportPorts, plan: Plan) -> bool:
    """Remember the decision (remember_decision) and, for a plan that notifies, send its report now or hold it
    for the digest, decided on the target's state as it is written (a router and the evaluator may report on the
    same target at once). The decision goes into the history. Returns whether a report went out."""
    now = plan.decided_at
    message = notifications.for_decision(plan) if plan.notifies else None
    stack_sent = 0
    if message is not None:
        window = ctl.state.load(STACK_NOTIFICATIONS).notification_window
        stack_sent = window.current(now).sent if window is not None else 0
    sends = [False]

    def remembered(state: TargetState) -> TargetState:
        state = remember_decision(state, plan)
        if message is None:
            return state
        sends[0], held = digest.admit(
            state.last_notified_at, state.held_notifications, stack_sent, message.subject, now
        )
        if sends[0]:
            return state.model_copy(update={"last_notified_at": now})
        return state.model_copy(update={"held_notifications": held})

    ctl.state.update(plan.target_id, remembered)
    outcome = "advisory" if plan.advisory else "notified"
    record = ActionRecord(
        target_id=plan.target_id,
        at=now,
        action=plan.action.value,
        outcome=outcome if message is None or sends[0] else f"{outcome}, held for the digest",
        reason=plan.reason,
        from_capacity=plan.current_capacity,
        to_capacity=plan.desired_capacity,
    )
    ctl.state.update(plan.target_id, lambda state: state, record)
    if message is not None and not sends[0]:
        with suppress(AutoscalerError):  # best effort: the target's own evaluation sends its digest anyway
            _pending(ctl, now, plan.target_id, add=True)
    if message is not None and sends[0]:
        # Sent after it is remembered: a failed publish fails the event, whose retry finds the window taken and
        # holds the report for the digest, rather than losing it or sending it twice.
        ctl.notifier.send(message)
        with suppress(AutoscalerError):  # the stack's count is a bound, not a record: best effort
            _count(ctl, now)
    return sends[0]


def _count(ctl: ReportPorts, now: datetime) -> None:
    def counted(state: TargetState) -> TargetState:
        window = (state.notification_window or digest.NotificationWindow(since=now)).current(now)
        return state.model_copy(
            update={"notification_window": window.model_copy(update={"sent": window.sent + 1})}
        )

    ctl.state.update(STACK_NOTIFICATIONS, counted)


def _pending(ctl: ReportPorts, now: datetime, target_id: str, add: bool) -> None:
    def noted(state: TargetState) -> TargetState:
        window = state.notification_window or digest.NotificationWindow(since=now)
        others = tuple(t for t in window.pending if t != target_id)
        return state.model_copy(
            update={
                "notification_window": window.model_copy(
                    update={"pending": (*others, target_id) if add else others}
                )
            }
        )

    ctl.state.update(STACK_NOTIFICATIONS, noted)


def send_orphaned_digests(ctl: ReportPorts, evaluated: set[str], now: datetime) -> int:
    """Send the due digests of targets no longer evaluated (removed from the document since their reports were
    held), named by their target id; returns how many went out."""
    window = ctl.state.load(STACK_NOTIFICATIONS).notification_window
    sent = 0
    for target_id in window.pending if window is not None else ():
        if target_id in evaluated:
            continue
        state = ctl.state.load(target_id)
        if state.held_notifications is None:
            _pending(ctl, now, target_id, add=False)
        elif send_digest(ctl, target_id, target_id, state, now):
            sent += 1
    return sent


def send_digest(ctl: ReportPorts, target_id: str, target: str, state: TargetState, now: datetime) -> bool:
    """Send `target`'s digest if one is due, then forget what it held (unless more was held meanwhile, which the
    next digest brings with it); returns whether one went out."""
    held = state.held_notifications
    if held is None or not digest.due(held, now):
        return False
    message = notifications.for_digest(target, held, now)
    ctl.notifier.send(message)

    def sent(current: TargetState) -> TargetState:
        if current.held_notifications != held:
            return current
        return current.model_copy(update={"held_notifications": None, "last_notified_at": now})

    after = ctl.state.update(target_id, sent)
    if after.held_notifications is None:
        with suppress(AutoscalerError):
            _pending(ctl, now, target_id, add=False)
    return True
