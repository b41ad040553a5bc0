"""Replay a trace through the simulated endpoint, CloudWatch and one scaling policy; compare policies.

`compare` is what `genai-autoscaler simulate` and `make bench` run: the same arrivals (one seed) replayed
against every chosen policy, each reported as a `PolicyResult`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from genai_autoscaler_tools.sim.cloudwatch import (
    SimCloudWatch,
    quantile_from_cdf,
)
from genai_autoscaler_tools.sim.endpoint import (
    DEFAULT_TOKENS_SOURCE,
    LATENCY_GRID,
    EndpointModel,
    RequestProfile,
    serve_step,
)
from genai_autoscaler_tools.sim.events import Scheduler
from genai_autoscaler_tools.sim.fleet import Fleet
from genai_autoscaler_tools.sim.traces import RequestLog, Trace

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

HIGH_LOAD = 0.8  # utilization from which a queue's build-up over time matters (serve_step's load_age_s)
SAFETY_FACTOR = (
    0.5  # SageMaker's load-testing guidance: target = MAX_RPS x SAFETY_FACTOR x 60, starting at 0.5
)


@dataclass(frozen=True)
class ReplayConfig:
    step_seconds: float = 10.0
    seed: int = 0
    # A step "meets the SLO" when this share of its requests is served within their latency SLO: what the
    # oracle, the static size and the load test behind target tracking's target size capacity for. (A queue
    # with random arrivals never reaches 100%.)
    meets_slo: float = 0.9999
    # A step below this share is overloaded (the report times how long until added capacity serves).
    overloaded_below: float = 0.995
    visibility_delay_s: float = 30.0
    high_resolution_delay_s: float = 5.0
    target_tracking_safety_factor: float = SAFETY_FACTOR  # SageMaker's starting point; a sweep may change it


@dataclass(frozen=True)
class ScaleAction:
    at_s: float
    from_capacity: int
    to_capacity: int
    by: str


@dataclass
class PolicyResult:
    """What one policy did to the trace. Request counts are expectations (the model is analytic per step)."""

    policy: str
    requests: float = 0.0
    served: float = 0.0
    within_slo: float = 0.0
    throttled: float = 0.0
    failed: float = 0.0
    capacity_hours: float = 0.0
    cost_usd: float = 0.0
    p50_latency_s: float = math.nan
    p95_latency_s: float = math.nan
    p99_latency_s: float = math.nan
    actions: list[ScaleAction] = field(default_factory=list)
    relief_times_s: list[float] = field(default_factory=list)  # overload start -> added capacity serving
    overloads_without_capacity: int = 0  # passed (or the replay ended) before any was added
    # Per step, for plots: demand (requests/s), instances serving, instances requested.
    demand: Floats = field(default_factory=lambda: np.zeros(0))
    serving: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    desired: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    missed: Floats = field(default_factory=lambda: np.zeros(0))  # requests not served within the SLO
    minute_p95_s: Floats = field(default_factory=lambda: np.zeros(0))

    @property
    def slo_attainment(self) -> float:
        return self.within_slo / self.requests if self.requests else 1.0

    @property
    def starting_instances(self) -> int | None:
        """Instances serving at the first step: the fleet the replay starts with, or, for static and the oracle,
        the count they provision ahead. None for a replay of no step."""
        return int(self.serving[0]) if self.serving.size else None

    def summary(self) -> dict[str, object]:
        """The JSON figures of `simulate --json`."""
        relief = self.relief_times_s
        return {
            "requests": round(self.requests),
            "served": round(self.served),
            "served_within_slo": round(self.within_slo),
            "slo_attainment": round(self.slo_attainment, 6),
            "throttled": round(self.throttled),
            "failed": round(self.failed),
            "p50_latency_s": _rounded(self.p50_latency_s),
            "p95_latency_s": _rounded(self.p95_latency_s),
            "p99_latency_s": _rounded(self.p99_latency_s),
            "capacity_hours": round(self.capacity_hours, 3),
            "cost_usd": round(self.cost_usd, 2),
            "actions": len(self.actions),
            "overloads": len(relief) + self.overloads_without_capacity,
            "mean_time_to_capacity_s": round(float(np.mean(relief)), 1) if relief else None,
            "max_time_to_capacity_s": round(float(np.max(relief)), 1) if relief else None,
            "overloads_without_capacity": self.overloads_without_capacity,
            "starting_instances": self.starting_instances,
        }


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


class ScalingPolicy(ABC):
    """How capacity is decided during a replay."""

    name: str

    @abstractmethod
    def attach(self, replay: Replay) -> None:
        """Set up alarms, schedules and the starting capacity, before the first step."""

    def before_step(self, now: float) -> None:  # noqa: B027 - most policies act through alarms and schedules
        """Called at the start of every step, after scheduled events and alarm evaluations."""


class Replay(Scheduler):
    """The simulated world of one policy's run: time, the fleet, CloudWatch, and scheduled events."""

    def __init__(self, model: EndpointModel, config: ReplayConfig, initial_capacity: int):
        self.model = model
        self.config = config
        super().__init__()
        self.fleet = Fleet(model, initial_capacity)
        self.cloudwatch = SimCloudWatch(
            config.step_seconds,
            config.visibility_delay_s,
            config.high_resolution_delay_s,
            model.concurrency_peak_sigmas,
        )
        self.actions: list[ScaleAction] = []

    def request_capacity(self, count: int, by: str) -> None:
        """UpdateEndpointWeightsAndCapacities; raises UpdateRefused while the endpoint is Updating."""
        before = self.fleet.desired
        self.fleet.request(count, self.now)
        self.record_action(count, by, before)

    def record_action(self, count: int, by: str, before: int) -> None:
        self.actions.append(ScaleAction(self.now, before, count, by))


