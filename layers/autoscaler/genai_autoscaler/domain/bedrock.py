"""Bedrock's response ladder: where a model's callers send their traffic, how Provisioned Throughput is sized,
and when the traffic goes back to on-demand. Pure; `decision.bedrock_routing` puts its choices in Plans.

A Bedrock on-demand model has no capacity to add. When it throttles or slows down, the traffic moves up the
policy's ladder, rung by rung in the policy's order: a geographic cross-region inference profile (no spend, a
larger quota), a global one (the same, where the policy lets data leave the geography), the Priority service
tier (the same model and quota served ahead of Standard, at a premium per token: for latency alarms only, since
it relieves no quota), Provisioned Throughput (model units, bought within the policy's maximum, the account's
quota and the hourly budget). When every signal has stayed OK for the hold period and demand fits the on-demand
quota with margin, it comes back to the model itself at the Standard tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    BedrockSettings,
    PriorityTier,
    ProvisionedThroughputSettings,
    is_global_profile,
)
from genai_autoscaler.domain.signals import Signal


class RouteKind(StrEnum):
    ON_DEMAND = "on_demand"
    PROFILE = "profile"  # a geographic cross-region inference profile
    GLOBAL_PROFILE = "global_profile"
    PROVISIONED = "provisioned"


class ServiceTier(StrEnum):
    """The service tiers the controller sends callers to (botocore's ServiceTierType; `flex` and `reserved`
    are the team's own choices, never the controller's)."""

    DEFAULT = "default"  # Standard
    PRIORITY = "priority"


# Alarms a Priority tier answers: it serves sooner, on the same on-demand quota as Standard.
LATENCY_SIGNALS = frozenset({Signal.LATENCY_P95, Signal.TTFT_P95})
_RUNG_OF_KIND = {
    RouteKind.PROFILE: "cross_region_profile",
    RouteKind.GLOBAL_PROFILE: "global_profile",
    RouteKind.PROVISIONED: "provisioned_throughput",
}


def profile_kind(profile_id: str) -> RouteKind:
    """The route kind of sending callers to the inference profile `profile_id`."""
    return RouteKind.GLOBAL_PROFILE if is_global_profile(profile_id) else RouteKind.PROFILE


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
    service_tier: ServiceTier = ServiceTier.DEFAULT  # what callers pass as serviceTier
    # Where callers go next, in order, when the route's destination throttles them (the route client's converse
    # and invoke_model): the other free quotas the policy allows.
    overflow: tuple[str, ...] = ()

    @property
    def rung(self) -> str | None:
        """The ladder's rung this route is on; None on-demand at the Standard tier."""
        if self.service_tier is ServiceTier.PRIORITY:
            return "priority_tier"
        return _RUNG_OF_KIND.get(self.kind)

    @property
    def describe(self) -> str:
        tier = " at the Priority tier" if self.service_tier is ServiceTier.PRIORITY else ""
        where = "on-demand" if self.kind is RouteKind.ON_DEMAND else f"on {self.kind.value} ({self.model})"
        return where + tier


PROFILE_RUNGS = ("cross_region_profile", "global_profile")


def _profile_of(settings: BedrockSettings, rung: str) -> tuple[str | None, int | None]:
    """The profile a profile rung of the ladder sends callers to, and its quota as the policy states it."""
    if rung == "global_profile":
        return settings.global_profile, settings.global_profile_tokens_per_minute_quota
    return settings.cross_region_profile, settings.profile_tokens_per_minute_quota


def allowed_profiles(policy: BedrockModelPolicy) -> set[str]:
    """The inference profiles the policy lets callers be sent to now: those it names on its ladder, a global one
    only while data may leave the geography."""
    return {profile for profile, _ in _profiles_in_order(policy)}


def _profiles_in_order(policy: BedrockModelPolicy) -> list[tuple[str, int | None]]:
    """The profiles the policy allows now (see `allowed_profiles`), in the ladder's order, with the quota it
    states for each."""
    settings = policy.bedrock
    return [
        (profile, quota)
        for rung in settings.ladder
        if rung in PROFILE_RUNGS and (rung != "global_profile" or settings.data_may_leave_geography)
        for profile, quota in [_profile_of(settings, rung)]
        if profile
    ]


