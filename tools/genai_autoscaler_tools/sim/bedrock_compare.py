"""Compare Bedrock routing policies on one trace: each of POLICIES set up for the model and the trace, and replayed
on the same requests.

- `controller`: GenAI Autoscaler's ladder, its own code (`bedrock_policies.BedrockControllerPolicy`);
- `on_demand_only`: callers call the model, whatever happens;
- `static_pt`: Provisioned Throughput sized for the trace's busiest minute (its quota tokens by arrival over the
  tokens per minute of one unit), bought before the start and kept;
- `oracle`: the cheapest mix that throttles nothing, with perfect foresight (`oracle_plan`).

On-demand and profile quotas cost nothing beyond the tokens' own prices, which every policy pays alike (the
global profile's lower token price is not counted); Provisioned Throughput costs its unit-hours, the Priority tier
its premium where the policy prices it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from genai_autoscaler.domain.policy import BedrockModelPolicy

from genai_autoscaler_tools.sim.bedrock_policies import (
    BedrockControllerPolicy,
    OnDemandOnly,
    OraclePolicy,
    StaticProvisioned,
)
from genai_autoscaler_tools.sim.bedrock_replay import (
    FAILED,
    BedrockConfig,
    BedrockRequests,
    BedrockResult,
    BedrockWorld,
    RequestEngine,
    Route,
    RoutingPolicy,
    replay,
)
from genai_autoscaler_tools.sim.bedrock_service import (
    BedrockModel,
    Kind,
    Quota,
    Quotas,
    RetryMode,
    destination,
    max_tokens_of,
    quotas,
    units_for,
)

POLICIES = ("controller", "on_demand_only", "static_pt", "oracle")
NEEDS_PROVISIONED = frozenset({"static_pt", "oracle"})
HOUR = 3600.0


@dataclass(frozen=True)
class BedrockDemand:
    """What a trace asks of the model: its busiest minute by arrival (quota tokens and requests), against the
    on-demand quotas, and the Provisioned Throughput the static baseline and the oracle buy."""

    peak_tokens_per_minute: float
    peak_requests_per_minute: int
    quotas: Quotas
    static_units: int | None  # None: the policy has no provisioned_throughput settings
    oracle_units: tuple[int, ...] | None


def _per_unit(target: BedrockModelPolicy) -> int:
    settings = target.bedrock.provisioned_throughput
    if settings is None:
        raise ValueError(
            f"{target.name} has no bedrock.provisioned_throughput settings (tokens per minute per unit, hourly "
            "price): static_pt and oracle need them"
        )
    return settings.tokens_per_minute_per_unit


def static_units(requests: BedrockRequests, target: BedrockModelPolicy) -> int:
    """Model units for the trace's busiest minute: its quota tokens over one unit's tokens per minute."""
    peak, _ = requests.busiest_minute(target.bedrock.output_token_burndown)
    return max(1, units_for(peak, _per_unit(target)))


class _FreeOnly(RoutingPolicy):
    """The oracle's router without Provisioned Throughput: what the free quotas take, and what they leave."""

    name = "free quotas"

    def attach(self, world: BedrockWorld) -> None:
        free = [d for d in (world.on_demand, world.profile, world.global_profile) if d is not None]
        self.fixed = Route(tuple(free))

    def route(self, now: float) -> Route:
        return self.fixed


@dataclass(frozen=True)
class Spill:
    """The requests the free quotas cannot take, as Provisioned Throughput would serve them."""

    arrivals: np.ndarray
    reserve: np.ndarray
    refund: np.ndarray
    ends: np.ndarray


def spill(
    requests: BedrockRequests, target: BedrockModelPolicy, model: BedrockModel, limits: Quotas
) -> Spill:
    """Replay every request once (no retries) against the free quotas, each to the first destination with room:
    those none takes. In any plan that throttles nothing the free buckets see exactly these attempts, so the
    spill is the same whatever Provisioned Throughput carries it."""
    once = model.model_copy(update={"retry_mode": RetryMode.NONE, "max_attempts": 1})
    world = BedrockWorld(target, once, limits, BedrockConfig(), max(60.0, requests.duration))
    router = _FreeOnly()
    router.world = world
    router.attach(world)
    engine = RequestEngine(world, router, requests, 0)
    engine.serve_until(float("inf"))
    left = np.asarray(engine.status) == FAILED
    burndown = target.bedrock.output_token_burndown
    asked = max_tokens_of(model, target, requests.output_tokens).astype(np.float64)
    ins = requests.input_tokens.astype(np.float64)
    outs = requests.output_tokens.astype(np.float64)
    took = model.ttft_s + model.prefill_s_per_1k_tokens * ins / 1000.0 + outs / model.output_tokens_per_s
    return Spill(
        requests.arrivals[left],
        (ins + burndown * asked)[left],
        (burndown * (asked - outs))[left],
        (requests.arrivals + took)[left],
    )


