"""The Bedrock routing workflow's steps, run in the state machine's order on in-memory routes and the fake
Bedrock client: to a profile, to Provisioned Throughput, its failure and timeout, approval, and the way back."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from genai_autoscaler.app import locks
from genai_autoscaler.app.approvals import answer
from genai_autoscaler.app.dispatch import ScaleRequest, execution_name
from genai_autoscaler.app.routing_workflow import STEPS, purchase_identity, run_routing_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.app.sweeper import sweep_provisioned
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler.domain.bedrock import BedrockDemand, BedrockRoute, RouteKind, bought
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, decide
from genai_autoscaler.domain.plan import Action
from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyError, parse_policy_document
from genai_autoscaler.domain.provisioned import purchase_prefix
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.state import PauseRecord, TargetState
from genai_autoscaler.errors import (
    ActuationRejected,
    AutoscalerError,
    InServiceTimeout,
    InvalidEvent,
    PlanRefused,
    StalePlan,
    TransientAwsError,
)
from genai_autoscaler_local.bedrock_fake import FakeBedrock, service_model
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_tools.memory import MemoryMetrics, MemoryRoutes, StaticController, memory_controller
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.bedrock_fixtures import MODEL, PROVISIONING
from tests.unit.builders import NOW
from tests.unit.test_bedrock_ladder import throttles

TARGET_ID = f"bedrock/{MODEL}"
APPROVER = "arn:aws:iam::123456789012:user/dana"
TERMS = {"commitment": "OneMonth", "model_units": 5}
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

    def start(
        self, target: BedrockModelPolicy, name: str, trigger: Any = None, demand: BedrockDemand = DEMAND
    ) -> dict[str, Any]:
        self.publish(target)
        state = self.ctl.state.load(TARGET_ID)
        plan = decide(
            trigger or AlarmTransition(throttles(AlarmState.ALARM)), target, demand, state, self.clock.now()
        )
        request = ScaleRequest(
            plan=plan.model_copy(update={"advisory": False}), policy=target.model_dump(mode="json")
        )
        return {"request": request.model_dump(mode="json"), "execution": name}

    def publish(self, target: BedrockModelPolicy) -> None:
        """Publish the policy document with `target` in it: what the steps that spend hold plans to."""
        self.ctl.policies.document = {"targets": [target.model_dump(mode="json")]}  # type: ignore[attr-defined]

    def approve(self, document: dict[str, Any], approved: bool = True) -> dict[str, Any]:
        """Answer the approval request through the approval function's use case, as APPROVER (the ARN the
        function URL's IAM authorization gives), and return the document as AwaitApproval leaves it."""
        plan = document["request"]["plan"]
        if plan["commitment"] not in (
            "OneMonth",
            "SixMonths",
        ):  # nothing to approve: the answer is only the wait's
            return {**document, "approval": {"approved": approved, "by": APPROVER}}
        body = {
            "target_id": TARGET_ID,
            "execution": document["execution"],
            "task_token": "token-1",
            "approved": approved,
            "reason": None if approved else "not this quarter",
            "commitment": plan["commitment"] if approved else None,
            "model_units": plan["model_units"] if approved else None,
        }
        answer(self.ctl, body, APPROVER, self.clock.now())
        return {**document, "approval": {"approved": approved, "by": APPROVER}}

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


def on_bought_pt(clock: SimClock, bedrock: FakeBedrock, commitment: str | None = None) -> tuple[World, str]:
    """Callers on 5 InService units the controller bought three hours ago at $200 an hour."""
    request = {
        "modelUnits": 5,
        "provisionedModelName": f"{purchase_prefix('genai-autoscaler')}pt-1",
        "modelId": MODEL,
        "clientRequestToken": "t-1",
    }
    if commitment:
        request["commitmentDuration"] = commitment
    arn = bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]
    clock.advance(PROVISIONING)
    route = bought(arn, clock.now() - timedelta(hours=3), 5, commitment, 200.0)
    return World(clock, bedrock, TargetState(target_id=TARGET_ID, route=route)), arn


def start_the_way_back(world: World, name: str) -> dict[str, Any]:
    """The way back, decided after an hour of calm with demand well within the on-demand quota."""
    calm = Evaluation((throttles(AlarmState.OK, 0, world.clock.now() - timedelta(hours=1)),))
    return world.start(policy(), name, calm, BedrockDemand(tokens_per_minute=100_000))


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
    if approved is not None:
        document = world.approve(document, approved)
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
    world, arn = on_bought_pt(clock, bedrock, commitment)
    document = start_the_way_back(world, "revert-1")
    # When the workflow routes back, waits for the drain, and releases
    document = world.step("publish_route", world.step("acquire_lock", document))
    assert world.published() == MODEL
    assert world.state.lock is not None  # held through the drain
    assert document["release"] == {"provisioned_arn": arn, "drain_seconds": 300}
    assert "notification" not in document  # said once the release is done
    clock.advance(document["release"]["drain_seconds"])
    document = world.step("release_provisioned", document)
    released = document["released"]
    assert released in document["notification"]["message"]
    # Then an hourly PT is deleted; a committed one is kept until its term ends, and the lock is released
    remaining = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert (remaining == []) is deleted
    assert released.startswith("deleted" if deleted else "kept")
    assert world.state.lock is None
    assert world.state.route is not None
    assert world.state.route.kind is RouteKind.ON_DEMAND


