"""The policy document: one validated description of every managed target and how to scale it.

Loaded from YAML by the CLI, from JSON (SSM Parameter Store) by the Lambdas; the JSON Schema published in
`config/policies.schema.json` is generated from these models (`genai-autoscaler schema`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genai_autoscaler.domain.slo import LatencySLO
from genai_autoscaler.domain.targets import (
    TargetKind,
    bedrock_target_id,
    inference_component_target_id,
    variant_target_id,
)
from genai_autoscaler.errors import problems_text, unknown_name, validation_problems

# SageMaker names: 1-63 alphanumerics and hyphens, starting alphanumeric.
SAGEMAKER_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
BEDROCK_MODEL_ID = r"^[a-z0-9-]+\.[a-zA-Z0-9.:_-]+$"
# A Service Quotas quota code (GetServiceQuota QuotaCode), e.g. L-1216C47A.
SERVICE_QUOTA_CODE = r"^L-[0-9A-F]{8}$"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapacityLimits(_Block):
    min: int = Field(1, ge=0, description="Fewest instances (variants) or copies (inference components).")
    max: int = Field(4, ge=1, description="Most instances or copies the controller may request.")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class ScaleOutRule(_Block):
    max_step: int | None = Field(
        None,
        ge=1,
        description="Most units added by one scale-out; null (the default): as many as the demand needs, "
        "within capacity.max.",
    )
    max_factor: float | None = Field(
        None,
        gt=1,
        description="Most one scale-out may multiply the current capacity by (e.g. 3); null: no such limit.",
    )
    cooldown_seconds: int = Field(
        300,
        ge=0,
        description="Least time between two scale-outs of one target, from the moment the last one served; "
        "a panic scale-out does not wait for it.",
    )
    panic_ratio: float = Field(
        2.0,
        gt=1,
        description="Concurrency at this multiple of its threshold is a surge (Knative's panic mode, 200% of "
        "target): the scale-out to the size it measures proceeds within the cooldown.",
    )


class ScaleInRule(_Block):
    max_step: int | None = Field(
        None,
        ge=1,
        description="Most units removed by one scale-in; null (the default): down to what the concurrency "
        "measured over the stabilization window needs, at once.",
    )
    cooldown_seconds: int = Field(600, ge=0, description="Least time after any scale before a scale-in.")
    stabilization_seconds: int = Field(
        900,
        ge=0,
        description="How long every signal must have stayed OK before scaling in; while the forecast acts, "
        "shorter where the target's own history shows its demand does not come back that soon.",
    )
    target_utilization: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Scale in only to a count that keeps concurrency per unit at or below this fraction of "
        "the concurrency threshold, so that the scale-in does not trigger the next scale-out.",
    )


# EventBridge Scheduler's recurring expressions (cron with six fields, or rate), as its user guide states them;
# Scheduler checks each field when the reconciler puts the schedule, and a refusal is reported.
_SCHEDULE = re.compile(r"cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)")
# An IANA zone name (Scheduler's ScheduleExpressionTimezone); the zone itself is checked by Scheduler, as the
# Lambda runtime need not carry the time zone database.
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")


class RecurringEvent(_Block):
    """A planned scale that recurs (a weekday business-hours floor, a nightly batch): at each start, the scale
    workflow sets `capacity` and holds it as a floor for `duration_minutes`; EventBridge Scheduler starts it,
    on a schedule the reconciler keeps in step with the document."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,23}$", description="Unique within the target, e.g. business-hours."
    )
    schedule: str = Field(
        description="When each window starts: cron(minutes hours day-of-month month day-of-week year), e.g. "
        "cron(0 9 ? * MON-FRI *), or rate(1 day)."
    )
    timezone: str = Field(
        "UTC", description="The IANA time zone the cron expression is read in, e.g. Europe/Berlin."
    )
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60, description="How long each window holds the floor.")
    capacity: int = Field(ge=0, description="Instances (or copies) from the start of each window.")
    reason: str = Field("", max_length=200, description="Said in the notification and the history.")

    @field_validator("schedule")
    @classmethod
    def _scheduler_expression(cls, value: str) -> str:
        if not _SCHEDULE.fullmatch(value):
            raise ValueError(
                "not a recurring EventBridge Scheduler expression: cron(minutes hours day-of-month month "
                "day-of-week year), e.g. cron(0 9 ? * MON-FRI *), or rate(N minutes|hours|days)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        if not _ZONE.fullmatch(value):
            raise ValueError("not an IANA time zone name such as Europe/Berlin or UTC")
        return value


class ForecastRule(_Block):
    """Predictive pre-scaling from the target's own history (see domain/forecast.py)."""

    mode: Literal["act", "advisory", "off"] = Field(
        "act",
        description="act: raise capacity ahead of the demand the forecast expects, and hold scale-in when it "
        "expects demand back; advisory: only say what it would do; off: no forecast. It stands aside by itself "
        "while the history is too short or its error too large.",
    )
    margin_seconds: int = Field(
        600,
        ge=0,
        le=3600,
        description="How long before the demand arrives capacity should serve, on top of the cold start.",
    )
    max_error: float = Field(
        0.25,
        gt=0,
        le=1,
        description="The forecast stands aside when its error over the last day (WAPE) is above this.",
    )


class AlarmEvaluation(_Block):
    period_seconds: Literal[10, 30, 60, 300] = 60
    evaluation_periods: int = Field(3, ge=1, le=100)
    datapoints_to_alarm: int = Field(2, ge=1, le=100)

    @model_validator(mode="after")
    def _datapoints_within_periods(self) -> Self:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError(
                f"datapoints_to_alarm ({self.datapoints_to_alarm}) exceeds "
                f"evaluation_periods ({self.evaluation_periods})"
            )
        return self


class SageMakerSignals(_Block):
    """Thresholds of the signals watched on a SageMaker target; null turns a signal off."""

    latency_p95_ms: float | None = Field(
        5000,
        gt=0,
        description="p95 ModelLatency threshold, in milliseconds (CloudWatch reports microseconds).",
    )
    latency_evaluation: AlarmEvaluation = AlarmEvaluation()
    concurrency_per_unit: float | None = Field(
        4,
        gt=0,
        description="Peak (Maximum) concurrent requests per instance (ConcurrentRequestsPerModel) or per copy "
        "(ConcurrentRequestsPerCopy), high resolution.",
    )
    concurrency_evaluation: AlarmEvaluation = AlarmEvaluation(
        period_seconds=10, evaluation_periods=3, datapoints_to_alarm=3
    )
    model_loading_wait_ms: float | None = Field(
        None, gt=0, description="p95 ModelLoadingWaitTime threshold in milliseconds (multi-model endpoints)."
    )
    insufficient_data_notify_after_seconds: int = Field(
        900, ge=60, description="Notify once a signal has had no data this long; capacity is held meanwhile."
    )


class WarmUp(_Block):
    enabled: bool = True
    payload: dict[str, Any] | str = Field(
        default_factory=lambda: {"inputs": "Hello", "parameters": {"max_new_tokens": 1}},
        description="Request body of each warm-up invocation (JSON object, or a string sent as is).",
    )
    content_type: str = "application/json"
    count: int = Field(4, ge=1, le=100, description="Warm-up invocations after capacity is InService.")
    concurrency: int = Field(2, ge=1, le=16, description="Warm-up invocations in flight at once.")
    max_latency_ms: float | None = Field(
        None, gt=0, description="Warm-up p95 above this is reported as a failed warm-up."
    )
    target_models: list[str] = Field(
        default_factory=list, description="Multi-model endpoints: the models to load (TargetModel)."
    )
    keep_warm_interval_seconds: int | None = Field(
        None, ge=60, description="Send warm-up invocations at least this often, to keep models loaded."
    )

    @model_validator(mode="after")
    def _concurrency_within_count(self) -> Self:
        if self.concurrency > self.count:
            raise ValueError(f"concurrency ({self.concurrency}) exceeds count ({self.count})")
        return self


WORKFLOW_MARGIN_SECONDS = 1800
MAX_POLLS = 720


class WorkflowSettings(_Block):
    in_service_timeout_seconds: int = Field(
        1200,
        ge=60,
        le=7200,
        description="How long a scale may take to reach InService before it is abandoned.",
    )
    poll_interval_seconds: int = Field(30, ge=5, le=600)
    lock_ttl_seconds: int = Field(
        3600, ge=60, description="A lock older than this is taken to be left by a crashed workflow."
    )

    @model_validator(mode="after")
    def _bounded_wait(self) -> Self:
        # The lock must outlive the wait plus warm-up and retries, or a slow scale could lose it.
        if self.lock_ttl_seconds < self.in_service_timeout_seconds + WORKFLOW_MARGIN_SECONDS:
            raise ValueError(
                f"lock_ttl_seconds ({self.lock_ttl_seconds}) must be at least in_service_timeout_seconds "
                f"({self.in_service_timeout_seconds}) + {WORKFLOW_MARGIN_SECONDS} (warm-up and retries)"
            )
        # Each poll adds events to the execution's history, which Step Functions caps at 25,000.
        polls = self.in_service_timeout_seconds // self.poll_interval_seconds
        if polls > MAX_POLLS:
            raise ValueError(
                f"in_service_timeout_seconds / poll_interval_seconds is {polls} polls; at most {MAX_POLLS}"
            )
        return self


class ProvisionedThroughputSettings(_Block):
    """How to buy Provisioned Throughput for a model, and what it gives and costs."""

    model_arn: str | None = Field(
        None,
        description="The model to provision (CreateProvisionedModelThroughput modelId); default: the target's.",
    )
    tokens_per_minute_per_unit: int = Field(
        gt=0, description="Tokens per minute one model unit serves (the model's published figure)."
    )
    hourly_price_per_unit_usd: float = Field(
        gt=0, description="Price of one model unit per hour, at this term."
    )
    model_units_quota_code: str | None = Field(
        None,
        pattern=SERVICE_QUOTA_CODE,
        description="Service Quotas code (service bedrock) of the account's model units for this kind of purchase, "
        "e.g. 'Model units no-commitment Provisioned Throughputs across base models'. The units held by the "
        "account's Provisioned Throughputs of the same kind (with or without commitment) are subtracted, and "
        "no more are bought than remain. Without it, only max_model_units and the budget bound a purchase.",
    )
    commitment: Literal["none", "OneMonth", "SixMonths"] = Field(
        "none",
        description="No-commitment units are bought on their own; a term only after a person approves.",
    )
    approval_timeout_seconds: int = Field(
        3600, ge=300, le=7 * 86400, description="An approval not given by then counts as rejected."
    )
    in_service_timeout_seconds: int = Field(
        3600,
        ge=300,
        le=6 * 3600,
        description="Provisioning not InService by then is deleted, routing untouched.",
    )
    poll_interval_seconds: int = Field(
        60, ge=5, le=600, description="How often the workflow asks Bedrock whether the units are InService."
    )

    @model_validator(mode="after")
    def _polls_fit_the_history(self) -> ProvisionedThroughputSettings:
        # Each poll adds about 9 events to the execution's history, which Step Functions caps at 25,000.
        polls = self.in_service_timeout_seconds / self.poll_interval_seconds
        if polls > MAX_POLLS:
            raise ValueError(
                f"in_service_timeout_seconds / poll_interval_seconds is {polls:,.0f} polls; at most {MAX_POLLS:,} "
                "fit a workflow's history: poll less often"
            )
        return self

    drain_seconds: int = Field(
        300, ge=0, le=3600, description="After routing back, how long in-flight traffic gets before deletion."
    )


LadderRung = Literal["cross_region_profile", "global_profile", "priority_tier", "provisioned_throughput"]
# An inference profile: its ID (a geography such as us, eu, apac, us-gov, or `global`; a dot; the model ID it
# serves) or its ARN (system-defined or application inference profiles).
INFERENCE_PROFILE_ID = (
    r"^(?:[a-z-]{2,8}\.[a-z0-9-]{1,63}\.[A-Za-z0-9._:-]{1,200}"
    r"|arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:(?:application-)?inference-profile/[A-Za-z0-9._:/-]{1,200})$"
)


def is_inference_profile(model: str) -> bool:
    """Whether `model` (what a caller passes as modelId) names an inference profile, not a model."""
    return re.fullmatch(INFERENCE_PROFILE_ID, model) is not None


def is_global_profile(profile_id: str) -> bool:
    """Whether `profile_id` is a global cross-region inference profile (served in any commercial Region)."""
    return profile_id.rsplit("/", 1)[-1].startswith("global.")


class PriorityTier(_Block):
    """Bedrock's Priority service tier: the same model and on-demand quota, served ahead of Standard requests,
    at a premium per token (InvokeModel/Converse `serviceTier`; Bedrock user guide, 'service tiers')."""

    price_premium: float = Field(
        gt=0,
        le=10,
        description="Priority's token price above Standard's, as a share (0.75: 75 % more), from the model's "
        "row of the Bedrock pricing page. Told in every notification of the shift.",
    )
    standard_usd_per_million_tokens: float | None = Field(
        None,
        gt=0,
        description="Standard's price per million quota tokens (input and output blended), to state the "
        "premium per hour at the recent demand.",
    )


class BedrockSettings(_Block):
    """Bedrock thresholds, and the ladder of responses when the model throttles or slows down."""

    throttles_per_minute: int = Field(1, ge=1, description="InvocationThrottles (Sum per minute) threshold.")
    latency_p95_ms: float | None = Field(None, gt=0, description="p95 InvocationLatency threshold, ms.")
    output_token_burndown: float = Field(
        1,
        ge=1,
        le=100,
        description="Quota tokens one output token consumes: 5 for the models whose output burns the "
        "tokens-per-minute quota down 5 times (the Claude 4 family and others; Bedrock user guide, 'token "
        "burndown'), else 1. The token-quota alarm and the demand that sizes Provisioned Throughput and the "
        "way back count input + this x output tokens.",
    )
    max_tokens: int | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="The max_tokens the model's callers ask for. Bedrock reserves a request's input + max_tokens "
        "(output burndown included) of the quota when it starts, and gives back what it did not use when it ends: "
        "with it, the token-quota fallback (metric math, where EstimatedTPMQuotaUsage is not published) and the "
        "demand count each invocation's output at least at max_tokens.",
    )
    overflow: bool = Field(
        False,
        description="The model's callers call through the route client's converse or invoke_model, which go on, "
        "when a route throttles them, to the other free quotas the policy allows (its profiles, then the model "
        "itself). Then Provisioned Throughput, paid by the hour, is used first and is sized only for what those "
        "quotas cannot carry, and it is given back for a profile once they can. Off (callers pass one modelId): "
        "each route is one destination, and Provisioned Throughput carries the whole demand.",
    )
    profile_tokens_per_minute_quota: int | None = Field(
        None,
        gt=0,
        description="The geographic profile's tokens-per-minute quota (Service Quotas' cross-Region figure for the "
        "model), counted as free capacity when Provisioned Throughput is sized for the overflow; unknown: not "
        "counted.",
    )
    global_profile_tokens_per_minute_quota: int | None = Field(
        None, gt=0, description="The global profile's tokens-per-minute quota, counted likewise."
    )
    caller_max_attempts: int = Field(
        1,
        ge=1,
        le=20,
        description="The attempts the callers' SDK makes for a request (botocore's standard retry mode: 3, its "
        "legacy mode: 5). InvocationThrottles counts every refused attempt, so the throttled demand that sizes "
        "Provisioned Throughput counts InvocationThrottles / caller_max_attempts requests. The default, 1, counts "
        "each refused attempt as a request: it buys enough, and more than enough when callers retry.",
    )
    ttft_p95_ms: float | None = Field(
        None,
        gt=0,
        description="p95 TimeToFirstToken threshold, ms: the latency of streamed responses (ConverseStream, "
        "InvokeModelWithResponseStream) as LLM teams state their SLOs. Beside or instead of latency_p95_ms.",
    )
    tokens_per_minute_quota: int | None = Field(
        None,
        gt=0,
        description="The model's tokens-per-minute quota where Service Quotas has none for it (no "
        "tokens_per_minute_quota_code, no such quota, or Service Quotas cannot be read).",
    )
    requests_per_minute_quota: int | None = Field(
        None,
        gt=0,
        description="The model's on-demand requests-per-minute quota (Service Quotas, 'On-demand ... requests per "
        "minute'). With it, the way back to on-demand also waits until the busiest recent minute's invocations "
        "(throttled requests included) are within revert_below_quota of it: a quota no alarm watches.",
    )
    tokens_per_minute_quota_code: str | None = Field(
        None,
        pattern=SERVICE_QUOTA_CODE,
        description="Service Quotas code (service bedrock) of the model's on-demand tokens-per-minute quota, e.g. "
        "of 'On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet'. Its applied value (else "
        "AWS's default) is the quota of the token-quota alarm and of the way back to on-demand.",
    )
    token_quota_alarm_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Alarm when input + output tokens per minute pass this share of the quota: before throttling.",
    )
    cross_region_profile: str | None = Field(
        None,
        pattern=INFERENCE_PROFILE_ID,
        description="Geographic cross-region inference profile ID (us., eu., apac., ...): its own, larger "
        "quota, requests served within the geography.",
    )
    global_profile: str | None = Field(
        None,
        pattern=INFERENCE_PROFILE_ID,
        description="Global cross-region inference profile ID (global.<model-id>): requests may be served in any "
        "commercial Region. Needs data_may_leave_geography.",
    )
    data_may_leave_geography: bool = Field(
        False,
        description="Whether the model's requests may be served outside the geography of its Region (a global "
        "profile). The default keeps them within it.",
    )
    priority_tier: PriorityTier | None = Field(
        None, description="Bedrock's Priority service tier, for the priority_tier rung."
    )
    ladder: tuple[LadderRung, ...] = Field(
        ("cross_region_profile", "provisioned_throughput"),
        description="The responses, in the order they are tried; a rung the policy gives no means for is skipped, "
        "and priority_tier answers only latency alarms (tiers share the on-demand quota).",
    )
    provisioned_throughput: ProvisionedThroughputSettings | None = None
    max_model_units: int = Field(
        0, ge=0, description="Most model units the controller may buy (0: no spend)."
    )
    hourly_budget_usd: float = Field(
        0, ge=0, description="Most Provisioned Throughput spend per hour (0: none)."
    )
    hold_seconds: int = Field(
        1800, ge=0, description="Least time on a shifted route before routing back to on-demand."
    )
    cooldown_seconds: int = Field(600, ge=0, description="Least time between two routing changes.")
    revert_below_quota: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Route back only when demand (tokens per minute, throttled included) is below this share "
        "of the on-demand quota.",
    )

    @model_validator(mode="after")
    def _ladder_once(self) -> Self:
        if len(set(self.ladder)) != len(self.ladder):
            raise ValueError(f"ladder names a response twice: {list(self.ladder)}")
        return self

    @model_validator(mode="after")
    def _overflow_hysteresis(self) -> Self:
        """With overflow, Provisioned Throughput is bought above token_quota_alarm_share of the free quotas and
        given back below revert_below_quota of them: the second must be the lower, or the two would flap."""
        if self.overflow and self.revert_below_quota >= self.token_quota_alarm_share:
            raise ValueError(
                f"with overflow, revert_below_quota ({self.revert_below_quota:g}) must be below "
                f"token_quota_alarm_share ({self.token_quota_alarm_share:g}): between them lies the margin that "
                "keeps a purchase from being given back at once"
            )
        return self

    @model_validator(mode="after")
    def _geography(self) -> Self:
        """A global profile only where the policy lets data leave the geography; each profile in its field."""
        if self.cross_region_profile is not None and is_global_profile(self.cross_region_profile):
            raise ValueError(
                f"cross_region_profile {self.cross_region_profile} is a global profile: name it as "
                "global_profile (with data_may_leave_geography: true)"
            )
        if self.global_profile is not None and not is_global_profile(self.global_profile):
            raise ValueError(f"global_profile {self.global_profile} does not start with 'global.'")
        if self.global_profile is not None and not self.data_may_leave_geography:
            raise ValueError(
                f"global_profile {self.global_profile} serves requests in any commercial Region: set "
                "data_may_leave_geography: true to allow it, or remove it"
            )
        return self


