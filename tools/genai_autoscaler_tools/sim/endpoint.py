"""A SageMaker endpoint serving an LLM, as the simulator models it: instances, their latency, their queue, their bill.

Every parameter is a field of `EndpointModel`, with its default and where the default comes from; the README's
"Simulator assumptions" section lists them. `serve_step` is the physics of one time step: requests arrive, the
serving instances work through them, a queue forms and, past its limit, requests fail.

Latency of one request: `wait + TTFT(input tokens) + output tokens x TPOT(concurrency)`, with TPOT growing
with the batch an instance runs (continuous batching shares the GPU). The wait is the M/M/c wait of the
step's arrival rate (Erlang C, with the Allen-Cunneen correction for the spread of service times) while the
fleet keeps up, and a fluid backlog once it does not.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from genai_autoscaler_tools.sim.queueing import erlang_c

Floats = npt.NDArray[np.float64]

# Latencies the distributions are kept on: 10 ms to 10 min, 4.5% apart (quantiles are interpolated).
LATENCY_GRID: Floats = np.geomspace(0.01, 600.0, 250)
NEGLIGIBLE = 1e-6  # a probability of waiting below this is taken as none
# How a variant may route requests to its instances, as the simulator models it (EndpointModel.routing).
Routing = Literal["least_outstanding_requests", "random"]
ROUTINGS: tuple[str, ...] = get_args(Routing)
# How the concurrency Maximum over 10 s reads by default (EndpointModel.concurrency_peak_sigmas): a Poisson count's
# 95th percentile above its mean, as one instance queueing on its own.
PEAK_SIGMAS = 1.645

# Request size used when a trace has no token counts: the Azure LLM conversation trace shipped in
# data/traces (mean 1,155 input and 211 output tokens). Its joint distribution is sampled, below.
DEFAULT_TOKENS_SOURCE = "Azure LLM inference trace 2023, conversation (data/traces/azure_llm_2023_conv.csv)"
# RequestProfile.from_tokens of that trace (32 strata by output length); tests/unit/test_sim_endpoint.py
# recomputes it from the shipped file.
_DEFAULT_INPUTS = (
    1326,
    3134,
    2435,
    1929,
    1633,
    1543,
    1140,
    979,
    846,
    785,
    723,
    781,
    889,
    887,
    982,
    971,
    1106,
    1059,
    726,
    616,
    564,
    1102,
    1076,
    1061,
    1082,
    1079,
    1081,
    1069,
    1082,
    1073,
    1098,
    1093,
)
_DEFAULT_OUTPUTS = (
    18,
    40,
    49,
    56,
    64,
    72,
    78,
    83,
    87,
    90,
    94,
    97,
    101,
    107,
    114,
    123,
    135,
    149,
    163,
    181,
    217,
    373,
    385,
    393,
    396,
    399,
    407,
    414,
    420,
    429,
    456,
    568,
)


class EndpointModel(BaseModel):
    """How one SageMaker instance serves the model. Defaults: an 8B-class LLM on one ml.g5.2xlarge (A10G)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_type: str = "ml.g5.2xlarge"
    hourly_price_usd: float = Field(
        1.515, gt=0, description="On-demand real-time inference price, us-east-1 (SageMaker pricing page)."
    )
    concurrency_per_instance: int = Field(
        8,
        ge=1,
        description="Requests one instance runs at once (the server's batch); more wait in its queue.",
    )
    routing: Routing = Field(
        "least_outstanding_requests",
        description="The variant's RoutingConfig.RoutingStrategy. least_outstanding_requests (what AWS advises for "
        "generative AI): the fleet works as one queue, each request going where the fewest are outstanding. "
        "random (SageMaker's default when no RoutingConfig is set): each instance is a queue of its own, "
        "sent its share of the requests at random.",
    )
    concurrency_peak_sigmas: float = Field(
        PEAK_SIGMAS,
        ge=0,
        description="How ConcurrentRequestsPerModel's Maximum over 10 s reads: the mean in flight per instance "
        "plus this many standard deviations of a Poisson count (by default its 95th percentile, as for one "
        "instance queueing on its own). `trace export` and `status` measure it on a deployed variant.",
    )
    queue_limit_per_instance: int = Field(
        128,
        ge=0,
        description="Requests one instance holds in all, running and waiting (TGI max_concurrent_requests "
        "default); more are refused at once (HTTP 429, counted as throttled).",
    )
    ttft_s: float = Field(
        0.06, ge=0, description="Time to first token of a short prompt, alone on the instance."
    )
    prefill_s_per_1k_tokens: float = Field(
        0.15, ge=0, description="Added time to first token per 1,000 input tokens (prefill)."
    )
    tpot_s: float = Field(
        0.027,
        gt=0,
        description="Time per output token, alone on the instance (16 GB of weights read per token).",
    )
    tpot_growth_per_request: float = Field(
        0.02,
        ge=0,
        description="Fractional growth of time per token for each further request in the batch "
        "(0.02: 8 at once run at 1.14x the single-request time per token).",
    )
    invocation_timeout_s: float = Field(
        60, gt=0, description="InvokeEndpoint gives up after this long (SageMaker's 60 s); counted as failed."
    )
    provisioning_s: float = Field(
        180, ge=0, description="From the capacity request until the new instance's container starts."
    )
    model_load_s: float = Field(
        166,
        ge=0,
        description="Model download and load into GPU memory, until the instance passes health checks (with "
        "provisioning, 346 s: the median new-instance start on ml.g5.2xlarge without container caching).",
    )
    termination_s: float = Field(
        60, ge=0, description="From a scale-in request until the removed instance stops billing."
    )
    slo_ttft_s: float = Field(
        2.0,
        gt=0,
        description="SLO: a request's full response is due within slo_ttft_s + tokens x slo_tpot_s.",
    )
    slo_tpot_s: float = Field(
        0.04, ge=0, description="SLO: allowed time per output token (0: one deadline for every response)."
    )

    @field_validator("routing", mode="before")
    @classmethod
    def _routing_as_aws_names_it(cls, value: object) -> object:
        """The strategy as the API names it (`status` shows RANDOM) or as here (random)."""
        return value.lower() if isinstance(value, str) else value

    @property
    def cold_start_s(self) -> float:
        return self.provisioning_s + self.model_load_s

    def tpot_at(self, batch: float) -> float:
        """Time per output token when `batch` requests share the instance."""
        return self.tpot_s * (1 + self.tpot_growth_per_request * max(0.0, batch - 1))


