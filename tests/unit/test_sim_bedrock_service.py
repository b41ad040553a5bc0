"""What simulated Bedrock does to a request (genai_autoscaler_tools/sim/bedrock_service.py): the quotas' token
buckets (reservation at the start, refund at the end, output burndown), throttling, and the SDK's retries checked
against botocore's own figures."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from botocore import loaders, retryhandler
from botocore.retries.standard import DEFAULT_MAX_ATTEMPTS, ExponentialBackoff
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler_tools.sim.bedrock_compare import compare
from genai_autoscaler_tools.sim.bedrock_policies import OnDemandOnly
from genai_autoscaler_tools.sim.bedrock_replay import (
    BedrockConfig,
    BedrockRequests,
    BedrockWorld,
    RequestEngine,
)
from genai_autoscaler_tools.sim.bedrock_service import (
    DEFAULT_ATTEMPTS,
    BedrockModel,
    Destination,
    Kind,
    Quota,
    RetryMode,
    RetryPolicy,
    TokenBucket,
    destination,
    max_tokens_of,
    quotas,
)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def target(**bedrock: object) -> BedrockModelPolicy:
    return BedrockModelPolicy.model_validate(
        {
            "type": "bedrock_model",
            "name": "claude",
            "model_id": MODEL,
            "bedrock": {"tokens_per_minute_quota": 400_000, **bedrock},
        }
    )


def on_demand(tokens_per_minute: float, requests_per_minute: float | None = None) -> Destination:
    return destination(Kind.ON_DEMAND, MODEL, Quota(tokens_per_minute, requests_per_minute), 0.0, 0.0, True)


# ------------------------------------------------------------------------------------------ token buckets


def test_a_bucket_refills_continuously_up_to_one_minutes_worth() -> None:
    # Given a bucket of 6,000 per minute, emptied at 0
    bucket = TokenBucket(6_000)
    bucket.level = 0.0
    # When 30 s pass, Then half a minute's worth is back; after 5 minutes, no more than one minute's worth
    bucket.refill(30.0)
    assert bucket.level == pytest.approx(3_000)
    bucket.refill(300.0)
    assert bucket.level == pytest.approx(6_000)


def test_a_request_reserves_input_and_max_tokens_burned_down_and_gets_back_what_it_did_not_use() -> None:
    # Given a 30,000 tokens/min quota (500 a second), and a model whose output burns the quota 5x
    burndown, prompt, asked, output = 5.0, 1_000, 4_000, 500
    reserve = prompt + burndown * asked  # 21,000: what Bedrock takes at the start
    refund = burndown * (asked - output)  # 17,500: what it gives back at the end
    place = on_demand(30_000)

    # When a request starts at 0 and ends at 2 s
    assert place.admit(0.0, reserve)
    assert place.tokens.level == pytest.approx(9_000)
    place.finish(2.0, refund)

    # Then a second one at 2.5 s finds the refund back (9,000 + 500/s x 2.5 s + 17,500), and takes its own
    assert place.admit(2.5, reserve)
    assert place.tokens.level == pytest.approx(9_000 + 1_250 + 17_500 - 21_000)
    # And what the first used is input + burndown x output
    assert reserve - refund == prompt + burndown * output


def test_without_the_refund_the_second_request_is_throttled_and_a_throttle_takes_nothing() -> None:
    # Given the same first request, still running at 2.5 s (no refund yet)
    place = on_demand(30_000)
    assert place.admit(0.0, 21_000)
    place.finish(60.0, 17_500)
    # When a second one asks for 21,000 at 2.5 s, Then it is throttled, and the bucket keeps what it had
    assert not place.admit(2.5, 21_000)
    assert place.tokens.level == pytest.approx(9_000 + 1_250)


def test_the_requests_per_minute_quota_throttles_too() -> None:
    # Given 2 requests a minute and plenty of tokens
    place = on_demand(1_000_000, 2)
    # When three arrive at once, Then the third is throttled; half a minute later one more is allowed
    assert [place.admit(0.0, 10) for _ in range(3)] == [True, True, False]
    assert place.admit(30.0, 10)
    assert not place.admit(30.0, 10)


def test_each_request_reserves_the_callers_max_tokens_but_never_less_than_its_output() -> None:
    outputs = np.asarray([10, 5_000])
    assert max_tokens_of(BedrockModel(), target(), outputs).tolist() == [4_096, 5_000]
    assert max_tokens_of(BedrockModel(max_tokens=1_000), target(), outputs).tolist() == [1_000, 5_000]
    assert max_tokens_of(BedrockModel(max_tokens_factor=1.5), target(), outputs).tolist() == [15, 7_500]


def test_the_quotas_come_from_the_policy_and_the_documented_profile_multiple() -> None:
    # Given a policy with a geographic profile and no global one
    limits = quotas(BedrockModel(), target(cross_region_profile=f"us.{MODEL}"))
    # Then on-demand is the policy's quota at 50 requests/min, the profile up to double, no global profile
    assert limits.on_demand == Quota(400_000, 50)
    assert limits.profile == Quota(800_000, 100)
    assert limits.global_profile is None
    # And a policy without a token quota needs one given
    with pytest.raises(ValueError, match="on_demand_tpm"):
        quotas(BedrockModel(), target(tokens_per_minute_quota=None))


# ------------------------------------------------------------------------------------------ retries


def test_the_attempts_are_botocores_defaults() -> None:
    legacy = loaders.Loader().load_data("_retry")["retry"]["__default__"]["max_attempts"]
    assert DEFAULT_ATTEMPTS[RetryMode.STANDARD] == DEFAULT_MAX_ATTEMPTS == 3
    assert DEFAULT_ATTEMPTS[RetryMode.LEGACY] == legacy == 5
    assert BedrockModel(retry_mode=RetryMode.NONE).attempts == 1
    assert BedrockModel(max_attempts=7).attempts == 7


@pytest.mark.parametrize("draw", [0.0, 0.37, 0.999])
def test_standard_backoff_is_botocores_capped_at_20_s(draw: float) -> None:
    # Given botocore's standard ExponentialBackoff with the same random draw
    botocore = ExponentialBackoff(random=lambda: draw)
    ours = RetryPolicy(BedrockModel(), 0, uniform=[draw])
    for attempt in range(1, 9):
        context = SimpleNamespace(attempt_number=attempt, http_response=None)
        # Then each wait is botocore's: random x min(2^(attempt-1), 20)
        assert ours.backoff(attempt) == pytest.approx(botocore.delay_amount(context))
    assert ours.backoff(8) == pytest.approx(draw * 20)


@pytest.mark.parametrize("draw", [0.25, 0.9])
def test_legacy_backoff_is_botocores_uncapped(monkeypatch: pytest.MonkeyPatch, draw: float) -> None:
    # Given botocore's legacy delay (base 'rand', growth factor 2, _retry.json's default) with the same draw
    monkeypatch.setattr(retryhandler.random, "random", lambda: draw)
    ours = RetryPolicy(BedrockModel(retry_mode=RetryMode.LEGACY), 0, uniform=[draw])
    for attempt in range(1, 8):
        assert ours.backoff(attempt) == pytest.approx(retryhandler.delay_exponential("rand", 2, attempt))
    assert ours.backoff(7) == pytest.approx(draw * 64)  # no cap


def one_request() -> BedrockRequests:
    return BedrockRequests(np.asarray([1.0]), np.asarray([1_000]), np.asarray([200]), 60.0, "one request")


@pytest.mark.parametrize(("mode", "attempts"), [(RetryMode.STANDARD, 3), (RetryMode.LEGACY, 5)])
def test_a_request_that_exhausts_its_attempts_is_throttled_after_its_backoff_waits(
    mode: RetryMode, attempts: int
) -> None:
    # Given a quota smaller than any request (every attempt is throttled)
    model = BedrockModel(on_demand_tpm=100, retry_mode=mode)
    policy = target()
    # When one request is replayed on-demand
    result = compare(one_request(), policy, model, ["on_demand_only"], BedrockConfig(seed=3))[
        "on_demand_only"
    ]
    # Then every attempt was throttled, and it failed
    assert (result.throttled, result.throttled_attempts, result.served) == (1, attempts, 0)
    assert result.minute_throttled.tolist() == [1.0]
    # And it took its attempts' answers and botocore's waits between them (the same draws, from the seed)
    retries = RetryPolicy(model, 3)
    waits = sum(retries.backoff(attempt) for attempt in range(1, attempts))
    assert failed_latency(model, policy) == pytest.approx(attempts * model.throttle_response_s + waits)


def failed_latency(model: BedrockModel, policy: BedrockModelPolicy) -> float:
    """The time from the arrival of `one_request` to its last refusal."""
    world = BedrockWorld(policy, model, quotas(model, policy), BedrockConfig(seed=3), 60.0)
    router = OnDemandOnly()
    router.world = world
    router.attach(world)
    engine = RequestEngine(world, router, one_request(), 3)
    engine.serve_until(math.inf)
    return engine.latency[0]


def test_a_served_request_takes_its_first_token_and_its_output_at_the_models_speed() -> None:
    # Given plenty of quota, When one request is replayed
    model = BedrockModel()
    result = compare(one_request(), target(), model, ["on_demand_only"], BedrockConfig())["on_demand_only"]
    # Then its latency is the first token (0.5 s + 0.1 s per 1k input tokens) and 200 tokens at 50 a second
    assert result.served == 1
    assert result.p50_latency_s == pytest.approx(0.5 + 0.1 + 200 / 50)
    assert result.p95_ttft_s == pytest.approx(0.6)
