"""What Bedrock does to one request, as the simulator models it: quotas as token buckets, throttling, the SDK's
retries, latency, and Provisioned Throughput.

Every figure is a field of `BedrockModel`, with its default and where that default comes from (the README's
"Simulating a Bedrock model" lists them); `simulate --bedrock-param NAME=VALUE` overrides any of them.

- **Quotas.** Each destination a caller can name (the model on-demand, its geographic cross-region profile, its
  global profile) has its own tokens-per-minute (TPM) and requests-per-minute (RPM) quota, each a token bucket
  refilled continuously at quota/60 per second and holding at most one minute's worth. A request reserves
  `input + burndown x max_tokens` tokens and one request when it starts (the Bedrock user guide's "How tokens
  are counted"); when it ends, what it did not use, `burndown x (max_tokens - output)`, goes back into the bucket.
  A request that finds either bucket short is refused at once: a ThrottlingException, which takes nothing.
- **Retries.** The caller's SDK retries a throttled request as botocore does (`RetryPolicy`); one that runs out
  of attempts fails, throttled.
- **Latency.** Time to first token (a fixed part and a part per input token, plus a profile's extra) and the
  output at a steady number of tokens per second, faster at the Priority tier. Load does not slow Bedrock down
  here: beyond its quota it throttles.
- **Provisioned Throughput** is a bucket of `units x tokens_per_minute_per_unit` per minute, with the same
  reservation and the same refusal when it runs short (no requests-per-minute quota), from the moment it is
  InService; it bills per unit-hour from its purchase to its deletion.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.provisioned import ASSUMED_PROVISIONING_SECONDS
from pydantic import BaseModel, ConfigDict, Field


class RetryMode(StrEnum):
    """botocore's retry modes that the simulator follows (`retry_mode` in the SDK's configuration)."""

    STANDARD = "standard"
    LEGACY = "legacy"
    NONE = "none"  # the caller does not retry (max_attempts 1)


# botocore 1.43's defaults: retries/standard.py DEFAULT_MAX_ATTEMPTS; data/_retry.json __default__ max_attempts.
DEFAULT_ATTEMPTS = {RetryMode.STANDARD: 3, RetryMode.LEGACY: 5, RetryMode.NONE: 1}


class BedrockModel(BaseModel):
    """How Bedrock serves one model's requests. Defaults: Anthropic Claude 3.5 Sonnet, the example policy's
    model; the quota's own figure is the policy's `tokens_per_minute_quota` unless `on_demand_tpm` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_demand_tpm: int | None = Field(
        None,
        gt=0,
        description="The model's on-demand tokens-per-minute quota (default: the policy's "
        "tokens_per_minute_quota, what the controller itself believes).",
    )
    on_demand_rpm: int | None = Field(
        None,
        gt=0,
        description="The model's on-demand requests-per-minute quota; default: the policy's "
        "requests_per_minute_quota, else DEFAULT_RPM (50: Claude 3.5 Sonnet on the Bedrock quotas page, 2024, "
        "beside its 400,000 tokens per minute).",
    )
    profile_quota_factor: float = Field(
        2.0,
        gt=0,
        description="The geographic cross-region profile's quotas as a multiple of the on-demand ones: cross-"
        "Region inference 'can reach up to double the allocated quotas' (Bedrock user guide, cross-Region "
        "inference).",
    )
    global_quota_factor: float = Field(
        4.0,
        gt=0,
        description="The global profile's quotas as a multiple of the on-demand ones (assumed: AWS says only "
        "'highest available').",
    )
    profile_tpm: int | None = Field(None, gt=0, description="The geographic profile's TPM (default: factor).")
    profile_rpm: int | None = Field(None, gt=0, description="The geographic profile's RPM (default: factor).")
    global_tpm: int | None = Field(None, gt=0, description="The global profile's TPM (default: factor).")
    global_rpm: int | None = Field(None, gt=0, description="The global profile's RPM (default: factor).")
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="The max_tokens callers send (the reservation). Default: the policy's bedrock.max_tokens where "
        "it states one, else 4,096, Claude 3.5 Sonnet's largest output, which Converse reserves when the caller "
        "sets none (botocore's bedrock-runtime model, maxTokens). A request whose output is longer had asked for "
        "at least that.",
    )
    max_tokens_factor: float = Field(
        0.0,
        ge=0,
        description="When above 0: each request's max_tokens is this multiple of its own output instead "
        "(callers who size max_tokens to the answer they expect).",
    )
    ttft_s: float = Field(0.5, ge=0, description="Time to first token of a short prompt (assumed).")
    prefill_s_per_1k_tokens: float = Field(
        0.1, ge=0, description="Added time to first token per 1,000 input tokens (assumed)."
    )
    output_tokens_per_s: float = Field(
        50.0, gt=0, description="Output tokens per second at the Standard tier (assumed)."
    )
    priority_speedup: float = Field(
        0.25,
        ge=0,
        description="The Priority tier's gain in output tokens per second: AWS quotes 'up to 25%' (service "
        "tiers); its time to first token is taken as Standard's.",
    )
    profile_extra_latency_s: float = Field(
        0.0, ge=0, description="Added time to first token through the geographic profile (assumed none)."
    )
    global_extra_latency_s: float = Field(
        0.0, ge=0, description="Added time to first token through the global profile (assumed none)."
    )
    throttle_response_s: float = Field(
        0.05, ge=0, description="How long a refused attempt takes to come back (assumed)."
    )
    retry_mode: RetryMode = Field(
        RetryMode.STANDARD,
        description="The callers' SDK retries: standard (botocore's recommended mode: 3 attempts, backoff "
        "random(0,1) x min(2^(attempt-1), 20 s)), legacy (botocore's default without configuration: 5 "
        "attempts, random(0,1) x 2^(attempt-1), no cap), or none.",
    )
    max_attempts: int | None = Field(
        None, ge=1, le=20, description="Attempts per request, the first included (default: the mode's)."
    )
    max_backoff_s: float = Field(
        20.0, gt=0, description="Standard mode's cap on one backoff (botocore's _MAX_BACKOFF)."
    )
    pt_provisioning_s: float = Field(
        ASSUMED_PROVISIONING_SECONDS,
        ge=0,
        description="From a Provisioned Throughput purchase to InService (AWS does not document it: assumed, "
        "as the controller assumes it until it has timed one).",
    )
    route_delay_s: float = Field(
        15,
        ge=0,
        description="From a route's publication until callers use it: half the route client's 30 s cache "
        "(clients/python: callers refresh at random moments within it).",
    )
    metrics_model_id: Literal["model", "called"] = Field(
        "model",
        description="Under which ModelId a call through a profile or Provisioned Throughput is counted: "
        "'model', the base model's own (what the controller's alarms and demand assume), or 'called', the ID "
        "the caller passed (the profile's ID, the PT's ARN), when only calls of the model ID count under it.",
    )
    quota_usage_metric: bool = Field(
        False,
        description="Bedrock publishes EstimatedTPMQuotaUsage for the model (its token-quota alarm then "
        "watches it).",
    )
    visibility_delay_s: float = Field(
        30, ge=0, description="A minute's datapoint can be read this long after the minute ends (assumed)."
    )

    @property
    def attempts(self) -> int:
        return self.max_attempts if self.max_attempts is not None else DEFAULT_ATTEMPTS[self.retry_mode]


