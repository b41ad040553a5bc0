"""What an operator does to a target without republishing the policy document: pause it, resume it, and end a
planned event's hold early.

A pause lives in the target's state, beside what the controller remembers; every decision from the next event
on leaves the target alone (domain/decision), and a workflow already under way spends nothing more
(domain/guardrails.pause_problems). Each pause and resume goes into the target's history with who AWS
authenticated the operator as, and the team is told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from genai_autoscaler.app.ports import EndpointDirectory, Notifier, PolicySource, StateStore
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.notifications import for_hold_lifted, for_pause
from genai_autoscaler.domain.policy import PolicyError, TargetPolicy
from genai_autoscaler.domain.state import ActionRecord, PauseRecord, TargetState
from genai_autoscaler.domain.targets import MANAGEMENT_TAG
from genai_autoscaler.errors import InvalidEvent

MAX_REASON = 1000


class OperatorPorts(Protocol):
    @property
    def settings(self) -> ControllerSettings: ...

    @property
    def policies(self) -> PolicySource: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def endpoints(self) -> EndpointDirectory: ...


def managed_targets(ctl: OperatorPorts) -> list[TargetPolicy]:
    """Every target the controller manages, as the reconciler finds them: the published document's, with the
    stack's defaults, its managed endpoints and the variants tagged for management. Raises InvalidEvent when
    the published document is invalid."""
    tagged = ctl.endpoints.tagged_variants(MANAGEMENT_TAG)
    try:
        return list(ctl.settings.effective_policies(ctl.policies.load(), tagged).targets)
    except PolicyError as exc:
        raise InvalidEvent(f"the published policy document is invalid: {exc}") from None


def managed_target(ctl: OperatorPorts, target: str) -> TargetPolicy:
    """The managed target `target` names (its name or target id). Raises InvalidEvent naming the managed
    targets when it names none."""
    targets = managed_targets(ctl)
    found = next((t for t in targets if target in (t.name, t.target_id)), None)
    if found is None:
        names = ", ".join(t.name for t in targets) or "none"
        raise InvalidEvent(f"{target!r} is not a managed target; the managed targets: {names}")
    return found


def pause(ctl: OperatorPorts, target: str, by: str, reason: str, now: datetime) -> PauseRecord:
    """Pause `target` (name or id) for `by` (the caller's ARN), recorded and told. Pausing a paused target
    records the new reason. Raises InvalidEvent for an unknown target, a missing reason or caller."""
    policy = managed_target(ctl, target)
    reason = _reason(reason)
    if not by:
        raise InvalidEvent("a pause needs the caller's identity (as STS reports it)")
    record = PauseRecord(by=by, at=now, reason=reason)
    _recorded(
        ctl, policy, lambda s: s.model_copy(update={"pause": record}), ("pause", "paused", reason), by, now
    )
    notice = for_pause(policy.name, record, resumed_by=None)
    ctl.notifier.send(notice)
    return record


def resume(ctl: OperatorPorts, target: str, by: str, now: datetime) -> PauseRecord:
    """Lift the pause of `target` (name or id); returns the pause lifted. Raises InvalidEvent for an unknown
    target or one that is not paused (nothing is recorded)."""
    policy = managed_target(ctl, target)
    if not by:
        raise InvalidEvent("a resume needs the caller's identity (as STS reports it)")
    lifted: list[PauseRecord] = []

    def lift(state: TargetState) -> TargetState:
        if state.pause is None:
            raise InvalidEvent(f"{policy.name} is not paused")
        lifted.append(state.pause)
        return state.model_copy(update={"pause": None})

    why = "the controller acts on the target again from its next event"
    _recorded(ctl, policy, lift, ("resume", "resumed", why), by, now)
    notice = for_pause(policy.name, lifted[-1], resumed_by=by)
    ctl.notifier.send(notice)
    return lifted[-1]


def _recorded(
    ctl: OperatorPorts,
    policy: TargetPolicy,
    change: Callable[[TargetState], TargetState],
    what: tuple[str, str, str],
    by: str,
    now: datetime,
) -> None:
    """Make `change` to the target's state with its history record (action, outcome, reason) in one write."""
    action, outcome, reason = what
    record = ActionRecord(
        target_id=policy.target_id, at=now, action=action, outcome=outcome, reason=reason, by=by
    )
    ctl.state.update(policy.target_id, change, record)


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidEvent("a pause needs a reason (--reason), which the team is told")
    if len(reason) > MAX_REASON:
        raise InvalidEvent(f"a reason of at most {MAX_REASON} characters, not {len(reason)}")
    return reason


def cancel_hold(ctl: OperatorPorts, target: str, by: str, now: datetime) -> datetime:
    """End now what holds `target`: a planned event's floor (the controller may then scale it in to what the load
    needs, through its usual scale-in), or the hold after a change by hand. Returns when it would have ended.
    Raises InvalidEvent for an unknown target or one nothing holds."""
    policy = managed_target(ctl, target)
    if not by:
        raise InvalidEvent("cancelling a hold needs the caller's identity (as STS reports it)")
    held: list[datetime] = []

    def lift(state: TargetState) -> TargetState:
        event, manual = state.event_floor, state.manual_hold_until
        if event is not None and event.active(now):
            held.append(event.until)
            return state.model_copy(update={"event_floor": None})
        if manual is not None and now < manual:
            held.append(manual)
            return state.model_copy(update={"manual_hold_until": None})
        raise InvalidEvent(f"{policy.name} is not held (no planned event or change by hand holds it now)")

    why = "the hold was lifted early: the controller decides for the target again from its next event"
    _recorded(ctl, policy, lift, ("event_cancel", "cancelled", why), by, now)
    notice = for_hold_lifted(policy.name, held[-1], by)
    ctl.notifier.send(notice)
    return held[-1]
