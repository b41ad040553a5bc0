"""The Bedrock oracle (genai_autoscaler_tools/sim/bedrock_compare.py, oracle_plan): replayed, it throttles nothing,
and no plan of whole model units per hour with fewer unit-hours does; on small cases, every such plan is replayed."""

from __future__ import annotations

import itertools

import numpy as np
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler_tools.sim.bedrock_compare import oracle_plan, static_units
from genai_autoscaler_tools.sim.bedrock_policies import OraclePolicy
from genai_autoscaler_tools.sim.bedrock_replay import BedrockConfig, BedrockRequests, BedrockResult, replay
from genai_autoscaler_tools.sim.bedrock_service import BedrockModel, quotas
from hypothesis import given, settings
from hypothesis import strategies as st

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HOURS = 2


def policy(tokens_per_minute: int, per_unit: int, profile: bool) -> BedrockModelPolicy:
    bedrock: dict[str, object] = {
        "tokens_per_minute_quota": tokens_per_minute,
        "provisioned_throughput": {"tokens_per_minute_per_unit": per_unit, "hourly_price_per_unit_usd": 10.0},
        "max_model_units": 50,
        "hourly_budget_usd": 500,
    }
    if profile:
        bedrock["cross_region_profile"] = f"us.{MODEL}"
    return BedrockModelPolicy.model_validate(
        {"type": "bedrock_model", "name": "claude", "model_id": MODEL, "bedrock": bedrock}
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[BedrockRequests, BedrockModelPolicy, BedrockModel]:
    """A couple of hours of a few dozen requests, some in bursts, against small quotas."""
    count = draw(st.integers(5, 40))
    burst = draw(st.floats(0.0, 7000.0))
    spread = draw(st.sampled_from([30.0, 600.0, 7200.0]))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    arrivals = np.sort(np.clip(burst + rng.random(count) * spread, 0.0, HOURS * 3600.0 - 1.0))
    inputs = rng.integers(100, 3_000, count)
    outputs = rng.integers(10, 600, count)
    requests = BedrockRequests(arrivals, inputs, outputs, HOURS * 3600.0, f"case {seed}")
    target = policy(draw(st.integers(2_000, 20_000)), draw(st.integers(2_000, 8_000)), draw(st.booleans()))
    model = BedrockModel(
        on_demand_rpm=draw(st.integers(1, 20)), max_tokens_factor=draw(st.sampled_from([1.0, 2.0, 4.0]))
    )
    return requests, target, model


def run(
    requests: BedrockRequests, target: BedrockModelPolicy, model: BedrockModel, units: list[int]
) -> BedrockResult:
    return replay(requests, target, model, quotas(model, target), OraclePolicy(units), BedrockConfig())


@settings(max_examples=40, deadline=None)
@given(cases())
def test_the_oracle_throttles_nothing_and_no_plan_with_fewer_unit_hours_does(
    case: tuple[BedrockRequests, BedrockModelPolicy, BedrockModel],
) -> None:
    requests, target, model = case
    # Given the oracle's plan (units per hour)
    plan = oracle_plan(requests, target, model, quotas(model, target))
    assert len(plan) == HOURS

    # When it is replayed, Then no attempt is throttled, and it bills its unit-hours
    result = run(requests, target, model, plan)
    assert result.throttled_attempts == 0
    assert result.unit_hours == sum(plan)

    # And every plan with fewer unit-hours (whole units per hour) throttles some attempt
    for other in itertools.product(*(range(units + 1) for units in plan)):
        if sum(other) < sum(plan):
            assert run(requests, target, model, list(other)).throttled_attempts > 0, other


def test_the_oracle_buys_only_what_the_free_quotas_leave() -> None:
    # Given two hours: a quiet one, then one at twice the quota; the model's quota 60,000 tokens/min
    rng = np.random.default_rng(1)
    quiet = np.sort(rng.random(40) * 3600.0)
    busy = 3600.0 + np.sort(rng.random(3_000) * 3600.0)
    arrivals = np.concatenate([quiet, busy])
    requests = BedrockRequests(
        arrivals, np.full(arrivals.size, 1_000), np.full(arrivals.size, 400), 7200.0, "quiet, then busy"
    )
    target = policy(60_000, 10_000, profile=False)
    model = BedrockModel(on_demand_rpm=10_000, max_tokens_factor=1.0)

    # When the oracle plans, Then it buys nothing for the quiet hour, and for the busy one fewer units than
    # the busiest minute asks for on its own (the on-demand quota carries the rest)
    plan = oracle_plan(requests, target, model, quotas(model, target))
    assert plan[0] == 0
    assert 0 < plan[1] < static_units(requests, target)
    assert run(requests, target, model, plan).throttled_attempts == 0