def test_an_approval_request_says_what_it_costs_and_how_to_answer(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a plan for a OneMonth commitment
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "shift-6"))
    # When the workflow asks for approval
    request = world.step("request_approval", document)["approval_request"]
    # Then the message gives the units, the hourly cost and both answers, and ends where the token goes
    assert "APPROVE OneMonth" in request["subject"]
    assert len(request["subject"]) < 100
    message = request["message"]
    assert "5 model unit(s), OneMonth commitment" in message
    assert "$200.00 per hour" in message
    assert 'awscurl --service lambda -X POST "$APPROVAL_URL"' in message
    assert f'"target_id": "{TARGET_ID}", "execution": "shift-6", "approved": true' in message
    assert '"commitment": "OneMonth", "model_units": 5' in message
    assert '"approved": false, "reason": "WHY"' in message
    assert "your identity, as" in message
    assert message.endswith("Task token:\n")


@pytest.mark.parametrize(
    ("error", "why"),
    [
        ({"Error": "States.Timeout", "Cause": ""}, "no one answered within 3600 s"),
        ({"Error": "Rejected", "Cause": "not this quarter"}, "rejected: not this quarter"),
        (None, "dana answered no"),
    ],
    ids=["timed out", "rejected", "answered no"],
)
def test_an_unapproved_commitment_buys_nothing_and_starts_the_cooldown(
    clock: SimClock, bedrock: FakeBedrock, error: dict[str, str] | None, why: str
) -> None:
    # Given a commitment waiting for approval
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "shift-7"))
    document = {
        **document,
        **({"error": error} if error else {"approval": {"approved": False, "by": "dana"}}),
    }
    # When the answer is no (or none comes)
    result = world.step("not_approved", document)
    # Then nothing is bought, routing is unchanged, the model is unlocked and the cooldown runs from now
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []
    assert world.published() is None
    assert world.state.lock is None
    assert world.state.last_shift_at == clock.now()
    assert why in result["notification"]["message"]
    assert world.ctl.state.history(TARGET_ID)[0].outcome == "rejected"


def test_a_failure_after_the_purchase_is_said_with_what_was_put_back(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a purchase made, then a failure caught by the state machine
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(policy(), "shift-8")))
    document = {
        **document,
        "error": {"Error": "InServiceTimeout", "Cause": '{"errorMessage": "still Creating"}'},
    }
    # When the workflow abandons
    result = world.step("abandon_provisioned", document)
    # Then the notification names the error, its cause and what was deleted
    notification = result["notification"]
    assert "FAILED" in notification["subject"]
    assert "InServiceTimeout" in notification["message"]
    assert "still Creating" in notification["message"]
    assert f"deleted {document['provisioned_arn']}" in notification["message"]
    assert "routing unchanged" in notification["message"]


def test_a_failing_deletion_does_not_stop_the_abandon(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given a purchase made, and Bedrock refusing the deletion
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(policy(), "shift-9")))
    bedrock.refuse_next("DeleteProvisionedModelThroughput", "ThrottlingException", "slow down")
    # When the workflow abandons
    result = world.step("abandon_provisioned", document)
    # Then the lock is still released and the notification says the sweeper retries
    assert "the sweeper retries" in result["abandoned"]
    assert world.state.lock is None


def test_callers_leaving_any_pt_the_controller_bought_release_it(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a shift to a new PT decided while callers were on the profile, and, by the time it is routed to,
    # callers on another PT the controller bought (an earlier workflow's)
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(policy(), "shift-10")))
    old = bedrock.create_provisioned_model_throughput(
        modelUnits=2,
        provisionedModelName=f"{purchase_prefix('genai-autoscaler')}pt-old",
        modelId=MODEL,
        clientRequestToken="t-old",
    )["provisionedModelArn"]
    route = bought(old, clock.now(), 2, None, 80.0)
    world.ctl.state.update(TARGET_ID, lambda s: s.model_copy(update={"route": route}))
    clock.advance(PROVISIONING)
    # When the new one is routed to
    document = world.step("publish_route", document)
    # Then the old one is handed to the release, with the lock held through the drain, then deleted
    assert document["release"]["provisioned_arn"] == old
    assert world.state.lock is not None
    world.step("release_provisioned", document)
    summaries = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert [s["provisionedModelArn"] for s in summaries] == [document["provisioned_arn"]]
    assert world.state.lock is None