@dataclass(frozen=True)
class Quota:
    tokens_per_minute: float
    requests_per_minute: float | None  # None: no requests-per-minute quota (Provisioned Throughput)


@dataclass(frozen=True)
class Quotas:
    """The quotas of the destinations a policy names (None where it names none)."""

    on_demand: Quota
    profile: Quota | None
    global_profile: Quota | None


def quotas(model: BedrockModel, policy: BedrockModelPolicy) -> Quotas:
    """The destinations' quotas, from `model` (an explicit figure), else the policy's (the quotas it states),
    else `model`'s factors of the on-demand ones. Raises ValueError without an on-demand TPM."""
    tpm = model.on_demand_tpm or policy.bedrock.tokens_per_minute_quota
    if tpm is None:
        raise ValueError(
            f"{policy.name} states no on-demand tokens-per-minute quota: set bedrock.tokens_per_minute_quota "
            "in its policy, or --bedrock-param on_demand_tpm=N"
        )
    rpm = model.on_demand_rpm or policy.bedrock.requests_per_minute_quota or DEFAULT_RPM

    def scaled(tokens: int | None, requests: int | None, factor: float) -> Quota:
        return Quota(float(tokens or tpm * factor), float(requests or rpm * factor))

    settings = policy.bedrock
    return Quotas(
        on_demand=Quota(float(tpm), float(rpm)),
        profile=None
        if settings.cross_region_profile is None
        else scaled(
            model.profile_tpm or settings.profile_tokens_per_minute_quota,
            model.profile_rpm,
            model.profile_quota_factor,
        ),
        global_profile=None
        if settings.global_profile is None
        else scaled(
            model.global_tpm or settings.global_profile_tokens_per_minute_quota,
            model.global_rpm,
            model.global_quota_factor,
        ),
    )


class TokenBucket:
    """A quota per minute, refilled continuously (quota/60 per second) up to one minute's worth."""

    __slots__ = ("at", "capacity", "level", "rate")

    def __init__(self, per_minute: float, start: float = 0.0) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute  # full: the quota has not been used
        self.at = start

    def refill(self, now: float) -> None:
        if now > self.at:
            self.level = min(self.capacity, self.level + self.rate * (now - self.at))
            self.at = now

    def give(self, amount: float, now: float) -> None:
        """Put back what a finished request did not use (never beyond one minute's worth)."""
        self.refill(now)
        self.level = min(self.capacity, self.level + amount)


