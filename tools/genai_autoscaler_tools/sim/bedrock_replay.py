"""Replay a trace's requests against one Bedrock routing policy: the requests, the simulated world they meet,
and what became of them.

The world (`BedrockWorld`) holds simulated time, the destinations of `bedrock_service` (the model on-demand, its
profiles, the Provisioned Throughputs bought), what callers are told to call (a route, published and seen by
callers `route_delay_s` later), and AWS/Bedrock's CloudWatch metrics per minute for the model's own ModelId.
Time moves in steps (10 s): at each step's start the policy's scheduled work runs (alarm evaluations every minute,
workflow steps at their waits), then the step's requests are served, one attempt at a time in time order.

What a minute's datapoints count: what ended in it (a request's metrics are known when it ends; a throttle ends
at once). `InvocationLatency` and `TimeToFirstToken` are Bedrock's own figures for the attempt that was served:
a caller's retries and backoff waits are not in them, but they are in the latency the report gives (from the
first attempt to the last token).
"""

from __future__ import annotations

import heapq
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.signals import AlarmSpec

from genai_autoscaler_tools.sim.bedrock_service import (
    BedrockModel,
    Destination,
    Kind,
    Quota,
    Quotas,
    RetryPolicy,
    destination,
    max_tokens_of,
)
from genai_autoscaler_tools.sim.cloudwatch import SimCloudWatch
from genai_autoscaler_tools.sim.endpoint import RequestProfile
from genai_autoscaler_tools.sim.events import Scheduler
from genai_autoscaler_tools.sim.traces import RateSeries, RequestLog, Trace, poisson_requests

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

SERVED, FAILED = 1, 2
# Minutes past the trace's end whose datapoints are kept (requests end after it): later ones count in the last.
TAIL_MINUTES = 30