@dataclass(frozen=True)
class RequestProfile:
    """The request sizes of a workload, as `points` equally likely (input, output) token pairs."""

    input_tokens: Floats
    output_tokens: Floats
    source: str

    @classmethod
    def from_tokens(
        cls, inputs: npt.ArrayLike, outputs: npt.ArrayLike, source: str, points: int = 32
    ) -> RequestProfile:
        """`points` strata of equal size by output length (which drives service time): each point is its
        stratum's middle output length and mean input length. Raises ValueError without requests."""
        ins, outs = np.asarray(inputs, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
        if ins.size == 0 or ins.size != outs.size:
            raise ValueError("a request profile needs as many input as output token counts, at least one")
        order = np.argsort(outs, kind="stable")
        ins, outs = ins[order], outs[order]
        edges = np.linspace(0, ins.size, min(points, ins.size) + 1).astype(np.int64)
        middles = (edges[:-1] + edges[1:]) // 2
        means = np.asarray([ins[a:b].mean() for a, b in itertools.pairwise(edges)])
        return cls(means, outs[middles], source)

    @classmethod
    def default(cls) -> RequestProfile:
        """The Azure conversation trace's request sizes, for traces without token counts."""
        return cls(
            np.asarray(_DEFAULT_INPUTS, dtype=np.float64),
            np.asarray(_DEFAULT_OUTPUTS, dtype=np.float64),
            DEFAULT_TOKENS_SOURCE,
        )

    def service_times(self, model: EndpointModel, batch: float) -> Floats:
        """Each point's time from start to last token, at `batch` requests per instance."""
        ttft = model.ttft_s + self.input_tokens / 1000.0 * model.prefill_s_per_1k_tokens
        return ttft + self.output_tokens * model.tpot_at(batch)

    def p95_output_tokens(self) -> int:
        """The 95th percentile of the response lengths (the points are equally likely), in whole tokens."""
        return max(1, round(float(np.quantile(self.output_tokens, 0.95))))

    def deadlines(self, model: EndpointModel) -> Floats:
        """Each point's latency SLO."""
        return model.slo_ttft_s + self.output_tokens * model.slo_tpot_s


@dataclass(frozen=True)
class StepOutcome:
    """What one step did with its arrivals (fractional counts: the model is in expectations)."""

    served: float
    within_slo: float
    throttled: float  # refused at once: the instance queues were full
    failed: float  # timed out, or no instance at all
    backlog: float  # waiting at the end of the step
    concurrency_per_instance: float  # in the instances, running and waiting (ConcurrentRequestsPerModel)
    wait_probability: float  # stationary regime: P(a request waits for a slot)
    wait_rate: float  # stationary regime: the rate of that exponential wait; 0 in the fluid regime
    queue_wait: tuple[float, float]  # a backlog's wait, spread evenly from the step's first to last arrival
    services: Floats  # service time of each profile point this step
    utilization: float = 0.0  # arrival rate / the rate the serving fleet completes requests at


def _wait_at_most(step: StepOutcome, allowance: Floats) -> Floats:
    """P(wait <= allowance), elementwise. The wait is the backlog's, uniform over `queue_wait`, plus with
    probability `wait_probability` an exponential wait of rate `wait_rate`."""
    low, high = step.queue_wait
    width = high - low
    reached = (
        (allowance >= low).astype(np.float64) if width < 1e-9 else np.clip((allowance - low) / width, 0, 1)
    )
    if step.wait_rate <= 0 or step.wait_probability <= 0:
        return reached
    rate = step.wait_rate
    past_low = np.clip(allowance - low, 0.0, None)
    if rate * max(width, 1.0) < 1e-9:
        waited = np.zeros_like(reached)  # an unbounded queue: nobody is served in time
    elif width < 1e-9:
        waited = -np.expm1(-rate * past_low)
    else:
        # P(u + exponential <= a) for u uniform on [low, high]: the integral over u up to min(a, high).
        a = low + past_low
        top = np.minimum(a, high)
        integral = (top - low) - (np.exp(-rate * (a - top)) - np.exp(-rate * (a - low))) / rate
        waited = np.clip(integral / width, 0.0, 1.0)
    result: Floats = (1 - step.wait_probability) * reached + step.wait_probability * waited
    return result


def latency_cdf(steps: Sequence[StepOutcome], weights: Sequence[float]) -> Floats:
    """P(latency <= t) at each t of LATENCY_GRID, for a request of the steps mixed by `weights`.

    A step's latency is its wait (see `_wait_at_most`) and the service time of one of its profile points.
    """
    total = np.zeros_like(LATENCY_GRID)
    for step, weight in zip(steps, weights, strict=True):
        low, high = step.queue_wait
        if (step.wait_rate > 0 and step.wait_probability > NEGLIGIBLE) or high - low >= 1e-9:
            cdf = _wait_at_most(step, LATENCY_GRID[None, :] - step.services[:, None]).mean(axis=0)
        else:  # a wait known exactly: the share of service times within each t
            ordered = np.sort(step.services)
            cdf = np.searchsorted(ordered, LATENCY_GRID - low, side="right") / ordered.size
        total += weight * cdf
    result: Floats = total / float(np.sum(weights))
    return result


def serve_step(
    model: EndpointModel,
    profile: RequestProfile,
    arrivals: float,
    serving_instances: int,
    backlog: float,
    step_seconds: float,
    rate: float | None = None,
    load_age_s: float = math.inf,
) -> StepOutcome:
    """One step: `arrivals` requests reach `serving_instances` instances that already hold `backlog` waiting.

    `rate` is the arrival rate the queueing is computed from: the trace's own rate for the step, of which
    `arrivals` is one Poisson draw (by default `arrivals / step_seconds`; the formulas already account for
    Poisson randomness, and a drawn count would count it twice). `load_age_s` is how long the load has been
    this high: a queue needs time to build, so near saturation its random part is bounded by the spread of
    the arrivals over that time (a random walk, about sqrt(rate x age) requests deep). Without it the queue
    is the stationary one (Erlang C), which is what a load that lasts reaches.

    With `model.routing` random, each instance is a queue of its own: one instance's step, at its share of the
    arrivals, the rate and the backlog (a random share of a Poisson stream is a Poisson stream), counted once
    per instance. A backlog is shared evenly by the instances serving, so an instance that has just begun to
    serve takes its share at once where, routed at random, it would take only new requests: an overload ends a
    little sooner than it would.

    Raises ValueError for a negative count.
    """
    if arrivals < 0 or backlog < 0 or serving_instances < 0:
        raise ValueError("arrivals, backlog and instances must not be negative")
    if model.routing == "random" and serving_instances > 1:
        share = 1 / serving_instances
        one = serve_step(
            model,
            profile,
            arrivals * share,
            1,
            backlog * share,
            step_seconds,
            rate=None if rate is None else rate * share,
            load_age_s=load_age_s,
        )
        return _times(one, serving_instances)
    slots = serving_instances * model.concurrency_per_instance
    if slots == 0:
        # Nowhere to send them: SageMaker refuses the invocation (NoCapacityInvocationFailures).
        # (Any backlog was counted when it arrived; it is lost with the instances.)
        empty = np.zeros_like(profile.output_tokens)
        return StepOutcome(0.0, 0.0, 0.0, arrivals, 0.0, 0.0, 0.0, 0.0, (0.0, 0.0), empty)
    rate = arrivals / step_seconds if rate is None else rate
    # Batch per instance: what the offered load keeps busy, at most the batch limit (one fixed-point pass).
    full = profile.service_times(model, model.concurrency_per_instance)
    busy = rate * float(full.mean()) / serving_instances + backlog / serving_instances
    batch = min(float(model.concurrency_per_instance), max(1.0, busy))
    services = profile.service_times(model, batch)
    mean_service = float(services.mean())
    throughput = slots / mean_service  # requests per second the fleet completes when saturated
    deadlines = profile.deadlines(model)
    waiting_room = serving_instances * max(0, model.queue_limit_per_instance - model.concurrency_per_instance)

    variation = float(services.var()) / mean_service**2
    # The random part of the wait, however close to saturation, is bounded by the load's age (see above): an
    # exponential wait of at least this rate. It makes the fluid and the stationary regime meet at full load.
    age = max(load_age_s, step_seconds)
    spread = max(rate, throughput) * age * (1 + variation) / 2
    horizon_rate = 0.0 if math.isinf(age) else throughput / math.sqrt(spread + 1)

    if backlog > 0 or rate >= throughput:
        # Fluid regime: the fleet works flat out and the queue grows (or drains) at the difference of the rates.
        end_queue = backlog + (rate - throughput) * step_seconds
        if end_queue > 0 or rate >= throughput:
            # Refused: this step's arrivals that find the waiting room full (what waited before stays queued).
            throttled = min(max(0.0, end_queue - waiting_room), arrivals)
            # (A request that times out is still run by the container, which nothing tells: it keeps its place.)
            end_queue = max(0.0, end_queue - throttled)
            first, last = backlog / throughput, min(end_queue, waiting_room) / throughput
            # Running, plus the fluid queue (its mean over the step) and the random walk's (rate x its mean wait).
            random_queue = rate / horizon_rate if horizon_rate > 0 else waiting_room
            queue = (backlog + end_queue) / 2 + random_queue
            in_system = (slots + min(queue, waiting_room)) / serving_instances
            step = StepOutcome(
                served=0.0,
                within_slo=0.0,
                throttled=throttled,
                failed=0.0,
                backlog=end_queue,
                concurrency_per_instance=in_system,
                wait_probability=1.0,
                wait_rate=horizon_rate or 1e-12,  # a lasting overload: the queue has no bound but the room
                queue_wait=(min(first, last), max(first, last)),
                services=services,
                utilization=rate / throughput,
            )
            return _settle(step, arrivals - throttled, deadlines, model.invocation_timeout_s)
        # The backlog drains within the step: the arrivals before that wait for it (half of it on average),
        # the others meet the stationary queue below.
        drained_share = backlog / (throughput - rate) / step_seconds
        backlog_wait = drained_share * backlog / (2 * throughput)
    else:
        backlog_wait = 0.0

    # Stationary regime: M/M/c wait, corrected for service times that are not exponential (Allen-Cunneen).
    offered = rate * mean_service
    waiting = erlang_c(slots, offered)
    wait_rate = max((slots / mean_service - rate) * 2 / (1 + variation), horizon_rate)
    queued = waiting * (offered / slots) / (1 - offered / slots)  # M/M/c mean queue length
    step = StepOutcome(
        served=arrivals,
        within_slo=0.0,
        throttled=0.0,
        failed=0.0,
        backlog=0.0,
        concurrency_per_instance=(offered + min(queued, rate * waiting / wait_rate, waiting_room))
        / serving_instances,
        wait_probability=waiting,
        wait_rate=wait_rate,
        queue_wait=(backlog_wait, backlog_wait),
        services=services,
        utilization=rate / throughput,
    )
    return _settle(step, arrivals, deadlines, model.invocation_timeout_s)


def _times(step: StepOutcome, instances: int) -> StepOutcome:
    """One instance's step, as `instances` alike instances make it: its counts times as many."""
    return replace(
        step,
        served=step.served * instances,
        within_slo=step.within_slo * instances,
        throttled=step.throttled * instances,
        failed=step.failed * instances,
        backlog=step.backlog * instances,
    )


def _settle(step: StepOutcome, admitted: float, deadlines: Floats, timeout: float) -> StepOutcome:
    """The step's admitted requests split into timed out (failed), served, and served within the SLO."""
    in_time = _wait_at_most(step, timeout - step.services)
    within = np.minimum(_wait_at_most(step, deadlines - step.services), in_time)
    failed = step.failed + admitted * (1 - float(in_time.mean()))
    return replace(
        step,
        served=admitted * float(in_time.mean()),
        within_slo=admitted * float(within.mean()),
        failed=failed,
    )