# The signals a team's own alarm may stand for, by the family of target it watches.
BEDROCK_SIGNALS = ("latency_p95", "throttles", "token_quota", "ttft_p95")
SAGEMAKER_SIGNALS = ("latency_p95", "concurrency", "model_loading_wait", "no_capacity")


class AdoptedAlarm(_Block):
    """A CloudWatch alarm the team already has, treated as one of the target's signals."""

    alarm_name: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The alarm's name (a metric, metric-math, anomaly-detection or composite alarm).",
    )
    signal: Literal[
        "latency_p95",
        "concurrency",
        "model_loading_wait",
        "no_capacity",
        "throttles",
        "token_quota",
        "ttft_p95",
    ] = Field(description="The signal its state changes are, for this target.")


def _name_is_derived(schema: dict[str, Any]) -> None:
    # PolicyDocument fills `name` from the target's AWS name before validation, so documents may omit it.
    schema["required"] = [field for field in schema.get("required", []) if field != "name"]


class _TargetPolicy(_Block):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_name_is_derived)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$",
        description="How people refer to the target; defaults to its AWS name.",
    )
    advisory: bool = Field(False, description="Decide and notify what would be done, but change nothing.")
    paused: bool = Field(False, description="Leave the target alone; alarms are only reported.")
    adopted_alarms: list[AdoptedAlarm] = Field(
        [],
        max_length=20,
        description="The team's own CloudWatch alarms, by name, whose state changes are this target's signals.",
    )

    @model_validator(mode="after")
    def _adopted_signals_fit(self) -> Self:
        names = [alarm.alarm_name for alarm in self.adopted_alarms]
        if len(set(names)) != len(names):
            raise ValueError(f"adopted_alarms names an alarm twice: {names}")
        family = BEDROCK_SIGNALS if self.kind is TargetKind.BEDROCK_MODEL else SAGEMAKER_SIGNALS
        for alarm in self.adopted_alarms:
            if alarm.signal not in family:
                raise ValueError(
                    f"adopted alarm {alarm.alarm_name!r}: {alarm.signal} is no signal of a {self.kind.value} "
                    f"(one of {', '.join(family)})"
                )
        loading = any(alarm.signal == "model_loading_wait" for alarm in self.adopted_alarms)
        if loading and not getattr(self, "multi_model", False):
            raise ValueError("an adopted model_loading_wait alarm applies only to multi_model endpoints")
        return self

    @property
    def kind(self) -> TargetKind:
        return TargetKind(self.type)  # type: ignore[attr-defined]

    @property
    def target_id(self) -> str:
        raise NotImplementedError


