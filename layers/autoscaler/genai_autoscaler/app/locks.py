"""A target's lock, as the router and the evaluator use it: taken before a workflow starts, so that however many
events arrive at most one workflow is in flight per target; and given back once its holder has ended, well before
its time to live runs out.

The workflow's own AcquireLock takes the same lock under the same name (the execution's), for its whole run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from genai_autoscaler.app.ports import StateStore, WorkflowStarter
from genai_autoscaler.domain.state import ActionRecord, TargetState, acquire_lock, release_lock
from genai_autoscaler.errors import LockHeld

# How long a lock taken for an execution about to start holds before its AcquireLock takes it for the run: a
# router that dies between the two leaves the target locked no longer than this.
RESERVATION = timedelta(minutes=10)
# From taking a lock to its execution being visible as RUNNING: a younger lock is never taken for a dead one.
GRACE = timedelta(minutes=2)


class LockPorts(Protocol):
    @property
    def state(self) -> StateStore: ...

    @property
    def workflows(self) -> WorkflowStarter: ...


def reserve(ctl: LockPorts, target_id: str, execution: str, now: datetime) -> None:
    """Take `target_id`'s lock for the execution about to start; raises LockHeld if another holds it, or held
    it and may still be running although its lock has expired (a run that outlived its time to live)."""
    lock = ctl.state.load(target_id).lock
    expired = lock is not None and lock.owner != execution and not lock.held_at(now)
    if lock is not None and expired and ctl.workflows.running(lock.owner) is not False:
        raise LockHeld(
            f"{target_id}'s lock expired at {lock.expires_at.isoformat()}, but {lock.owner} may still run"
        )
    ctl.state.update(target_id, lambda state: acquire_lock(state, execution, now, RESERVATION))


def cancel(ctl: LockPorts, target_id: str, execution: str) -> None:
    """Give back a lock taken for an execution that did not start."""
    ctl.state.update(target_id, lambda state: release_lock(state, execution))


def release_if_ended(ctl: LockPorts, state: TargetState, now: datetime) -> TargetState:
    """`state`, with its lock released if the execution holding it has ended (a workflow that timed out, was
    stopped, or failed where it could not release it), and that written to the target's history. A lock younger
    than GRACE, or whose holder cannot be told ended, stays."""
    lock = state.lock
    if lock is None or not lock.held_at(now) or now - lock.acquired_at < GRACE:
        return state
    if ctl.workflows.running(lock.owner) is not False:
        return state
    reason = (
        f"{lock.owner} held the lock until {lock.expires_at.isoformat()} but is no longer running: released "
        "for the next decision"
    )
    record = ActionRecord(
        target_id=state.target_id, at=now, action="ignore", outcome="lock_released", reason=reason
    )
    return ctl.state.update(state.target_id, lambda current: release_lock(current, lock.owner), record)
