"""Flood control for what the controller tells people about its decisions (notify-only and advisory reports): at
most one message per target per window, and at most CAP across the stack per window; what is held goes out once
the window has passed, as one digest per target that says how many were held and why, the cap included.

Workflow outcomes (a scale, a routing change, a failure) and approval requests are not held: at most one workflow
is in flight per target, and a person must see those at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

WINDOW = timedelta(minutes=15)
CAP = 20  # reports about decisions, across the stack, per WINDOW (digests come on top: one per target per window)
KEPT_SUBJECTS = 5  # the subjects a digest lists; it counts all


class HeldNotifications(BaseModel):
    """What a target's reports held back in its current window."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    count: int = 0
    capped: int = 0  # of them, held by the stack-wide cap rather than the target's own window
    subjects: tuple[str, ...] = ()

    def holding(self, subject: str, capped: bool) -> HeldNotifications:
        return self.model_copy(
            update={
                "count": self.count + 1,
                "capped": self.capped + capped,
                "subjects": (*self.subjects, subject)[-KEPT_SUBJECTS:],
            }
        )


class NotificationWindow(BaseModel):
    """The stack's count of messages about decisions in the current window (one state item for the stack)."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    sent: int = 0
    # Targets with reports held for a digest: the evaluator sends theirs even once a target leaves the document.
    pending: tuple[str, ...] = ()

    def current(self, now: datetime) -> NotificationWindow:
        return self if now - self.since < WINDOW else NotificationWindow(since=now, pending=self.pending)


def admit(
    last_sent: datetime | None, held: HeldNotifications | None, stack_sent: int, subject: str, now: datetime
) -> tuple[bool, HeldNotifications | None]:
    """Whether a report about a decision goes out now; else the target's held notifications with it added.
    It goes out when the target sent none in the last WINDOW and the stack is under its CAP."""
    own_window_open = last_sent is not None and now - last_sent < WINDOW
    if not own_window_open and held is None and stack_sent < CAP:
        return True, None
    # Held by the stack's cap only when nothing of the target's own held it: its window closed, nothing waiting.
    capped = not own_window_open and held is None
    return False, (held or HeldNotifications(since=now)).holding(subject, capped=capped)


def due(held: HeldNotifications | None, now: datetime) -> bool:
    """Whether the held notifications' digest goes out now: a WINDOW has passed since the first was held."""
    return held is not None and now - held.since >= WINDOW
