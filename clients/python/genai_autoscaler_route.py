"""Which Bedrock model ID to call now, as the GenAI Autoscaler controller routes it.

    from genai_autoscaler_route import ModelRoute

    route = ModelRoute("anthropic.claude-3-5-sonnet-20240620-v1:0", stack="genai-autoscaler")  # once
    bedrock.converse(**route.converse_args(), messages=...)                                   # per call
    bedrock.invoke_model(**route.invoke_model_args(), body=...)                               # or this

The controller publishes, per base model, the SSM parameter `/genai-autoscaler/<stack>/routes/<model>`
holding JSON whose `model_id` is what to call: the model itself, a cross-region inference profile or a
Provisioned Throughput ARN; and whose `service_tier` is the tier to ask for (`default`, or `priority` when
the controller answers a latency alarm with Bedrock's Priority tier). `converse_args()` and
`invoke_model_args()` give both in each API's form; `model_id()` the model alone. They read the parameter at
most once per `ttl_seconds` and never raise:
with no parameter it answers the base model ID; when SSM fails or the value is unreadable, the last good
answer (or the base model ID) and one warning per outage.

Standalone on purpose (boto3 and the standard library only), so that an application can copy this one file.
The name mapping repeats `genai_autoscaler.domain.routes.parameter_segment`; a test holds the two together.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import boto3
from botocore.config import Config

__all__ = ["ModelRoute", "Route", "route_parameter_name"]

_LOG = logging.getLogger("genai_autoscaler_route")

# SSM parameter names hold only a-zA-Z0-9_.- (and / between levels), model IDs hold ':' and may hold '_':
# every byte outside a-zA-Z0-9.- becomes '_' and two upper-case hex digits (':' -> '_3A', '_' -> '_5F').
_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


def route_parameter_name(stack: str, model_id: str) -> str:
    """`/genai-autoscaler/<stack>/routes/<model_id, escaped>`. Raises ValueError for an empty model ID or a
    name CloudFormation would not give a stack."""
    if not _STACK_NAME.fullmatch(stack):
        raise ValueError(f"not a CloudFormation stack name: {stack!r}")
    if not model_id:
        raise ValueError("a model ID is required")
    segment = "".join(chr(byte) if byte in _KEPT else f"_{byte:02X}" for byte in model_id.encode())
    return f"/genai-autoscaler/{stack}/routes/{segment}"


class Route(NamedTuple):
    """Where to send one call: `model_id` as modelId, `service_tier` as serviceTier; `overflow`, where to go
    next, in order, when `model_id` throttles the call."""

    model_id: str
    service_tier: str = "default"
    overflow: tuple[str, ...] = ()


def _ssm_client(region_name: str | None) -> Any:
    # Short timeouts and few retries: this runs in the caller's request path, and a stale answer is fine.
    config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client("ssm", region_name=region_name, config=config)


class ModelRoute:
    """The model ID to call for one base model, resolved from the controller's route parameter and cached.

    Thread-safe: one thread refreshes an expired answer while the others keep the previous one.
    """

    def __init__(
        self,
        base_model_id: str,
        *,
        stack: str = "genai-autoscaler",
        ttl_seconds: float = 30.0,
        ssm_client: Any = None,
        region_name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`stack`: the controller's CloudFormation stack. `ssm_client`: a boto3 SSM client (one with short
        timeouts is made from `region_name` otherwise). `clock`: seconds, monotonic (tests drive it).
        Raises ValueError for an empty model ID, a bad stack name or a negative TTL."""
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must be zero or more, not {ttl_seconds}")
        self.base_model_id = base_model_id
        self.parameter_name = route_parameter_name(stack, base_model_id)
        self._ttl = float(ttl_seconds)
        self._ssm = ssm_client if ssm_client is not None else _ssm_client(region_name)
        self._clock = clock
        self._lock = threading.Lock()  # guards the three fields below
        self._refreshing = threading.Lock()  # held by the one thread asking SSM
        self._current: Route | None = None
        self._fresh_until = float("-inf")
        self._failing = False  # warned about the current outage

    def model_id(self) -> str:
        """What to pass as `modelId` now. Never raises."""
        return self.route().model_id

    def converse_args(self) -> dict[str, Any]:
        """`modelId` and, off the Standard tier, `serviceTier` for Converse and ConverseStream. Never raises."""
        return _route_args(self.route(), structured=True)

    def invoke_model_args(self) -> dict[str, Any]:
        """`modelId` and, off the Standard tier, `serviceTier` (a header) for InvokeModel and
        InvokeModelWithResponseStream. Never raises."""
        return _route_args(self.route(), structured=False)

    def converse(self, client: Any, **kwargs: Any) -> Any:
        """`client.converse(...)` on the route, going on to the route's overflow, in order, while a call is
        throttled (ThrottlingException, after the client's own retries). Raises what the last call raised."""
        return self._call(client.converse, kwargs, structured=True)

    def invoke_model(self, client: Any, **kwargs: Any) -> Any:
        """`client.invoke_model(...)`, as `converse` does."""
        return self._call(client.invoke_model, kwargs, structured=False)

    def _call(self, method: Callable[..., Any], kwargs: dict[str, Any], structured: bool) -> Any:
        route = self.route()
        # The tier is the route's own, not its overflow's.
        first = dict(kwargs, **_route_args(route, structured))
        calls = [first, *(dict(kwargs, modelId=model_id) for model_id in route.overflow)]
        for args in calls[:-1]:
            try:
                return method(**args)
            except Exception as exc:
                if _error_code(exc) != "ThrottlingException":
                    raise
        return method(**calls[-1])

    def route(self) -> Route:
        """The model to call, the tier to ask for and the overflow, now. Never raises."""
        with self._lock:
            if self._current is not None and self._clock() < self._fresh_until:
                return self._current
            previous = self._current
        # Only one thread asks SSM. Threads that already have an answer keep it meanwhile; the very first
        # callers wait for the first answer rather than guess.
        if not self._refreshing.acquire(blocking=previous is None):
            return previous if previous is not None else Route(self.base_model_id)
        try:
            with self._lock:
                if self._current is not None and self._clock() < self._fresh_until:
                    return self._current  # refreshed by another thread while this one waited
            resolved = self._resolve(previous)
            with self._lock:
                self._current = resolved
                self._fresh_until = self._clock() + self._ttl
            return resolved
        finally:
            self._refreshing.release()

    def _resolve(self, previous: Route | None) -> Route:
        fallback = previous if previous is not None else Route(self.base_model_id)
        try:
            value = self._ssm.get_parameter(Name=self.parameter_name)["Parameter"]["Value"]
        except Exception as exc:  # the caller's request must not fail for want of a route
            if _error_code(exc) == "ParameterNotFound":
                self._recovered()
                return Route(self.base_model_id)  # the controller has never routed this model elsewhere
            self._warn(f"cannot read {self.parameter_name} ({exc}); calling {fallback.model_id}")
            return fallback
        route = _route_of(value)
        if route is None:
            self._warn(f"{self.parameter_name} holds no route ({value[:200]!r}); calling {fallback.model_id}")
            return fallback
        self._recovered()
        return route

    def _warn(self, message: str) -> None:
        if not self._failing:
            self._failing = True
            _LOG.warning("genai-autoscaler route: %s", message)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            _LOG.info("genai-autoscaler route: %s is readable again", self.parameter_name)


def _route_args(route: Route, structured: bool) -> dict[str, Any]:
    """`modelId` and, off the Standard tier, `serviceTier`: a structure for Converse (`structured`), a header
    string for InvokeModel."""
    args: dict[str, Any] = {"modelId": route.model_id}
    if route.service_tier != "default":
        args["serviceTier"] = {"type": route.service_tier} if structured else route.service_tier
    return args


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)  # botocore ClientError
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


_TIERS = frozenset({"default", "priority", "flex", "reserved"})  # botocore's ServiceTierType


def _route_of(value: Any) -> Route | None:
    """The route in the parameter's JSON object; None when it is not one (no model_id, or a tier botocore
    does not know)."""
    try:
        document = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    model_id, tier = document.get("model_id"), document.get("service_tier", "default")
    overflow = document.get("overflow", [])
    if not isinstance(model_id, str) or not model_id or tier not in _TIERS:
        return None
    if not isinstance(overflow, list) or not all(isinstance(o, str) and o for o in overflow):
        return None
    return Route(model_id, tier, tuple(overflow))
