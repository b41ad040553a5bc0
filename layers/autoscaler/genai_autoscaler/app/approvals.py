"""A person's answer to a commitment's approval request, with who they are as AWS authenticated them.

The approval function (functions/approval) sits behind a Lambda function URL with IAM authorization, so the
caller's ARN it is given was verified by AWS, not typed by the caller. The answer is recorded in the model's
state and history first, then sent to the waiting workflow; the purchase requires the recorded approval of its
own execution, so a SendTaskSuccess sent some other way, whatever it says, buys nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genai_autoscaler.app.ports import StateStore, TaskTokens
from genai_autoscaler.domain.state import ActionRecord, ApprovalRecord, TargetState
from genai_autoscaler.errors import ActuationRejected, InvalidEvent, problems_text, validation_problems


class ApprovalPorts(Protocol):
    @property
    def state(self) -> StateStore: ...

    @property
    def tasks(self) -> TaskTokens: ...


class Answer(BaseModel):
    """What the approver sends: which request (the notification names the target, the workflow and the token)
    and the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_id: str = Field(
        min_length=1, max_length=300, description="The model's target id, e.g. bedrock/<model>."
    )
    execution: str = Field(min_length=1, max_length=80, description="The routing workflow's execution name.")
    task_token: str = Field(min_length=1, max_length=2048)
    approved: bool = Field(strict=True, description="true or false, nothing that reads like one")
    reason: str | None = Field(None, max_length=1000, description="Why (required to reject).")


def answer(ctl: ApprovalPorts, body: Any, caller: str, now: datetime) -> ApprovalRecord:
    """Record `caller`'s answer in the model's state and history, then send it to the workflow waiting on the
    token. Raises InvalidEvent naming what is wrong with the body (nothing recorded or sent), and
    ActuationRejected when no workflow waits on the token any more."""
    try:
        given = Answer.model_validate(body)
    except ValidationError as exc:
        raise InvalidEvent(
            f"an approval needs {{target_id, execution, task_token, approved}}: "
            f"{problems_text(validation_problems(exc, whole='body'))}"
        ) from None
    if not given.approved and not given.reason:
        raise InvalidEvent("a rejection needs a reason")
    if not caller:
        raise InvalidEvent("the request carries no authenticated caller (the function URL needs AWS_IAM)")
    record = ApprovalRecord(
        execution=given.execution, approved=given.approved, by=caller, at=now, reason=given.reason
    )
    history = ActionRecord(
        target_id=given.target_id,
        at=now,
        action="approve" if given.approved else "reject",
        outcome="approved" if given.approved else "rejected",
        reason=f"{caller} {'approved' if given.approved else 'rejected'} {given.execution}"
        + (f": {given.reason}" if given.reason else ""),
        execution=given.execution,
    )

    def recorded(state: TargetState) -> TargetState:
        return state.model_copy(update={"approval": record})

    previous = ctl.state.load(given.target_id).approval
    ctl.state.update(given.target_id, recorded, history)
    try:
        if given.approved:
            ctl.tasks.succeed(given.task_token, {"approved": True, "by": caller})
        else:
            ctl.tasks.fail(given.task_token, "Rejected", f"{caller}: {given.reason}")
    except ActuationRejected:
        # No workflow waits on that token: the answer is not left standing for one that might.
        ctl.state.update(given.target_id, lambda state: state.model_copy(update={"approval": previous}))
        raise
    return record


def verified_approval(state: TargetState, execution: str) -> ApprovalRecord | None:
    """The recorded approval of `execution`, if someone AWS authenticated gave it."""
    record = state.approval
    return record if record is not None and record.execution == execution and record.approved else None