def disallowed(policy: BedrockModelPolicy, route: BedrockRoute) -> str | None:
    """Why the policy no longer lets callers stay where `route` sends them (a profile it no longer names or
    allows, the Priority tier it no longer offers); None when it does."""
    allowed = allowed_profiles(policy)
    if route.kind in (RouteKind.PROFILE, RouteKind.GLOBAL_PROFILE) and route.model not in allowed:
        return f"the policy no longer allows the profile {route.model}"
    stray = [i for i in route.overflow if i != policy.model_id and i not in allowed]
    if stray:
        return f"the policy no longer allows {', '.join(stray)}, which callers overflow to"
    if route.service_tier is ServiceTier.PRIORITY and not priority_offered(policy.bedrock):
        return "the policy no longer offers the Priority tier"
    return None


def priority_offered(settings: BedrockSettings) -> bool:
    """Whether the policy offers the Priority tier: a priority_tier rung on its ladder, with its settings."""
    return settings.priority_tier is not None and "priority_tier" in settings.ladder


def with_overflow(policy: BedrockModelPolicy, route: BedrockRoute) -> BedrockRoute:
    """`route` with where its callers go next when its destination throttles them: the profiles the policy
    allows, in the ladder's order, then the model itself (its on-demand quota). None on-demand (nothing cheaper
    to go to) or at the Priority tier (the overflow would be served at Standard speed), or with overflow off."""
    if (
        not policy.bedrock.overflow
        or route.kind is RouteKind.ON_DEMAND
        or route.service_tier is ServiceTier.PRIORITY
    ):
        return route.model_copy(update={"overflow": ()})
    profiles = [profile for profile, _ in _profiles_in_order(policy)]
    overflow = tuple(dict.fromkeys(i for i in (*profiles, policy.model_id) if i != route.model))
    return route.model_copy(update={"overflow": overflow})


def profile_quotas(policy: BedrockModelPolicy) -> list[tuple[str, int]]:
    """The profiles the policy allows whose tokens-per-minute quota it states, in the ladder's order."""
    return [(profile, quota) for profile, quota in _profiles_in_order(policy) if quota]


def _free_quota(policy: BedrockModelPolicy, on_demand_quota: int) -> int:
    """The quotas callers overflow to, per minute, in tokens: the model's and the profiles' the policy states."""
    return on_demand_quota + sum(quota for _, quota in profile_quotas(policy))


def free_tokens_per_minute(policy: BedrockModelPolicy, demand: BedrockDemand) -> float:
    """What the quotas callers overflow to carry, free of hourly charge, per minute: the model's on-demand quota
    and the profiles' quotas the policy states, each up to the token-quota alarm's share; 0 with overflow off."""
    settings = policy.bedrock
    if not settings.overflow:
        return 0.0
    quota = demand.on_demand_quota_tpm or settings.tokens_per_minute_quota or 0
    return float(_free_quota(policy, quota) * settings.token_quota_alarm_share)


def caller_model_ids(policy: BedrockModelPolicy, route: BedrockRoute | None) -> list[str]:
    """Every ID the model's callers may be calling now: the model's, the profiles the policy names, and the route's
    (a Provisioned Throughput ARN). Bedrock publishes a call's metrics under the ID it was made with."""
    settings = policy.bedrock
    ids = [policy.model_id, settings.cross_region_profile, settings.global_profile]
    if route is not None:
        ids.append(route.model)
    return list(dict.fromkeys(i for i in ids if i))


def on_demand(policy: BedrockModelPolicy, since: datetime) -> BedrockRoute:
    return BedrockRoute(kind=RouteKind.ON_DEMAND, model=policy.model_id, since=since)


def on_profile(profile: str, since: datetime) -> BedrockRoute:
    """Callers on an inference profile (geographic or global, as its ID says)."""
    return BedrockRoute(kind=profile_kind(profile), model=profile, since=since)


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


def quota_tokens(settings: BedrockSettings, tokens_in: float, tokens_out: float, invocations: float) -> float:
    """A minute's use of the tokens-per-minute quota from its token counts: input + burndown x output, the output
    at least max_tokens per invocation where the policy gives it (the quota reserves max_tokens as a request
    starts); the same sum as the token-quota alarm's metric math."""
    reserved = settings.max_tokens * invocations if settings.max_tokens is not None else 0.0
    return tokens_in + settings.output_token_burndown * max(tokens_out, reserved)


