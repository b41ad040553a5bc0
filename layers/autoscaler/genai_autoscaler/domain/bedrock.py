"""Bedrock's response ladder: where a model's callers send their traffic, how Provisioned Throughput is sized,
and when the traffic goes back to on-demand. Pure; `decision.bedrock_routing` puts its choices in Plans.

A Bedrock on-demand model has no capacity to add. When it throttles or slows down, the traffic moves up the
policy's ladder: to a cross-region inference profile (no spend, a larger quota), then to Provisioned Throughput
(model units, bought within the policy's maximum, the account's quota and the hourly budget). When every signal
has stayed OK for the hold period and demand fits the on-demand quota with margin, it comes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.domain.policy import BedrockModelPolicy, ProvisionedThroughputSettings


class RouteKind(StrEnum):
    ON_DEMAND = "on_demand"
    PROFILE = "profile"
    PROVISIONED = "provisioned"


RUNG_OF_ROUTE = {RouteKind.PROFILE: "cross_region_profile", RouteKind.PROVISIONED: "provisioned_throughput"}


class BedrockRoute(BaseModel):
    """Where the model's callers are sent now (part of the target's remembered state)."""

    model_config = ConfigDict(frozen=True)

    kind: RouteKind
    model: str  # what callers pass as modelId: the model ID, the profile ID, or the provisioned model's ARN
    since: datetime
    provisioned_model_arn: str | None = None
    model_units: int | None = None
    commitment: str | None = None
    hourly_cost_usd: float = 0.0
    created_by_controller: bool = False


def on_demand(policy: BedrockModelPolicy, since: datetime) -> BedrockRoute:
    return BedrockRoute(kind=RouteKind.ON_DEMAND, model=policy.model_id, since=since)


def bought(
    arn: str, since: datetime, model_units: int | None, commitment: str | None, hourly_cost_usd: float | None
) -> BedrockRoute:
    """Callers on Provisioned Throughput the controller bought (`arn` is what they pass as modelId)."""
    return BedrockRoute(
        kind=RouteKind.PROVISIONED,
        model=arn,
        since=since,
        provisioned_model_arn=arn,
        model_units=model_units,
        commitment=commitment or "none",
        hourly_cost_usd=hourly_cost_usd or 0.0,
        created_by_controller=True,
    )


@dataclass(frozen=True)
class BedrockDemand:
    """What the model was asked for lately, from CloudWatch and Service Quotas; None where unknown."""

    # InputTokenCount + burndown x OutputTokenCount (the quota tokens they use), the busiest recent minute
    tokens_per_minute: float | None = None
    throttled_per_minute: float | None = None  # InvocationThrottles in that minute
    tokens_per_invocation: float | None = None  # tokens per served invocation, to price what was throttled
    on_demand_quota_tpm: int | None = None  # the model's tokens-per-minute quota (Service Quotas or policy)
    model_units_available: int | None = None  # the account's granted model units not yet in use

    @property
    def estimated_tokens_per_minute(self) -> float | None:
        """Demand including an estimate of what was throttled (throttled requests x tokens per request)."""
        if self.tokens_per_minute is None:
            return None
        throttled = (self.throttled_per_minute or 0.0) * (self.tokens_per_invocation or 0.0)
        return self.tokens_per_minute + throttled


@dataclass(frozen=True)
class ProvisionedSizing:
    """Model units for the demand, and what bounds them; `units` 0 means none may be bought."""

    units: int
    wanted: int | None
    hourly_cost_usd: float
    limits: tuple[str, ...]

    @property
    def explanation(self) -> str:
        wanted = "demand unknown" if self.wanted is None else f"demand needs {self.wanted}"
        bounds = f" (limited by {', '.join(self.limits)})" if self.limits else ""
        return f"{wanted}; {self.units} model unit{'s' if self.units != 1 else ''}{bounds}"


def purchase_caps(
    policy: BedrockModelPolicy, settings: ProvisionedThroughputSettings, units_available: int | None = None
) -> list[tuple[int, str]]:
    """The most model units one purchase may have, by what bounds it: the policy's max_model_units, its hourly
    budget at the unit price, and the account's units not yet in use where they are known."""
    caps = [(policy.bedrock.max_model_units, "the policy's max_model_units")]
    if units_available is not None:
        caps.append((units_available, "the account's available model units"))
    affordable = math.floor(policy.bedrock.hourly_budget_usd / settings.hourly_price_per_unit_usd + 1e-9)
    caps.append((affordable, f"the hourly budget of ${policy.bedrock.hourly_budget_usd:g}"))
    return caps


def size_provisioned_throughput(policy: BedrockModelPolicy, demand: BedrockDemand) -> ProvisionedSizing:
    """Model units from the observed demand and the policy's tokens per unit, never above the policy's maximum,
    the account's available units or the hourly budget. Without settings or figures, none."""
    settings = policy.bedrock.provisioned_throughput
    if settings is None:
        return ProvisionedSizing(0, None, 0.0, ("no provisioned_throughput settings in the policy",))
    estimated = demand.estimated_tokens_per_minute
    if estimated is None:
        return ProvisionedSizing(0, None, 0.0, ("no token figures to size by",))
    wanted = max(1, math.ceil(estimated / settings.tokens_per_minute_per_unit - 1e-9))
    units, limits = wanted, list[str]()
    for cap, name in purchase_caps(policy, settings, demand.model_units_available):
        if cap < units:
            units, limits = cap, [*limits, name]
    units = max(0, units)
    return ProvisionedSizing(units, wanted, units * settings.hourly_price_per_unit_usd, tuple(limits))