@pytest.mark.parametrize(
    ("stack", "action", "target"),
    [
        ("genai-local", Action.SHIFT_TO_PROVISIONED, f"bedrock/{MODEL}"),
        (
            "a-very-long-stack-name-for-production-use",
            Action.SHIFT_TO_PROVISIONED,
            "bedrock/amazon.nova-pro-v1:0",
        ),
        ("s", Action.SHIFT_TO_PROVISIONED, "bedrock/x"),
        ("abcdefghijklmnopqrstuvw-xyz", Action.SHIFT_TO_PROVISIONED, f"bedrock/{MODEL}"),
    ],
)
def test_a_purchase_is_named_and_tokened_as_bedrock_accepts(stack: str, action: Action, target: str) -> None:
    # Given an execution name as the router makes it (it may hold `_`)
    execution = execution_name(target, action, "cause-1")
    # When the purchase's name and token are made from it
    name, token = purchase_identity(stack, execution)
    # Then both fit botocore's bedrock model, and another cause gives another of each
    shape = service_model().operation_model("CreateProvisionedModelThroughput").input_shape.members
    for value, member in ((name, "provisionedModelName"), (token, "clientRequestToken")):
        limits = shape[member].metadata
        assert limits["min"] <= len(value) <= limits["max"], (member, value)
        assert re.fullmatch(limits["pattern"], value), (member, value)
    other = purchase_identity(stack, execution_name(target, action, "cause-2"))
    assert other[0] != name
    assert other[1] != token


def test_the_state_machine_runs_every_step_and_no_other() -> None:
    # Given routing.asl.json's Lambda tasks
    asl = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "routing.asl.json").read_text())
    tasks = [s for s in asl["States"].values() if s.get("Resource") == "arn:aws:states:::lambda:invoke"]
    # Then each names a step of app/routing_workflow.py, every step has its state, and each Task catches
    assert sorted(t["Parameters"]["Payload"]["step"] for t in tasks) == sorted(STEPS)
    for task in tasks:
        assert any("States.ALL" in c["ErrorEquals"] for c in task["Catch"]), task["Parameters"]["Payload"]


STEP_NAMES = [
    "acquire_lock",
    "request_approval",
    "not_approved",
    "buy_provisioned",
    "check_provisioned",
    "publish_route",
    "release_provisioned",
    "abandon_provisioned",
]


@settings(max_examples=300, deadline=None)
@given(
    commitment=st.sampled_from(["none", "OneMonth", "SixMonths"]),
    approval=st.none() | st.booleans(),
    fault=st.sampled_from([None, "fail", "hang"]),
    moves=st.lists(st.sampled_from([*STEP_NAMES, 60, PROVISIONING, 1800]), max_size=12),
)
def test_whatever_the_order_of_steps_no_commitment_is_bought_unapproved_and_no_route_leads_to_a_pt_not_in_service(
    commitment: str, approval: bool | None, fault: str | None, moves: list[str | int]
) -> None:
    # Given a shift to Provisioned Throughput, approved or not, and a Bedrock that may fail or hang
    clock = SimClock(NOW)
    bedrock = FakeBedrock(clock, provisioning_seconds=PROVISIONING)
    if fault == "fail":
        bedrock.fail_next_create("no capacity")
    elif fault == "hang":
        bedrock.hang_next_create()
    world = World(clock, bedrock, on_profile(clock))
    document = world.start(policy(commitment), "shift-any")
    if approval is not None:
        document = world.approve(document, approval)
    # When steps run in any order (retries, redeliveries, a confused operator), with time passing between
    for move in moves:
        if isinstance(move, int):
            clock.advance(move)
            continue
        with contextlib.suppress(AutoscalerError):
            document = world.step(move, document)
        # Then nothing committed exists without approval, and callers are never sent to a PT not InService
        summaries = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
        if approval is not True:
            assert all("commitmentDuration" not in s for s in summaries)
        route = world.published()
        if route is not None and route.startswith("arn:"):
            in_service = {x["provisionedModelArn"] for x in summaries if x["status"] == "InService"}
            assert route in in_service
        # and at most one purchase was made, whatever the retries
        assert len(summaries) <= 1


def test_a_failure_after_callers_were_sent_to_the_pt_keeps_it_and_remembers_the_route(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a PT bought, InService, and published to callers, and the step failing before it recorded the route
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(policy(), "shift-11")))
    clock.advance(PROVISIONING)
    arn = document["provisioned_arn"]
    world.routes.publish(
        MODEL, PublishedRoute(model_id=arn, kind=RouteKind.PROVISIONED, since=clock.now(), target=MODEL)
    )
    document = {**document, "error": {"Error": "StateConflict", "Cause": "the state changed meanwhile"}}
    # When the workflow abandons
    result = world.step("abandon_provisioned", document)
    # Then the PT callers use is kept, the route they read is remembered, and the lock released
    assert [
        s["provisionedModelArn"]
        for s in bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    ] == [arn]
    assert "kept" in result["abandoned"]
    assert "routing unchanged" not in result["abandoned"]
    route = world.state.route
    assert route is not None
    assert (route.kind, route.provisioned_model_arn) == (RouteKind.PROVISIONED, arn)
    assert world.state.lock is None