@dataclass(frozen=True)
class BedrockDemand:
    """What the model was asked for lately, from CloudWatch and Service Quotas; None where unknown."""

    # InputTokenCount + burndown x OutputTokenCount (the quota tokens they use), the busiest recent minute
    tokens_per_minute: float | None = None
    throttled_per_minute: float | None = None  # InvocationThrottles in that minute
    tokens_per_invocation: float | None = None  # tokens per served invocation, to price what was throttled
    on_demand_quota_tpm: int | None = None  # the model's tokens-per-minute quota (Service Quotas or policy)
    model_units_available: int | None = None  # the account's granted model units not yet in use
    invocations_per_minute: float | None = None  # Invocations in the busiest recent minute

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
    # With overflow, the free quotas carry what they can: the units carry the rest.
    beyond = estimated - free_tokens_per_minute(policy, demand)
    wanted = max(1, math.ceil(beyond / settings.tokens_per_minute_per_unit - 1e-9))
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
    service_tier: ServiceTier | None = None
    price_note: str | None = None  # what a per-token premium costs (the Priority tier)


def _seconds(delta: timedelta) -> str:
    return f"{max(0, math.ceil(delta.total_seconds()))} s"


def priority_price_note(tier: PriorityTier, demand: BedrockDemand) -> str:
    """What the Priority tier costs over Standard: the policy's premium, and per hour at the recent demand
    where Standard's token price is known."""
    note = f"Priority tier: Standard's token price + {tier.price_premium:.0%}"
    tokens = demand.tokens_per_minute
    if tier.standard_usd_per_million_tokens is not None and tokens is not None:
        extra = tokens * 60 / 1e6 * tier.standard_usd_per_million_tokens * tier.price_premium
        note += f", about ${extra:,.2f}/h more at the recent {tokens:,.0f} tokens/min"
    return note


def climb(
    policy: BedrockModelPolicy,
    route: BedrockRoute,
    demand: BedrockDemand,
    last_shift_at: datetime | None,
    now: datetime,
    alarming: frozenset[Signal] = frozenset(),
) -> RoutingChoice:
    """The next rung above `route` that the policy gives the means for, and that answers the `alarming`
    signals; notify-only when there is none."""
    settings = policy.bedrock
    # Growing the controller's own Provisioned Throughput, throttled since callers reached it, waits for no
    # cooldown: it only ever grows, and each minute of waiting is a minute of throttling.
    if route.kind is RouteKind.PROVISIONED and (demand.throttled_per_minute or 0.0) > 0:
        larger = _larger_provisioned(policy, route, demand)
        if larger is not None:
            return larger
    if last_shift_at is not None and now - last_shift_at < timedelta(seconds=settings.cooldown_seconds):
        ready = last_shift_at + timedelta(seconds=settings.cooldown_seconds)
        return RoutingChoice("ignore", f"the routing cooldown has {_seconds(ready - now)} left")
    rungs = list(settings.ladder)
    current = route.rung
    above = rungs[rungs.index(current) + 1 :] if current in rungs else rungs
    skipped: list[str] = []
    for rung in above:
        if rung in PROFILE_RUNGS:
            profile, _ = _profile_of(settings, rung)
            if profile is None:
                skipped.append(
                    f"no {'global' if rung == 'global_profile' else 'cross-region'} profile is named"
                )
                continue
            where = "any commercial Region" if rung == "global_profile" else "the geography"
            beyond = _beyond_the_free_quotas(policy, route, demand, profile)
            if beyond is not None:
                return beyond
            return RoutingChoice(
                "shift_to_profile",
                f"send callers to the {'global' if rung == 'global_profile' else 'cross-region'} inference "
                f"profile {profile} (served within {where}; no added spend, a larger quota)",
                route_to=profile,
                hourly_cost_usd=0.0,
                service_tier=ServiceTier.DEFAULT,
            )
        if rung == "priority_tier":
            problem = _priority_problem(settings.priority_tier, route, alarming)
            if problem:
                skipped.append(problem)
                continue
            assert settings.priority_tier is not None  # _priority_problem says so otherwise
            note = priority_price_note(settings.priority_tier, demand)
            return RoutingChoice(
                "shift_to_priority_tier",
                f"send callers' requests to {route.model} at the Priority service tier (served ahead of "
                f"Standard, on the same quota; {note})",
                route_to=route.model,
                service_tier=ServiceTier.PRIORITY,
                price_note=note,
            )
        sizing = size_provisioned_throughput(policy, demand)
        if sizing.units < 1:
            skipped.append(f"no Provisioned Throughput may be bought: {sizing.explanation}")
            continue
        pt = settings.provisioned_throughput
        assert pt is not None  # size_provisioned_throughput gives no units without settings
        committed = pt.commitment != "none"
        return _purchase(
            sizing,
            pt,
            f"buy Provisioned Throughput ({sizing.explanation}, ${sizing.hourly_cost_usd:,.2f}/h"
            + (
                f", a {pt.commitment} commitment: only once a person approves"
                if committed
                else ", no commitment"
            )
            + ") and send callers to it once it is InService",
        )
    larger = _larger_provisioned(policy, route, demand)
    if larger is not None:
        return larger
    why = "; ".join(skipped) if skipped else "it is at the top of its ladder"
    return RoutingChoice("notify_only", f"traffic stays {route.describe}: {why}")


