"""The controller's Bedrock ladder in the simulator (genai_autoscaler_tools/sim/bedrock_policies.py): driven by its
own alarms, dispatch, `decide` and routing workflow, on simulated Bedrock; Provisioned Throughput's delay and bill."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from genai_autoscaler.app import dispatch
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.provisioned import ProvisionedBill, ProvisionedModel, ProvisionedModelStatus
from genai_autoscaler_tools.sim.bedrock_compare import compare
from genai_autoscaler_tools.sim.bedrock_policies import BedrockControllerPolicy
from genai_autoscaler_tools.sim.bedrock_replay import (
    BedrockConfig,
    BedrockRequests,
    BedrockResult,
    bedrock_requests,
    replay,
)
from genai_autoscaler_tools.sim.bedrock_service import BedrockModel, quotas
from genai_autoscaler_tools.sim.endpoint import RequestProfile
from genai_autoscaler_tools.sim.events import EPOCH
from genai_autoscaler_tools.sim.shapes import shape
from genai_autoscaler_tools.sim.traces import RateSeries

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
QUOTA = 40_000  # tokens per minute on demand: small, so that a replay has few requests
# Plenty of requests per minute: the token quota binds first.
SERVICE = BedrockModel(on_demand_rpm=1_000)


def target(**bedrock: Any) -> BedrockModelPolicy:
    settings: dict[str, Any] = {
        "throttles_per_minute": 5,
        "tokens_per_minute_quota": QUOTA,
        "cross_region_profile": f"us.{MODEL}",
        "provisioned_throughput": {"tokens_per_minute_per_unit": 10_000, "hourly_price_per_unit_usd": 20.0},
        "max_model_units": 20,
        "hourly_budget_usd": 400,
        "hold_seconds": 1800,
        "cooldown_seconds": 600,
    }
    return BedrockModelPolicy.model_validate(
        {"type": "bedrock_model", "name": "claude", "model_id": MODEL, "bedrock": settings | bedrock}
    )


def step_requests(load: float = 3.0) -> BedrockRequests:
    """Six hours: a fifth of the peak, the peak (its busiest minute `load` times the quota) from the second hour to
    the fourth, a fifth again."""
    unit = shape("step", 1.0, 0).trace
    assert isinstance(unit, RateSeries)
    profile = RequestProfile.default()
    mean = float(np.mean(profile.input_tokens + profile.output_tokens))
    peak = load * QUOTA / (float(unit.rates.max()) * 60 * mean)
    return bedrock_requests(shape("step", peak, 0).trace, 0)


STEP = step_requests()


def run_controller(
    policy: BedrockModelPolicy, model: BedrockModel = SERVICE, requests: BedrockRequests = STEP
) -> tuple[BedrockResult, BedrockControllerPolicy]:
    controller = BedrockControllerPolicy(policy)
    result = replay(requests, policy, model, quotas(model, policy), controller, BedrockConfig())
    return result, controller


def test_on_a_step_the_controller_climbs_to_the_profile_then_provisioned_throughput_and_comes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the controller's own decide, watched
    plans: list[Plan] = []
    decide = dispatch.decide

    def watched(*args: Any, **kwargs: Any) -> Plan:
        plan = decide(*args, **kwargs)
        plans.append(plan)
        return plan

    monkeypatch.setattr(dispatch, "decide", watched)

    # When the step is replayed against it
    result, controller = run_controller(target())

    # Then it sent callers to the profile when the step came, bought Provisioned Throughput, and came back once
    # the step had passed and the hold was over
    assert [action.action for action in result.actions] == [
        "shift_to_profile",
        "shift_to_provisioned",
        "revert_routing",
    ]
    profile, provisioned, back = (action.at_s for action in result.actions)
    assert 2 * 3600 <= profile < 2 * 3600 + 300
    assert provisioned - profile == pytest.approx(600, abs=60)  # the routing cooldown
    # The step's end, then the hold; then the busiest of the last 15 minutes within 70% of the quota
    assert 4 * 3600 + 1800 <= back < 6 * 3600
    # And every action is a plan decide returned at that moment: the ladder is the controller's own
    carried = {(plan.decided_at, plan.action.value) for plan in plans}
    for action in result.actions:
        assert (EPOCH + timedelta(seconds=action.at_s), action.action) in carried
    # And the route the workflow remembers is on-demand again, the Provisioned Throughput deleted after the drain
    state = controller.ctl.state.load(target().target_id)
    assert state.route is not None
    assert state.route.kind == "on_demand"
    (record,) = controller.world.provisioned.values()
    assert record.deleted_at == pytest.approx(back + 300, abs=10)
    # And it throttled far less than on-demand alone
    alone = compare(STEP, target(), SERVICE, ["on_demand_only"], BedrockConfig())["on_demand_only"]
    assert result.throttled < alone.throttled / 5


@pytest.mark.parametrize("delay", [600.0, 1200.0, 2400.0])
def test_provisioned_throughput_serves_after_its_delay_and_bills_from_purchase_to_deletion(
    delay: float,
) -> None:
    # Given Provisioned Throughput that takes `delay` to come InService
    result, controller = run_controller(target(), SERVICE.model_copy(update={"pt_provisioning_s": delay}))
    (record,) = controller.world.provisioned.values()
    assert record.in_service_at == record.bought_at + delay
    # Then callers are sent to it once the workflow's polling finds it InService (every 60 s), not before
    routes = controller.ctl.routes
    assert routes is not None
    published = [route for route in routes.published if route.kind == "provisioned"]  # type: ignore[attr-defined]
    (to_pt,) = published
    moved = (to_pt.since - EPOCH).total_seconds()
    assert record.in_service_at <= moved < record.in_service_at + 60 + 10
    # And the bill runs from the purchase to the deletion, as the routing workflow's own bill counts it
    assert record.deleted_at is not None
    bill = ProvisionedBill(
        model_units=record.units,
        hourly_price_per_unit_usd=20.0,
        bought_at=EPOCH + timedelta(seconds=record.bought_at),
        deleted_at=EPOCH + timedelta(seconds=record.deleted_at),
    )
    assert result.provisioned_usd == pytest.approx(bill.usd, abs=0.01)
    assert result.unit_hours == pytest.approx(record.units * (record.deleted_at - record.bought_at) / 3600)


def test_a_longer_provisioning_delay_throttles_more() -> None:
    throttled = [
        run_controller(target(), SERVICE.model_copy(update={"pt_provisioning_s": delay}))[0].throttled
        for delay in (300.0, 1200.0, 2400.0)
    ]
    assert throttled == sorted(throttled)
    assert throttled[0] < throttled[-1]


def test_provisioning_beyond_the_workflows_timeout_is_abandoned_and_stops_billing() -> None:
    # Given Provisioned Throughput slower than the policy's in_service_timeout_seconds (300 s)
    policy = target(
        provisioned_throughput={
            "tokens_per_minute_per_unit": 10_000,
            "hourly_price_per_unit_usd": 20.0,
            "in_service_timeout_seconds": 300,
        }
    )
    result, controller = run_controller(policy, SERVICE.model_copy(update={"pt_provisioning_s": 1200.0}))
    # Then the purchase fails and is deleted at the timeout: no route to it, a bill of about five minutes
    purchases = [action for action in result.actions if action.action == "shift_to_provisioned"]
    assert purchases
    assert all("(failed)" in action.detail for action in purchases)
    first = min(controller.world.provisioned.values(), key=lambda record: record.bought_at)
    assert first.deleted_at is not None
    assert 300 <= first.deleted_at - first.bought_at <= 300 + 60 + 10
    routes = controller.ctl.routes
    assert routes is not None
    assert all(route.kind != "provisioned" for route in routes.published)  # type: ignore[attr-defined]


def test_the_simulated_provisioned_throughput_port_reports_creating_then_in_service() -> None:
    _, controller = run_controller(target())
    port = controller.provisioned
    (arn,) = controller.world.provisioned
    described = port.models.get(arn)
    assert described is None  # deleted by the time the replay ends
    model = ProvisionedModel(
        arn=arn,
        name="x",
        model_arn="arn:aws:bedrock:us-east-1::foundation-model/m",
        model_units=1,
        status=ProvisionedModelStatus.CREATING,
        created_at=EPOCH,
    )
    port.models[arn] = model
    record = controller.world.provisioned[arn]
    controller.world.now = record.in_service_at - 1
    assert port.describe(arn).status is ProvisionedModelStatus.CREATING  # type: ignore[union-attr]
    controller.world.now = record.in_service_at
    assert port.describe(arn).status is ProvisionedModelStatus.IN_SERVICE  # type: ignore[union-attr]


def test_the_global_profile_is_the_next_rung_after_the_geographic_one() -> None:
    # Given a policy that may send data out of the geography, and no Provisioned Throughput on its ladder
    policy = target(
        global_profile=f"global.{MODEL}",
        data_may_leave_geography=True,
        ladder=["cross_region_profile", "global_profile"],
    )
    # When the step (its peak at 3x the on-demand quota, beyond the geographic profile's double) is replayed
    result, _ = run_controller(policy)
    # Then callers go to the geographic profile, then the global one, and some are served there
    assert [action.detail for action in result.actions[:2]] == [f"us.{MODEL}", f"global.{MODEL}"]
    assert result.served_by.get("global_profile", 0) > 0
    assert result.provisioned_usd == 0


def test_a_latency_alarm_sends_callers_to_the_priority_tier_which_is_faster_and_priced() -> None:
    # Given a latency threshold the model's long answers exceed, within every quota, and a priced Priority tier
    policy = target(
        latency_p95_ms=3000,
        ladder=["priority_tier"],
        priority_tier={"price_premium": 0.75, "standard_usd_per_million_tokens": 6.0},
    )
    requests = step_requests(load=0.5)
    result, _ = run_controller(policy, requests=requests)
    # Then the controller moves callers to the Priority tier, and stays (the top of this ladder)
    assert [action.action for action in result.actions] == ["shift_to_priority_tier"]
    # And answers come faster than at the Standard tier, at the premium on the tokens served there
    standard = compare(requests, policy, SERVICE, ["on_demand_only"], BedrockConfig())["on_demand_only"]
    assert result.p50_latency_s < standard.p50_latency_s
    assert result.premium_usd is not None
    assert result.premium_usd > 0
    assert result.cost_usd == result.premium_usd


def test_counted_under_the_id_callers_call_the_controller_still_sees_the_route_throttle() -> None:
    # Given CloudWatch counting a profile's and a Provisioned Throughput's calls under the ID they were made with
    # (the model's own metrics, which its alarms watch, go quiet once callers have left it)
    called = SERVICE.model_copy(update={"metrics_model_id": "called"})
    result, _ = run_controller(target(), called)
    # Then the controller reads the demand under every ID its callers use: it sees the profile throttle and
    # climbs to Provisioned Throughput, and comes back once the step has passed
    assert [action.action for action in result.actions] == [
        "shift_to_profile",
        "shift_to_provisioned",
        "revert_routing",
    ]
    plain, _ = run_controller(target())
    assert result.throttled <= 1.5 * plain.throttled


def test_every_purchase_is_billed_though_an_earlier_one_was_deleted() -> None:
    # Given the simulated account after a replay (its one purchase deleted by the way back)
    _, controller = run_controller(target())
    port, world = controller.provisioned, controller.world
    (first,) = world.provisioned
    assert first not in port.models
    # When two more are bought
    world.now = world.end_s - 3600
    second = port.create(MODEL, 3, "b", None, "token-2", {})
    third = port.create(MODEL, 4, "c", None, "token-3", {})
    # Then each has an ARN of its own (a deleted one's is never reused) and the bill counts all three
    assert len({first, second, third}) == 3
    records = world.provisioned.values()
    assert world.unit_hours() == pytest.approx(sum(r.units * r.hours(world.end_s) for r in records))
    assert world.provisioned[second].units == 3


def test_with_overflow_callers_use_the_free_quotas_beside_a_smaller_provisioned_throughput() -> None:
    # Given the same step, callers that overflow (the route client) and the profile's quota stated
    whole, _ = run_controller(target())
    overflowing = target(overflow=True, profile_tokens_per_minute_quota=2 * QUOTA)
    result, _ = run_controller(overflowing)
    # Then the controller buys fewer units for the same step, and throttles no more
    assert result.unit_hours < whole.unit_hours
    assert result.throttled <= whole.throttled
    # And while it was on its Provisioned Throughput, the profile and the model served the overflow
    assert result.served_by.get("profile", 0) > 0
    assert "provisioned" in result.served_by
