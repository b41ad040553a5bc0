"""RouteRegistry on SSM Parameter Store: one String parameter per Bedrock model, holding a PublishedRoute as
JSON, read by the callers' client (`clients/python/genai_autoscaler_route.py`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from genai_autoscaler.app.ports import RouteRegistry
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.routes import PublishedRoute, route_parameter_name
from genai_autoscaler.errors import InvalidEvent

_DESCRIPTION_MAX = 1024  # PutParameter's Description


class SsmRouteRegistry(RouteRegistry):
    def __init__(self, ssm: Any, stack: str):
        self._ssm = ssm
        self._stack = stack

    def publish(self, model_id: str, route: PublishedRoute) -> None:
        if route.target != model_id:
            raise InvalidEvent(f"a route for {route.target} cannot be published for {model_id}")
        name = route_parameter_name(self._stack, model_id)
        description = (
            f"Where callers of {model_id} send requests; written by genai-autoscaler stack {self._stack}"
        )[:_DESCRIPTION_MAX]
        try:
            self._ssm.put_parameter(
                Name=name,
                Value=route.to_json(),  # a few hundred bytes: well within the Standard tier's 4 KB
                Type="String",
                Overwrite=True,
                Tier="Standard",
                Description=description,
            )
        except ClientError as exc:
            raise translate(exc, f"writing route parameter {name}") from exc

    def current(self, model_id: str) -> PublishedRoute | None:
        name = route_parameter_name(self._stack, model_id)
        try:
            value = self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return None  # never routed: callers use the model itself
            raise translate(exc, f"reading route parameter {name}") from exc
        try:
            return PublishedRoute.from_json(value)
        except ValidationError as exc:
            raise InvalidEvent(f"route parameter {name} does not hold a route: {exc}") from None
