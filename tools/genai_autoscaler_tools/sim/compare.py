"""Compare scaling policies on one trace: each of POLICIES set up for the target and the trace, and replayed on the
same arrivals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.slo import LatencySLO

from genai_autoscaler_tools.sim.cloudwatch import CONCURRENCY, INVOCATIONS_PER_INSTANCE, busiest_moment
from genai_autoscaler_tools.sim.endpoint import EndpointModel, RequestProfile
from genai_autoscaler_tools.sim.policies import (
    ControllerPolicy,
    OraclePolicy,
    StaticPolicy,
    TargetTrackingPolicy,
)
from genai_autoscaler_tools.sim.replay import (
    Floats,
    PolicyResult,
    ReplayConfig,
    ScalingPolicy,
    Sizing,
    replay,
    request_profile,
)
from genai_autoscaler_tools.sim.traces import Trace, arrivals_per_step, rate_per_step

POLICIES = ("controller", "target-tracking", "target-tracking-concurrency", "static", "oracle")


def stated_slo(model: EndpointModel, profile: RequestProfile) -> LatencySLO:
    """The SLO a team states for the endpoint model's deadline, on traffic with `profile`'s request sizes."""
    if model.slo_tpot_s == 0:
        return LatencySLO(p95_ms=model.slo_ttft_s * 1000)
    return LatencySLO(
        ttft_ms=model.slo_ttft_s * 1000,
        tpot_ms=model.slo_tpot_s * 1000,
        p95_output_tokens=profile.p95_output_tokens(),
    )


def build_policy(
    name: str,
    target: SageMakerPolicy,
    sizing: Sizing,
    rates: Floats,
    model: EndpointModel,
    config: ReplayConfig,
) -> ScalingPolicy:
    """One of POLICIES, set up for this target and trace (`rates`: requests/s per step)."""
    limits = target.capacity
    if name == "controller":
        return ControllerPolicy(target)
    if name == "target-tracking":
        per_minute = sizing.max_rps_per_instance() * config.target_tracking_safety_factor * 60
        return TargetTrackingPolicy(name, INVOCATIONS_PER_INSTANCE, per_minute, limits.min, limits.max)
    if name == "target-tracking-concurrency":
        # The same load test and safety factor, read on the metric tracked: its Maximum per 10 s at that share
        # of the load.
        rate = sizing.max_rps_per_instance()
        in_flight = rate * float(sizing.profile.service_times(model, model.concurrency_per_instance).mean())
        target_value = busiest_moment(
            in_flight * config.target_tracking_safety_factor, model.concurrency_peak_sigmas
        )
        return TargetTrackingPolicy(name, CONCURRENCY, target_value, limits.min, limits.max)
    if name == "static":
        peak = sizing.needed(float(rates.max())) if rates.size else 1
        return StaticPolicy(min(limits.max, max(limits.min, peak, 1)))
    if name == "oracle":
        needed = np.asarray([sizing.needed(float(r)) for r in rates], dtype=np.int64)
        keep = model.cold_start_s + model.termination_s  # a dip shorter than this costs more to scale in for
        return OraclePolicy(np.clip(needed, max(1, limits.min), limits.max), config.step_seconds, keep)
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")


@dataclass(frozen=True)
class Demand:
    """What a trace asks of an endpoint: its busiest step's rate (smoothed over a minute) and the instances that
    serve it within the SLO, and what the first cold start's worth of it needs (the fleet a replay starts with).
    `ceiling` is the share of its requests that can meet the SLO at all (an idle instance's service time within
    their deadline): below 1, "within the SLO" means as near that ceiling as capacity brings it. A count is None
    where no number of instances keeps up with that rate."""

    peak_rps: float
    peak_instances: int | None
    first_instances: int | None
    ceiling: float


def demand(
    trace: Trace, model: EndpointModel, config: ReplayConfig, tokens: RequestProfile | None = None
) -> Demand:
    """The trace's demand on `model` (see Demand)."""
    rates = rate_per_step(trace, config.step_seconds)
    return _demand(rates, Sizing(model, request_profile(trace, tokens), config))


def _demand(rates: Floats, sizing: Sizing) -> Demand:
    window = max(1, math.ceil((sizing.model.cold_start_s + 60) / sizing.config.step_seconds))

    def instances(rate: float) -> int | None:
        try:
            return sizing.needed(rate)
        except ValueError:
            return None

    peak = float(rates.max()) if rates.size else 0.0
    first = float(rates[:window].max()) if rates.size else 0.0
    return Demand(peak, instances(peak), instances(first), sizing.ceiling)


def compare(
    trace: Trace,
    target: SageMakerPolicy,
    model: EndpointModel,
    policies: Sequence[str],
    config: ReplayConfig,
    tokens: RequestProfile | None = None,
    progress: Callable[[str, float], None] | None = None,
    initial_capacity: int | None = None,
) -> dict[str, PolicyResult]:
    """Replay the same arrivals (one draw, from `config.seed`) against each policy, each starting InService at
    `initial_capacity` (default: `starting_capacity`)."""
    counts, _ = arrivals_per_step(trace, config.step_seconds, config.seed)
    rates = rate_per_step(trace, config.step_seconds)
    profile = request_profile(trace, tokens)
    sizing = Sizing(model, profile, config)
    if initial_capacity is None:
        initial_capacity = starting_capacity(target, _demand(rates, sizing))
    results = {}
    for name in policies:
        if progress is not None:
            progress(name, 0.0)
        policy = build_policy(name, target, sizing, rates, model, config)
        report = (lambda share, n=name: progress(n, share)) if progress else None
        results[name] = replay(counts, rates, model, profile, policy, config, initial_capacity, report)
    return results


def starting_capacity(target: SageMakerPolicy, demand: Demand) -> int:
    """What every policy starts with unless told: what the first cold start's worth of demand needs, within the
    target's limits (the endpoint was serving before the trace begins)."""
    first = demand.first_instances if demand.first_instances is not None else target.capacity.max
    return min(target.capacity.max, max(target.capacity.min, first, 1))
