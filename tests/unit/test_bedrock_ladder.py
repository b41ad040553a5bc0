"""The Bedrock response ladder: the next rung, Provisioned Throughput sizing, routing back, and its bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.bedrock import (
    BedrockDemand,
    BedrockRoute,
    RouteKind,
    size_provisioned_throughput,
)
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, Trigger, decide
from genai_autoscaler.domain.notifications import for_decision, for_routing
from genai_autoscaler.domain.plan import Action, Workflow
from genai_autoscaler.domain.policy import BedrockModelPolicy, parse_policy_document
from genai_autoscaler.domain.provisioned import ProvisionedBill, ProvisionedModel, ProvisionedModelStatus
from genai_autoscaler.domain.signals import Signal, alarm_specs
from genai_autoscaler.domain.state import Lock, TargetState
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = f"us.{MODEL}"
PT = {"tokens_per_minute_per_unit": 100_000, "hourly_price_per_unit_usd": 40.0}
ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"


def model(**bedrock: Any) -> BedrockModelPolicy:
    raw = {
        "type": "bedrock_model",
        "model_id": MODEL,
        "bedrock": {"throttles_per_minute": 5, "tokens_per_minute_quota": 400_000, **bedrock},
    }
    policy = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(policy, BedrockModelPolicy)
    return policy


def throttles(state: AlarmState, value: float | None = 37, since: datetime = NOW) -> SignalReading:
    return SignalReading(Signal.THROTTLES, state, since, value, 5, "Count")


def alarm() -> AlarmTransition:
    return AlarmTransition(throttles(AlarmState.ALARM), AlarmState.OK)


def calm(since: datetime) -> Evaluation:
    return Evaluation((throttles(AlarmState.OK, 0, since),))


def on(kind: RouteKind, since: datetime, **fields: Any) -> TargetState:
    target = {RouteKind.PROFILE: PROFILE, RouteKind.PROVISIONED: ARN}.get(kind, MODEL)
    route = BedrockRoute(kind=kind, model=target, since=since, **fields)
    return TargetState(target_id=f"bedrock/{MODEL}", route=route)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


DEMAND = BedrockDemand(tokens_per_minute=380_000, throttled_per_minute=40, tokens_per_invocation=1_500)


@dataclass(frozen=True)
class Case:
    id: str
    policy: BedrockModelPolicy
    trigger: Trigger
    action: Action
    reason: str
    state: TargetState = field(default_factory=lambda: TargetState(target_id=f"bedrock/{MODEL}"))
    demand: BedrockDemand = DEMAND
    route_to: str | None = None
    units: int | None = None
    cost: float | None = None


CASES = [
    Case(
        "throttles on-demand -> the cross-region profile first",
        model(cross_region_profile=PROFILE),
        alarm(),
        Action.SHIFT_TO_PROFILE,
        "no added spend",
        route_to=PROFILE,
        cost=0.0,
    ),
    Case(
        "still throttling on the profile -> Provisioned Throughput, sized from demand with what was throttled",
        model(
            cross_region_profile=PROFILE, provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=500
        ),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "demand needs 5; 5 model units",  # (380,000 + 40 x 1,500) / 100,000 = 4.4 -> 5
        state=on(RouteKind.PROFILE, ago(3600)),
        units=5,
        cost=200.0,
    ),
    Case(
        "the policy's ladder puts Provisioned Throughput first",
        model(
            cross_region_profile=PROFILE,
            ladder=["provisioned_throughput", "cross_region_profile"],
            provisioned_throughput=PT,
            max_model_units=10,
            hourly_budget_usd=500,
        ),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "no commitment",
        units=5,
        cost=200.0,
    ),
    Case(
        "capped by the policy's maximum",
        model(provisioned_throughput=PT, max_model_units=2, hourly_budget_usd=500),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "limited by the policy's max_model_units",
        units=2,
        cost=80.0,
    ),
    Case(
        "capped by the account's available model units",
        model(provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=500),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "the account's available model units",
        demand=BedrockDemand(380_000, 40, 1_500, model_units_available=3),
        units=3,
        cost=120.0,
    ),
    Case(
        "capped by the hourly budget",
        model(provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=100),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "the hourly budget of $100",
        units=2,
        cost=80.0,
    ),
    Case(
        "a commitment needs a person's approval",
        model(
            provisioned_throughput={**PT, "commitment": "OneMonth"}, max_model_units=10, hourly_budget_usd=500
        ),
        alarm(),
        Action.SHIFT_TO_PROVISIONED,
        "a OneMonth commitment: only once a person approves",
        units=5,
        cost=200.0,
    ),
    Case(
        "no profile and no spend allowed -> notify only",
        model(),
        alarm(),
        Action.NOTIFY_ONLY,
        "no cross-region profile is named; no Provisioned Throughput may be bought",
    ),
    Case(
        "a budget too small for one unit -> notify only",
        model(provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=30),
        alarm(),
        Action.NOTIFY_ONLY,
        "0 model units (limited by the hourly budget of $30)",
    ),
    Case(
        "no token figures -> nothing bought blind",
        model(provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=500),
        alarm(),
        Action.NOTIFY_ONLY,
        "no token figures to size by",
        demand=BedrockDemand(),
    ),
    Case(
        "within the routing cooldown -> wait",
        model(
            cross_region_profile=PROFILE, provisioned_throughput=PT, max_model_units=10, hourly_budget_usd=500
        ),
        alarm(),
        Action.IGNORE,
        "routing cooldown has 300 s left",
        state=on(RouteKind.PROFILE, ago(300)).model_copy(update={"last_shift_at": ago(300)}),
    ),
    Case(
        "a routing change in progress -> wait",
        model(cross_region_profile=PROFILE),
        alarm(),
        Action.IGNORE,
        "in progress",
        state=TargetState(
            target_id=f"bedrock/{MODEL}",
            lock=Lock(owner="shift-1", acquired_at=ago(60), expires_at=NOW + timedelta(1)),
        ),
    ),
    Case(
        "calm for the hold period and demand fits -> route back, deleting the controller's PT",
        model(provisioned_throughput=PT),
        calm(ago(2000)),
        Action.REVERT_ROUTING,
        "deleted once in-flight traffic has drained",
        state=on(
            RouteKind.PROVISIONED, ago(7200), model_units=5, commitment="none", created_by_controller=True
        ),
        demand=BedrockDemand(tokens_per_minute=200_000),
        route_to=MODEL,
        cost=0.0,
    ),
    Case(
        "a committed PT is never deleted early",
        model(provisioned_throughput=PT),
        calm(ago(2000)),
        Action.REVERT_ROUTING,
        "kept until its term ends",
        state=on(
            RouteKind.PROVISIONED,
            ago(7200),
            model_units=5,
            commitment="SixMonths",
            created_by_controller=True,
        ),
        demand=BedrockDemand(tokens_per_minute=200_000),
        route_to=MODEL,
        cost=0.0,
    ),
    Case(
        "calm, but not for the hold period -> stay",
        model(cross_region_profile=PROFILE),
        calm(ago(600)),
        Action.IGNORE,
        "the hold on profile has 1200 s left",
        state=on(RouteKind.PROFILE, ago(7200)),
        demand=BedrockDemand(tokens_per_minute=100_000),
    ),
    Case(
        "calm, but demand near the on-demand quota -> stay (hysteresis)",
        model(cross_region_profile=PROFILE),
        calm(ago(4000)),
        Action.IGNORE,
        "above 70% of the on-demand quota",
        state=on(RouteKind.PROFILE, ago(7200)),
        demand=BedrockDemand(tokens_per_minute=300_000),
    ),
    Case(
        "calm, without figures -> stay",
        model(cross_region_profile=PROFILE),
        calm(ago(4000)),
        Action.IGNORE,
        "no token figures",
        state=on(RouteKind.PROFILE, ago(7200)),
        demand=BedrockDemand(),
    ),
    Case(
        "calm on-demand -> nothing to do",
        model(cross_region_profile=PROFILE),
        calm(ago(4000)),
        Action.IGNORE,
        "traffic is on-demand",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_ladder(case: Case) -> None:
    # Given a Bedrock model's signals, demand and route
    # When the engine decides
    plan = decide(case.trigger, case.policy, case.demand, case.state, NOW)
    # Then it takes the expected rung, says why, and prices it
    assert plan.action is case.action, plan.reason
    assert case.reason in plan.reason
    assert (plan.route_to, plan.model_units, plan.hourly_cost_usd) == (case.route_to, case.units, case.cost)


@pytest.mark.parametrize("advisory", [False, True])
def test_a_routing_plan_runs_the_routing_workflow_unless_advisory(advisory: bool) -> None:
    # Given a throttling model, advisory or not
    target = model(cross_region_profile=PROFILE).model_copy(update={"advisory": advisory})
    # When the engine decides
    plan = decide(alarm(), target, DEMAND, TargetState(target_id="b"), NOW)
    # Then the routing workflow carries it out, or, advisory, it is only notified
    assert plan.action is Action.SHIFT_TO_PROFILE
    assert plan.workflow is (None if advisory else Workflow.ROUTING)
    assert plan.notifies is advisory


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.floats(0, 5e7),
    throttled=st.floats(0, 1e4),
    per_request=st.floats(0, 2e4),
    per_unit=st.integers(1, 10**6),
    price=st.floats(0.5, 200),
    max_units=st.integers(0, 50),
    available=st.none() | st.integers(0, 50),
    budget=st.floats(0, 5000),
    commitment=st.sampled_from(["none", "OneMonth", "SixMonths"]),
)
def test_provisioned_throughput_never_exceeds_its_bounds(
    tokens: float,
    throttled: float,
    per_request: float,
    per_unit: int,
    price: float,
    max_units: int,
    available: int | None,
    budget: float,
    commitment: str,
) -> None:
    # Given any demand, policy and account
    pt = {
        "tokens_per_minute_per_unit": per_unit,
        "hourly_price_per_unit_usd": price,
        "commitment": commitment,
    }
    policy = model(provisioned_throughput=pt, max_model_units=max_units, hourly_budget_usd=budget)
    demand = BedrockDemand(tokens, throttled, per_request, model_units_available=available)
    # When it is sized and the ladder is climbed from on-demand
    sizing = size_provisioned_throughput(policy, demand)
    plan = decide(alarm(), policy, demand, TargetState(target_id="b"), NOW)
    # Then the units never exceed the policy's maximum, the account's units or the budget
    assert 0 <= sizing.units <= max_units
    assert available is None or sizing.units <= available
    assert sizing.hourly_cost_usd <= budget + 1e-6
    # And Provisioned Throughput is planned only with at least one unit, at its sized cost
    if plan.action is Action.SHIFT_TO_PROVISIONED:
        assert plan.model_units == sizing.units >= 1
        assert plan.hourly_cost_usd == pytest.approx(sizing.units * price)
        # And a commitment is never planned without a person's approval
        assert plan.needs_approval == (commitment != "none")
    else:
        assert sizing.units == 0
        assert plan.action is Action.NOTIFY_ONLY


def test_a_spend_is_reported_with_its_running_total() -> None:
    # Given 5 units bought two and a half hours ago at $200 an hour, and calm since
    state = on(
        RouteKind.PROVISIONED,
        ago(9000),
        model_units=5,
        commitment="none",
        hourly_cost_usd=200.0,
        created_by_controller=True,
    )
    # When the way back is decided
    plan = decide(calm(ago(2000)), model(provisioned_throughput=PT), BedrockDemand(200_000), state, NOW)
    # Then the plan carries what the route has cost since the shift, and the notifications say it: the
    # workflow's once done, or advisory mode's
    assert plan.action is Action.REVERT_ROUTING
    assert plan.spent_usd == 500.0
    spent = "Spent on the current route since the shift: $500.00"
    assert spent in for_routing(plan, MODEL, "revert-1").message
    assert spent in for_decision(plan.model_copy(update={"advisory": True})).message


def test_a_deleted_provisioned_throughput_is_billed_from_its_purchase_to_its_deletion() -> None:
    # Given 5 units at $40 an hour, bought 50 minutes before they were deleted, and the way back decided after
    # callers had used them for 35 (the purchase waited 10 minutes for InService, the deletion 5 for the drain)
    bought = ProvisionedModel(
        arn=ARN,
        name="genai-demo-abc123-shift",
        model_arn=MODEL,
        model_units=5,
        status=ProvisionedModelStatus.IN_SERVICE,
        created_at=NOW - timedelta(minutes=50),
    )
    state = on(
        RouteKind.PROVISIONED,
        NOW - timedelta(minutes=40),
        model_units=5,
        commitment="none",
        hourly_cost_usd=200.0,
        created_by_controller=True,
    )
    plan = decide(
        calm(NOW - timedelta(hours=1)),
        model(provisioned_throughput=PT),
        BedrockDemand(200_000),
        state,
        NOW - timedelta(minutes=5),
    )
    # When the notification of the way back gives the bill of the deletion
    bill = ProvisionedBill.of(bought, 40.0, NOW)
    message = for_routing(plan, MODEL, "revert-1", released=f"deleted {ARN}", billed=bill).message

    # Then it is the 50 minutes Bedrock bills, not the 35 since the shift, and on-demand costs per token
    assert bill.hours == pytest.approx(50 / 60)
    assert bill.usd == 166.67
    assert (
        "Provisioned Throughput billed: $166.67: 5 model units at $40.00 an hour each for 50 min" in message
    )
    assert "since the shift" not in message
    assert "Cost: billed per token, at on-demand prices (no hourly charge)" in message
    assert "$0.00" not in message


@pytest.mark.parametrize(
    ("bedrock", "threshold"),
    [
        ({}, 320_000.0),
        ({"token_quota_alarm_share": 0.5}, 200_000.0),
        ({"tokens_per_minute_quota": None}, None),
    ],
    ids=["80% of the quota", "a share of its own", "no quota: no alarm"],
)
def test_the_token_quota_alarm_sums_input_and_output_tokens(
    bedrock: dict[str, Any], threshold: float | None
) -> None:
    # Given a model and its tokens-per-minute quota
    specs = {spec.signal: spec for spec in alarm_specs(model(**bedrock))}
    # Then a metric-math alarm watches input + output tokens per minute against its share of the quota
    if threshold is None:
        assert Signal.TOKEN_QUOTA not in specs
        return
    request = specs[Signal.TOKEN_QUOTA].put_request("stack.quota")
    assert request["Threshold"] == threshold
    assert not {"Namespace", "MetricName", "Period", "Statistic"} & set(request)  # forbidden with Metrics
    total, *terms = request["Metrics"]
    assert (total["Expression"], total["ReturnData"]) == ("m0 + m1", True)
    assert [
        (t["MetricStat"]["Metric"]["MetricName"], t["MetricStat"]["Stat"], t["ReturnData"]) for t in terms
    ] == [
        ("InputTokenCount", "Sum", False),
        ("OutputTokenCount", "Sum", False),
    ]
