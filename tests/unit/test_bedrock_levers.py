"""Bedrock's newer levers on the ladder: the global cross-region profile (only where data may leave the
geography) and the Priority service tier (for latency alarms only); the routing workflow that carries them
out, the guardrail that holds them to the published policy, and the route callers read with its tier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.validate import ParamValidator
from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.bedrock import BedrockDemand, BedrockRoute, RouteKind, ServiceTier
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, decide
from genai_autoscaler.domain.guardrails import route_problems
from genai_autoscaler.domain.notifications import for_decision
from genai_autoscaler.domain.plan import Action
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, parse_policy_document
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import TargetState
from genai_autoscaler.errors import PlanRefused
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_route import ModelRoute

from tests.unit.builders import NOW
from tests.unit.test_routing_workflow import TARGET_ID, World

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
GEO = f"us.{MODEL}"
GLOBAL = f"global.{MODEL}"
PT = {"tokens_per_minute_per_unit": 100_000, "hourly_price_per_unit_usd": 40.0}
PRIORITY = {"price_premium": 0.75, "standard_usd_per_million_tokens": 6.0}
DEMAND = BedrockDemand(tokens_per_minute=200_000, on_demand_quota_tpm=400_000)


def model(**bedrock: Any) -> BedrockModelPolicy:
    raw = {
        "type": "bedrock_model",
        "model_id": MODEL,
        "bedrock": {"throttles_per_minute": 5, "latency_p95_ms": 4000, "ttft_p95_ms": 800, **bedrock},
    }
    target = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(target, BedrockModelPolicy)
    return target


def reading(signal: Signal, state: AlarmState = AlarmState.ALARM, since: Any = NOW) -> SignalReading:
    figures = {
        Signal.THROTTLES: (37, 5, "Count"),
        Signal.LATENCY_P95: (6100, 4000, "Milliseconds"),
        Signal.TTFT_P95: (1900, 800, "Milliseconds"),
        Signal.TOKEN_QUOTA: (390_000, 320_000, "Count"),
    }[signal]
    value = figures[0] if state is AlarmState.ALARM else 0
    return SignalReading(signal, state, since, value, figures[1], figures[2])


def firing(*signals: Signal) -> Evaluation:
    return Evaluation(tuple(reading(signal) for signal in signals))


def on(
    model_id: str, kind: RouteKind, tier: ServiceTier = ServiceTier.DEFAULT, hours: float = 2
) -> TargetState:
    route = BedrockRoute(kind=kind, model=model_id, since=NOW - timedelta(hours=hours), service_tier=tier)
    return TargetState(target_id=TARGET_ID, route=route)


ON_DEMAND = TargetState(target_id=TARGET_ID)
EVERY_RUNG = {
    "cross_region_profile": GEO,
    "global_profile": GLOBAL,
    "data_may_leave_geography": True,
    "priority_tier": PRIORITY,
    "provisioned_throughput": PT,
    "max_model_units": 10,
    "hourly_budget_usd": 500,
    "ladder": ["priority_tier", "cross_region_profile", "global_profile", "provisioned_throughput"],
}


# --- the policy ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bedrock", "problem"),
    [
        ({"global_profile": GLOBAL}, "set data_may_leave_geography: true"),
        ({"cross_region_profile": GLOBAL, "data_may_leave_geography": True}, "is a global profile"),
        ({"global_profile": GEO, "data_may_leave_geography": True}, "does not start with 'global.'"),
        ({"cross_region_profile": "anthropic claude"}, "cross_region_profile"),
        ({"priority_tier": {"price_premium": 0}}, "price_premium"),
        ({"ladder": ["priority_tier", "priority_tier"]}, "names a response twice"),
    ],
)
def test_a_policy_that_would_send_data_or_money_where_it_may_not_is_refused_naming_why(
    bedrock: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PolicyError, match=problem):
        model(**bedrock)


def test_profiles_may_be_named_by_arn_and_a_global_arn_is_a_global_profile() -> None:
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{GLOBAL}"
    assert model(global_profile=arn, data_may_leave_geography=True).bedrock.global_profile == arn
    with pytest.raises(PolicyError, match="is a global profile"):
        model(cross_region_profile=arn)


# --- the ladder ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "signals", "action", "route_to", "tier", "reason"),
    [
        # a latency alarm on-demand: Priority first, on the model itself
        (ON_DEMAND, [Signal.LATENCY_P95], Action.SHIFT_TO_PRIORITY_TIER, MODEL, "priority", "same quota"),
        (ON_DEMAND, [Signal.TTFT_P95], Action.SHIFT_TO_PRIORITY_TIER, MODEL, "priority", "+ 75%"),
        # a throttle skips Priority (it shares the quota) for the geographic profile
        (ON_DEMAND, [Signal.THROTTLES], Action.SHIFT_TO_PROFILE, GEO, "default", "within the geography"),
        (ON_DEMAND, [Signal.TOKEN_QUOTA], Action.SHIFT_TO_PROFILE, GEO, "default", "a larger quota"),
        # latency and a throttle together: Priority would not relieve the throttle
        (
            ON_DEMAND,
            [Signal.LATENCY_P95, Signal.THROTTLES],
            Action.SHIFT_TO_PROFILE,
            GEO,
            "default",
            "geography",
        ),
        # on Priority, still slow: the geographic profile, at the Standard tier
        (
            on(MODEL, RouteKind.ON_DEMAND, ServiceTier.PRIORITY),
            [Signal.LATENCY_P95],
            Action.SHIFT_TO_PROFILE,
            GEO,
            "default",
            "geography",
        ),
        # on the geographic profile, throttling: the global one
        (
            on(GEO, RouteKind.PROFILE),
            [Signal.THROTTLES],
            Action.SHIFT_TO_PROFILE,
            GLOBAL,
            "default",
            "any commercial Region",
        ),
        # on the global profile, throttling: Provisioned Throughput
        (
            on(GLOBAL, RouteKind.GLOBAL_PROFILE),
            [Signal.THROTTLES],
            Action.SHIFT_TO_PROVISIONED,
            None,
            "default",
            "no commitment",
        ),
    ],
)
def test_each_alarm_takes_the_next_rung_that_answers_it(
    state: TargetState, signals: list[Signal], action: Action, route_to: str | None, tier: str, reason: str
) -> None:
    plan = decide(firing(*signals), model(**EVERY_RUNG), DEMAND, state, NOW)
    assert plan.action is action, plan.reason
    assert reason in plan.reason
    if route_to is not None:
        assert plan.route_to == route_to
    assert plan.service_tier == tier


def test_priority_on_a_profile_keeps_the_profile() -> None:
    policy = model(
        cross_region_profile=GEO, priority_tier=PRIORITY, ladder=["cross_region_profile", "priority_tier"]
    )
    plan = decide(firing(Signal.LATENCY_P95), policy, DEMAND, on(GEO, RouteKind.PROFILE), NOW)
    assert (plan.action, plan.route_to, plan.service_tier) == (Action.SHIFT_TO_PRIORITY_TIER, GEO, "priority")


def test_without_a_rung_that_answers_it_a_throttle_is_only_told() -> None:
    policy = model(priority_tier=PRIORITY, ladder=["priority_tier"])
    plan = decide(AlarmTransition(reading(Signal.THROTTLES), AlarmState.OK), policy, DEMAND, ON_DEMAND, NOW)
    assert plan.action is Action.NOTIFY_ONLY
    assert "relieves latency only, not throttles" in plan.reason


def test_a_global_profile_not_on_the_ladder_is_never_used() -> None:
    policy = model(cross_region_profile=GEO, global_profile=GLOBAL, data_may_leave_geography=True)
    newly = AlarmTransition(reading(Signal.THROTTLES), AlarmState.OK)
    plan = decide(newly, policy, DEMAND, on(GEO, RouteKind.PROFILE), NOW)
    # the default ladder is the geographic profile, then Provisioned Throughput (none set)
    assert plan.action is Action.NOTIFY_ONLY


def test_the_premium_is_priced_per_hour_where_the_token_price_is_given() -> None:
    priced = decide(firing(Signal.LATENCY_P95), model(**EVERY_RUNG), DEMAND, ON_DEMAND, NOW)
    # 200,000 tokens/min x 60 / 1e6 x $6 x 0.75
    assert priced.price_note == (
        "Priority tier: Standard's token price + 75%, about $54.00/h more at the recent 200,000 tokens/min"
    )
    unpriced = model(**{**EVERY_RUNG, "priority_tier": {"price_premium": 0.75}})
    plan = decide(firing(Signal.LATENCY_P95), unpriced, DEMAND, ON_DEMAND, NOW)
    assert plan.price_note == "Priority tier: Standard's token price + 75%"
    advisory = for_decision(plan.model_copy(update={"advisory": True}))
    assert "would shift to the Priority tier" in advisory.message
    assert "Cost: Priority tier: Standard's token price + 75%" in advisory.message


@pytest.mark.parametrize(
    ("state", "demand", "action", "reason"),
    [
        # Priority on the model itself: no quota to fit back into, back once calm for the hold
        (
            on(MODEL, RouteKind.ON_DEMAND, ServiceTier.PRIORITY),
            BedrockDemand(),
            Action.REVERT_ROUTING,
            "at the Standard tier again",
        ),
        # Priority on a profile: back only when demand fits the on-demand quota
        (
            on(GEO, RouteKind.PROFILE, ServiceTier.PRIORITY),
            BedrockDemand(tokens_per_minute=390_000, on_demand_quota_tpm=400_000),
            Action.IGNORE,
            "staying on profile",
        ),
        (
            on(GLOBAL, RouteKind.GLOBAL_PROFILE),
            BedrockDemand(tokens_per_minute=100_000, on_demand_quota_tpm=400_000),
            Action.REVERT_ROUTING,
            "fits the on-demand quota",
        ),
        (
            on(MODEL, RouteKind.ON_DEMAND, ServiceTier.PRIORITY, hours=0.1),
            BedrockDemand(),
            Action.IGNORE,
            "the hold on the Priority tier",
        ),
    ],
)
def test_the_way_back_is_to_the_model_at_the_standard_tier(
    state: TargetState, demand: BedrockDemand, action: Action, reason: str
) -> None:
    calm = Evaluation(
        tuple(reading(s, AlarmState.OK, NOW - timedelta(hours=1)) for s in (Signal.LATENCY_P95,))
    )
    plan = decide(calm, model(**EVERY_RUNG), demand, state, NOW)
    assert plan.action is action, plan.reason
    assert reason in plan.reason
    if action is Action.REVERT_ROUTING:
        assert (plan.route_to, plan.service_tier) == (MODEL, "default")


# --- the guardrail and the workflow --------------------------------------------------------------------------


def test_the_published_policy_must_still_offer_the_rung_when_callers_are_moved() -> None:
    plan = decide(firing(Signal.LATENCY_P95), model(**EVERY_RUNG), DEMAND, ON_DEMAND, NOW)
    assert route_problems(plan, model(**EVERY_RUNG)) == []
    no_priority = model(**{**EVERY_RUNG, "ladder": ["cross_region_profile"]})
    assert route_problems(plan, no_priority) == [
        "the published policy has no priority_tier rung: the Priority tier costs more per token"
    ]
    to_global = plan.model_copy(update={"action": Action.SHIFT_TO_PROFILE, "route_to": GLOBAL})
    kept_home = model(**{**EVERY_RUNG, "global_profile": None, "data_may_leave_geography": False})
    assert route_problems(to_global, kept_home) == [
        f"the plan sends callers to {GLOBAL}, but it names {GEO} in the published policy"
    ]


def test_the_priority_tier_is_published_with_the_route_and_the_way_back_drops_it(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    world = World(clock, bedrock, on(GEO, RouteKind.PROFILE))
    policy = model(**{**EVERY_RUNG, "ladder": ["cross_region_profile", "priority_tier"]})
    document = world.start(policy, "priority-1", firing(Signal.TTFT_P95))
    for step in ("acquire_lock", "publish_route"):
        document = world.step(step, document)
    published = world.routes.current(MODEL)
    assert published is not None
    assert (published.model_id, published.kind, published.service_tier) == (
        GEO,
        RouteKind.PROFILE,
        "priority",
    )
    assert world.state.route is not None
    assert world.state.route.rung == "priority_tier"
    told = document["notification"]
    assert "shifted to the Priority tier" in told["subject"]
    assert "Standard's token price + 75%" in told["message"]
    # An hour of calm later, with demand within the on-demand quota: back to the model, Standard tier
    clock.advance(3600)
    calm = Evaluation((reading(Signal.TTFT_P95, AlarmState.OK, clock.now() - timedelta(minutes=45)),))
    back = world.start(
        policy, "back-1", calm, BedrockDemand(tokens_per_minute=10_000, on_demand_quota_tpm=400_000)
    )
    for step in ("acquire_lock", "publish_route"):
        back = run_routing_step(world.ctl, step, back, clock.now())
    published = world.routes.current(MODEL)
    assert published is not None
    assert (published.model_id, published.kind, published.service_tier) == (
        MODEL,
        RouteKind.ON_DEMAND,
        "default",
    )


def test_a_global_route_is_published_as_such(clock: SimClock, bedrock: FakeBedrock) -> None:
    world = World(clock, bedrock, on(GEO, RouteKind.PROFILE))
    document = world.start(model(**EVERY_RUNG), "global-1", firing(Signal.THROTTLES))
    for step in ("acquire_lock", "publish_route"):
        document = world.step(step, document)
    published = world.routes.current(MODEL)
    assert published is not None
    assert (published.model_id, published.kind) == (GLOBAL, RouteKind.GLOBAL_PROFILE)
    assert "shifted to its global profile" in document["notification"]["subject"]


# --- what callers read ---------------------------------------------------------------------------------------


class _Ssm:
    def __init__(self, value: str) -> None:
        self.value = value

    def get_parameter(self, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Name": Name, "Value": self.value}}


@pytest.fixture(scope="module")
def runtime_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("bedrock-runtime")


@pytest.mark.parametrize("tier", [ServiceTier.PRIORITY, ServiceTier.DEFAULT])
def test_the_route_client_passes_the_tier_as_each_api_takes_it(tier: ServiceTier, runtime_model: Any) -> None:
    route = BedrockRoute(kind=RouteKind.PROFILE, model=GEO, since=NOW, service_tier=tier)
    client = ModelRoute(MODEL, ssm_client=_Ssm(PublishedRoute.of(route, MODEL).to_json()))
    converse = client.converse_args()
    invoke = client.invoke_model_args()
    if tier is ServiceTier.PRIORITY:
        assert converse == {"modelId": GEO, "serviceTier": {"type": "priority"}}
        assert invoke == {"modelId": GEO, "serviceTier": "priority"}
    else:
        assert converse == invoke == {"modelId": GEO}  # the Standard tier is what Bedrock serves unasked
    # botocore accepts both as it would send them
    validator = ParamValidator()
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    converse_shape = runtime_model.operation_model("Converse").input_shape
    invoke_shape = runtime_model.operation_model("InvokeModel").input_shape
    assert not validator.validate({**converse, "messages": messages}, converse_shape).has_errors()
    assert not validator.validate({**invoke, "body": b"{}"}, invoke_shape).has_errors()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a tier botocore does not know
        ('{"model_id": "x.y", "service_tier": "express"}', (MODEL, "default")),
        ('{"model_id": "x.y"}', ("x.y", "default")),  # a route published before tiers
    ],
)
def test_a_route_with_an_unknown_tier_is_not_a_route(value: str, expected: tuple[str, str]) -> None:
    assert tuple(ModelRoute(MODEL, ssm_client=_Ssm(value)).route())[:2] == expected


# --- a route the policy no longer allows, throttling on the route, a larger Provisioned Throughput -------------


def test_callers_leave_a_global_profile_the_policy_no_longer_allows() -> None:
    # Given callers on the global profile, and a policy that has since withdrawn its consent
    kept_home = model(
        cross_region_profile=GEO, priority_tier=PRIORITY, ladder=["priority_tier", "cross_region_profile"]
    )
    on_global = on(GLOBAL, RouteKind.GLOBAL_PROFILE)
    # When a latency alarm fires, or when all is calm
    for trigger in (
        firing(Signal.LATENCY_P95),
        Evaluation((reading(Signal.LATENCY_P95, AlarmState.OK, ago_h(1)),)),
    ):
        plan = decide(trigger, kept_home, DEMAND, on_global, NOW)
        # Then callers go straight back to the model, at the Standard tier
        assert (plan.action, plan.route_to, plan.service_tier) == (Action.REVERT_ROUTING, MODEL, "default")
        assert f"the policy no longer allows the profile {GLOBAL}" in plan.reason
    # And a Priority shift that would keep them there is refused as callers are moved
    consenting = model(
        global_profile=GLOBAL,
        data_may_leave_geography=True,
        priority_tier=PRIORITY,
        ladder=["global_profile", "priority_tier"],
    )
    priority = decide(firing(Signal.LATENCY_P95), consenting, DEMAND, on_global, NOW)
    assert priority.action is Action.SHIFT_TO_PRIORITY_TIER
    assert route_problems(priority, kept_home) == [
        f"the plan keeps callers on {GLOBAL} at the Priority tier, but the published policy does not allow that route"
    ]


def ago_h(hours: float) -> Any:
    return NOW - timedelta(hours=hours)


def test_throttling_on_the_route_itself_climbs_though_the_models_alarms_are_calm() -> None:
    # Given callers on the geographic profile, the model's own alarms OK (its traffic has moved), and the
    # profile throttling (its metrics are under its own ID)
    calm = Evaluation((reading(Signal.THROTTLES, AlarmState.OK, ago_h(0.5)),))
    throttled = BedrockDemand(
        tokens_per_minute=900_000,
        throttled_per_minute=40,
        tokens_per_invocation=2_000,
        on_demand_quota_tpm=400_000,
    )
    plan = decide(calm, model(**EVERY_RUNG), throttled, on(GEO, RouteKind.PROFILE), NOW)
    # Then it climbs to the next rung for a throttle (the global profile), not back
    assert (plan.action, plan.route_to) == (Action.SHIFT_TO_PROFILE, GLOBAL)
    assert "40 requests/min throttled on on profile" in plan.reason


def test_still_throttled_on_its_provisioned_throughput_the_controller_buys_a_larger_one() -> None:
    # Given callers on 4 units the controller bought without commitment, still throttled
    route = BedrockRoute(
        kind=RouteKind.PROVISIONED,
        model="arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
        since=ago_h(1),
        provisioned_model_arn="arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
        model_units=4,
        commitment="none",
        hourly_cost_usd=160.0,
        created_by_controller=True,
    )
    state = TargetState(target_id=TARGET_ID, route=route)
    busy = BedrockDemand(tokens_per_minute=700_000, throttled_per_minute=20, tokens_per_invocation=2_000)
    plan = decide(firing(Signal.THROTTLES), model(**EVERY_RUNG), busy, state, NOW)
    # Then it buys one sized for the demand (700k + 20 x 2k) / 100k -> 8 units, to replace the 4
    assert (plan.action, plan.model_units, plan.hourly_cost_usd) == (Action.SHIFT_TO_PROVISIONED, 8, 320.0)
    assert "replace its 4 model units of Provisioned Throughput, still throttled" in plan.reason
    # And not when the demand asks for no more than it has
    enough = BedrockDemand(tokens_per_minute=350_000, throttled_per_minute=10, tokens_per_invocation=2_000)
    unchanged = decide(firing(Signal.THROTTLES), model(**EVERY_RUNG), enough, state, NOW)
    assert unchanged.action is Action.IGNORE  # (told once, when the alarm first fired)
    assert "it is at the top of its ladder" in unchanged.reason


# --- overflow: Provisioned Throughput first, the free quotas after it -------------------------------------------

PT_ROUTE = BedrockRoute(
    kind=RouteKind.PROVISIONED,
    model="arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
    since=NOW - timedelta(hours=1),
    provisioned_model_arn="arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
    model_units=6,
    commitment="none",
    created_by_controller=True,
)
OVERFLOWING = {
    **EVERY_RUNG,
    "overflow": True,
    "tokens_per_minute_quota": 400_000,
    "profile_tokens_per_minute_quota": 800_000,
    "global_profile_tokens_per_minute_quota": 1_000_000,
}


def test_a_route_overflows_to_the_free_quotas_the_policy_allows_in_the_ladders_order() -> None:
    from genai_autoscaler.domain.bedrock import with_overflow

    policy = model(**OVERFLOWING)
    assert with_overflow(policy, PT_ROUTE).overflow == (GEO, GLOBAL, MODEL)
    on_geo = BedrockRoute(kind=RouteKind.PROFILE, model=GEO, since=NOW)
    assert with_overflow(policy, on_geo).overflow == (GLOBAL, MODEL)
    # Not at the Priority tier (its overflow would be Standard), not on-demand, not with overflow off
    priority = on_geo.model_copy(update={"service_tier": ServiceTier.PRIORITY})
    assert with_overflow(policy, priority).overflow == ()
    assert (
        with_overflow(policy, BedrockRoute(kind=RouteKind.ON_DEMAND, model=MODEL, since=NOW)).overflow == ()
    )
    assert with_overflow(model(**EVERY_RUNG), PT_ROUTE).overflow == ()
    # And the route callers read carries it
    assert PublishedRoute.of(with_overflow(policy, PT_ROUTE), MODEL).overflow == (GEO, GLOBAL, MODEL)


def test_with_overflow_provisioned_throughput_is_sized_for_what_the_free_quotas_cannot_carry() -> None:
    from genai_autoscaler.domain.bedrock import size_provisioned_throughput

    demand = BedrockDemand(tokens_per_minute=3_500_000, throttled_per_minute=0, on_demand_quota_tpm=400_000)
    # free: 80% of 400k + 800k + 1,000k = 1,760,000; (3,500,000 - 1,760,000) / 100,000 -> 18 units
    assert size_provisioned_throughput(model(**OVERFLOWING), demand).wanted == 18
    # without overflow, the whole demand: 35 units
    assert size_provisioned_throughput(model(**EVERY_RUNG), demand).wanted == 35


def test_with_overflow_the_way_back_steps_down_to_the_profile_once_the_free_quotas_carry_the_demand() -> None:
    calm = Evaluation((reading(Signal.THROTTLES, AlarmState.OK, ago_h(1)),))
    state = TargetState(target_id=TARGET_ID, route=PT_ROUTE)
    # 1,000,000 tokens/min: above 70% of the model's 400k, within 70% of the 2,200,000 of the model and profiles
    fits = BedrockDemand(tokens_per_minute=1_000_000, throttled_per_minute=0, on_demand_quota_tpm=400_000)
    plan = decide(calm, model(**OVERFLOWING), fits, state, NOW)
    assert (plan.action, plan.route_to) == (Action.SHIFT_TO_PROFILE, GEO)
    assert "fits the free quotas (2,200,000" in plan.reason
    # Above that, it stays; without overflow (callers pass one modelId), it stays too
    busy = BedrockDemand(tokens_per_minute=1_700_000, throttled_per_minute=0, on_demand_quota_tpm=400_000)
    assert decide(calm, model(**OVERFLOWING), busy, state, NOW).action is Action.IGNORE
    assert decide(calm, model(**EVERY_RUNG), fits, state, NOW).action is Action.IGNORE


class _Runtime:
    """A bedrock-runtime client whose calls to the listed model IDs are throttled."""

    def __init__(self, throttled: set[str], error: str = "ThrottlingException") -> None:
        self.throttled, self.error, self.calls = throttled, error, list[dict[str, Any]]()

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls.append(kwargs)
        if kwargs["modelId"] in self.throttled:
            raise ClientError({"Error": {"Code": self.error, "Message": "slow down"}}, "Converse")
        return {"output": {"message": {"role": "assistant", "content": [{"text": kwargs["modelId"]}]}}}

    invoke_model = converse


def test_the_route_client_goes_on_to_the_overflow_while_a_call_is_throttled() -> None:
    route = with_overflow_route()
    client = ModelRoute(MODEL, ssm_client=_Ssm(PublishedRoute.of(route, MODEL).to_json()))
    runtime = _Runtime({PT_ROUTE.model, GEO})
    answer = client.converse(runtime, messages=[])
    # The PT throttled, then the profile: the model itself answered; the tier went only with the first call
    assert answer["output"]["message"]["content"][0]["text"] == MODEL
    assert [c["modelId"] for c in runtime.calls] == [PT_ROUTE.model, GEO, MODEL]
    # Every destination throttling: the last one's error is the caller's
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        client.invoke_model(_Runtime({PT_ROUTE.model, GEO, MODEL}), body=b"{}")
    # Another error is not overflowed: it is the caller's at once
    other = _Runtime({PT_ROUTE.model}, error="ValidationException")
    with pytest.raises(botocore.exceptions.ClientError, match="ValidationException"):
        client.converse(other, messages=[])
    assert len(other.calls) == 1


def with_overflow_route() -> BedrockRoute:
    from genai_autoscaler.domain.bedrock import with_overflow

    return with_overflow(
        model(**{**OVERFLOWING, "global_profile": None, "data_may_leave_geography": False}), PT_ROUTE
    )


def test_beyond_what_the_free_quotas_carry_callers_go_to_the_profile_while_provisioned_throughput_is_bought(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given callers overflowing, the profile's quota stated, and a first throttle already 2,000,000 tokens/min:
    # beyond the 960,000 the model's and the profile's quotas carry (80% of 400k + 800k)
    policy = model(
        **{
            **OVERFLOWING,
            "global_profile": None,
            "data_may_leave_geography": False,
            "ladder": ["cross_region_profile", "provisioned_throughput"],
        }
    )
    busy = BedrockDemand(tokens_per_minute=2_000_000, throttled_per_minute=0, on_demand_quota_tpm=400_000)
    plan = decide(AlarmTransition(reading(Signal.THROTTLES), AlarmState.OK), policy, busy, ON_DEMAND, NOW)
    # Then one plan sends callers to the profile now and buys the rest at once: (2,000,000 - 960,000) / 100k
    # -> 11 units, within the policy's 10
    assert (plan.action, plan.route_to, plan.model_units) == (Action.SHIFT_TO_PROVISIONED, GEO, 10)
    assert "demand needs 11; 10 model units (limited by the policy's max_model_units)" in plan.reason
    assert "beyond what the free quotas carry (960,000)" in plan.reason
    # And the workflow moves callers to the profile as it buys, before the units are InService
    world = World(clock, bedrock)
    document = world.start(
        policy, "interim-1", AlarmTransition(reading(Signal.THROTTLES), AlarmState.OK), busy
    )
    for step in ("acquire_lock", "buy_provisioned"):
        document = world.step(step, document)
    published = world.routes.current(MODEL)
    assert published is not None
    assert (published.model_id, published.overflow) == (GEO, (MODEL,))
    # A plan whose interim profile the published policy no longer allows moves nobody
    other = World(clock, bedrock)
    refused = other.start(
        policy, "interim-2", AlarmTransition(reading(Signal.THROTTLES), AlarmState.OK), busy
    )
    other.publish(model(**{**OVERFLOWING, "cross_region_profile": None, "global_profile": None}))
    refused = other.step("acquire_lock", refused)
    with pytest.raises(PlanRefused):
        other.step("buy_provisioned", refused)
    assert other.routes.current(MODEL) is None
    bought = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert len(bought) == 1  # the first plan's: the refused one bought nothing


def test_growing_its_own_provisioned_throughput_waits_for_no_cooldown() -> None:
    # Given callers on 4 units bought 5 minutes ago (the routing cooldown is 10), throttled since they got there
    route = PT_ROUTE.model_copy(update={"model_units": 4, "since": NOW - timedelta(minutes=5)})
    state = TargetState(target_id=TARGET_ID, route=route, last_shift_at=NOW - timedelta(minutes=5))
    throttled = BedrockDemand(tokens_per_minute=700_000, throttled_per_minute=20, tokens_per_invocation=2_000)
    plan = decide(firing(Signal.THROTTLES), model(**EVERY_RUNG), throttled, state, NOW)
    # Then it buys the larger one now: waiting would only be more minutes of throttling
    assert (plan.action, plan.model_units) == (Action.SHIFT_TO_PROVISIONED, 8)
    # But with no throttle measured since callers got there, the cooldown holds
    quiet = BedrockDemand(tokens_per_minute=700_000, throttled_per_minute=None, tokens_per_invocation=2_000)
    held = decide(firing(Signal.THROTTLES), model(**EVERY_RUNG), quiet, state, NOW)
    assert held.action is Action.IGNORE
    assert "the routing cooldown has 300 s left" in held.reason


# --- what the second review found ---------------------------------------------------------------------------


def test_with_overflow_only_the_models_own_refusals_are_demand_not_met() -> None:
    from genai_autoscaler.app.bedrock_demand import bedrock_demand
    from genai_autoscaler.app.settings import ControllerSettings
    from genai_autoscaler.domain.bedrock import with_overflow
    from genai_autoscaler_tools.memory import memory_controller

    policy = model(**OVERFLOWING)
    on_pt = with_overflow(policy, PT_ROUTE)
    ctl = memory_controller(
        {"targets": [policy.model_dump(mode="json")]}, settings=ControllerSettings(stack_name="s")
    )
    # The PT refuses 880 calls a minute by design (they overflow); the model itself refuses none
    ctl.metrics.peaks[(TARGET_ID, f"InvocationThrottles@{PT_ROUTE.model}")] = 880
    ctl.metrics.peaks[(TARGET_ID, "InvocationThrottles")] = 0
    ctl.metrics.peaks[(TARGET_ID, f"InputTokenCount@{PT_ROUTE.model}")] = 1_000_000
    demand = bedrock_demand(ctl, policy, NOW, route=on_pt)
    assert demand.throttled_per_minute == 0
    # So the PT is not bought again: its overflow is served
    state = TargetState(target_id=TARGET_ID, route=on_pt, last_shift_at=NOW - timedelta(hours=1))
    plan = decide(firing(Signal.THROTTLES), policy, demand, state, NOW)
    assert plan.action is not Action.SHIFT_TO_PROVISIONED


def test_no_interim_profile_from_provisioned_throughput_and_no_overflow_where_the_policy_no_longer_allows() -> (
    None
):
    # Provisioned Throughput first on the ladder: on the controller's own PT, no plan leaves it for a profile
    # and buys another (the PT being left would not be released)
    pt_first = model(**{**OVERFLOWING, "ladder": ["provisioned_throughput", "cross_region_profile"]})
    state = TargetState(target_id=TARGET_ID, route=PT_ROUTE, last_shift_at=NOW - timedelta(hours=1))
    busy = BedrockDemand(tokens_per_minute=3_000_000, throttled_per_minute=0, on_demand_quota_tpm=400_000)
    plan = decide(firing(Signal.THROTTLES), pt_first, busy, state, NOW)
    assert not (plan.action is Action.SHIFT_TO_PROVISIONED and plan.route_to is not None)
    # A route overflowing to a global profile the policy has since stopped allowing is left at once
    from genai_autoscaler.domain.bedrock import with_overflow

    on_pt = with_overflow(model(**OVERFLOWING), PT_ROUTE)
    kept_home = model(**{**OVERFLOWING, "global_profile": None, "data_may_leave_geography": False})
    left = decide(
        firing(Signal.THROTTLES), kept_home, busy, TargetState(target_id=TARGET_ID, route=on_pt), NOW
    )
    assert left.action is Action.REVERT_ROUTING
    assert f"no longer allows {GLOBAL}, which callers overflow to" in left.reason


def test_overflow_needs_a_way_back_below_the_purchase_threshold() -> None:
    with pytest.raises(PolicyError, match=r"revert_below_quota .* must be below token_quota_alarm_share"):
        model(**{**OVERFLOWING, "revert_below_quota": 0.9, "token_quota_alarm_share": 0.8})


def test_the_requests_quota_holds_the_way_back_and_the_step_down() -> None:
    calm = Evaluation((reading(Signal.THROTTLES, AlarmState.OK, ago_h(1)),))
    state = TargetState(target_id=TARGET_ID, route=PT_ROUTE)
    policy = model(**{**OVERFLOWING, "requests_per_minute_quota": 100})
    # Demand within the free quotas' tokens, but 500 requests a minute against the model's 100 (the profile's
    # requests quota is not in the policy, so nothing shows it would carry them)
    many = BedrockDemand(
        tokens_per_minute=1_000_000,
        throttled_per_minute=0,
        on_demand_quota_tpm=400_000,
        invocations_per_minute=500,
    )
    plan = decide(calm, policy, many, state, NOW)
    assert plan.action is Action.IGNORE
    assert "500 requests/min is above 70% of the on-demand requests quota (100)" in plan.reason
    few = many.__class__(**{**many.__dict__, "invocations_per_minute": 50})
    assert decide(calm, policy, few, state, NOW).action is Action.SHIFT_TO_PROFILE


def test_off_the_model_the_token_quota_alarm_alone_moves_no_one() -> None:
    # Given callers on the profile, and the model's token-quota alarm firing (its own on-demand quota near)
    quota = AlarmTransition(reading(Signal.TOKEN_QUOTA), AlarmState.OK)
    plan = decide(quota, model(**EVERY_RUNG), DEMAND, on(GEO, RouteKind.PROFILE), NOW)
    # Then nothing is bought: callers no longer rely on that quota (a throttle where they are would move them)
    assert plan.action is Action.IGNORE
    assert "off the model's own on-demand quota this alarm watches" in plan.reason
    # On-demand, the same alarm climbs, before throttling starts
    assert decide(quota, model(**EVERY_RUNG), DEMAND, ON_DEMAND, NOW).action is Action.SHIFT_TO_PROFILE


def test_with_overflow_growth_waits_for_no_cooldown_on_the_models_own_refusals() -> None:
    from genai_autoscaler.domain.bedrock import with_overflow

    policy = model(**OVERFLOWING)
    route = with_overflow(
        policy, PT_ROUTE.model_copy(update={"model_units": 2, "since": NOW - timedelta(minutes=3)})
    )
    state = TargetState(target_id=TARGET_ID, route=route, last_shift_at=NOW - timedelta(minutes=3))
    # 2,500,000 tokens/min against 1,760,000 free and 2 units: the model itself refuses 30 calls a minute
    unmet = BedrockDemand(
        tokens_per_minute=2_500_000,
        throttled_per_minute=30,
        tokens_per_invocation=2_000,
        on_demand_quota_tpm=400_000,
    )
    plan = decide(firing(Signal.THROTTLES), policy, unmet, state, NOW)
    # (2,500,000 + 30 x 2,000 - 1,760,000) / 100,000 -> 8 units, at once
    assert (plan.action, plan.model_units) == (Action.SHIFT_TO_PROVISIONED, 8)
