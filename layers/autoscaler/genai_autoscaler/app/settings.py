"""The controller's configuration: environment (set by template.yaml) read once per invocation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genai_autoscaler.domain.policy import (
    SAGEMAKER_NAME,
    PolicyDocument,
    PolicyError,
    TargetPolicy,
    deep_merge,
    parse_policy_document,
)
from genai_autoscaler.errors import InvalidEvent

_ENV = {
    "stack_name": "STACK_NAME",
    "policy_parameter_name": "POLICY_PARAMETER_NAME",
    "state_table_name": "STATE_TABLE_NAME",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "scale_workflow_arn": "SCALE_WORKFLOW_ARN",
    "routing_workflow_arn": "ROUTING_WORKFLOW_ARN",
    "event_scheduler_role_arn": "EVENT_SCHEDULER_ROLE_ARN",
    "event_schedule_group": "EVENT_SCHEDULE_GROUP",
    "alarm_router_arn": "ALARM_ROUTER_ARN",
    "failed_events_queue_arn": "FAILED_EVENTS_QUEUE_ARN",
    "notification_topic_arn": "NOTIFICATION_TOPIC_ARN",
    "chat_topic_arn": "CHAT_TOPIC_ARN",
    "managed_endpoints": "MANAGED_ENDPOINTS",
    "default_max_capacity": "DEFAULT_MAX_CAPACITY",
    "default_latency_p95_ms": "DEFAULT_LATENCY_P95_MS",
    "default_concurrency_per_unit": "DEFAULT_CONCURRENCY_PER_UNIT",
    "default_advisory": "DEFAULT_ADVISORY",
    "max_event_age_seconds": "MAX_EVENT_AGE_SECONDS",
}


class ControllerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stack_name: str = Field(min_length=1)
    policy_parameter_name: str = ""
    state_table_name: str = ""
    idempotency_table_name: str = ""
    scale_workflow_arn: str = ""
    routing_workflow_arn: str = ""
    event_scheduler_role_arn: str = ""  # the role EventBridge Scheduler starts recurring events with
    event_schedule_group: str = ""  # the stack's schedule group, where their schedules are
    alarm_router_arn: str = ""  # where the rules of adopted alarms deliver (the reconciler's)
    failed_events_queue_arn: str = ""  # their dead-letter queue
    notification_topic_arn: str = ""
    chat_topic_arn: str = ""  # where chat cards go (Amazon Q Developer in chat applications); none: no cards
    managed_endpoints: tuple[tuple[str, str], ...] = ()
    default_max_capacity: int | None = Field(None, ge=1)
    default_latency_p95_ms: float | None = Field(None, gt=0)
    default_concurrency_per_unit: float | None = Field(None, gt=0)
    default_advisory: bool = False
    max_event_age_seconds: int = Field(
        900,
        ge=60,
        le=86400,
        description="An alarm event older than this (a redelivery, a redrive of the failed-events queue) is "
        "recorded and not acted on: the evaluator reads the alarm as it stands.",
    )

    @field_validator("managed_endpoints", mode="before")
    @classmethod
    def _endpoint_list(cls, value: Any) -> Any:
        """`llm-prod,chat` -> (("llm-prod", "AllTraffic"), ("chat", "AllTraffic")).

        The stack's parameter names endpoints (IAM scopes the controller to exactly these ARNs); their
        AllTraffic variant is managed with the default policy. Other variants are declared in the document.
        """
        if not isinstance(value, str):
            return value
        names = [part.strip() for part in value.split(",") if part.strip()]
        bad = [name for name in names if not re.fullmatch(SAGEMAKER_NAME, name)]
        if bad:
            raise ValueError(f"not SageMaker endpoint names: {', '.join(bad)}")
        return tuple((name, "AllTraffic") for name in names)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ControllerSettings:
        environ = os.environ if environ is None else environ
        raw = {field: environ[var] for field, var in _ENV.items() if environ.get(var, "") != ""}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            names = ", ".join(f"{_ENV[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors())
            raise InvalidEvent(f"controller environment is invalid: {names}") from None

    @property
    def alarm_prefix(self) -> str:
        """`<stack>.`: stack names cannot hold a dot, so no stack's prefix is the start of another's."""
        return f"{self.stack_name}."

    def effective_policies(
        self, document: Mapping[str, Any], tagged: list[tuple[str, str]] | None = None
    ) -> PolicyDocument:
        """The policy document with the stack's parameter defaults under it and the endpoints named by
        the stack (`ManagedEndpoints`) or by tag added with default policies. Raises PolicyError."""
        base: dict[str, Any] = {}
        if self.default_max_capacity is not None:
            base["capacity"] = {"max": self.default_max_capacity}
        signals = {
            name: value
            for name, value in (
                ("latency_p95_ms", self.default_latency_p95_ms),
                ("concurrency_per_unit", self.default_concurrency_per_unit),
            )
            if value is not None
        }
        if signals:
            base["signals"] = signals
        if self.default_advisory:
            base["advisory"] = True
        raw = dict(document)
        raw["defaults"] = deep_merge(base, dict(raw.get("defaults") or {}))
        named = {
            (t.get("endpoint_name"), t.get("variant_name", "AllTraffic"))
            for t in raw.get("targets") or []
            if isinstance(t, dict) and t.get("type") == "sagemaker_variant"
        }
        extra = [
            {"type": "sagemaker_variant", "endpoint_name": endpoint, "variant_name": variant}
            for endpoint, variant in dict.fromkeys([*self.managed_endpoints, *(tagged or [])])
            if (endpoint, variant) not in named
        ]
        raw["targets"] = [*(raw.get("targets") or []), *extra]
        return parse_policy_document(raw)

    def policy_of(
        self, document: Mapping[str, Any], target_id: str, *, tagged_variant: bool = False
    ) -> TargetPolicy | None:
        """`target_id`'s policy in the effective document; None where it is not managed.

        `tagged_variant`: the caller knows the variant to carry the management tag (its alarm says so, or IAM
        refuses to change an untagged one), so a variant the document does not name gets the default policy,
        as the reconciler gave it alarms. Raises PolicyError for an invalid document.
        """
        policy = self.effective_policies(document).find(target_id)
        if policy is not None or not tagged_variant or not target_id.startswith("variant/"):
            return policy
        _, endpoint, variant = target_id.split("/", 2)
        try:
            return self.effective_policies(document, [(endpoint, variant)]).find(target_id)
        except PolicyError:
            return None  # not a name SageMaker would give an endpoint: no target of ours