def test_a_retried_publish_still_hands_over_what_callers_left(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given callers on a PT the controller bought, and the way back decided
    world, arn = on_bought_pt(clock, bedrock)
    document = world.step("acquire_lock", start_the_way_back(world, "revert-2"))
    # When the publish step runs twice (Step Functions retrying a Lambda that did its work)
    first = world.step("publish_route", document)
    second = world.step("publish_route", document)
    # Then the retry hands over the same PT to release, and the lock stays held for the drain
    assert first["release"] == second["release"] == {"provisioned_arn": arn, "drain_seconds": 300}
    assert second["releasing"] is True
    assert world.state.lock is not None
    world.step("release_provisioned", second)
    assert world.state.pending_release is None
    assert world.state.lock is None


def test_a_plan_overtaken_by_another_routing_change_is_stale(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given a shift decided, and another workflow changing the routing just after
    world = World(clock, bedrock, on_profile(clock))
    document = world.start(policy(), "shift-12")
    clock.advance(5)
    world.ctl.state.update(TARGET_ID, lambda s: s.model_copy(update={"last_shift_at": clock.now()}))
    # When this workflow takes the lock, Then it is refused as stale and the model is left unlocked
    with pytest.raises(StalePlan, match="after this plan was decided"):
        world.step("acquire_lock", document)
    assert world.state.lock is None


def test_the_approval_choice_takes_only_a_boolean_true() -> None:
    # A Choice on a missing path fails the execution in AWS (moto takes the Default): the rule guards it
    asl = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "routing.asl.json").read_text())
    (rule,) = asl["States"]["IsApproved"]["Choices"]
    assert [sorted(k for k in r if k not in ("Variable",)) for r in rule["And"]] == [
        ["IsPresent"],
        ["IsBoolean"],
        ["BooleanEquals"],
    ]
    assert asl["States"]["IsApproved"]["Default"] == "NotApproved"


def test_polling_that_would_overflow_the_workflow_history_is_refused() -> None:
    with pytest.raises(PolicyError, match="poll less often"):
        parse_policy_document(
            {
                "targets": [
                    {
                        "type": "bedrock_model",
                        "model_id": MODEL,
                        "bedrock": {
                            "provisioned_throughput": {
                                "tokens_per_minute_per_unit": 1000,
                                "hourly_price_per_unit_usd": 1.0,
                                "in_service_timeout_seconds": 21600,
                                "poll_interval_seconds": 5,
                            }
                        },
                    }
                ]
            }
        )


# ---------------------------------------------------------------- the input is not the authority


def forged_policy(**bedrock: Any) -> BedrockModelPolicy:
    """The policy as an execution's input could carry it, with `bedrock` settings edited."""
    raw = policy().model_dump(mode="json")
    raw["bedrock"] |= bedrock
    target = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(target, BedrockModelPolicy)
    return target


def test_a_purchase_is_held_to_the_published_units_and_budget_not_the_inputs(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given an execution started by hand whose input allows 50 units and $10,000 an hour, and plans 50
    world = World(clock, bedrock, on_profile(clock))
    document = world.start(forged_policy(max_model_units=50, hourly_budget_usd=10_000), "forged-1")
    document["request"]["plan"]["model_units"] = 50
    world.publish(policy())  # the published policy allows 10 units and $500 an hour
    document = world.step("acquire_lock", document)
    # When it buys, it is refused by name, and nothing is bought
    with pytest.raises(PlanRefused) as refused:
        world.step("buy_provisioned", document)
    assert "buys 50 model units, more than the policy's max_model_units allows (10)" in str(refused.value)
    assert "more than the hourly budget of $500 allows (12)" in str(refused.value)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []
    # And the safe state says so to the team
    document["error"] = {"Error": "PlanRefused", "Cause": json.dumps({"errorMessage": str(refused.value)})}
    result = world.step("abandon_provisioned", document)
    assert "max_model_units allows (10)" in result["notification"]["message"]
    assert world.state.lock is None


def test_a_commitment_the_input_calls_hourly_is_still_bought_only_once_approved(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a published OneMonth term, and an input that says "no commitment" (so the approval is skipped)
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy(), "forged-2"))
    world.publish(policy("OneMonth"))
    # When it buys without an approval, nothing is bought
    with pytest.raises(ActuationRejected, match=r"OneMonth commitment .* was not approved"):
        world.step("buy_provisioned", document)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_an_approver_is_shown_the_published_price_not_the_inputs(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "forged-3"))
    document["request"]["plan"]["hourly_cost_usd"] = 1.0
    request = world.step("request_approval", document)["approval_request"]
    assert "$200.00 per hour" in request["message"]


def test_callers_go_only_to_the_published_profile(world: World) -> None:
    # Given an input that names another profile to send the callers to
    document = world.start(forged_policy(cross_region_profile="us.meta.llama3-70b-instruct-v1:0"), "forged-4")
    world.publish(policy())
    document = world.step("acquire_lock", document)
    # When it publishes the route, it is refused, and the callers stay where they were
    with pytest.raises(
        PlanRefused,
        match=f"sends callers to us.meta.llama3-70b-instruct-v1:0, but it names {re.escape(PROFILE)} in the published",
    ):
        world.step("publish_route", document)
    assert world.published() is None


