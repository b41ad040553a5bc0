"""Where a Bedrock model's callers find the model to call: one SSM parameter per model, owned by the controller.

The controller publishes a `PublishedRoute` to `/genai-autoscaler/<stack>/routes/<model>`; callers read it
through the small client in `clients/python/genai_autoscaler_route.py`, which repeats `parameter_segment`
(it must not import this package) and is tested against it.

SSM parameter names may hold only `a-zA-Z0-9_.-` and `/` between levels (PutParameter's `Name`, botocore's
SSM service model), while model IDs hold `:` (`anthropic.claude-3-5-sonnet-20240620-v1:0`) and may hold `_`.
So a model ID becomes one name segment by escaping: each byte outside `a-zA-Z0-9.-` as `_` and two upper-case
hex digits (`:` -> `_3A`, `_` -> `_5F`, `/` -> `_2F`). `_` being the escape itself, the mapping is reversible.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind, ServiceTier

ROUTES_ROOT = "/genai-autoscaler"
_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_SEGMENT = re.compile(r"(?:[A-Za-z0-9.-]|_[0-9A-F]{2})+")
# CloudFormation stack names: a letter, then letters, digits and hyphens (so always a valid SSM segment).
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


def parameter_segment(model_id: str) -> str:
    """`model_id` as one SSM parameter name segment (see the module's docstring). Raises ValueError if empty."""
    if not model_id:
        raise ValueError("a model ID is required")
    return "".join(chr(byte) if byte in _KEPT else f"_{byte:02X}" for byte in model_id.encode())


def model_id_of_segment(segment: str) -> str:
    """The model ID that `parameter_segment` turned into `segment`. Raises ValueError for any other text."""
    if not _SEGMENT.fullmatch(segment):
        raise ValueError(f"not a route parameter segment: {segment!r}")
    pieces = re.split(r"_([0-9A-F]{2})", segment)  # text, hex, text, hex, ..., text
    raw = b"".join(bytes([int(p, 16)]) if i % 2 else p.encode() for i, p in enumerate(pieces))
    try:
        model_id = raw.decode()
    except UnicodeDecodeError:
        raise ValueError(f"not a route parameter segment: {segment!r}") from None
    if parameter_segment(model_id) != segment:  # e.g. `_41` for `A`: never written, so not a route's name
        raise ValueError(f"not a route parameter segment: {segment!r}")
    return model_id


def routes_path(stack: str) -> str:
    """`/genai-autoscaler/<stack>/routes`: the path under which every route of the stack lives (for
    GetParametersByPath and IAM). Raises ValueError for a name CloudFormation would not give a stack."""
    if not _STACK_NAME.fullmatch(stack):
        raise ValueError(f"not a CloudFormation stack name: {stack!r}")
    return f"{ROUTES_ROOT}/{stack}/routes"


def route_parameter_name(stack: str, model_id: str) -> str:
    """`/genai-autoscaler/<stack>/routes/<model-id, escaped>`: the parameter callers of `model_id` read.

    Raises ValueError for an empty model ID or a stack name CloudFormation would not accept."""
    return f"{routes_path(stack)}/{parameter_segment(model_id)}"


class PublishedRoute(BaseModel):
    """What the route parameter holds: the model callers of `target` pass as `modelId` now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str = Field(
        min_length=1,
        max_length=2048,
        description="What to call: the model ID, an inference profile ID or a provisioned model's ARN.",
    )
    kind: RouteKind
    since: AwareDatetime = Field(description="When callers were sent there (UTC).")
    target: str = Field(min_length=1, max_length=2048, description="The base model ID the route is for.")
    service_tier: ServiceTier = Field(
        ServiceTier.DEFAULT,
        description="What callers pass as serviceTier (InvokeModel's header, Converse's serviceTier.type).",
    )
    overflow: tuple[str, ...] = Field(
        (),
        max_length=4,
        description="Where callers go next, in order, when model_id throttles them (the route client does it).",
    )

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _on_demand_is_the_target(self) -> PublishedRoute:
        if self.kind is RouteKind.ON_DEMAND and self.model_id != self.target:
            raise ValueError(
                f"an on_demand route calls its target: model_id {self.model_id!r} is not {self.target!r}"
            )
        return self

    @classmethod
    def of(cls, route: BedrockRoute, target: str) -> PublishedRoute:
        """The published form of the controller's remembered route for the model `target`."""
        return cls(
            model_id=route.model,
            kind=route.kind,
            since=route.since,
            target=target,
            service_tier=route.service_tier,
            overflow=route.overflow,
        )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> PublishedRoute:
        """Raises pydantic.ValidationError (a ValueError) naming the field, for text that is not a route."""
        return cls.model_validate_json(text)