class Kind(StrEnum):
    ON_DEMAND = "on_demand"
    PROFILE = "profile"
    GLOBAL_PROFILE = "global_profile"
    PROVISIONED = "provisioned"


@dataclass(eq=False)
class Destination:
    """Somewhere a caller can send a request: its buckets, the reservations of the requests it runs, and
    whether its calls are counted under the model's own ModelId (the metrics the controller reads)."""

    kind: Kind
    model_id: str  # what callers pass as modelId
    tokens: TokenBucket
    requests: TokenBucket | None
    extra_latency_s: float = 0.0
    counted: bool = True
    # (end, tokens to give back) of the requests it runs
    pending: list[tuple[float, float]] = field(default_factory=list)

    def admit(self, now: float, reserve: float) -> bool:
        """Whether an attempt at `now` that reserves `reserve` tokens is taken; if so, its reservation is made."""
        pending, tokens = self.pending, self.tokens
        while pending and pending[0][0] <= now:
            end, refund = heapq.heappop(pending)
            tokens.give(refund, end)
        tokens.refill(now)
        if tokens.level < reserve:
            return False
        requests = self.requests
        if requests is not None:
            requests.refill(now)
            if requests.level < 1.0:
                return False
            requests.level -= 1.0
        tokens.level -= reserve
        return True

    def finish(self, end: float, refund: float) -> None:
        """A request admitted here ends at `end`, and gives back `refund` tokens then."""
        if refund > 0:
            heapq.heappush(self.pending, (end, refund))


def destination(
    kind: Kind, model_id: str, quota: Quota, start: float, extra_latency_s: float, counted: bool
) -> Destination:
    requests = None if quota.requests_per_minute is None else TokenBucket(quota.requests_per_minute, start)
    return Destination(
        kind, model_id, TokenBucket(quota.tokens_per_minute, start), requests, extra_latency_s, counted
    )


class RetryPolicy:
    """botocore's backoff for a throttled attempt, from its 1-based number (the attempt that was throttled):

    - standard (retries/standard.py, ExponentialBackoff): random(0, 1) x min(2^(attempt-1), max_backoff);
    - legacy (retryhandler.py, delay_exponential with _retry.json's base 'rand' and growth factor 2):
      random(0, 1) x 2^(attempt-1).

    Standard mode's retry quota (500 per client, 5 per throttled retry) is not modelled: it is per client
    instance, and a model's callers are many processes. Nor are `adaptive` mode's client-side rate limiter
    and the x-amz-retry-after header."""

    def __init__(self, model: BedrockModel, seed: int, uniform: Sequence[float] | None = None) -> None:
        """`uniform`: the random(0, 1) draws to use in turn (default: 4,096 drawn from `seed`)."""
        self.mode, self.attempts, self.cap = model.retry_mode, model.attempts, model.max_backoff_s
        draws = np.random.default_rng(seed).random(4096).tolist() if uniform is None else list(uniform)
        if not draws:
            raise ValueError("a retry policy needs at least one random draw")
        self._uniform: list[float] = draws
        self._next = 0

    def backoff(self, attempt: int) -> float:
        """The wait after the throttled `attempt` (1-based) before the next one."""
        draw = self._uniform[self._next]
        self._next = (self._next + 1) % len(self._uniform)
        scale = 2.0 ** (attempt - 1)
        return draw * (scale if self.mode is RetryMode.LEGACY else min(scale, self.cap))


DEFAULT_MAX_TOKENS = 4096
DEFAULT_RPM = 50  # Claude 3.5 Sonnet's on-demand requests per minute on the Bedrock quotas page (2024)


def callers_max_tokens(model: BedrockModel, policy: BedrockModelPolicy) -> int:
    """The max_tokens callers send: the model's figure, else the policy's, else DEFAULT_MAX_TOKENS."""
    return model.max_tokens or policy.bedrock.max_tokens or DEFAULT_MAX_TOKENS


def max_tokens_of(model: BedrockModel, policy: BedrockModelPolicy, outputs: np.ndarray) -> np.ndarray:
    """Each request's max_tokens: the callers' figure (or `max_tokens_factor` times the output), never below the
    output."""
    out = outputs.astype(np.int64)
    if model.max_tokens_factor > 0:
        asked = np.ceil(model.max_tokens_factor * out).astype(np.int64)
    else:
        asked = np.full(out.size, callers_max_tokens(model, policy), dtype=np.int64)
    return np.maximum(np.maximum(asked, out), 1)


def unit_hours_cost(units: int, hours: float, hourly_price_per_unit_usd: float) -> float:
    return units * hours * hourly_price_per_unit_usd


def units_for(tokens_per_minute: float, tokens_per_minute_per_unit: int) -> int:
    """The least model units whose throughput holds `tokens_per_minute`."""
    return max(0, math.ceil(tokens_per_minute / tokens_per_minute_per_unit - 1e-9))