def test_a_model_no_longer_in_the_published_policy_is_left_alone(world: World) -> None:
    document = world.step("acquire_lock", world.start(policy(), "forged-5"))
    world.ctl.policies.document = {"targets": []}  # type: ignore[attr-defined]
    with pytest.raises(PlanRefused, match="is not a managed Bedrock model in the published policy"):
        world.step("publish_route", document)
    assert world.published() is None


# ---------------------------------------------------------------- who approved, as AWS authenticated them


def test_an_approval_sent_around_the_approval_function_buys_nothing(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a commitment whose wait was answered {"approved": true} with SendTaskSuccess directly, so nothing
    # recorded who approved
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "shift-13"))
    document = {**document, "approval": {"approved": True, "by": "anyone at all"}}
    # When the purchase step runs, nothing is bought
    with pytest.raises(ActuationRejected, match="without the approval function"):
        world.step("buy_provisioned", document)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_an_approval_is_recorded_with_the_authenticated_caller_before_it_is_sent(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy("OneMonth"), "shift-14"))
    world.approve(document)
    approval = world.state.approval
    assert approval is not None
    assert (approval.execution, approval.approved, approval.by) == ("shift-14", True, APPROVER)
    assert world.ctl.tasks.succeeded == [("token-1", {"approved": True, "by": APPROVER})]  # type: ignore[attr-defined]
    (record,) = [r for r in world.ctl.state.history(TARGET_ID) if r.action == "approve"]
    assert record.reason == f"{APPROVER} approved shift-14"


@pytest.mark.parametrize(
    ("body", "caller", "match"),
    [
        (
            {"target_id": TARGET_ID, "execution": "x", "task_token": "t", "approved": False},
            APPROVER,
            "needs a reason",
        ),
        (
            {**TERMS, "target_id": TARGET_ID, "execution": "x", "task_token": "t", "approved": True},
            "",
            "no authenticated caller",
        ),
        (
            {"target_id": TARGET_ID, "execution": "x", "task_token": "t", "approved": True},
            APPROVER,
            "an approval names what it approves",
        ),
        (
            {"target_id": TARGET_ID, "execution": "x", "approved": True},
            APPROVER,
            "task_token: Field required",
        ),
        (
            {"target_id": TARGET_ID, "execution": "x", "task_token": "t", "approved": True, "by": "me"},
            APPROVER,
            "by: unknown field 'by'",
        ),
        ([1, 2], APPROVER, "an approval needs"),
    ],
    ids=[
        "rejection without reason",
        "no caller",
        "no terms",
        "no token",
        "a name of one's own",
        "not an object",
    ],
)
def test_an_answer_that_cannot_be_taken_is_named_and_nothing_is_recorded_or_sent(
    world: World, body: Any, caller: str, match: str
) -> None:
    with pytest.raises(InvalidEvent, match=match):
        answer(world.ctl, body, caller, NOW)
    assert world.state.approval is None
    assert world.ctl.tasks.succeeded == world.ctl.tasks.failed == []  # type: ignore[attr-defined]


