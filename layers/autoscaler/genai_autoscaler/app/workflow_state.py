"""What a workflow runs on: the request the controller starts it with, and the state document its steps pass on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from genai_autoscaler.app.ports import StateStore
from genai_autoscaler.domain.notifications import Notification, for_unreadable_input
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.policy import TargetPolicy
from genai_autoscaler.domain.state import release_lock
from genai_autoscaler.errors import (
    AutoscalerError,
    CaughtError,
    InvalidEvent,
    problems_text,
    validation_problems,
)

_TARGET_POLICY: TypeAdapter[TargetPolicy] = TypeAdapter(TargetPolicy)


class ScaleRequest(BaseModel):
    """The scale workflow's input: the plan and the target's policy as decided, so the run is self-contained."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    policy: dict[str, Any]

    @property
    def target_policy(self) -> TargetPolicy:
        return _TARGET_POLICY.validate_python(self.policy)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        named = self.target_policy.target_id
        if named != self.plan.target_id:
            raise ValueError(f"the plan is for {self.plan.target_id} but the policy is {named}'s")
        return self


class ExecutionState(BaseModel):
    """What every workflow's state document holds (the ASL's Prepare state builds it): the request, the
    execution's name, and the error a Catch put under `$.error`. Each workflow adds what its steps return."""

    model_config = ConfigDict(frozen=True)

    WORKFLOW: ClassVar[str]  # named in the error for an invalid document
    FAILURE_STEP: ClassVar[str]  # what the Catches run: it answers even a document it cannot read

    request: ScaleRequest
    execution: str
    error: CaughtError | None = None

    @classmethod
    def parse(cls, document: Any) -> Self:
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise InvalidEvent(
                f"{cls.WORKFLOW} workflow input is invalid: {problems_text(validation_problems(exc))}"
            ) from None

    @classmethod
    def run(
        cls,
        steps: Mapping[str, Callable[[Any, Self, datetime], dict[str, Any]]],
        ctl: Any,
        step: str,
        document: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """Run the step `step` names on the parsed document; returns the document with the step's result merged
        in. The failure step answers a document it cannot read with a notification, so that it never fails."""
        if step not in steps:
            raise InvalidEvent(
                f"unknown workflow step {step!r} of the {cls.WORKFLOW} workflow; known: {', '.join(steps)}"
            )
        try:
            wf = cls.parse(document)
        except InvalidEvent as exc:
            if step == cls.FAILURE_STEP:
                _give_back_lock(ctl.state, document)
                answered = unreadable_input(cls.WORKFLOW, document, exc)
                ctl.notifier.chat(Notification.model_validate(answered["notification"]))
                return answered
            raise
        result = steps[step](ctl, wf, now)
        if result.get("notification"):
            # The state machine publishes the e-mail (its SNS task); the chat card goes from here.
            ctl.notifier.chat(Notification.model_validate(result["notification"]))
        return {**document, **result}

    @property
    def plan(self) -> Plan:
        return self.request.plan

    @model_validator(mode="after")
    def _a_plan_this_workflow_carries_out(self) -> Self:
        if self.plan.workflow is None or self.plan.workflow.value != self.WORKFLOW:
            advisory = " (advisory)" if self.plan.advisory else ""
            raise ValueError(
                f"a {self.plan.action} plan{advisory} is not carried out by the {self.WORKFLOW} workflow"
            )
        self.policy_checked()
        return self

    def policy_checked(self) -> None:
        """Raises ValueError when the request's policy is not of the kind this workflow changes."""


def _give_back_lock(state: StateStore, document: dict[str, Any]) -> None:
    """Release the lock the router took for this execution, if the document still says whose and which target's
    it is: an unreadable document must not leave its target locked until the next decision. Best effort."""
    request = document.get("request")
    plan = request.get("plan") if isinstance(request, dict) else None
    target_id = plan.get("target_id") if isinstance(plan, dict) else None
    execution = document.get("execution")
    if isinstance(target_id, str) and isinstance(execution, str) and target_id and execution:
        with suppress(AutoscalerError):
            state.update(target_id, lambda current: release_lock(current, execution))


def unreadable_input(workflow: str, document: dict[str, Any], problem: InvalidEvent) -> dict[str, Any]:
    """What a workflow's failure step returns when the execution's input cannot be read: no step of it could
    have changed anything, and the notification says what was wrong, so that the failure path never fails."""
    execution = document.get("execution")
    name = execution if isinstance(execution, str) else "(unnamed)"
    return {**document, "notification": for_unreadable_input(workflow, name, str(problem)).model_dump()}
