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
from genai_autoscaler.domain.notifications import Notification, for_hold_lifted, for_pause
from genai_autoscaler.domain.policy import PolicyDocument, TargetPolicy
from genai_autoscaler.domain.state import ActionRecord, PauseRecord, TargetState
from genai_autoscaler.domain.targets import MANAGEMENT_TAG
from genai_autoscaler.errors import AutoscalerError, InvalidEvent

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


def managed_document(ctl: OperatorPorts) -> PolicyDocument:
    """Every target the controller manages, as the reconciler finds them: the published document's, with the
    stack's defaults, its managed endpoints and the variants tagged for management. Raises PolicyError when the
    published document is invalid."""
    tagged = ctl.endpoints.tagged_variants(MANAGEMENT_TAG)
    return ctl.settings.effective_policies(ctl.policies.load(), tagged)


def managed_target(ctl: OperatorPorts, target: str) -> TargetPolicy:
    """The managed target `target` names (its name or target id). Raises InvalidEvent naming the managed
    targets when it names none."""
    document = managed_document(ctl)
    found = document.by_name(target) or document.find(target)
    if found is None:
        names = ", ".join(t.name for t in document.targets) or "none"
        raise InvalidEvent(f"{target!r} is not a managed target; the managed targets: {names}")
    return found


def pause(
    ctl: OperatorPorts, target: str, by: str, reason: str, now: datetime
) -> tuple[PauseRecord, str | None]:
    """Pause `target` (name or id) for `by` (the caller's ARN), recorded and told; returns the pause and, when
    the team could not be told, why. Pausing a paused target records the new reason. Raises InvalidEvent for
    an unknown target, a missing reason or caller."""
    policy = managed_target(ctl, target)
    reason = _reason(reason)
    record = PauseRecord(by=by, at=now, reason=reason)
    _recorded(
        ctl, policy, lambda s: s.model_copy(update={"pause": record}), ("pause", "paused", reason), by, now
    )
    return record, _tell(ctl, for_pause(policy.name, record, resumed_by=None))


def resume(ctl: OperatorPorts, target: str, by: str, now: datetime) -> tuple[PauseRecord, str | None]:
    """Lift the pause of `target` (name or id); returns the pause lifted and, when the team could not be told,
    why. What the target's capacity became meanwhile is the controller's from now on (not a change by hand to
    hold for). Raises InvalidEvent for an unknown target or one that is not paused (nothing is recorded)."""
    policy = managed_target(ctl, target)
    lifted: list[PauseRecord] = []

    def lift(state: TargetState) -> TargetState:
        if state.pause is None:
            raise InvalidEvent(f"{policy.name} is not paused")
        lifted.append(state.pause)
        return state.model_copy(update={"pause": None, "last_known_capacity": None})

    why = "the controller acts on the target again from its next event"
    _recorded(ctl, policy, lift, ("resume", "resumed", why), by, now)
    return lifted[-1], _tell(ctl, for_pause(policy.name, lifted[-1], resumed_by=by))


def _tell(ctl: OperatorPorts, notice: Notification) -> str | None:
    """Tell the team, after what they are told of was recorded: None when told, else why not (what was done
    stands; the operator is shown why the team does not know)."""
    try:
        ctl.notifier.send(notice)
    except AutoscalerError as exc:
        return f"the team was not told: {exc}"
    return None


def _recorded(
    ctl: OperatorPorts,
    policy: TargetPolicy,
    change: Callable[[TargetState], TargetState],
    what: tuple[str, str, str],
    by: str,
    now: datetime,
) -> None:
    """Make `change` to the target's state with its history record (action, outcome, reason) in one write.
    Raises InvalidEvent without the caller's identity: what an operator does is recorded with who did it."""
    action, outcome, reason = what
    if not by:
        raise InvalidEvent(f"{action.replace('_', ' ')} needs the caller's identity (as STS reports it)")
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


def cancel_hold(ctl: OperatorPorts, target: str, by: str, now: datetime) -> tuple[datetime, str | None]:
    """End now what holds `target`: a planned event's floor (the controller may then scale it in to what the load
    needs, through its usual scale-in), or the hold after a change by hand. Returns when it would have ended.
    Raises InvalidEvent for an unknown target or one nothing holds."""
    policy = managed_target(ctl, target)
    held: list[datetime] = []

    def lift(state: TargetState) -> TargetState:
        """Every hold at once: the events' floors and the hold after a change by hand."""
        manual = state.held_by_hand_until(now)
        ends = [floor.until for floor in state.event_floors if floor.active(now)] + (
            [manual] if manual else []
        )
        if not ends:
            raise InvalidEvent(f"{policy.name} is not held (no planned event or change by hand holds it now)")
        held.append(max(ends))
        return state.model_copy(update={"event_floors": (), "manual_hold_until": None})

    why = "the hold was lifted early: the controller decides for the target again from its next event"
    _recorded(ctl, policy, lift, ("event_cancel", "cancelled", why), by, now)
    return held[-1], _tell(ctl, for_hold_lifted(policy.name, held[-1], by))