@dataclass(frozen=True)
class BedrockRequests:
    """Requests by arrival (seconds from the start, sorted), with their token counts."""

    arrivals: Floats
    input_tokens: Ints
    output_tokens: Ints
    duration: float
    source: str
    sizes_source: str | None = None  # where the token counts come from when the trace has none

    def __len__(self) -> int:
        return int(self.arrivals.size)

    def quota_tokens(self, burndown: float) -> Floats:
        """What each request uses of a tokens-per-minute quota: input + burndown x output."""
        return self.input_tokens + burndown * self.output_tokens.astype(np.float64)

    def busiest_minute(self, burndown: float) -> tuple[float, int]:
        """(quota tokens, requests) of the busiest minute by arrival: its quota tokens, and its count of
        requests (each figure its own busiest minute)."""
        if not len(self):
            return 0.0, 0
        minutes = (self.arrivals // 60).astype(np.int64)
        tokens = np.bincount(minutes, weights=self.quota_tokens(burndown))
        return float(tokens.max()), int(np.bincount(minutes).max())


def bedrock_requests(trace: Trace, seed: int) -> BedrockRequests:
    """The trace's requests: a request log's own (its token counts, else sizes drawn from the Azure
    conversation trace's 32 (input, output) pairs with `seed`), or a rate series' Poisson draw from `seed`."""
    log = poisson_requests(trace, seed) if isinstance(trace, RateSeries) else trace
    assert isinstance(log, RequestLog)
    if log.input_tokens is not None and log.output_tokens is not None:
        return BedrockRequests(
            log.arrivals, log.input_tokens, log.output_tokens, max(log.duration, 1.0), log.source
        )
    profile = RequestProfile.default()
    pick = np.random.default_rng(seed + 7).integers(0, profile.input_tokens.size, len(log))
    return BedrockRequests(
        log.arrivals,
        np.rint(profile.input_tokens[pick]).astype(np.int64),
        np.rint(profile.output_tokens[pick]).astype(np.int64),
        max(log.duration, 1.0),
        log.source,
        profile.source,
    )


@dataclass(frozen=True)
class BedrockConfig:
    step_seconds: float = 10.0
    seed: int = 0


@dataclass(frozen=True)
class Route:
    """Where an attempt goes: the first of `destinations` that takes it (one, unless a router splits traffic),
    and whether it asks for the Priority tier."""

    destinations: tuple[Destination, ...]
    priority: bool = False


@dataclass(frozen=True)
class BedrockAction:
    at_s: float
    action: str
    detail: str

    def describe(self) -> str:
        minutes = int(self.at_s // 60)
        return f"{minutes // 60}:{minutes % 60:02d} {self.action} {self.detail}".rstrip()


@dataclass
class ProvisionedRecord:
    """One Provisioned Throughput in the simulated account: bought, InService, deleted (None: still there)."""

    arn: str
    units: int
    bought_at: float
    in_service_at: float
    deleted_at: float | None = None
    serving: Destination | None = None  # from InService on

    def hours(self, end: float) -> float:
        stop = end if self.deleted_at is None else min(self.deleted_at, end)
        return max(0.0, stop - self.bought_at) / 3600.0


@dataclass(frozen=True)
class _Published:
    effective: float  # when callers use it
    kind: Kind
    model_id: str
    priority: bool
    overflow: tuple[Kind, ...] = ()  # where callers go next when it throttles them (the route client)


class BedrockWorld(Scheduler):
    """The simulated world of one policy's run (see the module's doc)."""

    def __init__(
        self,
        target: BedrockModelPolicy,
        model: BedrockModel,
        quotas: Quotas,
        config: BedrockConfig,
        end_s: float,
    ) -> None:
        self.target, self.model, self.quotas, self.config = target, model, quotas, config
        self.end_s = end_s
        super().__init__()
        self.cloudwatch = SimCloudWatch(config.step_seconds, model.visibility_delay_s)
        counted = model.metrics_model_id == "model"
        settings = target.bedrock
        self.on_demand = destination(Kind.ON_DEMAND, target.model_id, quotas.on_demand, 0.0, 0.0, True)

        def profile(
            kind: Kind, profile_id: str | None, quota: Quota | None, extra_s: float
        ) -> Destination | None:
            if quota is None or profile_id is None:
                return None
            return destination(kind, profile_id, quota, 0.0, extra_s, counted)

        self.profile = profile(
            Kind.PROFILE, settings.cross_region_profile, quotas.profile, model.profile_extra_latency_s
        )
        self.global_profile = profile(
            Kind.GLOBAL_PROFILE, settings.global_profile, quotas.global_profile, model.global_extra_latency_s
        )
        self.nowhere = destination(Kind.PROVISIONED, "", Quota(0.0, None), 0.0, 0.0, False)
        self.provisioned: dict[str, ProvisionedRecord] = {}
        self.actions: list[BedrockAction] = []
        self._published: list[_Published] = [_Published(0.0, Kind.ON_DEMAND, target.model_id, False)]
        self._route_index = 0
        self._route: Route | None = None
        # CloudWatch's metric-math series the policy's alarms watch: key -> the alarm
        self.math: dict[str, AlarmSpec] = {}
        self.publishing = False  # whether anyone reads the metrics (the controller's alarms)

    # ---------------------------------------------------------------------------------------- time

    # ---------------------------------------------------------------------------------------- routes

    def publish(
        self,
        kind: Kind,
        model_id: str,
        priority: bool = False,
        delay: float | None = None,
        overflow: tuple[Kind, ...] = (),
    ) -> None:
        """Tell callers to call `model_id` from now on, and `overflow` when it throttles them; they do
        `route_delay_s` later (or after `delay`)."""
        wait = self.model.route_delay_s if delay is None else delay
        self._published.append(_Published(self.now + wait, kind, model_id, priority, overflow))

    def route_at(self, now: float) -> Route:
        """Where callers send an attempt at `now` (attempts come in time order)."""
        published = self._published
        index = self._route_index
        moved = False
        while index + 1 < len(published) and published[index + 1].effective <= now:
            index += 1
            moved = True
        route = self._route
        if route is None or moved or self._stale(route, now):
            self._route_index = index
            self._route = route = self._resolve(published[index], now)
        return route

    def _stale(self, route: Route, now: float) -> bool:
        # A Provisioned Throughput comes InService, or goes, while callers call it.
        target = route.destinations[0]
        if target.kind is not Kind.PROVISIONED:
            return False
        arn = self._published[self._route_index].model_id
        return self.provisioned_destination(arn, now) is not target

    def _resolve(self, published: _Published, now: float) -> Route:
        match published.kind:
            case Kind.ON_DEMAND:
                target = self.on_demand
            case Kind.PROFILE:
                target = self.profile or self.nowhere
            case Kind.GLOBAL_PROFILE:
                target = self.global_profile or self.nowhere
            case _:
                target = self.provisioned_destination(published.model_id, now)
        free = {
            Kind.ON_DEMAND: self.on_demand,
            Kind.PROFILE: self.profile,
            Kind.GLOBAL_PROFILE: self.global_profile,
        }
        overflow = tuple(place for kind in published.overflow if (place := free.get(kind)) is not None)
        return Route((target, *overflow), published.priority)

    def provisioned_destination(self, arn: str, now: float) -> Destination:
        """The Provisioned Throughput `arn` as it serves at `now`: one that refuses everything when it is not
        InService (yet, or any more)."""
        record = self.provisioned.get(arn)
        if record is None or now < record.in_service_at:
            return self.nowhere  # not (yet) serving: refused
        if record.deleted_at is not None and now >= record.deleted_at:
            return self.nowhere
        if record.serving is None:
            counted = self.model.metrics_model_id == "model"
            settings = self.target.bedrock.provisioned_throughput
            per_unit = settings.tokens_per_minute_per_unit if settings is not None else 0
            record.serving = destination(
                Kind.PROVISIONED,
                arn,
                Quota(record.units * per_unit, None),
                record.in_service_at,
                0.0,
                counted,
            )
        return record.serving

    # ---------------------------------------------------------------------------------------- Provisioned Throughput

    def buy(self, arn: str, units: int, in_service_at: float, deleted_at: float | None = None) -> None:
        self.provisioned[arn] = ProvisionedRecord(arn, units, self.now, in_service_at, deleted_at)

    def delete(self, arn: str) -> None:
        record = self.provisioned.get(arn)
        if record is not None and record.deleted_at is None:
            record.deleted_at = self.now

    def unit_hours(self) -> float:
        return sum(record.units * record.hours(self.end_s) for record in self.provisioned.values())

    def provisioned_cost(self) -> float:
        settings = self.target.bedrock.provisioned_throughput
        price = settings.hourly_price_per_unit_usd if settings is not None else 0.0
        return self.unit_hours() * price

    def record_action(self, action: str, detail: str = "") -> None:
        self.actions.append(BedrockAction(self.now, action, detail))


class RoutingPolicy(ABC):
    """How a model's callers are routed during a replay."""

    name: str

    @abstractmethod
    def attach(self, world: BedrockWorld) -> None:
        """Set up alarms, schedules, purchases and the first route, before the first step."""

    def before_step(self, now: float) -> None:  # noqa: B027 - most policies act through alarms and schedules
        """Called at the start of every step, after scheduled work."""

    def route(self, now: float) -> Route:
        """Where an attempt at `now` goes: by default, what the world's published route says."""
        return self.world.route_at(now)

    world: BedrockWorld


@dataclass
class BedrockResult:
    """What one policy did to the trace's requests."""

    policy: str
    requests: int = 0
    served: int = 0
    throttled: int = 0  # failed: every attempt was throttled
    throttled_attempts: int = 0  # InvocationThrottles, every destination, retries included
    within_slo: int = 0
    slo: str = "served"
    p50_latency_s: float = math.nan
    p95_latency_s: float = math.nan
    p99_latency_s: float = math.nan
    p95_ttft_s: float = math.nan
    unit_hours: float = 0.0
    provisioned_usd: float = 0.0
    premium_usd: float | None = 0.0  # the Priority tier's premium; None: used but not priced by the policy
    served_by: dict[str, int] = field(default_factory=dict)
    actions: list[BedrockAction] = field(default_factory=list)
    minute_throttled: Floats = field(default_factory=lambda: np.zeros(0))  # failed requests per minute

    @property
    def cost_usd(self) -> float:
        return self.provisioned_usd + (self.premium_usd or 0.0)

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0

    @property
    def slo_attainment(self) -> float:
        return self.within_slo / self.requests if self.requests else 1.0

    def summary(self) -> dict[str, object]:
        """The JSON figures of `simulate --json`."""

        def rounded(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 3)

        return {
            "requests": self.requests,
            "served": self.served,
            "throttled": self.throttled,
            "throttled_share": round(self.throttled_share, 6),
            "throttled_attempts": self.throttled_attempts,
            "served_within_slo": self.within_slo,
            "slo_attainment": round(self.slo_attainment, 6),
            "slo": self.slo,
            "p50_latency_s": rounded(self.p50_latency_s),
            "p95_latency_s": rounded(self.p95_latency_s),
            "p99_latency_s": rounded(self.p99_latency_s),
            "p95_ttft_s": rounded(self.p95_ttft_s),
            "pt_unit_hours": round(self.unit_hours, 3),
            "pt_cost_usd": round(self.provisioned_usd, 2),
            "priority_premium_usd": None if self.premium_usd is None else round(self.premium_usd, 2),
            "cost_usd": round(self.cost_usd, 2),
            "served_by": dict(self.served_by),
            "actions": len(self.actions),
            "action_list": [
                {"at_s": round(a.at_s, 1), "action": a.action, "detail": a.detail} for a in self.actions
            ],
        }


class _Minutes:
    """AWS/Bedrock's per-minute figures for the model's ModelId, as they accumulate."""

    def __init__(self, minutes: int) -> None:
        self.size = minutes
        self.invocations = [0] * minutes
        self.throttles = [0] * minutes
        self.input_tokens = [0.0] * minutes
        self.output_tokens = [0.0] * minutes
        self.latency_ms: list[list[float]] = [[] for _ in range(minutes)]
        self.ttft_ms: list[list[float]] = [[] for _ in range(minutes)]

    def index(self, seconds: float) -> int:
        return min(int(seconds // 60), self.size - 1)


class RequestEngine:
    """The requests, attempt by attempt (module doc): quotas, retries, latency, and the metrics they leave."""

    def __init__(
        self, world: BedrockWorld, policy: RoutingPolicy, requests: BedrockRequests, seed: int
    ) -> None:
        model, target = world.model, world.target
        self.world, self.policy = world, policy
        burndown = target.bedrock.output_token_burndown
        ins = requests.input_tokens.astype(np.float64)
        outs = requests.output_tokens.astype(np.float64)
        asked = max_tokens_of(model, target, requests.output_tokens).astype(np.float64)
        self.arrivals: list[float] = requests.arrivals.tolist()
        self.inputs: list[float] = ins.tolist()
        self.outputs: list[float] = outs.tolist()
        self.reserve: list[float] = (ins + burndown * asked).tolist()
        self.refund: list[float] = (burndown * (asked - outs)).tolist()
        self.used: list[float] = (ins + burndown * outs).tolist()
        self.first_token: list[float] = (model.ttft_s + model.prefill_s_per_1k_tokens * ins / 1000.0).tolist()
        self.otps = model.output_tokens_per_s
        self.fast_otps = model.output_tokens_per_s * (1.0 + model.priority_speedup)
        self.response = model.throttle_response_s
        self.retry = RetryPolicy(model, seed)
        self.attempts = model.attempts
        n = len(requests)
        self.status = [0] * n
        self.latency = [math.nan] * n
        self.ttft = [math.nan] * n
        self.next_arrival = 0
        self.retries: list[tuple[float, int, int, int]] = []  # (time, order, request, attempt)
        self.order = itertools.count()
        self.throttled_attempts = 0
        self.priority_tokens = 0.0
        self.served_by: dict[str, int] = {}
        self._size = math.ceil(world.end_s / 60) + TAIL_MINUTES
        # AWS/Bedrock's figures per ModelId: the model's own, and (with metrics_model_id=called) each other ID a
        # call was made with (a profile, a Provisioned Throughput ARN).
        self.minutes_by_id: dict[str, _Minutes] = {target.model_id: _Minutes(self._size)}
        self.minutes = self.minutes_by_id[target.model_id]

    def _minutes_of(self, place: Destination) -> _Minutes:
        """Where a call to `place` is counted: under the model's ID, or under the ID it was made with."""
        if place.counted or not place.model_id:
            return self.minutes
        found = self.minutes_by_id.get(place.model_id)
        if found is None:
            found = self.minutes_by_id[place.model_id] = _Minutes(self._size)
        return found

    def serve_until(self, until: float) -> None:
        """Every attempt before `until`, in time order."""
        arrivals, retries = self.arrivals, self.retries
        count = len(arrivals)
        while True:
            arrival = arrivals[self.next_arrival] if self.next_arrival < count else math.inf
            retry = retries[0][0] if retries else math.inf
            if arrival <= retry:
                if arrival >= until:
                    return
                request = self.next_arrival
                self.next_arrival += 1
                self._attempt(request, 1, arrival)
            else:
                if retry >= until:
                    return
                _, _, request, attempt = heapq.heappop(retries)
                self._attempt(request, attempt, retry)

    def _attempt(self, request: int, attempt: int, now: float) -> None:
        route = self.policy.route(now)
        reserve = self.reserve[request]
        for place in route.destinations:
            if place.admit(now, reserve):
                break
        else:
            self._throttled(
                request, attempt, now, route.destinations[-1]
            )  # the last refusal, as the caller saw
            return
        first = self.first_token[request] + place.extra_latency_s
        output = self.outputs[request]
        took = first + output / (self.fast_otps if route.priority else self.otps)
        end = now + took
        place.finish(end, self.refund[request])
        kind = place.kind.value
        self.served_by[kind] = self.served_by.get(kind, 0) + 1
        if self.world.publishing:
            minutes = self._minutes_of(place)
            m = minutes.index(end)
            minutes.invocations[m] += 1
            minutes.input_tokens[m] += self.inputs[request]
            minutes.output_tokens[m] += output
            minutes.latency_ms[m].append(took * 1000.0)
            minutes.ttft_ms[m].append(first * 1000.0)
        arrived = self.arrivals[request]
        self.status[request] = SERVED
        self.latency[request] = end - arrived
        self.ttft[request] = now + first - arrived
        if route.priority:
            self.priority_tokens += self.used[request]

    def _throttled(self, request: int, attempt: int, now: float, place: Destination) -> None:
        self.throttled_attempts += 1
        if self.world.publishing:
            minutes = self._minutes_of(place)
            minutes.throttles[minutes.index(now)] += 1
        back = now + self.response
        if attempt < self.attempts:
            heapq.heappush(
                self.retries, (back + self.retry.backoff(attempt), next(self.order), request, attempt + 1)
            )
        else:
            self.status[request] = FAILED
            self.latency[request] = back - self.arrivals[request]

    def close_minute(self, minute: int) -> None:
        """Publish minute `minute`'s datapoints (it has ended: nothing more can end in it), under each ModelId."""
        if minute >= self._size:
            return
        for model_id, minutes in self.minutes_by_id.items():
            own = model_id == self.world.target.model_id
            self._publish(minute, minutes, "" if own else f"@{model_id}", own)

    def _publish(self, minute: int, minutes: _Minutes, suffix: str, own: bool) -> None:
        """One ModelId's datapoints of the minute, under series keys `<metric>/<stat><suffix>`."""
        world = self.world
        start = minute * 60.0
        points: dict[str, float] = {}
        invocations, throttles = minutes.invocations[minute], minutes.throttles[minute]
        if invocations or throttles:
            points["InvocationThrottles/Sum"] = float(throttles)
        if invocations:
            sums = {
                "Invocations": float(invocations),
                "InputTokenCount": minutes.input_tokens[minute],
                "OutputTokenCount": minutes.output_tokens[minute],
            }
            points |= {f"{name}/Sum": value for name, value in sums.items()}
            points["InvocationLatency/p95"] = float(np.percentile(minutes.latency_ms[minute], 95))
            points["TimeToFirstToken/p95"] = float(np.percentile(minutes.ttft_ms[minute], 95))
            if world.model.quota_usage_metric:
                burndown = world.target.bedrock.output_token_burndown
                points["EstimatedTPMQuotaUsage/Sum"] = (
                    sums["InputTokenCount"] + burndown * sums["OutputTokenCount"]
                )
            if own:  # the controller's metric-math alarms watch the model's own ModelId
                points |= {key: math_value(spec, sums) for key, spec in world.math.items()}
            minutes.latency_ms[minute] = minutes.ttft_ms[minute] = []  # no longer needed
        for key, value in points.items():
            world.cloudwatch.series.setdefault(f"{key}{suffix}", {})[start] = value


def math_value(spec: AlarmSpec, figures: dict[str, float]) -> float:
    """What a metric-math alarm judges in a minute with these figures (Sum of each metric, by name)."""
    return spec.value_of(figures)


def replay(
    requests: BedrockRequests,
    target: BedrockModelPolicy,
    model: BedrockModel,
    quotas: Quotas,
    policy: RoutingPolicy,
    config: BedrockConfig,
    progress: Callable[[float], None] | None = None,
) -> BedrockResult:
    """Replay `requests` against `policy`: every request from its arrival to its last token or its last
    throttled attempt. Provisioned Throughput bills until the trace's end (or its deletion)."""
    step = config.step_seconds
    end = max(step, math.ceil(requests.duration / 60) * 60.0)
    world = BedrockWorld(target, model, quotas, config, end)
    policy.world = world
    policy.attach(world)
    engine = RequestEngine(world, policy, requests, config.seed)
    steps = round(end / step)
    report_every = max(1, steps // 100)
    for k in range(steps):
        now = k * step
        world.now = now
        world.run_due()
        if now % 60 == 0:
            if now > 0 and world.publishing:
                engine.close_minute(int(now // 60) - 1)
            world.cloudwatch.evaluate(now)
            world.run_due()
        policy.before_step(now)
        engine.serve_until(now + step)
        if progress is not None and k % report_every == 0:
            progress(k / steps)
    world.now = end
    engine.serve_until(math.inf)  # retries and answers after the trace's last step
    result = _result(policy.name, target, world, engine)
    if progress is not None:
        progress(1.0)
    return result


def slo_of(target: BedrockModelPolicy) -> tuple[str, float | None]:
    """What 'within the SLO' means for the policy: its TTFT threshold if it states one, else its latency
    threshold, else only being served (label, seconds)."""
    settings = target.bedrock
    if settings.ttft_p95_ms is not None:
        return f"time to first token within {settings.ttft_p95_ms:g} ms", settings.ttft_p95_ms / 1000.0
    if settings.latency_p95_ms is not None:
        return f"whole response within {settings.latency_p95_ms:g} ms", settings.latency_p95_ms / 1000.0
    return "served (the policy states no latency threshold)", None


def _result(
    name: str, target: BedrockModelPolicy, world: BedrockWorld, engine: RequestEngine
) -> BedrockResult:
    status = np.asarray(engine.status, dtype=np.int64)
    latency = np.asarray(engine.latency)
    ttft = np.asarray(engine.ttft)
    served = status == SERVED
    label, limit = slo_of(target)
    if limit is None:
        within = int(served.sum())
    else:
        measured = ttft if target.bedrock.ttft_p95_ms is not None else latency
        within = int((served & (measured <= limit + 1e-9)).sum())
    result = BedrockResult(
        policy=name,
        requests=int(status.size),
        served=int(served.sum()),
        throttled=int((status == FAILED).sum()),
        throttled_attempts=engine.throttled_attempts,
        within_slo=within,
        slo=label,
        unit_hours=world.unit_hours(),
        provisioned_usd=world.provisioned_cost(),
        served_by=dict(sorted(engine.served_by.items())),
        actions=list(world.actions),
    )
    if served.any():
        result.p50_latency_s, result.p95_latency_s, result.p99_latency_s = (
            float(v) for v in np.percentile(latency[served], [50, 95, 99])
        )
        result.p95_ttft_s = float(np.percentile(ttft[served], 95))
    tier = target.bedrock.priority_tier
    if engine.priority_tokens > 0:
        if tier is not None and tier.standard_usd_per_million_tokens is not None:
            result.premium_usd = (
                engine.priority_tokens / 1e6 * tier.standard_usd_per_million_tokens * tier.price_premium
            )
        else:
            result.premium_usd = None
    failed_at = np.asarray(engine.arrivals)[status == FAILED]
    result.minute_throttled = np.bincount(
        (failed_at // 60).astype(np.int64), minlength=math.ceil(world.end_s / 60)
    ).astype(np.float64)
    return result