def _purchase(
    sizing: ProvisionedSizing, pt: ProvisionedThroughputSettings, reason: str, route_to: str | None = None
) -> RoutingChoice:
    """The ladder's choice to buy Provisioned Throughput of `sizing` on the policy's terms `pt` (a commitment
    only once a person approves; PT has no service tier), callers to `route_to` meanwhile when given."""
    return RoutingChoice(
        "shift_to_provisioned",
        reason,
        route_to=route_to,
        model_units=sizing.units,
        hourly_cost_usd=sizing.hourly_cost_usd,
        commitment=pt.commitment,
        needs_approval=pt.commitment != "none",
        service_tier=ServiceTier.DEFAULT,
    )


def _larger_provisioned(
    policy: BedrockModelPolicy, route: BedrockRoute, demand: BedrockDemand
) -> RoutingChoice | None:
    """On Provisioned Throughput the controller bought without commitment, still throttled: a larger one, to
    replace it (the routing workflow buys it, moves the callers once it is InService, then deletes the old one
    after the drain). None when the demand asks for no more units, or the policy allows no more."""
    pt = policy.bedrock.provisioned_throughput
    if (
        route.kind is not RouteKind.PROVISIONED
        or not route.created_by_controller
        or route.commitment not in (None, "none")
        or pt is None
        or pt.commitment != "none"
    ):
        return None
    sizing = size_provisioned_throughput(policy, demand)
    current = route.model_units or 0
    if sizing.units <= current:
        return None
    return _purchase(
        sizing,
        pt,
        f"replace its {current} model unit{'s' if current != 1 else ''} of Provisioned Throughput, still "
        f"throttled, with {sizing.explanation} (${sizing.hourly_cost_usd:,.2f}/h, no commitment); callers move "
        "once it is InService, and the old one is deleted after the drain",
    )


def _beyond_the_free_quotas(
    policy: BedrockModelPolicy, route: BedrockRoute, demand: BedrockDemand, profile: str
) -> RoutingChoice | None:
    """With overflow, and the profile's quota stated: when the demand measured is already beyond what the free
    quotas carry together, callers go to the profile now and Provisioned Throughput is bought at once for the
    rest (not one cooldown and one alarm later). None when they carry it, or nothing may be bought."""
    settings = policy.bedrock
    stated = dict(profile_quotas(policy))
    estimated = demand.estimated_tokens_per_minute
    if (
        not settings.overflow
        or profile not in stated
        or estimated is None
        or route.kind is RouteKind.PROVISIONED
    ):
        return None
    if "provisioned_throughput" not in settings.ladder or settings.provisioned_throughput is None:
        return None
    free = free_tokens_per_minute(policy, demand)
    if estimated <= free:
        return None
    sizing = size_provisioned_throughput(policy, demand)
    pt = settings.provisioned_throughput
    if sizing.units < 1 or pt.commitment != "none":
        return None
    return _purchase(
        sizing,
        pt,
        f"demand {estimated:,.0f} tokens/min is beyond what the free quotas carry ({free:,.0f}): send callers to "
        f"{profile} now, overflowing to the model, and buy Provisioned Throughput for the rest "
        f"({sizing.explanation}, ${sizing.hourly_cost_usd:,.2f}/h, no commitment), used first once it is InService",
        route_to=profile,
    )


def _priority_problem(
    tier: PriorityTier | None, route: BedrockRoute, alarming: frozenset[Signal]
) -> str | None:
    """Why the Priority tier is no answer now: no settings, a route without tiers, or an alarm it cannot
    relieve (a throttle or the token quota: Priority shares the on-demand quota)."""
    if tier is None:
        return "no priority_tier settings are given"
    if route.kind is RouteKind.PROVISIONED:
        return "Provisioned Throughput has no service tiers"
    quota_bound = sorted(signal.value for signal in alarming - LATENCY_SIGNALS)
    if quota_bound or not alarming:
        what = ", ".join(quota_bound) if quota_bound else "no latency alarm"
        return f"the Priority tier relieves latency only, not {what} (it shares the on-demand quota)"
    return None


