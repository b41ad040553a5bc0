"""Exceptions that cross the domain's edges. Their class names are the error names Step Functions sees."""

from __future__ import annotations

import ast
import difflib
import json
import re
import types
from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails


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


class FloorHeld(AutoscalerError):
    """A planned scale whose target already has at least its capacity: its floor is held for the window (the
    controller keeps the target there), and there is nothing to scale."""


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


def unknown_name(what: str, given: Any, allowed: Sequence[str], listed: bool = False) -> str:
    """`unknown field 'concurency_per_unit'; did you mean 'concurrency_per_unit'?`: what was not allowed, the
    closest allowed name where one is close (difflib), and the allowed names when `listed` or none is close."""
    close = difflib.get_close_matches(given, allowed, n=1) if isinstance(given, str) else []
    message = f"unknown {what} {given!r}"
    if allowed and (listed or not close):
        message += f"; allowed: {', '.join(allowed)}"
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows: Annotated and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """A model's fields by the key a document gives them (the alias, where there is one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) is Literal else ()


def _tags(branch: type[BaseModel], discriminator: str) -> tuple[Any, ...]:
    """The tags that pick `branch` of a discriminated union (its Literal discriminator field's values)."""
    field = _fields(branch).get(discriminator)
    return () if field is None else _literal_values(field.annotation)


def _inside(annotation: Any, part: int | str) -> list[Any]:
    """What `part` of a value of `annotation` may be: a model's field, a list's item, a mapping's value, or the
    branch of a discriminated union that pydantic's error location names by its tag."""
    found = []
    for member in _members(annotation):
        origin, args = get_origin(member), get_args(member)
        if _is_model(member):
            fields = _fields(member)
            if part in fields:
                found.append(fields[str(part)].annotation)
            elif any(part in _literal_values(field.annotation) for field in fields.values()):
                found.append(member)
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            found.append(args[0])
        elif origin is dict and args:
            found.append(args[1])
    return found


def _models_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The models a value at `loc` (an error's location in an input of `model`) may be; [] where it is none."""
    if model is None:
        return []
    annotations: list[Any] = [model]
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue  # a validator pydantic names in the location, not a key of the input
        annotations = [inner for annotation in annotations for inner in _inside(annotation, part)]
    return [member for annotation in annotations for member in _members(annotation) if _is_model(member)]


def _quoted(text: str) -> list[str]:
    """The values pydantic lists in a message's context (`'a', 'b' or 'c'`)."""
    return re.findall(r"'((?:[^'\\]|\\.)*)'", text)


def _person_message(error: ErrorDetails, model: type[BaseModel] | None) -> tuple[tuple[int | str, ...], str]:
    """One of pydantic's errors as (its location, a message for a person): an unknown field or type answered
    with the allowed ones, other messages as pydantic words them, with the value they got."""
    loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        fields = sorted({name for m in _models_at(model, loc[:-1]) for name in _fields(m)})
        return loc, unknown_name("field", loc[-1], fields)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        try:
            discriminator = str(ast.literal_eval(ctx["discriminator"]))
        except (KeyError, ValueError, SyntaxError):
            return loc, message
        if kind == "union_tag_not_found":
            tags = [str(tag) for branch in _models_at(model, loc) for tag in _tags(branch, discriminator)]
            return (*loc, discriminator), "Field required" + (f"; allowed: {', '.join(tags)}" if tags else "")
        given = error["input"].get(discriminator) if isinstance(error["input"], dict) else ctx.get("tag")
        return (*loc, discriminator), unknown_name(
            discriminator, given, _quoted(ctx.get("expected_tags", "")), listed=True
        )
    if kind != "missing" and not isinstance(error.get("input"), dict | list | None):
        message += f" (got {error['input']!r})"
    if kind == "literal_error" and isinstance(error.get("input"), str):
        close = difflib.get_close_matches(error["input"], _quoted(ctx.get("expected", "")), n=1)
        message += f"; did you mean {close[0]!r}?" if close else ""
    return loc, message


def validation_problems(
    exc: ValidationError,
    prefix: tuple[int | str, ...] = (),
    whole: str = "(top level)",
    branches: Collection[str] = (),
    model: type[BaseModel] | None = None,
) -> list[tuple[str, str]]:
    """(where, message) of each of pydantic's errors: its path below `prefix` (`whole` for the input itself), and
    a message for a person, with the value it got. An unknown field is answered with the closest field of its
    model (`model`: the one validated, without which only the name is given), an unknown type with the types
    allowed. The one formatter of validation errors, wherever input is checked."""
    problems = []
    for error in exc.errors():
        loc, message = _person_message(error, model)
        problems.append((error_path(prefix + loc, branches) or whole, message))
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