class _SageMakerTarget(_TargetPolicy):
    endpoint_name: str = Field(pattern=SAGEMAKER_NAME)
    slo: LatencySLO | None = Field(
        None,
        description="The latency promised to the target's users; the latency signal's threshold is taken from "
        "it (leave signals.latency_p95_ms unset).",
    )
    capacity: CapacityLimits = CapacityLimits()
    scale_out: ScaleOutRule = ScaleOutRule()
    scale_in: ScaleInRule = ScaleInRule()
    signals: SageMakerSignals = SageMakerSignals()
    warm_up: WarmUp = WarmUp()
    workflow: WorkflowSettings = WorkflowSettings()
    forecast: ForecastRule = ForecastRule()
    manual_change_hold_seconds: int = Field(
        3600, ge=0, description="After a person changes capacity, leave the target alone this long."
    )
    events: list[RecurringEvent] = Field(
        [], max_length=20, description="Recurring planned scales, e.g. a weekday business-hours floor."
    )

    @property
    def capacity_floor(self) -> int:
        """The least capacity the controller may ever set."""
        return self.capacity.min

    @model_validator(mode="after")
    def _events_within_capacity(self) -> Self:
        names = [event.name for event in self.events]
        if len(set(names)) != len(names):
            raise ValueError(f"two events have the same name: {names}")
        for event in self.events:
            if not self.capacity.min <= event.capacity <= self.capacity.max:
                raise ValueError(
                    f"event {event.name!r} asks for {event.capacity}, outside capacity "
                    f"[{self.capacity.min}, {self.capacity.max}]"
                )
        return self

    @model_validator(mode="after")
    def _latency_from_slo(self) -> Self:
        """With an SLO, the latency signal's threshold is the SLO's p95 latency (domain/slo.py)."""
        if self.slo is None:
            return self
        derived = self.slo.p95_latency_ms
        given = self.signals.latency_p95_ms
        if "latency_p95_ms" in self.signals.model_fields_set and given != derived:
            own = "a latency threshold of its own" if given is not None else "no latency alarm"
            raise ValueError(
                f"signals.latency_p95_ms is {given} beside an slo (p95 within {derived:g} ms): the SLO sets "
                f"the latency threshold. Leave signals.latency_p95_ms out, or, for {own}, set slo: null"
            )
        # Frozen: the derived threshold is set once, here, as the model is built (`entry` leaves it out again).
        object.__setattr__(self, "signals", self.signals.model_copy(update={"latency_p95_ms": derived}))
        return self

    def entry(self) -> dict[str, Any]:
        """The target's entry as a policy document states it (JSON values), to change and validate again:
        without the latency threshold its SLO sets, which a changed SLO must set anew."""
        raw = self.model_dump(mode="json")
        if self.slo is not None:
            del raw["signals"]["latency_p95_ms"]
        return raw


