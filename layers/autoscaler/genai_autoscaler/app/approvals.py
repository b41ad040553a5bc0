"""A person's answer to a commitment's approval request, with who they are as AWS authenticated them.

The approval function (functions/approval) sits behind a Lambda function URL with IAM authorization, so the
caller's ARN it is given was verified by AWS, not typed by the caller. The answer is recorded in the model's
state and history first, then sent to the waiting workflow; the purchase requires the recorded approval of its
own execution, so a SendTaskSuccess sent some other way, whatever it says, buys nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

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
    commitment: Literal["OneMonth", "SixMonths"] | None = Field(
        None, description="The term approved, as the request states it (required to approve)."
    )
    model_units: int | None = Field(None, ge=1, description="The units approved, as the request states them.")
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
    if given.approved and (given.commitment is None or given.model_units is None):
        raise InvalidEvent(
            "an approval names what it approves: commitment and model_units, as the request states them"
        )
    if not caller:
        raise InvalidEvent("the request carries no authenticated caller (the function URL needs AWS_IAM)")
    record = ApprovalRecord(
        execution=given.execution,
        approved=given.approved,
        by=caller,
        at=now,
        reason=given.reason,
        commitment=given.commitment,
        model_units=given.model_units,
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
        ctl.state.update(
            given.target_id,
            lambda state: (
                state.model_copy(update={"approval": previous}) if state.approval == record else state
            ),
        )
        raise
    return record


def approval_problem(state: TargetState, execution: str, commitment: str, model_units: int) -> str | None:
    """Why the purchase of `model_units` at `commitment` by `execution` has no approval to stand on: none recorded
    with the caller's identity (an answer sent around the approval function), or one for other terms (the
    policy changed while the request waited). None when it has one."""
    record = state.approval
    if record is None or record.execution != execution or not record.approved:
        return (
            "was answered 'approved' without the approval function, which records who approved as AWS "
            "authenticated them"
        )
    if (record.commitment, record.model_units) != (commitment, model_units):
        return (
            f"was approved by {record.by} as {record.model_units} model unit(s) at {record.commitment}, not the "
            f"{model_units} at {commitment} the published policy now buys"
        )
    return None