@dataclass(frozen=True)
class RoutingChoice:
    """What the ladder says: an action name of `Action`, and its figures."""

    action: str
    reason: str
    route_to: str | None = None
    model_units: int | None = None
    hourly_cost_usd: float | None = None
    commitment: str | None = None
    needs_approval: bool = False


def _seconds(delta: timedelta) -> str:
    return f"{max(0, math.ceil(delta.total_seconds()))} s"


def climb(
    policy: BedrockModelPolicy,
    route: BedrockRoute,
    demand: BedrockDemand,
    last_shift_at: datetime | None,
    now: datetime,
) -> RoutingChoice:
    """The next rung above `route` that the policy gives the means for; notify-only when there is none."""
    settings = policy.bedrock
    if last_shift_at is not None and now - last_shift_at < timedelta(seconds=settings.cooldown_seconds):
        ready = last_shift_at + timedelta(seconds=settings.cooldown_seconds)
        return RoutingChoice("ignore", f"the routing cooldown has {_seconds(ready - now)} left")
    current = RUNG_OF_ROUTE.get(route.kind)
    rungs = list(settings.ladder)
    above = rungs[rungs.index(current) + 1 :] if current in rungs else rungs
    skipped: list[str] = []
    for rung in above:
        if rung == "cross_region_profile":
            if settings.cross_region_profile is None:
                skipped.append("no cross-region profile is named")
                continue
            return RoutingChoice(
                "shift_to_profile",
                f"send callers to the cross-region inference profile {settings.cross_region_profile} "
                "(no added spend, a larger quota)",
                route_to=settings.cross_region_profile,
                hourly_cost_usd=0.0,
            )
        sizing = size_provisioned_throughput(policy, demand)
        if sizing.units < 1:
            skipped.append(f"no Provisioned Throughput may be bought: {sizing.explanation}")
            continue
        pt = settings.provisioned_throughput
        assert pt is not None  # size_provisioned_throughput gives no units without settings
        committed = pt.commitment != "none"
        return RoutingChoice(
            "shift_to_provisioned",
            f"buy Provisioned Throughput ({sizing.explanation}, ${sizing.hourly_cost_usd:,.2f}/h"
            + (
                f", a {pt.commitment} commitment: only once a person approves"
                if committed
                else ", no commitment"
            )
            + ") and send callers to it once it is InService",
            model_units=sizing.units,
            hourly_cost_usd=sizing.hourly_cost_usd,
            commitment=pt.commitment,
            needs_approval=committed,
        )
    at = "on-demand" if route.kind is RouteKind.ON_DEMAND else f"on {route.kind.value} ({route.model})"
    why = "; ".join(skipped) if skipped else "it is at the top of its ladder"
    return RoutingChoice("notify_only", f"traffic stays {at}: {why}")


def descend(
    policy: BedrockModelPolicy,
    route: BedrockRoute,
    demand: BedrockDemand,
    ok_since: datetime,
    last_shift_at: datetime | None,
    now: datetime,
) -> RoutingChoice:
    """Whether every signal has been OK long enough, and demand fits on-demand with margin, to route back."""
    settings = policy.bedrock
    if route.kind is RouteKind.ON_DEMAND:
        return RoutingChoice("ignore", "traffic is on-demand")
    calm_since = max(ok_since, route.since)
    hold = timedelta(seconds=settings.hold_seconds)
    if now - calm_since < hold:
        return RoutingChoice(
            "ignore", f"the hold on {route.kind.value} has {_seconds(calm_since + hold - now)} left"
        )
    if last_shift_at is not None and now - last_shift_at < timedelta(seconds=settings.cooldown_seconds):
        ready = last_shift_at + timedelta(seconds=settings.cooldown_seconds)
        return RoutingChoice("ignore", f"the routing cooldown has {_seconds(ready - now)} left")
    quota = demand.on_demand_quota_tpm or settings.tokens_per_minute_quota
    estimated = demand.estimated_tokens_per_minute
    if quota is None or estimated is None:
        return RoutingChoice(
            "ignore", "no token figures or on-demand quota to tell whether demand fits on-demand: staying"
        )
    limit = quota * settings.revert_below_quota
    if estimated > limit:
        return RoutingChoice(
            "ignore",
            f"demand {estimated:,.0f} tokens/min is above {settings.revert_below_quota:.0%} of the on-demand "
            f"quota ({quota:,}): staying on {route.kind.value}",
        )
    tail = ""
    if route.kind is RouteKind.PROVISIONED:
        if route.commitment not in (None, "none"):
            tail = "; the committed Provisioned Throughput is kept until its term ends (never deleted early)"
        elif route.created_by_controller:
            tail = "; its no-commitment Provisioned Throughput is deleted once in-flight traffic has drained"
    return RoutingChoice(
        "revert_routing",
        f"demand {estimated:,.0f} tokens/min fits the on-demand quota ({quota:,}) with margin: route callers "
        f"back to {policy.model_id}{tail}",
        route_to=policy.model_id,
        hourly_cost_usd=0.0,
    )