class SageMakerVariantPolicy(_SageMakerTarget):
    type: Literal["sagemaker_variant"]
    variant_name: str = Field("AllTraffic", pattern=SAGEMAKER_NAME)
    multi_model: bool = Field(False, description="A multi-model endpoint: watch ModelLoadingWaitTime.")

    @property
    def target_id(self) -> str:
        return variant_target_id(self.endpoint_name, self.variant_name)

    @model_validator(mode="after")
    def _variant_rules(self) -> Self:
        if self.capacity.min < 1:
            raise ValueError("capacity.min must be at least 1: only inference components can scale to zero")
        if self.signals.model_loading_wait_ms is not None and not self.multi_model:
            raise ValueError("signals.model_loading_wait_ms applies only to multi_model endpoints")
        return self


class InferenceComponentPolicy(_SageMakerTarget):
    type: Literal["inference_component"]
    inference_component_name: str = Field(pattern=SAGEMAKER_NAME)
    scale_to_zero: bool = Field(False, description="May scale to zero copies (capacity.min 0).")

    @property
    def target_id(self) -> str:
        return inference_component_target_id(self.inference_component_name)

    @model_validator(mode="after")
    def _zero_rules(self) -> Self:
        if self.capacity.min == 0 and not self.scale_to_zero:
            raise ValueError("capacity.min is 0 but scale_to_zero is false")
        if self.scale_to_zero and self.capacity.min != 0:
            raise ValueError(f"scale_to_zero is true but capacity.min is {self.capacity.min}, not 0")
        if self.signals.model_loading_wait_ms is not None:
            raise ValueError("signals.model_loading_wait_ms applies only to multi_model endpoints")
        return self