def test_a_plan_overtaken_after_the_router_took_the_lock_for_it_is_stale_and_gives_the_lock_back(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a shift decided and its lock taken by the router for its execution, and the routing changed since by
    # a workflow decided at the same moment (the evaluator's)
    world = World(clock, bedrock, on_profile(clock))
    document = world.start(policy(), "shift-15")
    locks.reserve(world.ctl, TARGET_ID, "shift-15", clock.now())
    clock.advance(5)
    world.ctl.state.update(TARGET_ID, lambda s: s.model_copy(update={"last_shift_at": clock.now()}))
    # When its AcquireLock runs, Then it is stale, and the lock the router took is given back
    with pytest.raises(StalePlan, match="after this plan was decided"):
        world.step("acquire_lock", document)
    assert world.state.lock is None


def test_an_answer_to_a_token_no_workflow_waits_on_is_not_left_recorded(world: World) -> None:
    def gone(token: str, output: dict[str, Any]) -> None:
        raise ActuationRejected("SendTaskSuccess: the approval request is no longer waiting (TaskTimedOut)")

    world.ctl.tasks.succeed = gone  # type: ignore[method-assign]
    body = {
        "target_id": TARGET_ID,
        "execution": "shift-16",
        "task_token": "stale",
        "approved": True,
        "commitment": "OneMonth",
        "model_units": 5,
    }
    with pytest.raises(ActuationRejected, match="no longer waiting"):
        answer(world.ctl, body, APPROVER, NOW)
    assert world.state.approval is None


def test_an_approval_stands_only_for_the_terms_approved(clock: SimClock, bedrock: FakeBedrock) -> None:
    # Given a OneMonth commitment approved, and the published policy changed to SixMonths while it waited
    world = World(clock, bedrock, on_profile(clock))
    document = world.approve(world.step("acquire_lock", world.start(policy("OneMonth"), "shift-17")))
    world.publish(policy("SixMonths"))
    # When the purchase step runs, nothing is bought: no one approved six months
    with pytest.raises(
        ActuationRejected, match=r"approved by .* as 5 model unit.s. at OneMonth, not the 5 at SixMonths"
    ):
        world.step("buy_provisioned", document)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_the_approval_wait_and_the_provisioning_polls_are_the_published_policys(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given an input that waits a week for approval and polls every 5 s; the published policy says 3600 and 60
    world = World(clock, bedrock, on_profile(clock))
    raw = policy("OneMonth").model_dump(mode="json")
    raw["bedrock"]["provisioned_throughput"] |= {
        "approval_timeout_seconds": 7 * 86400,
        "poll_interval_seconds": 5,
    }
    forged = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(forged, BedrockModelPolicy)
    document = world.step("acquire_lock", world.start(forged, "shift-18"))
    world.publish(policy("OneMonth"))
    # Then AwaitApproval's timeout and WaitForProvisioning's interval come from the published policy
    assert world.step("request_approval", document)["approval_request"]["timeout_seconds"] == 3600
    document = world.step("buy_provisioned", world.approve(document))
    assert world.step("check_provisioned", document)["provisioned"]["poll_seconds"] == 60


def test_a_model_paused_before_the_purchase_buys_nothing(clock: SimClock, bedrock: FakeBedrock) -> None:
    world = World(clock, bedrock, on_profile(clock))
    document = world.step("acquire_lock", world.start(policy(), "paused-1"))
    pause = PauseRecord(by="arn:aws:iam::123456789012:user/ops", at=clock.now(), reason="budget review")
    world.ctl.state.update(TARGET_ID, lambda s: s.model_copy(update={"pause": pause}))
    with pytest.raises(PlanRefused, match=r"paused by arn:aws:iam::123456789012:user/ops .*budget review"):
        world.step("buy_provisioned", document)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


# ------------------------------------------------------------------------------ growing while it provisions


def outgrown(world: World, tokens: float = 1_600_000) -> None:
    """The model's busiest minute since the purchase: `tokens` quota tokens (the test policy has no overflow, so
    units carry it all: 16 units at 1.6M)."""
    world.ctl.metrics.peaks[(TARGET_ID, "InputTokenCount")] = tokens  # type: ignore[attr-defined]
    world.ctl.metrics.peaks[(TARGET_ID, "Invocations")] = 1_000  # type: ignore[attr-defined]


def room_to_grow(commitment: str = "none") -> BedrockModelPolicy:
    """The test policy, its bounds raised to 20 units ($800 an hour): room for a purchase of 5 to triple."""
    raw = policy(commitment).model_dump(mode="json")
    raw["bedrock"] |= {"max_model_units": 20, "hourly_budget_usd": 800}
    target = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(target, BedrockModelPolicy)
    return target


def bought_units(world: World, name: str, commitment: str = "none") -> tuple[dict[str, Any], str]:
    """A 5-unit purchase (the start's demand) just made, Creating, under a policy with room to grow."""
    document = world.step("acquire_lock", world.start(room_to_grow(commitment), name))
    if commitment != "none":
        document = world.approve(document)
    document = world.step("buy_provisioned", document)
    return document, document["provisioned_arn"]


def outgrown_purchase(
    clock: SimClock, bedrock: FakeBedrock, name: str, world: World | None = None
) -> tuple[World, dict[str, Any], str]:
    """5 units bought on the profile, and a minute later a demand of 16 units."""
    world = world or World(clock, bedrock, on_profile(clock))
    document, first = bought_units(world, name)
    clock.advance(60)
    outgrown(world)
    return world, document, first


def test_a_purchase_the_demand_outgrows_while_it_provisions_is_replaced_by_a_larger_one(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given 5 units bought and Creating, and a minute later a demand of 1.6M tokens/min: 16 units, 3x and more
    world, document, first = outgrown_purchase(clock, bedrock, "grow-1")
    # When the workflow checks on it
    before = document
    document = world.step("check_provisioned", document)
    # Then a larger one is bought in its place, the 16 units the demand needs
    second = document["provisioned_arn"]
    assert second != first
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=second)["modelUnits"] == 16
    assert (document["grown"]["from_units"], document["grown"]["to_units"]) == (5, 16)
    assert document["request"]["plan"]["model_units"] == 16
    assert "Grown while it provisioned, from 5 to 16 model units" in document["request"]["plan"]["reason"]
    assert document["provisioned"]["ready"] is False
    # And a retried check (its result lost) buys the larger one again by its token: nothing more
    assert world.step("check_provisioned", before)["provisioned_arn"] == second
    assert len(bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]) == 2
    # And the next check deletes the small one
    clock.advance(60)
    document = world.step("check_provisioned", document)
    assert document["replaced_arn"] is None
    assert document["replaced"].startswith(f"deleted {first}")
    listed = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert [s["provisionedModelArn"] for s in listed] == [second]
    # And once it is InService callers go to it, with its units and cost; how long it took is remembered
    clock.advance(PROVISIONING)
    document = world.step("check_provisioned", document)
    assert document["provisioned"]["ready"] is True
    world.step("publish_route", document)
    route = world.state.route
    assert route is not None
    assert (route.model, route.model_units, route.hourly_cost_usd) == (second, 16, 640.0)
    assert world.state.provisioning_seconds == PROVISIONING + 60  # as the polls saw it: bought 11 minutes ago


@pytest.mark.parametrize(
    ("tokens", "measured", "waited"),
    [(1_400_000, None, 60), (1_600_000, 200.0, 120)],
    ids=["demand under 3x what is coming", "past half the provisioning the model's last purchase took"],
)
def test_a_purchase_is_left_to_finish_when_growing_it_does_not_pay(
    clock: SimClock, bedrock: FakeBedrock, tokens: float, measured: float | None, waited: int
) -> None:
    state = on_profile(clock).model_copy(update={"provisioning_seconds": measured})
    world = World(clock, bedrock, state)
    document, first = bought_units(world, "grow-2")
    clock.advance(waited)
    outgrown(world, tokens)
    document = world.step("check_provisioned", document)
    assert document["provisioned_arn"] == first
    assert "grown" not in document
    assert len(bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]) == 1