def fits(units: int, per_unit: int, start: float, part: Spill) -> bool:
    """Whether a Provisioned Throughput of `units`, InService (full) at `start`, takes every request of `part`."""
    if not part.arrivals.size:
        return True
    if units <= 0:
        return False
    place = destination(Kind.PROVISIONED, "", Quota(units * per_unit, None), start, 0.0, False)
    for at, reserve, refund, end in zip(
        part.arrivals.tolist(), part.reserve.tolist(), part.refund.tolist(), part.ends.tolist(), strict=True
    ):
        if not place.admit(at, reserve):
            return False
        place.finish(end, refund)
    return True


def least_units(per_unit: int, start: float, part: Spill) -> int:
    """The fewest units that take every request of `part` (feasibility grows with units: a larger bucket,
    refilled faster, is never shorter than a smaller one that took everything)."""
    if fits(0, per_unit, start, part):
        return 0
    high = max(1, units_for(float(part.reserve.sum()), per_unit))  # one minute's worth holds them all
    low = 0  # does not fit
    while low + 1 < high:
        middle = (low + high) // 2
        if fits(middle, per_unit, start, part):
            high = middle
        else:
            low = middle
    return high


def oracle_plan(
    requests: BedrockRequests,
    target: BedrockModelPolicy,
    model: BedrockModel,
    limits: Quotas,
    period_s: float = HOUR,
) -> list[int]:
    """Units per hour (per `period_s`) of the cheapest plan that throttles nothing: each hour, its own
    Provisioned Throughput bought ahead (InService, full, at the hour's start; deleted at its end), the fewest
    units that carry what the free quotas leave in that hour. Hours are independent (each has its own purchase),
    so the hour by hour minimum is the plan with the fewest unit-hours."""
    per_unit = _per_unit(target)
    left = spill(requests, target, model, limits)
    hours = max(1, math.ceil(requests.duration / period_s))
    if len(requests):
        hours = max(hours, int(requests.arrivals[-1] // period_s) + 1)
    which = (left.arrivals // period_s).astype(np.int64)
    plan = []
    for hour in range(hours):
        chosen = which == hour
        part = Spill(left.arrivals[chosen], left.reserve[chosen], left.refund[chosen], left.ends[chosen])
        plan.append(least_units(per_unit, hour * period_s, part))
    return plan


def bedrock_demand(
    requests: BedrockRequests, target: BedrockModelPolicy, model: BedrockModel, oracle: bool = True
) -> BedrockDemand:
    limits = quotas(model, target)
    tokens, count = requests.busiest_minute(target.bedrock.output_token_burndown)
    has_pt = target.bedrock.provisioned_throughput is not None
    return BedrockDemand(
        tokens,
        count,
        limits,
        static_units(requests, target) if has_pt else None,
        tuple(oracle_plan(requests, target, model, limits)) if has_pt and oracle else None,
    )


def build_policy(
    name: str, requests: BedrockRequests, target: BedrockModelPolicy, needs: BedrockDemand
) -> RoutingPolicy:
    """One of POLICIES, set up for this model and trace."""
    if name == "controller":
        return BedrockControllerPolicy(target)
    if name == "on_demand_only":
        return OnDemandOnly()
    if name == "static_pt":
        return StaticProvisioned(needs.static_units or static_units(requests, target))
    if name == "oracle":
        if needs.oracle_units is None:
            raise ValueError(f"{target.name}: the oracle needs bedrock.provisioned_throughput settings")
        return OraclePolicy(list(needs.oracle_units))
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")


def compare(
    requests: BedrockRequests,
    target: BedrockModelPolicy,
    model: BedrockModel,
    policies: Sequence[str],
    config: BedrockConfig,
    progress: Callable[[str, float], None] | None = None,
    needs: BedrockDemand | None = None,
) -> dict[str, BedrockResult]:
    """Replay the same requests against each policy."""
    if needs is None:
        needs = bedrock_demand(requests, target, model, oracle="oracle" in policies)
    results = {}
    for name in policies:
        if progress is not None:
            progress(name, 0.0)
        policy = build_policy(name, requests, target, needs)
        report = (lambda share, n=name: progress(n, share)) if progress else None
        results[name] = replay(requests, target, model, needs.quotas, policy, config, report)
    return results


def with_units(needs: BedrockDemand, oracle_units: Sequence[int]) -> BedrockDemand:
    """`needs` with another oracle plan (tests compare plans by replaying them)."""
    return replace(needs, oracle_units=tuple(oracle_units))