class BedrockModelPolicy(_TargetPolicy):
    type: Literal["bedrock_model"]
    model_id: str = Field(pattern=BEDROCK_MODEL_ID)
    bedrock: BedrockSettings = BedrockSettings()

    @property
    def target_id(self) -> str:
        return bedrock_target_id(self.model_id)


SageMakerPolicy = SageMakerVariantPolicy | InferenceComponentPolicy
TargetPolicy = Annotated[
    SageMakerVariantPolicy | InferenceComponentPolicy | BedrockModelPolicy, Field(discriminator="type")
]

# Keys of `defaults` and the target types they apply to.
_DEFAULTABLE: dict[str, frozenset[str]] = {
    "advisory": frozenset(TargetKind),
    "paused": frozenset(TargetKind),
    "bedrock": frozenset({TargetKind.BEDROCK_MODEL}),
    **{
        key: frozenset({TargetKind.SAGEMAKER_VARIANT, TargetKind.INFERENCE_COMPONENT})
        for key in (
            "slo",
            "capacity",
            "scale_out",
            "scale_in",
            "signals",
            "warm_up",
            "workflow",
            "manual_change_hold_seconds",
        )
    },
}


def _default_name(target: dict[str, Any]) -> str | None:
    match target.get("type"):
        case TargetKind.SAGEMAKER_VARIANT:
            endpoint, variant = target.get("endpoint_name"), target.get("variant_name", "AllTraffic")
            return f"{endpoint}/{variant}" if endpoint else None
        case TargetKind.INFERENCE_COMPONENT:
            return target.get("inference_component_name")
        case TargetKind.BEDROCK_MODEL:
            return target.get("model_id")
    return None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _without_default_latency(defaults: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """`defaults` for `target`: a target's own SLO replaces the default SLO (not merged: its form may differ),
    and a target with an SLO takes its latency threshold from it, not from a default threshold."""
    if "slo" in target:  # a target's own SLO replaces the default one, whatever its form
        defaults = {k: v for k, v in defaults.items() if k != "slo"}
    signals = defaults.get("signals")
    if target.get("slo", defaults.get("slo")) is None or not isinstance(signals, dict):
        return defaults
    return {**defaults, "signals": {k: v for k, v in signals.items() if k != "latency_p95_ms"}}


class PolicyDocument(_Block):
    """Every managed target with its policy. `defaults` is merged under each target's own settings."""

    version: Literal[1] = 1
    defaults: dict[str, Any] = Field(default_factory=dict, description="Settings shared by all targets.")
    targets: list[TargetPolicy] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            return data  # field validation reports it
        unknown = sorted(set(defaults) - set(_DEFAULTABLE))
        if unknown:
            raise ValueError(f"defaults: unknown keys {unknown}; allowed: {sorted(_DEFAULTABLE)}")
        targets = data.get("targets")
        if not isinstance(targets, list):
            return data
        merged = []
        for raw in targets:
            if not isinstance(raw, dict):
                merged.append(raw)
                continue
            kind = raw.get(
                "type"
            )  # validated below; a list or a mapping here is no kind a default applies to
            applicable = {
                k: v for k, v in defaults.items() if isinstance(kind, str) and kind in _DEFAULTABLE[k]
            }
            target = deep_merge(_without_default_latency(applicable, raw), raw)
            if "name" not in target and (name := _default_name(target)):
                target["name"] = name
            merged.append(target)
        return {**data, "targets": merged}

    @model_validator(mode="after")
    def _adopted_once(self) -> Self:
        """An alarm is one signal of one target."""
        adopters: dict[str, str] = {}
        for target in self.targets:
            for alarm in target.adopted_alarms:
                if alarm.alarm_name in adopters:
                    raise ValueError(
                        f"alarm {alarm.alarm_name!r} is adopted by both {adopters[alarm.alarm_name]} and "
                        f"{target.name}: an alarm may stand for one target's signal"
                    )
                adopters[alarm.alarm_name] = target.name
        return self

    def adopter_of(self, alarm_name: str) -> tuple[TargetPolicy, AdoptedAlarm] | None:
        """The target that adopted the alarm `alarm_name`, and how; None when none did."""
        for target in self.targets:
            for alarm in target.adopted_alarms:
                if alarm.alarm_name == alarm_name:
                    return target, alarm
        return None

    @model_validator(mode="after")
    def _unique(self) -> Self:
        for attribute in ("name", "target_id"):
            seen: set[str] = set()
            for target in self.targets:
                value = getattr(target, attribute)
                if value in seen:
                    raise ValueError(f"two targets have the same {attribute.replace('_', ' ')} {value!r}")
                seen.add(value)
        return self

    def find(self, target_id: str) -> TargetPolicy | None:
        return next((t for t in self.targets if t.target_id == target_id), None)

    def by_name(self, name: str) -> TargetPolicy | None:
        return next((t for t in self.targets if t.name == name), None)


class PolicyError(ValueError):
    """A policy document that does not validate; `problems` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__(problems_text(problems))


_DEFAULT_BLOCKS: dict[str, type[BaseModel]] = {
    "slo": LatencySLO,
    "capacity": CapacityLimits,
    "scale_out": ScaleOutRule,
    "scale_in": ScaleInRule,
    "signals": SageMakerSignals,
    "warm_up": WarmUp,
    "workflow": WorkflowSettings,
    "bedrock": BedrockSettings,
}


def _problems(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[int | str, ...] = ()
) -> list[tuple[str, str]]:
    return validation_problems(
        exc, prefix, whole="(document)", branches=TargetKind.__members__.values(), model=model
    )


def parse_policy_document(raw: Any) -> PolicyDocument:
    """Validate a decoded policy document; raises PolicyError naming every problem with its path.

    A bad value in `defaults` is reported once, at `defaults.<key>`, not again under every target.
    """
    try:
        return _parse(raw)
    except RecursionError:
        raise PolicyError([("(document)", "nested too deeply to be a policy document")]) from None


NO_TARGETS = "the document names no target, so it manages nothing: list at least one"


def parse_written_document(raw: Any) -> PolicyDocument:
    """Validate a policy document as a team writes and publishes it (`parse_policy_document`), which must name at
    least one target; raises PolicyError naming every problem with its path.

    Only the document as written is held to that: the effective one, with the targets the stack adds
    (ManagedEndpoints, management tags), may well be empty, before anything is named or tagged.
    """
    document = parse_policy_document(raw)
    if not document.targets:
        raise PolicyError([("targets", NO_TARGETS)])
    return document


# Beyond this an integer is not exact as a JSON number everywhere, nor does any figure of a policy need it.
_LARGEST = 2**53


def _out_of_range(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Numbers no policy figure can be: integers beyond ±2^53, NaN and infinities (which Python's JSON reader
    accepts), with where they are."""
    if isinstance(value, dict):
        return [
            p
            for key, item in value.items()
            for p in _out_of_range(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _out_of_range(item, f"{path}[{i}]")]
    if isinstance(value, bool):
        return []
    if isinstance(value, int) and abs(value) > _LARGEST:
        bits = value.bit_length()  # (not its digits: str() of an integer past 4,300 digits raises)
        return [
            (
                path or "(document)",
                f"an integer of {bits} bits is beyond the range of a policy figure (±2^53)",
            )
        ]
    if isinstance(value, float) and not math.isfinite(value):
        return [(path or "(document)", f"{value} is not a finite number")]
    return []


def _parse(raw: Any) -> PolicyDocument:
    problems: list[tuple[str, str]] = _out_of_range(raw)
    if problems:
        raise PolicyError(problems)
    if isinstance(raw, dict) and isinstance(raw.get("defaults"), dict):
        defaults = dict(raw["defaults"])
        for key in sorted(set(defaults) - set(_DEFAULTABLE)):
            problems.append((f"defaults.{key}", unknown_name("field", key, sorted(_DEFAULTABLE))))
            del defaults[key]
        for key, block in _DEFAULT_BLOCKS.items():
            if key in defaults:
                try:
                    block.model_validate(defaults[key])
                except ValidationError as exc:
                    problems += _problems(exc, block, ("defaults", key))
                    del defaults[key]
        raw = {**raw, "defaults": defaults}
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        found = _problems(exc, PolicyDocument)
        # A target without its AWS name also lacks the display name derived from it: say it once.
        missing_at: dict[str, int] = {}
        for path, message in found:
            if message == "Field required":
                parent = path.rsplit(".", 1)[0]
                missing_at[parent] = missing_at.get(parent, 0) + 1
        problems += [
            (path, message)
            for path, message in found
            if not (path.endswith(".name") and message == "Field required" and missing_at[path[:-5]] > 1)
        ]
    else:
        if not problems:
            return document
    raise PolicyError(problems)