def test_a_committed_purchase_or_one_the_published_policy_no_longer_allows_to_grow_is_left_to_finish(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # A commitment: never replaced (it cannot be deleted, and its term was approved as it is)
    world = World(clock, bedrock, on_profile(clock))
    document, first = bought_units(world, "grow-3", "OneMonth")
    clock.advance(60)
    outgrown(world)
    assert world.step("check_provisioned", document)["provisioned_arn"] == first
    # A published policy that now allows no more units than were bought (max 5), or a marginal gain (max 6: the
    # provisioning would start over for one unit more)
    for name, most in (("grow-4", 5), ("grow-4b", 6)):
        world = World(clock, bedrock, on_profile(clock))
        document, first = bought_units(world, name)
        raw = policy().model_dump(mode="json")
        raw["bedrock"]["max_model_units"] = most
        world.ctl.policies.document = {"targets": [raw]}  # type: ignore[attr-defined]
        clock.advance(60)
        outgrown(world)
        checked = world.step("check_provisioned", document)
        assert checked["provisioned_arn"] == first
        assert checked["not_grown"].startswith(f"the published bounds allow {most} units")
        assert checked["not_grown"].endswith(
            "under 3x the 5 coming: not worth starting the provisioning over"
        )
    # A model paused meanwhile
    world = World(clock, bedrock, on_profile(clock))
    document, first = bought_units(world, "grow-5")
    pause = PauseRecord(by="arn:aws:iam::123456789012:user/ops", at=clock.now(), reason="budget review")
    world.ctl.state.update(TARGET_ID, lambda s: s.model_copy(update={"pause": pause}))
    clock.advance(60)
    outgrown(world)
    checked = world.step("check_provisioned", document)
    assert checked["provisioned_arn"] == first
    assert "paused by arn:aws:iam::123456789012:user/ops" in checked["not_grown"]


def test_a_demand_that_cannot_be_read_leaves_the_purchase_to_finish(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    class Unreadable(MemoryMetrics):
        def peak(self, query: Any, start: Any, end: Any) -> float | None:
            raise TransientAwsError("GetMetricData was throttled")

    world = World(clock, bedrock, on_profile(clock))
    world.ctl = dataclasses.replace(world.ctl, metrics=Unreadable())
    document, first = bought_units(world, "grow-6")
    clock.advance(60)
    checked = world.step("check_provisioned", document)
    assert (checked["provisioned_arn"], checked["provisioned"]["ready"]) == (first, False)
    assert checked["not_grown"] == (
        "TransientAwsError: GetMetricData was throttled; the purchase in progress goes on"
    )


def test_a_workflow_that_fails_after_growing_deletes_both_purchases(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a purchase replaced by a larger one, the small one not yet deleted
    world, document, first = outgrown_purchase(clock, bedrock, "grow-7")
    document = world.step("check_provisioned", document)
    assert document["replaced_arn"] == first
    # When the workflow fails then (the Catch hands the document to the failure step)
    result = world.step("abandon_provisioned", document)
    # Then neither is left billing, and callers stay on the profile
    assert result["abandoned"].count("deleted arn:") == 2
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []
    assert world.state.route is not None
    assert world.state.route.kind is RouteKind.PROFILE
    assert world.state.lock is None


def purchases(bedrock: FakeBedrock) -> set[str]:
    return {
        s["provisionedModelArn"]
        for s in bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    }


def test_a_retry_that_would_decide_otherwise_takes_up_the_larger_purchase_its_lost_attempt_made(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a check, a second before half the assumed provisioning (600 of 1,200 s), that grew 5 units to 10;
    # Step Functions never saw its result
    world = World(clock, bedrock, on_profile(clock))
    document, first = bought_units(world, "grow-8")
    clock.advance(599)
    outgrown(world)
    lost = world.step("check_provisioned", document)["provisioned_arn"]
    # When the Retry runs it 2 s later, past half the provisioning, where it would not grow
    clock.advance(2)
    retried = world.step("check_provisioned", document)
    # Then it takes up the larger purchase (found by the name it was given), to wait for and to route to
    assert retried["provisioned_arn"] == lost
    assert (retried["replaced_arn"], retried["request"]["plan"]["model_units"]) == (first, 16)
    clock.advance(PROVISIONING)
    retried = world.step("check_provisioned", retried)
    assert retried["provisioned"]["ready"] is True
    assert purchases(bedrock) == {lost}
    world.step("publish_route", retried)
    assert world.published() == lost


def test_a_growth_holds_the_lock_for_the_whole_wait_of_the_larger_purchase(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a model whose last purchase took 57 minutes, and a policy timing a 5-minute approval, an hour's
    # provisioning and a 5-minute drain (the lock: 30 + 5 + 60 + 5 minutes from AcquireLock)
    raw = policy().model_dump(mode="json")
    raw["bedrock"] |= {"max_model_units": 60, "hourly_budget_usd": 10_000}
    raw["bedrock"]["provisioned_throughput"] |= {
        "approval_timeout_seconds": 300,
        "in_service_timeout_seconds": 3600,
        "drain_seconds": 300,
    }
    target = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(target, BedrockModelPolicy)
    bedrock.provisioning_seconds = 3000
    world = World(clock, bedrock, on_profile(clock).model_copy(update={"provisioning_seconds": 3400.0}))
    document = world.step("buy_provisioned", world.step("acquire_lock", world.start(target, "grow-9")))
    # When it grows twice, 28 minutes apart
    for tokens in (1_600_000, 5_500_000):
        clock.advance(1690)
        outgrown(world, tokens)
        document = world.step("check_provisioned", document)
        assert "grown" in document
    # Then the lock outlasts the last purchase's deadline, and the sweeper leaves what the workflow waits on
    lock = world.state.lock
    assert lock is not None
    assert lock.expires_at >= datetime.fromisoformat(document["deadline"])
    clock.advance(3500)
    assert document["provisioned_arn"] not in sweep_provisioned(world.ctl, clock.now()).deleted


def test_a_replaced_purchase_whose_deletion_fails_is_tried_again_at_the_next_poll(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    class ThrottledOnce(BedrockProvisionedThroughputs):
        failures = 1

        def delete(self, arn: str) -> None:
            if self.failures:
                self.failures -= 1
                raise TransientAwsError("DeleteProvisionedModelThroughput: ThrottlingException")
            super().delete(arn)

    world = World(clock, bedrock, on_profile(clock))
    world.ctl = dataclasses.replace(world.ctl, provisioned=ThrottledOnce(bedrock))
    world, document, first = outgrown_purchase(clock, bedrock, "grow-10", world)
    document = world.step("check_provisioned", document)
    clock.advance(60)
    document = world.step("check_provisioned", document)
    assert "could NOT delete" in document["replaced"]
    assert document["replaced_arn"] == first
    clock.advance(60)
    document = world.step("check_provisioned", document)
    assert document["replaced_arn"] is None
    assert first not in purchases(bedrock)


def test_no_second_growth_while_the_purchase_the_first_replaced_is_still_to_delete(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    class Undeletable(BedrockProvisionedThroughputs):
        def delete(self, arn: str) -> None:
            raise TransientAwsError("DeleteProvisionedModelThroughput: ThrottlingException")

    # Given 5 units grown to 16, and the 5 not deletable for now
    world = World(clock, bedrock, on_profile(clock))
    world.ctl = dataclasses.replace(world.ctl, provisioned=Undeletable(bedrock))
    world, document, first = outgrown_purchase(clock, bedrock, "grow-11", world)
    document = world.step("check_provisioned", document)
    second = document["provisioned_arn"]
    # When the demand asks for three times 16 at the next poll
    clock.advance(60)
    outgrown(world, 5_000_000)
    raw = room_to_grow().model_dump(mode="json")
    raw["bedrock"] |= {"max_model_units": 60, "hourly_budget_usd": 10_000}
    world.ctl.policies.document = {"targets": [raw]}  # type: ignore[attr-defined]
    document = world.step("check_provisioned", document)
    # Then it waits on the 16 and keeps the 5 to delete: none is dropped from the document
    assert (document["provisioned_arn"], document["replaced_arn"]) == (second, first)
    assert purchases(bedrock) == {first, second}


def test_the_failure_step_deletes_a_larger_purchase_a_lost_growth_made(
    clock: SimClock, bedrock: FakeBedrock
) -> None:
    # Given a growth whose result Step Functions never saw, then a failure before any retry
    world, document, _ = outgrown_purchase(clock, bedrock, "grow-12")
    lost = world.step("check_provisioned", document)["provisioned_arn"]
    result = world.step("abandon_provisioned", document)
    # Then neither the purchase in the document nor the one the lost attempt made is left billing
    assert f"deleted {lost}" in result["abandoned"]
    assert purchases(bedrock) == set()
