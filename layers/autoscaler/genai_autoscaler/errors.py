"""Exceptions that cross the domain's edges. Their class names are the error names Step Functions sees."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class AutoscalerError(Exception):
    """Base of the controller's own errors."""


class InvalidEvent(AutoscalerError):
    """An event or workflow input that does not have the expected shape; the message names what is wrong."""


class LockHeld(AutoscalerError):
    """Another workflow holds the target's lock."""


class StalePlan(AutoscalerError):
    """The target changed between the decision and the workflow that carries it out."""


class TargetNotFound(AutoscalerError):
    """The SageMaker endpoint, variant or inference component does not exist."""


class TransientAwsError(AutoscalerError):
    """Throttling or a server-side error: safe to retry (the workflow's Retry does)."""


class ActuationRejected(AutoscalerError):
    """AWS refused a change (validation, limits, conflicting update): retrying will not help."""


class InServiceTimeout(AutoscalerError):
    """The target did not return to InService within the policy's timeout."""


class StateConflict(AutoscalerError):
    """The state item kept changing under a conditional write."""


def validation_problems(exc: ValidationError, whole: str = "") -> str:
    """pydantic's errors as `path: message; ...`, for an InvalidEvent; `whole` names the input itself."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}" for e in exc.errors())


class CaughtError(BaseModel):
    """What a Catch puts under `$.error`."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str = Field("", alias="Cause")

    @field_validator("cause", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        # Step Functions gives a string; moto's interpreter may give what SendTaskFailure carried as it parsed it.
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    @property
    def message(self) -> str:
        # A Lambda error's Cause is the JSON of {errorMessage, errorType, ...}.
        try:
            cause = json.loads(self.cause)
        except (json.JSONDecodeError, TypeError):
            return self.cause
        return str(cause.get("errorMessage", self.cause)) if isinstance(cause, dict) else self.cause
