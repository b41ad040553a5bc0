"""Exceptions that cross the domain's edges. Their class names are the error names Step Functions sees."""

from __future__ import annotations

import json
from collections.abc import Collection
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


class PlanRefused(AutoscalerError):
    """A workflow's plan disagrees with the policy as published now (its input is not the authority): nothing
    was changed, and the message names what disagreed."""


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


def error_path(loc: tuple[int | str, ...], branches: Collection[str] = ()) -> str:
    """`('targets', 0, 'sagemaker_variant', 'capacity', 'max')` -> `targets[0].capacity.max`: list indices in
    brackets, without the union branches (`branches`) and validator functions pydantic inserts."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in branches or part.startswith("function-"):
            continue
        else:
            path += f".{part}" if path else part
    return path


def validation_problems(
    exc: ValidationError,
    prefix: tuple[int | str, ...] = (),
    whole: str = "(top level)",
    branches: Collection[str] = (),
) -> list[tuple[str, str]]:
    """(where, message) of each of pydantic's errors: its path below `prefix` (`whole` for the input itself), and
    pydantic's message with the value it got. The one formatter of validation errors, wherever input is checked."""
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "missing" and not isinstance(error.get("input"), dict | list | None):
            message += f" (got {error['input']!r})"
        problems.append((error_path(prefix + tuple(error["loc"]), branches) or whole, message))
    return problems


def problems_text(problems: list[tuple[str, str]]) -> str:
    """`where: message; where: message`, for one line (an InvalidEvent's message)."""
    return "; ".join(f"{where}: {message}" for where, message in problems)


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
