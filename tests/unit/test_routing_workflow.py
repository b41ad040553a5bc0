"""The Bedrock routing workflow's steps, run in the state machine's order on in-memory routes and the fake
Bedrock client: to a profile, to Provisioned Throughput, its failure and timeout, approval, and the way back."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from genai_autoscaler.app.controller import StaticController
from genai_autoscaler.app.memory import MemoryRoutes, memory_controller
from genai_autoscaler.app.routing import ScaleRequest
from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler.domain.bedrock import BedrockDemand, BedrockRoute, RouteKind
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, decide
from genai_autoscaler.domain.policy import BedrockModelPolicy, parse_policy_document
from genai_autoscaler.domain.state import TargetState
from genai_autoscaler.errors import ActuationRejected, InServiceTimeout
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock

from tests.unit.bedrock_fixtures import MODEL, PROVISIONING
from tests.unit.test_bedrock_ladder import throttles

TARGET_ID = f"bedrock/{MODEL}"
PROFILE = f"us.{MODEL}"
DEMAND = BedrockDemand(tokens_per_minute=380_000, throttled_per_minute=40, tokens_per_invocation=1_500)


def policy(commitment: str = "none") -> BedrockModelPolicy:
    raw = {
        "type": "bedrock_model",
        "model_id": MODEL,
        "bedrock": {
            "tokens_per_minute_quota": 400_000,
            "cross_region_profile": PROFILE,
            "provisioned_throughput": {
                "tokens_per_minute_per_unit": 100_000,
                "hourly_price_per_unit_usd": 40.0,
                "commitment": commitment,
                "in_service_timeout_seconds": 1800,
            },
            "max_model_units": 10,
            "hourly_budget_usd": 500,
        },
    }
    target = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(target, BedrockModelPolicy)
    return target


class World:
    """A controller with routes and Provisioned Throughput, on a simulated clock."""

    def __init__(self, clock: SimClock, bedrock: FakeBedrock, state: TargetState | None = None):
        self.clock, self.bedrock = clock, bedrock
        self.routes = MemoryRoutes()
        base = memory_controller(
            states={TARGET_ID: state} if state else None,
            settings=ControllerSettings(stack_name="genai-autoscaler"),
            clock=clock,
        )
        self.ctl: StaticController = dataclasses.replace(
            base, routes=self.routes, provisioned=BedrockProvisionedThroughputs(bedrock)
        )

    def start(self, target: BedrockModelPolicy, name: str, trigger: Any = None) -> dict[str, Any]:
        state = self.ctl.state.load(TARGET_ID)
        plan = decide(
            trigger or AlarmTransition(throttles(AlarmState.ALARM)), target, DEMAND, state, self.clock.now()
        )
        request = ScaleRequest(
            plan=plan.model_copy(update={"advisory": False}), policy=target.model_dump(mode="json")
        )
        return {"request": request.model_dump(mode="json"), "execution": name}

    def step(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        return run_routing_step(self.ctl, name, document, self.clock.now())

    @property
    def state(self) -> TargetState:
        return self.ctl.state.load(TARGET_ID)

    def published(self) -> str | None:
        route = self.routes.current(MODEL)
        return None if route is None else route.model_id


@pytest.fixture
def world(clock: SimClock, bedrock: FakeBedrock) -> World:
    return World(clock, bedrock)


def on_profile(clock: SimClock) -> TargetState:
    route = BedrockRoute(kind=RouteKind.PROFILE, model=PROFILE, since=clock.now() - timedelta(hours=2))
    return TargetState(target_id=TARGET_ID, route=route)


def test_shift_to_profile_publishes_the_route_and_releases_the_lock(world: World) -> None:
    # Given a throttling model on-demand
    document = world.start(policy(), "shift-1")
    # When the workflow runs
    document = world.step("acquire_lock", document)
    document = world.step("publish_route", document)
    # Then callers are sent to the profile, the controller remembers it, and the model is unlocked
    assert world.published() == PROFILE
    assert world.state.route is not None
    assert world.state.route.kind is RouteKind.PROFILE
    assert world.state.lock is None


def test_shift_to_provisioned_routes_only_once_in_service(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given a model already on its profile, still throttling
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy(), "shift-2"))
    # When it buys Provisioned Throughput
    document = world.step("buy_provisioned", document)
    arn = document["provisioned_arn"]
    # Then while it is Creating nothing is routed to it, and a premature publish is refused
    assert world.step("check_provisioned", document)["provisioned"]["ready"] is False
    with pytest.raises(ActuationRejected, match="not InService"):
        world.step("publish_route", document)
    assert world.published() is None
    # And once InService the callers are sent to it, with its units and hourly cost remembered
    clock.advance(PROVISIONING)
    assert world.step("check_provisioned", document)["provisioned"]["ready"] is True
    world.step("publish_route", document)
    assert world.published() == arn
    route = world.state.route
    assert route is not None
    assert (route.kind, route.model_units, route.hourly_cost_usd, route.created_by_controller) == (
        RouteKind.PROVISIONED,
        5,
        200.0,
        True,
    )


def test_a_retried_purchase_buys_nothing_more(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given a purchase step that ran, and runs again (a Lambda retry)
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy(), "shift-3"))
    first = world.step("buy_provisioned", document)["provisioned_arn"]
    second = world.step("buy_provisioned", document)["provisioned_arn"]
    # Then the execution's token made it one purchase
    assert first == second
    assert len(bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]) == 1


@pytest.mark.parametrize(
    ("fault", "wait", "error"),
    [("fail", PROVISIONING, ActuationRejected), ("hang", 1800, InServiceTimeout)],
    ids=["provisioning fails", "provisioning times out"],
)
def test_a_purchase_that_does_not_serve_is_deleted_and_routing_left_alone(
    clock: SimClock, bedrock: FakeBedrock, fault: str, wait: int, error: type[Exception]
) -> None:
    # Given a purchase Bedrock fails, or never finishes
    world = World(clock, bedrock, on_profile(clock))
    if fault == "fail":
        bedrock.fail_next_create("Insufficient capacity")
    else:
        bedrock.hang_next_create()
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(policy(), "shift-4")))
    clock.advance(wait)
    # When the check gives up
    with pytest.raises(error):
        world.step("check_provisioned", document)
    result = world.step("abandon_provisioned", document)
    # Then what was bought is deleted, callers stay on the profile, and the model is unlocked
    assert result["abandoned"].startswith("deleted")
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []
    assert world.published() is None
    assert world.state.route is not None
    assert world.state.route.kind is RouteKind.PROFILE
    assert world.state.lock is None


@pytest.mark.parametrize(("approved", "buys"), [(None, False), (False, False), (True, True)])
def test_a_commitment_is_bought_only_once_approved(
    clock: SimClock, bedrock: FakeBedrock, approved: bool | None, buys: bool
) -> None:
    # Given a plan for a OneMonth commitment
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "shift-5"))
    document = {**document, "approved": approved}
    # When the purchase step runs, approved or not
    if buys:
        arn = world.step("buy_provisioned", document)["provisioned_arn"]
        # Then only an approved one buys, with its term
        described = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
        assert described["commitmentDuration"] == "OneMonth"
    else:
        with pytest.raises(ActuationRejected, match="not approved"):
            world.step("buy_provisioned", document)
        assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


@pytest.mark.parametrize(
    ("commitment", "deleted"), [(None, True), ("OneMonth", False)], ids=["hourly", "committed"]
)
def test_the_way_back_drains_then_deletes_what_the_controller_bought(
    clock: SimClock, bedrock: FakeBedrock, commitment: str | None, deleted: bool
) -> None:
    # Given callers on Provisioned Throughput the controller bought, and demand back within on-demand
    request = {"modelUnits": 5, "provisionedModelName": "pt-1", "modelId": MODEL, "clientRequestToken": "t-1"}
    if commitment:
        request["commitmentDuration"] = commitment
    arn = bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]
    clock.advance(PROVISIONING)
    route = BedrockRoute(
        kind=RouteKind.PROVISIONED,
        model=arn,
        since=clock.now() - timedelta(hours=3),
        provisioned_model_arn=arn,
        model_units=5,
        commitment=commitment or "none",
        hourly_cost_usd=200.0,
        created_by_controller=True,
    )
    world = World(clock, bedrock, TargetState(target_id=TARGET_ID, route=route))
    calm = Evaluation((throttles(AlarmState.OK, 0, clock.now() - timedelta(hours=1)),))
    plan = decide(calm, policy(), BedrockDemand(tokens_per_minute=100_000), world.state, clock.now())
    document = {
        "request": ScaleRequest(
            plan=plan.model_copy(update={"advisory": False}), policy=policy().model_dump(mode="json")
        ).model_dump(mode="json"),
        "execution": "revert-1",
    }
    # When the workflow routes back, waits for the drain, and releases
    document = world.step("publish_route", world.step("acquire_lock", document))
    assert world.published() == MODEL
    assert world.state.lock is not None  # held through the drain
    clock.advance(document["drain_seconds"])
    released = world.step("release_provisioned", document)["released"]
    # Then an hourly PT is deleted; a committed one is kept until its term ends, and the lock is released
    remaining = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert (remaining == []) is deleted
    assert released.startswith("deleted" if deleted else "kept")
    assert world.state.lock is None
    assert world.state.route is not None
    assert world.state.route.kind is RouteKind.ON_DEMAND