def request_profile(trace: Trace, tokens: RequestProfile | None) -> RequestProfile:
    """The trace's own token counts, or `tokens` (the default profile) when it has none."""
    if (
        isinstance(trace, RequestLog)
        and trace.input_tokens is not None
        and trace.output_tokens is not None
        and len(trace)
    ):
        return RequestProfile.from_tokens(trace.input_tokens, trace.output_tokens, trace.source)
    if tokens is None:
        raise ValueError(
            f"{trace.source} has no token counts: give a request profile ({DEFAULT_TOKENS_SOURCE})"
        )
    return tokens


def slo_ceiling(model: EndpointModel, profile: RequestProfile) -> float:
    """The share of requests an idle instance serves within their SLO: no capacity does better. Below 1, a trace
    is still replayed, and "meeting the SLO" means coming as near this ceiling as the share asked for."""
    idle = profile.service_times(model, 1.0)
    return float(np.mean((idle <= profile.deadlines(model)) & (idle <= model.invocation_timeout_s)))


def near_ceiling(share: float, ceiling: float) -> float:
    """`share` of the requests within the SLO, or, where the ceiling is below it, as near the ceiling."""
    return max(0.0, min(share, ceiling - (1 - share)))


class Sizing:
    """Capacity that meets the SLO for an arrival rate, from the endpoint model, for a load that lasts."""

    def __init__(self, model: EndpointModel, profile: RequestProfile, config: ReplayConfig):
        self.model, self.profile, self.config = model, profile, config
        self._need = lru_cache(maxsize=None)(self._least)
        self.ceiling = slo_ceiling(model, profile)
        self.goal = near_ceiling(config.meets_slo, self.ceiling)

    def attainment(self, rate: float, instances: int) -> float:
        """Share of requests within the SLO at `rate` requests/s on `instances`; 0 if they cannot keep up."""
        share = self._share(rate, instances)
        return 0.0 if share is None else share

    def _share(self, rate: float, instances: int) -> float | None:
        """Share of requests within the SLO; None when the instances cannot keep up with `rate`."""
        if rate <= 0:
            return 1.0
        dt = self.config.step_seconds
        step = serve_step(self.model, self.profile, rate * dt, instances, 0.0, dt, rate=rate)
        return None if step.utilization >= 1 else step.within_slo / (rate * dt)

    def _meets(self, rate: float, instances: int) -> bool:
        share = self._share(rate, instances)
        return share is not None and share >= self.goal

    def _least(self, rate: float) -> int:
        if rate <= 0:
            return 0
        high = 1
        while not self._meets(rate, high):
            high *= 2
            if high > 1_000_000:
                raise ValueError(f"{rate:g} requests/s cannot be served by any capacity")
        low = high // 2
        while low + 1 < high:
            middle = (low + high) // 2
            if self._meets(rate, middle):
                high = middle
            else:
                low = middle
        return high

    def needed(self, rate: float) -> int:
        """Instances that meet the SLO at `rate` (computed at the rate rounded up to 0.5%, and cached)."""
        if rate <= 0:
            return 0
        bucket = 1.005 ** math.ceil(math.log(rate, 1.005))
        return int(self._need(bucket))

    def max_rps_per_instance(self) -> float:
        """What a load test of one instance finds: the highest rate before SLO misses become visible (more
        than `overloaded_below` lets through, the benchmark's own SLO goal)."""
        low, high = 0.0, 1000.0
        visible = near_ceiling(self.config.overloaded_below, self.ceiling)
        for _ in range(40):
            rate = (low + high) / 2
            share = self._share(rate, 1)
            if share is not None and share >= visible:
                low = rate
            else:
                high = rate
        return low


