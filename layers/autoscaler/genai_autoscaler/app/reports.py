"""What the controller tells people about a decision it carries out without a workflow (notify-only, advisory):
sent at once, or held for the target's digest when the target was told something in the last window or the
stack has reached its cap (domain/digest.py). The evaluator sends the digests that are due, every minute."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from genai_autoscaler.app.ports import Notifier, StateStore
from genai_autoscaler.domain import digest, notifications
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.state import ActionRecord, TargetState, remember_decision

# The state item that holds the stack's count of reports in the current window.
STACK_NOTIFICATIONS = "stack/notifications"


class ReportPorts(Protocol):
    @property
    def state(self) -> StateStore: ...

    @property
    def notifier(self) -> Notifier: ...


def remember(ctl: ReportPorts, plan: Plan) -> bool:
    """Remember the decision (remember_decision) and, for a plan that notifies, send its report now or hold it
    for the digest. Returns whether a report went out."""
    now = plan.decided_at
    message = notifications.for_decision(plan) if plan.notifies else None
    sends = False
    if message is not None:
        window = ctl.state.load(STACK_NOTIFICATIONS).notification_window
        stack_sent = window.current(now).sent if window is not None else 0
        current = ctl.state.load(plan.target_id)
        sends, held = digest.admit(
            current.last_notified_at, current.held_notifications, stack_sent, message.subject, now
        )
    outcome = "advisory" if plan.advisory else "notified"
    record = ActionRecord(
        target_id=plan.target_id,
        at=now,
        action=plan.action.value,
        outcome=outcome if message is None or sends else f"{outcome}, held for the digest",
        reason=plan.reason,
        from_capacity=plan.current_capacity,
        to_capacity=plan.desired_capacity,
    )

    def remembered(state: TargetState) -> TargetState:
        state = remember_decision(state, plan)
        if message is None:
            return state
        if sends:
            return state.model_copy(update={"last_notified_at": now})
        return state.model_copy(update={"held_notifications": held})

    ctl.state.update(plan.target_id, remembered, record)
    if message is not None and sends:
        _count(ctl, now)
        ctl.notifier.publish(message.subject, message.message)
    return sends


def _count(ctl: ReportPorts, now: datetime) -> None:
    def counted(state: TargetState) -> TargetState:
        window = (state.notification_window or digest.NotificationWindow(since=now)).current(now)
        return state.model_copy(
            update={"notification_window": window.model_copy(update={"sent": window.sent + 1})}
        )

    ctl.state.update(STACK_NOTIFICATIONS, counted)


def send_digest(ctl: ReportPorts, target_id: str, target: str, state: TargetState, now: datetime) -> bool:
    """Send `target`'s digest if one is due (and forget what it held); returns whether one went out."""
    held = state.held_notifications
    if held is None or not digest.due(held, now):
        return False
    message = notifications.for_digest(target, held, now)
    ctl.state.update(
        target_id, lambda s: s.model_copy(update={"held_notifications": None, "last_notified_at": now})
    )
    ctl.notifier.publish(message.subject, message.message)
    return True