def _step_down(
    policy: BedrockModelPolicy, route: BedrockRoute, estimated: float, quota: int
) -> RoutingChoice | None:
    """Off the Provisioned Throughput the controller bought without commitment, to the first profile the policy
    allows (overflowing to the model), when demand fits their quotas together with margin; None otherwise."""
    settings = policy.bedrock
    profiles = profile_quotas(policy)
    if (
        not settings.overflow
        or not profiles
        or route.kind is not RouteKind.PROVISIONED
        or not route.created_by_controller
        or route.commitment not in (None, "none")
    ):
        return None
    free = _free_quota(policy, quota)
    if estimated > free * settings.revert_below_quota:
        return None
    profile = profiles[0][0]
    return RoutingChoice(
        "shift_to_profile",
        f"demand {estimated:,.0f} tokens/min fits the free quotas ({free:,}: the model's and its profiles') with "
        f"margin: send callers to {profile} (overflowing to the model); the no-commitment Provisioned Throughput "
        "is deleted once in-flight traffic has drained",
        route_to=profile,
        hourly_cost_usd=0.0,
        service_tier=ServiceTier.DEFAULT,
    )


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
    if route.rung is None:
        return RoutingChoice("ignore", "traffic is on-demand")
    calm_since = max(ok_since, route.since)
    hold = timedelta(seconds=settings.hold_seconds)
    if now - calm_since < hold:
        on = "the Priority tier" if route.service_tier is ServiceTier.PRIORITY else route.kind.value
        return RoutingChoice("ignore", f"the hold on {on} has {_seconds(calm_since + hold - now)} left")
    if last_shift_at is not None and now - last_shift_at < timedelta(seconds=settings.cooldown_seconds):
        ready = last_shift_at + timedelta(seconds=settings.cooldown_seconds)
        return RoutingChoice("ignore", f"the routing cooldown has {_seconds(ready - now)} left")
    back = RoutingChoice(
        "revert_routing",
        "",
        route_to=policy.model_id,
        hourly_cost_usd=0.0,
        service_tier=ServiceTier.DEFAULT,
    )
    if route.kind is RouteKind.ON_DEMAND:  # the Priority tier, on the on-demand quota: no quota to fit into
        return replace(back, reason=f"send callers' requests to {policy.model_id} at the Standard tier again")
    quota = demand.on_demand_quota_tpm or settings.tokens_per_minute_quota
    estimated = demand.estimated_tokens_per_minute
    if quota is None or estimated is None:
        return RoutingChoice(
            "ignore", "no token figures or on-demand quota to tell whether demand fits on-demand: staying"
        )
    # The requests quota no alarm watches holds the way back, and the step down too: the profiles' requests
    # quotas are not in the policy, so they cannot be shown to carry the requests either.
    requests = (demand.invocations_per_minute or 0.0) + (demand.throttled_per_minute or 0.0)
    rpm = settings.requests_per_minute_quota
    if rpm is not None and requests > rpm * settings.revert_below_quota:
        return RoutingChoice(
            "ignore",
            f"{requests:,.0f} requests/min is above {settings.revert_below_quota:.0%} of the on-demand requests "
            f"quota ({rpm:,}): staying {route.describe}",
        )
    limit = quota * settings.revert_below_quota
    if estimated > limit:
        down = _step_down(policy, route, estimated, quota)
        if down is not None:
            return down
        return RoutingChoice(
            "ignore",
            f"demand {estimated:,.0f} tokens/min is above {settings.revert_below_quota:.0%} of the on-demand "
            f"quota ({quota:,}): staying {route.describe}",
        )
    tail = ""
    if route.kind is RouteKind.PROVISIONED:
        if route.commitment not in (None, "none"):
            tail = "; the committed Provisioned Throughput is kept until its term ends (never deleted early)"
        elif route.created_by_controller:
            tail = "; its no-commitment Provisioned Throughput is deleted once in-flight traffic has drained"
    tier = " at the Standard tier" if route.service_tier is ServiceTier.PRIORITY else ""
    return replace(
        back,
        reason=f"demand {estimated:,.0f} tokens/min fits the on-demand quota ({quota:,}) with margin: route "
        f"callers back to {policy.model_id}{tier}{tail}",
    )