def replay(
    counts: Ints,
    rates: Floats,
    model: EndpointModel,
    profile: RequestProfile,
    policy: ScalingPolicy,
    config: ReplayConfig,
    initial_capacity: int,
    progress: Callable[[float], None] | None = None,
) -> PolicyResult:
    """Replay per-step arrival counts (drawn at the per-step `rates`, requests/s) against one policy."""
    world = Replay(model, config, initial_capacity)
    policy.attach(world)
    dt = config.step_seconds
    steps = counts.size
    result = PolicyResult(policy.name)
    result.demand = counts / dt
    result.serving = np.zeros(steps, dtype=np.int64)
    result.desired = np.zeros(steps, dtype=np.int64)
    result.missed = np.zeros(steps)
    backlog = 0.0
    overload_start: float | None = None
    overload_capacity = 0
    last_missed = -math.inf
    load_age = 0.0
    report_every = max(1, steps // 100)
    overloaded_below = near_ceiling(config.overloaded_below, slo_ceiling(model, profile))
    for k in range(steps):
        now = k * dt
        world.now = now
        world.run_due()
        world.cloudwatch.evaluate(now)
        world.run_due()
        policy.before_step(now)
        serving = world.fleet.serving(now)
        arrivals = float(counts[k])
        step = serve_step(
            model, profile, arrivals, serving, backlog, dt, rate=float(rates[k]), load_age_s=load_age + dt
        )
        # How long the load has kept the fleet busy: the time a queue has had to build (see serve_step).
        load_age = load_age + dt if step.utilization >= HIGH_LOAD else 0.0
        backlog = step.backlog
        world.cloudwatch.record(now, step, arrivals, serving)
        result.requests += arrivals
        result.served += step.served
        result.within_slo += step.within_slo
        result.throttled += step.throttled
        result.failed += step.failed
        result.serving[k], result.desired[k] = serving, world.fleet.desired
        result.missed[k] = arrivals - step.within_slo

        # An overload starts when a step misses the SLO target after a calm minute; it ends when more instances
        # serve than at its start (timed), or when it has passed for five minutes without them.
        missed = arrivals > 0 and step.within_slo / arrivals < overloaded_below
        if overload_start is None:
            if missed and now - last_missed >= 60:
                overload_start, overload_capacity = now, serving
        elif serving > overload_capacity:
            result.relief_times_s.append(now - overload_start)
            overload_start = None
        elif now - last_missed >= 300:
            result.overloads_without_capacity += 1
            overload_start = None
        if missed:
            last_missed = now
        if progress is not None and k % report_every == 0:
            progress(k / steps)
    if overload_start is not None:
        result.overloads_without_capacity += 1
    end = steps * dt
    result.capacity_hours = world.fleet.billed_seconds(end) / 3600.0
    result.cost_usd = result.capacity_hours * model.hourly_price_usd
    result.actions = world.actions
    cdfs = world.cloudwatch.minute_latency_cdfs
    served = sum(weight for _, weight, _ in cdfs)
    if served > 0:
        total = sum((weight * cdf for _, weight, cdf in cdfs), np.zeros_like(LATENCY_GRID)) / served
        result.p50_latency_s = quantile_from_cdf(total, 0.50)
        result.p95_latency_s = quantile_from_cdf(total, 0.95)
        result.p99_latency_s = quantile_from_cdf(total, 0.99)
    # One figure per whole minute of the replay; NaN where no request was served.
    result.minute_p95_s = np.full(int(end // 60), np.nan)
    for start, _, cdf in cdfs:
        if int(start // 60) < result.minute_p95_s.size:
            result.minute_p95_s[int(start // 60)] = quantile_from_cdf(cdf, 0.95)
    if progress is not None:
        progress(1.0)
    return result
