"""What a workflow runs on: the request the controller starts it with, and the state document its steps pass on."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.policy import TargetPolicy
from genai_autoscaler.errors import CaughtError, InvalidEvent, problems_text, validation_problems

_TARGET_POLICY: TypeAdapter[TargetPolicy] = TypeAdapter(TargetPolicy)


class ScaleRequest(BaseModel):
    """The scale workflow's input: the plan and the target's policy as decided, so the run is self-contained."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    policy: dict[str, Any]

    @property
    def target_policy(self) -> TargetPolicy:
        return _TARGET_POLICY.validate_python(self.policy)


class ExecutionState(BaseModel):
    """What every workflow's state document holds (the ASL's Prepare state builds it): the request, the
    execution's name, and the error a Catch put under `$.error`. Each workflow adds what its steps return."""

    model_config = ConfigDict(frozen=True)

    WORKFLOW: ClassVar[str]  # named in the error for an invalid document

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

    @property
    def plan(self) -> Plan:
        return self.request.plan
