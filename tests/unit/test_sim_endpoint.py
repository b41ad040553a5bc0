"""The endpoint's physics, one step at a time: every request accounted for in every regime, the share within
the SLO monotone in load and instances across the regimes, the stationary regime against Erlang C and the
request-level FIFO queue, and the default request profile against the trace it comes from.

Tolerance of the queueing comparison (test_the_stationary_wait_agrees_with_the_request_level_queue). The
share of requests that wait longer than t is read at t = 0, 1/r, 2/r and 3/r (r: the step's wait rate) from a
request-level replay of 200,000 Poisson arrivals (the first 10% dropped as warm-up) through the step's 16 slots
(2 instances x 8), each request's service time drawn from the step's own. Over 24 seeds, the share measured by
one such replay scatters with a standard deviation of 0.0006 at 50% load, 0.004 at 70%, 0.006 at 80% and 0.013
at 90% (near saturation successive waits are strongly correlated). The test allows three of those plus the
model's bias, measured as the mean over the 24 seeds less the model's figure:

- exponential service times (1,000 equally likely exponential quantiles, CV² 0.995): the Allen-Cunneen factor
  2 / (1 + CV²) is 1 and the step is plain M/M/c. Measured bias within 0.002, i.e. sampling only.
- the Azure conversation profile (CV² 0.52 at these batches): Allen-Cunneen keeps Erlang C's probability of
  waiting and shortens an exponential conditional wait by (1 + CV²) / 2 = 0.76. The real M/G/c waits a little
  less often (-0.003 at 70%, -0.007 at 90%) and its conditional wait is not exponential: 0.005 to 0.010 more
  of the requests wait past 1/r, and within 0.005 of the model past 2/r and 3/r.

Hence an absolute tolerance of 0.003 at 50% load, 0.015 at 70%, 0.025 at 80% and 0.045 at 90%. The seeds
used below deviate by at most 0.0012, 0.0003, 0.0066 and 0.0117 (exponential) and 0.0018, 0.0055, 0.0135 and
0.0077 (Azure). Dropping the Allen-Cunneen factor from the wait rate would deviate by 0.061 at 90% (Azure).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from genai_autoscaler_tools.sim.endpoint import EndpointModel, RequestProfile, StepOutcome, serve_step
from genai_autoscaler_tools.sim.queueing import erlang_c, serve_fifo
from genai_autoscaler_tools.sim.traces import RequestLog, read_trace
from hypothesis import given, settings
from hypothesis import strategies as st

AZURE = Path(__file__).resolve().parents[2] / "data" / "traces" / "azure_llm_2023_conv.csv"
STEP = 10.0
# The figures below depend on these, not on the defaults being tuned: one instance completes about 14 requests
# of the Azure profile a step (8 slots, 5.6 s each at a full batch); 120 more may wait.
MODEL = EndpointModel(
    concurrency_per_instance=8,
    queue_limit_per_instance=128,
    ttft_s=0.1,
    prefill_s_per_1k_tokens=0.12,
    tpot_s=0.02,
    tpot_growth_per_request=0.04,
    invocation_timeout_s=60,
    slo_ttft_s=2.0,
    slo_tpot_s=0.04,
)
AZURE_PROFILE = RequestProfile.default()
# Service time = output tokens x 20 ms, whatever the batch: 1,000 exponential quantiles of mean 50 tokens (1 s).
EXPONENTIAL_MODEL = MODEL.model_copy(
    update={"ttft_s": 0.0, "prefill_s_per_1k_tokens": 0.0, "tpot_growth_per_request": 0.0}
)
EXPONENTIAL_PROFILE = RequestProfile(
    np.zeros(1000), -np.log1p(-(np.arange(1000) + 0.5) / 1000) * 50.0, "exponential, mean 1 s"
)
REQUESTS = 200_000


def throughput(model: EndpointModel, profile: RequestProfile, instances: int) -> float:
    """Requests a step `instances` complete flat out (a full batch each)."""
    per_request = float(profile.service_times(model, model.concurrency_per_instance).mean())
    return instances * model.concurrency_per_instance / per_request * STEP


def assert_accounted_for(step: StepOutcome, arrivals: float) -> None:
    assert step.served + step.throttled + step.failed == pytest.approx(arrivals, rel=1e-12, abs=1e-9)
    assert min(step.served, step.throttled, step.failed, step.within_slo, step.backlog) >= 0
    assert step.within_slo <= step.served + 1e-9


# ------------------------------------------------------------------------------------------ accounting


@pytest.mark.parametrize(
    ("arrivals", "instances", "backlog", "throttles", "times_out", "queue_left"),
    [
        (0.0, 2, 0.0, False, False, False),
        (5.0, 2, 0.0, False, False, False),
        (28.0, 2, 0.0, False, True, False),
        (10.0, 2, 3.0, False, False, False),
        (60.0, 2, 100.0, False, True, True),
        (30.0, 0, 50.0, False, True, False),
        (400.0, 1, 110.0, True, True, True),
    ],
    ids=[
        "idle",
        "light",
        "near saturation (99%)",
        "a small backlog drains",
        "overloaded with a backlog",
        "zero instances",
        "queue full",
    ],
)
def test_every_request_is_accounted_for(
    arrivals: float, instances: int, backlog: float, throttles: bool, times_out: bool, queue_left: bool
) -> None:
    # Given a step's arrivals at a fleet that may already hold a backlog
    # When the step is served
    step = serve_step(MODEL, AZURE_PROFILE, arrivals, instances, backlog, STEP)
    # Then every arrival is served, throttled or failed, once
    assert_accounted_for(step, arrivals)
    # And the regime is the one expected: refusals, time-outs, a queue carried over
    assert (step.throttled > 1e-9, step.failed > 1e-9, step.backlog > 1e-9) == (
        throttles,
        times_out,
        queue_left,
    )
    # And what is left waiting fits the waiting room
    assert step.backlog <= instances * (MODEL.queue_limit_per_instance - MODEL.concurrency_per_instance)
    if queue_left:
        # And the queue is what waited plus what arrived, less what was refused and what the slots completed
        completed = instances * MODEL.concurrency_per_instance / float(step.services.mean()) * STEP
        assert step.backlog + step.throttled == pytest.approx(backlog + arrivals - completed, rel=1e-9)


def test_a_burst_is_accounted_for_while_its_backlog_builds_and_drains() -> None:
    # Given 2 instances (about 28 requests a step), then a burst of twice that for a minute
    per_step = [10.0] * 12 + [60.0] * 6 + [10.0] * 30
    backlog, totals, backlogs = 0.0, np.zeros(3), []
    # When the steps are served one after the other, each inheriting the last one's backlog
    for arrivals in per_step:
        step = serve_step(MODEL, AZURE_PROFILE, arrivals, 2, backlog, STEP)
        assert_accounted_for(step, arrivals)
        backlog = step.backlog
        backlogs.append(backlog)
        totals += (step.served, step.throttled, step.failed)
    # Then the requests add up over the whole run, and the queue the burst built has drained by its end
    assert totals.sum() == pytest.approx(sum(per_step), rel=1e-12)
    assert max(backlogs) > 100
    assert backlogs[-1] == 0.0


def test_a_step_exactly_at_the_fleets_throughput_is_served() -> None:
    # Given a one-second step whose arrival rate is exactly what 2 instances complete flat out (it once
    # divided by throughput - rate = 0, or called erlang_c at a load equal to the slots)
    arrivals = 2 * MODEL.concurrency_per_instance / float(AZURE_PROFILE.service_times(MODEL, 8).mean())
    # When it is served from an empty queue
    step = serve_step(MODEL, AZURE_PROFILE, arrivals, 2, 0.0, 1.0)
    # Then it is served, every request accounted for, at a full fleet
    assert_accounted_for(step, arrivals)
    assert step.utilization == pytest.approx(1.0)
    # And it meets the SLO neither more nor less often than its neighbours a thousandth either side
    below, above = (
        serve_step(MODEL, AZURE_PROFILE, arrivals * factor, 2, 0.0, 1.0) for factor in (0.999, 1.001)
    )
    assert below.within_slo / (0.999 * arrivals) >= step.within_slo / arrivals
    assert step.within_slo / arrivals >= above.within_slo / (1.001 * arrivals)


@pytest.mark.parametrize(
    ("easier", "harder"),
    [((0.999, 1), (1.01, 1)), ((0.99 * 16, 16), (1.2 * 16, 16)), ((1.98, 2), (1.98, 1))],
    ids=[
        "1 instance: 99.9% -> 101% of its throughput",
        "16 instances: 99% -> 120%",
        "1.98 instances' worth: 2 instances -> 1",
    ],
)
def test_more_load_or_fewer_instances_never_meets_the_slo_more_often(
    easier: tuple[float, int], harder: tuple[float, int]
) -> None:
    # Given two steps from an empty queue, the second with more load per instance (the load given in what
    # one instance completes flat out)
    def attainment(load: float, instances: int) -> float:
        arrivals = load * throughput(MODEL, AZURE_PROFILE, 1)
        return serve_step(MODEL, AZURE_PROFILE, arrivals, instances, 0.0, STEP).within_slo / arrivals

    # Then the harder one meets the SLO no more often
    assert attainment(*harder) <= attainment(*easier)


# Sweeps of (load, instances), each step harder than the last; the load is in what one instance completes flat
# out. At a load equal to the instances the fleet is full (utilization 1) and serve_step leaves the stationary
# (Erlang C) regime for the fluid one, so every sweep crosses that boundary.
AROUND_FULL = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0, 1.001, 1.01, 1.05, 1.2, 1.5, 2.0)
HARDER = {
    "more load on 1 instance": [(load, 1) for load in AROUND_FULL],
    "more load on 4 instances": [(4 * load, 4) for load in AROUND_FULL],
    "more load on 16 instances": [(16 * load, 16) for load in AROUND_FULL],
    "fewer instances for 3.5 instances' worth": [(3.5, n) for n in range(8, 0, -1)],
    "fewer instances for exactly 4 instances' worth": [(4.0, n) for n in range(8, 0, -1)],
}
LOAD_AGES = {"load 10 s old": 10.0, "1 min old": 60.0, "10 min old": 600.0, "lasting": math.inf}


@pytest.mark.parametrize(
    ("sweep", "load_age_s"),
    [
        pytest.param(HARDER[sweep], age, id=f"{sweep}, {age_name}")
        for sweep in HARDER
        for age_name, age in LOAD_AGES.items()
    ],
)
def test_attainment_never_rises_with_load_or_falls_with_instances_across_the_regimes(
    sweep: list[tuple[float, int]], load_age_s: float
) -> None:
    # Given a sweep of steps from an empty queue, from a fleet that keeps up to one that does not, each at
    # a load that has lasted `load_age_s`
    per_instance = throughput(MODEL, AZURE_PROFILE, 1) / STEP  # requests/s
    rates = [load * per_instance for load, _ in sweep]
    # When each step is served
    steps = [
        serve_step(MODEL, AZURE_PROFILE, rate * STEP, n, 0.0, STEP, rate=rate, load_age_s=load_age_s)
        for rate, (_, n) in zip(rates, sweep, strict=True)
    ]
    assert steps[0].utilization < 1 <= steps[-1].utilization
    attainment = np.asarray(
        [step.within_slo / (rate * STEP) for step, rate in zip(steps, rates, strict=True)]
    )
    # Then the share within the SLO never rises from one step to the next, and does fall over the sweep
    assert (np.diff(attainment) <= 1e-12).all(), attainment
    assert attainment[-1] < attainment[0]


@pytest.mark.parametrize(
    ("sweep", "load_age_s"),
    [
        pytest.param(HARDER[sweep], age, id=f"{sweep}, {age_name}")
        for sweep in ("more load on 1 instance", "more load on 16 instances")
        for age_name, age in LOAD_AGES.items()
    ],
)
def test_the_concurrency_an_instance_reports_never_falls_with_more_load(
    sweep: list[tuple[float, int]], load_age_s: float
) -> None:
    # Given a sweep of steps from an empty queue, each with more load on the same instances than the last
    per_instance = throughput(MODEL, AZURE_PROFILE, 1) / STEP  # requests/s
    # When each step is served
    concurrency = np.asarray(
        [
            serve_step(
                MODEL,
                AZURE_PROFILE,
                load * per_instance * STEP,
                n,
                0.0,
                STEP,
                rate=load * per_instance,
                load_age_s=load_age_s,
            ).concurrency_per_instance
            for load, n in sweep
        ]
    )
    # Then the requests an instance holds never fall from one step to the next
    assert (np.diff(concurrency) >= -1e-9).all(), concurrency


def test_an_instance_never_reports_more_requests_than_it_holds() -> None:
    # Given a load that has lasted at 99.9% of what one instance completes flat out
    rate = 0.999 * throughput(MODEL, AZURE_PROFILE, 1) / STEP
    # When a step is served
    step = serve_step(MODEL, AZURE_PROFILE, rate * STEP, 1, 0.0, STEP, rate=rate)
    # Then the instance holds no more than its limit, running and waiting
    assert step.concurrency_per_instance <= MODEL.queue_limit_per_instance


# ------------------------------------------------------------------------------------------ Erlang C


def rate_at_load(model: EndpointModel, profile: RequestProfile, instances: int, load: float) -> float:
    """The arrival rate (per second) that keeps `load` of the slots busy, at the service times serve_step
    uses for it (they depend on the batch, hence on the rate: a fixed point)."""
    slots = instances * model.concurrency_per_instance
    rate = load * slots / float(profile.service_times(model, model.concurrency_per_instance).mean())
    for _ in range(100):
        services = serve_step(model, profile, rate * STEP, instances, 0.0, STEP).services
        rate = load * slots / float(services.mean())
    return rate


@pytest.mark.parametrize(
    ("service", "load", "tolerance"),
    [
        pytest.param(kind, load, tolerance, id=f"{kind} service times at {load:.0%}")
        for kind in ("exponential", "azure")
        for load, tolerance in ((0.5, 0.003), (0.7, 0.015), (0.8, 0.025), (0.9, 0.045))
    ],
)
def test_the_stationary_wait_agrees_with_the_request_level_queue(
    service: str, load: float, tolerance: float
) -> None:
    model, profile = {
        "exponential": (EXPONENTIAL_MODEL, EXPONENTIAL_PROFILE),
        "azure": (MODEL, AZURE_PROFILE),
    }[service]
    # Given a step at `load` of 2 instances' 16 slots, from an empty queue
    slots = 2 * model.concurrency_per_instance
    rate = rate_at_load(model, profile, 2, load)
    step = serve_step(model, profile, rate * STEP, 2, 0.0, STEP)
    offered = rate * float(step.services.mean())
    assert offered / slots == pytest.approx(load)
    # Then its probability of waiting is Erlang C's for its offered load
    assert step.wait_probability == pytest.approx(erlang_c(slots, offered), rel=1e-12)
    # When the same load is replayed request by request: Poisson arrivals, the step's service times
    rng = np.random.default_rng(round(load * 100))
    arrivals = np.cumsum(rng.exponential(1 / rate, REQUESTS))
    waits = serve_fifo(arrivals, rng.choice(step.services, REQUESTS), slots).waits[REQUESTS // 10 :]
    # Then the share waiting longer than t matches the step's, P(W > t) = C exp(-r t), within the tolerance
    multiples = np.arange(4)
    predicted = step.wait_probability * np.exp(-multiples)
    measured = np.asarray([(waits > k / step.wait_rate).mean() for k in multiples])
    assert np.abs(measured - predicted).max() <= tolerance, (measured, predicted)


# ------------------------------------------------------------------------------------------ routing

RANDOM = MODEL.model_copy(update={"routing": "random"})


@pytest.mark.parametrize("load", [0.5, 0.7, 0.8])
def test_random_routing_agrees_with_a_request_level_replay_of_instances_queueing_apart(load: float) -> None:
    # Given a step at `load` of 4 instances' slots, routed at random (SageMaker's default): each instance a
    # queue of its own
    instances = 4
    rate = rate_at_load(RANDOM, AZURE_PROFILE, instances, load)
    step = serve_step(RANDOM, AZURE_PROFILE, rate * STEP, instances, 0.0, STEP)
    # When the same load is replayed request by request: Poisson arrivals, each sent to an instance at random,
    # each instance a FIFO queue of its 8 slots, with the step's service times
    rng = np.random.default_rng(round(load * 100))
    arrivals = np.cumsum(rng.exponential(1 / rate, REQUESTS))
    chosen = rng.integers(0, instances, REQUESTS)
    services = rng.choice(step.services, REQUESTS)
    waits = np.concatenate(
        [
            serve_fifo(arrivals[chosen == i], services[chosen == i], RANDOM.concurrency_per_instance).waits[
                REQUESTS // 10 // instances :
            ]
            for i in range(instances)
        ]
    )
    # Then the share waiting longer than t matches the step's, P(W > t) = C exp(-r t), within the model's bias
    # and three standard deviations of one replay, measured as the module's docstring says over 16 seeds on 8
    # slots (bias at most 0.0033, 0.0099 and 0.013 past 1/r; deviation 0.0007, 0.0019, 0.0039 there)
    multiples = np.arange(4)
    predicted = step.wait_probability * np.exp(-multiples)
    measured = np.asarray([(waits > k / step.wait_rate).mean() for k in multiples])
    tolerance = {0.5: 0.006, 0.7: 0.016, 0.8: 0.025}[load]
    assert np.abs(measured - predicted).max() <= tolerance, (measured, predicted)
    # And an instance waits as often as one instance of 8 slots at that load, more often than the pooled fleet
    assert step.wait_probability == pytest.approx(erlang_c(8, load * 8), rel=0.02)
    pooled = serve_step(MODEL, AZURE_PROFILE, rate * STEP, instances, 0.0, STEP)
    assert pooled.wait_probability < step.wait_probability


@settings(max_examples=200, deadline=None)
@given(
    load=st.floats(0.05, 2.5),
    instances=st.integers(2, 40),
    backlog=st.floats(0.0, 500.0),
    load_age_s=st.sampled_from([10.0, 60.0, 600.0, math.inf]),
)
def test_routing_at_random_never_meets_the_slo_more_often_than_one_queue(
    load: float, instances: int, backlog: float, load_age_s: float
) -> None:
    # Given a step's arrivals at `instances` (two or more: one instance is one queue either way), which may hold
    # a backlog
    rate = load * throughput(MODEL, AZURE_PROFILE, instances) / STEP
    routed = {
        model.routing: serve_step(
            model, AZURE_PROFILE, rate * STEP, instances, backlog, STEP, rate=rate, load_age_s=load_age_s
        )
        for model in (MODEL, RANDOM)
    }
    # Then every request is accounted for either way, and the instances report the same concurrency on average
    for step in routed.values():
        assert_accounted_for(step, rate * STEP)
    pooled, apart = routed["least_outstanding_requests"], routed["random"]
    # And queueing apart never serves more within the SLO than one queue for the fleet; alike on one instance
    assert apart.within_slo <= pooled.within_slo * (1 + 1e-9) + 1e-9
    if instances == 1:
        assert (
            apart.within_slo,
            apart.served,
            apart.failed,
            apart.backlog,
            apart.concurrency_per_instance,
        ) == (
            pooled.within_slo,
            pooled.served,
            pooled.failed,
            pooled.backlog,
            pooled.concurrency_per_instance,
        )


# ------------------------------------------------------------------------------------------ the default profile


def test_the_default_profile_is_the_shipped_traces() -> None:
    # Given the Azure conversation trace the default profile was computed from
    trace = read_trace(AZURE)
    assert isinstance(trace, RequestLog)
    assert trace.input_tokens is not None
    assert trace.output_tokens is not None
    # When its profile is computed again
    fresh = RequestProfile.from_tokens(trace.input_tokens, trace.output_tokens, trace.source)
    default = RequestProfile.default()
    # Then the embedded constant is that profile (input means rounded to whole tokens)
    assert default.output_tokens.tolist() == fresh.output_tokens.tolist()
    assert default.input_tokens.tolist() == np.round(fresh.input_tokens).tolist()


def test_the_slo_a_team_states_takes_its_traffics_p95_response_length() -> None:
    from genai_autoscaler_tools.sim.compare import stated_slo

    # Given the default request sizes (the Azure conversation trace): its long answers are 441 tokens
    profile = RequestProfile.default()
    assert profile.p95_output_tokens() == 441
    # Then a team with that traffic states its per-response SLO with that length, or a p95 where the deadline
    # does not grow with the response
    slo = stated_slo(EndpointModel(), profile)
    assert (slo.ttft_ms, slo.tpot_ms, slo.p95_output_tokens) == (2000, 40, 441)
    assert stated_slo(EndpointModel(slo_ttft_s=20, slo_tpot_s=0), profile).p95_ms == 20000
