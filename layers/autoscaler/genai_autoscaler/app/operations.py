"""What an operator does to a target without republishing the policy document: pause it, and resume it.

A pause lives in the target's state, beside what the controller remembers; every decision from the next event
on leaves the target alone (domain/decision), and a workflow already under way spends nothing more
(domain/guardrails.pause_problems). Each pause and resume goes into the target's history with who AWS
authenticated the operator as, and the team is told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from genai_autoscaler.app.ports import EndpointDirectory, Notifier, PolicySource, StateStore
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.notifications import for_pause
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
    history = ActionRecord(
        target_id=policy.target_id, at=now, action="pause", outcome="paused", reason=reason, by=by
    )
    ctl.state.update(policy.target_id, lambda s: s.model_copy(update={"pause": record}), history)
    notice = for_pause(policy.name, record, resumed_by=None)
    ctl.notifier.publish(notice.subject, notice.message)
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

    history = ActionRecord(
        target_id=policy.target_id,
        at=now,
        action="resume",
        outcome="resumed",
        reason="the controller acts on the target again from its next event",
        by=by,
    )
    ctl.state.update(policy.target_id, lift, history)
    notice = for_pause(policy.name, lifted[-1], resumed_by=by)
    ctl.notifier.publish(notice.subject, notice.message)
    return lifted[-1]


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidEvent("a pause needs a reason (--reason), which the team is told")
    if len(reason) > MAX_REASON:
        raise InvalidEvent(f"a reason of at most {MAX_REASON} characters, not {len(reason)}")
    return reason
