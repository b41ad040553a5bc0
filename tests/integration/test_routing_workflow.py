"""Every path of statemachines/routing.asl.json, run for real: moto's Step Functions interpreter (its
sns:publish.waitForTaskToken included), the real handlers in-process, the fake Bedrock client for Provisioned
Throughput (moto has none), SSM for the routes callers read, and simulated time (Wait states and the approval's
timeout advance it).

Each test starts from an alarm or an evaluation, as in AWS, and checks what a platform team would check: where
callers are sent, what was bought and deleted, the states the workflow went through, the notification, the lock.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler.app.dispatch import ScaleRequest
from genai_autoscaler.aws.ssm_routes import SsmRouteRegistry
from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.bedrock import BedrockDemand, RouteKind
from genai_autoscaler.domain.decision import AlarmTransition, decide
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.domain.policy import BedrockModelPolicy, deep_merge
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import acquire_lock
from genai_autoscaler_local.harness import REGION, WorkflowRun

from tests.integration.conftest import Launch, Scenario, document

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_ID = f"bedrock/{CLAUDE}"
PROFILE = f"us.{CLAUDE}"
PROVISIONING = 600  # the fake Bedrock's time from Creating to InService
BUSY = {"input_tokens": 300_000, "output_tokens": 80_000, "invocations": 250}  # and 37 throttled: 5 units
CALM = {"input_tokens": 60_000, "output_tokens": 20_000, "invocations": 50}


def claude(**overrides: Any) -> dict[str, Any]:
    """Claude on-demand with a 400k tokens/min quota; Provisioned Throughput at $40 per unit-hour."""
    base: dict[str, Any] = {
        "type": "bedrock_model",
        "model_id": CLAUDE,
        "bedrock": {
            "throttles_per_minute": 5,
            "tokens_per_minute_quota": 400_000,
            "provisioned_throughput": {
                "tokens_per_minute_per_unit": 100_000,
                "hourly_price_per_unit_usd": 40.0,
                "in_service_timeout_seconds": 1800,
                "approval_timeout_seconds": 3600,
                "poll_interval_seconds": 60,
                "drain_seconds": 300,
            },
            "max_model_units": 10,
            "hourly_budget_usd": 500,
            "hold_seconds": 1800,
            "cooldown_seconds": 600,
        },
    }
    return deep_merge(base, overrides)


def committed() -> dict[str, Any]:
    return claude(bedrock={"provisioned_throughput": {"commitment": "OneMonth"}})


def throttling(scenario: Scenario, throttles: float = 37) -> dict[str, Any]:
    """Busy traffic, and the throttle alarm going to ALARM; returns the router's answer."""
    scenario.aws.bedrock_traffic(CLAUDE, **BUSY)
    return scenario.alarm(CLAUDE, "throttles", "ALARM", [throttles])


def published(scenario: Scenario) -> str | None:
    """The model ID callers resolve now (None: nothing published, callers use the model itself)."""
    ssm = boto3.client("ssm", region_name=REGION)
    route = SsmRouteRegistry(ssm, scenario.aws.stack_name).current(CLAUDE)
    return None if route is None else route.model_id


def provisioned(scenario: Scenario) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = scenario.aws.bedrock.list_provisioned_model_throughputs()[
        "provisionedModelSummaries"
    ]
    return summaries


def start_routing(scenario: Scenario, request: ScaleRequest, name: str) -> None:
    """Start the routing workflow by hand with `request`, as anyone allowed StartExecution can."""
    scenario.aws.sfn.start_execution(
        stateMachineArn=scenario.aws.stack.outputs["RoutingWorkflowArn"],
        name=name,
        input=json.dumps(request.model_dump(mode="json")),
    )


def routing_run(scenario: Scenario) -> WorkflowRun:
    (run,) = [r for r in scenario.workflows() if r.workflow == "routing"]
    return run


APPROVER = "arn:aws:iam::123456789012:user/dana"


def answer(scenario: Scenario, approve: bool) -> dict[str, str]:
    """Read the approval request as the approver does, and answer it through the approval function, as its
    function URL delivers a signed POST: the body the message shows, and the caller's ARN IAM verified."""
    request = scenario.aws.approval_request()
    # The body the message gives, with the token from its end
    body = json.loads(request["message"].split("-d '", 1)[1].split("'", 1)[0]) | {
        "task_token": request["token"]
    }
    if not approve:
        body |= {"approved": False, "reason": "not this quarter"}
    event = {
        "version": "2.0",
        "requestContext": {"authorizer": {"iam": {"userArn": APPROVER}}, "http": {"method": "POST"}},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=scenario.aws.stack.resource("ApprovalFunction"), Payload=json.dumps(event).encode()
    )
    answered = json.loads(response["Payload"].read())
    assert answered["statusCode"] == 200, answered
    return request


# ---------------------------------------------------------------------------------------------- the ladder


def test_throttling_shifts_callers_to_the_cross_region_profile(launch: Launch) -> None:
    # Given Claude on-demand, with a cross-region profile named in its policy
    scenario = launch(document(claude(bedrock={"cross_region_profile": PROFILE})))
    # When it throttles
    outcome = throttling(scenario)
    run = routing_run(scenario)
    # Then the routing workflow sent callers to the profile, bought nothing, and said so
    assert outcome["plan"]["action"] == "shift_to_profile"
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.visited(run) == [
        "Prepare",
        "AcquireLock",
        "Route",
        "PublishRoute",
        "IsReleasing",
        "Notify",
        "Done",
    ]
    assert published(scenario) == PROFILE
    assert provisioned(scenario) == []
    state = scenario.state(CLAUDE_ID)
    assert state.route is not None
    assert state.route.kind is RouteKind.PROFILE
    assert state.lock is None
    (note,) = scenario.notifications()
    assert note["subject"] == f"GenAI Autoscaler: {CLAUDE} shifted to its cross-region profile"
    assert f"Callers now use: {PROFILE}" in note["message"]
    assert "Cost: billed per token, at on-demand prices (no hourly charge)" in note["message"]


def test_throttling_without_a_profile_buys_provisioned_throughput_and_routes_once_in_service(
    launch: Launch,
) -> None:
    # Given Claude on-demand, no profile, Provisioned Throughput allowed
    scenario = launch(document(claude()))
    started = scenario.aws.clock.now()
    # When it throttles
    outcome = throttling(scenario)
    run = routing_run(scenario)
    # Then 5 units were bought, polled until InService, and only then routed to
    assert (outcome["plan"]["action"], outcome["plan"]["model_units"]) == ("shift_to_provisioned", 5)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    visited = scenario.visited(run)
    assert visited[:5] == ["Prepare", "AcquireLock", "Route", "NeedsApproval", "BuyProvisioned"]
    assert visited.count("WaitForProvisioning") == PROVISIONING // 60
    assert visited[-4:] == ["PublishRoute", "IsReleasing", "Notify", "Done"]
    (pt,) = provisioned(scenario)
    assert (pt["status"], pt["modelUnits"], "commitmentDuration" in pt) == ("InService", 5, False)
    assert published(scenario) == pt["provisionedModelArn"]
    assert (scenario.aws.clock.now() - started).total_seconds() >= PROVISIONING
    # And the PT is tagged as the controller's, for the sweeper
    tags = scenario.aws.bedrock.list_tags_for_resource(resourceARN=pt["provisionedModelArn"])["tags"]
    assert {"key": "genai-autoscaler:managed-by", "value": scenario.aws.stack_name} in tags
    # And the notification gives the units and the hourly cost
    (note,) = scenario.notifications()
    assert "shifted to Provisioned Throughput" in note["subject"]
    assert "5 model unit(s), no commitment" in note["message"]
    assert "Cost: $200.00 per hour" in note["message"]


@pytest.mark.parametrize("fault", ["fails", "never finishes"])
def test_provisioning_that_does_not_serve_is_deleted_and_routing_left_alone(
    launch: Launch, fault: str
) -> None:
    # Given Claude on-demand, and a purchase Bedrock fails or never finishes
    scenario = launch(document(claude()))
    if fault == "fails":
        scenario.aws.bedrock.fail_next_create("Insufficient capacity for the requested model units")
    else:
        scenario.aws.bedrock.hang_next_create()
    # When it throttles
    throttling(scenario)
    run = routing_run(scenario)
    # Then the workflow failed, deleted what it bought, and left callers on-demand
    assert (run.status, run.error) == ("FAILED", "RoutingFailed")
    assert scenario.visited(run)[-3:] == ["Abandon", "NotifyFailure", "Failed"]
    assert provisioned(scenario) == []
    assert published(scenario) is None
    state = scenario.state(CLAUDE_ID)
    assert state.route is None
    assert state.lock is None
    (note,) = scenario.notifications()
    error = "ActuationRejected" if fault == "fails" else "InServiceTimeout"
    assert "FAILED" in note["subject"]
    assert error in note["message"]
    assert "routing unchanged" in note["message"]
    assert "deleted arn:aws:bedrock" in note["message"]


# ---------------------------------------------------------------------------------------------- approval


def test_an_approved_commitment_is_bought_with_its_term(launch: Launch) -> None:
    # Given Claude whose Provisioned Throughput is a OneMonth commitment
    scenario = launch(document(committed()))
    # When it throttles and a person approves
    throttling(scenario)
    request = answer(scenario, approve=True)
    run = routing_run(scenario)
    # Then the request said what it costs and how to answer; the commitment was bought and routed to
    assert "APPROVE OneMonth" in request["subject"]
    assert "Cost: $200.00 per hour" in request["message"]
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.visited(run)[4:8] == ["RequestApproval", "AwaitApproval", "IsApproved", "BuyProvisioned"]
    (pt,) = provisioned(scenario)
    assert pt["commitmentDuration"] == "OneMonth"
    assert published(scenario) == pt["provisionedModelArn"]


def test_a_commitment_approved_around_the_approval_function_buys_nothing(launch: Launch) -> None:
    # Given Claude whose Provisioned Throughput is a OneMonth commitment
    scenario = launch(document(committed()))
    # When it throttles and someone answers the request with SendTaskSuccess directly, naming anyone they like
    throttling(scenario)
    request = scenario.aws.approval_request()
    scenario.aws.sfn.send_task_success(
        taskToken=request["token"], output=json.dumps({"approved": True, "by": "the CFO"})
    )
    run = routing_run(scenario)
    # Then nothing is bought: the purchase needs the approval the function recorded with the caller's identity
    assert (run.status, run.error) == ("FAILED", "RoutingFailed")
    assert scenario.visited(run)[-4:] == ["BuyProvisioned", "Abandon", "NotifyFailure", "Failed"]
    assert provisioned(scenario) == []
    (note,) = scenario.notifications()
    assert "without the approval function" in note["message"]


def test_an_approval_records_who_aws_says_approved(launch: Launch) -> None:
    scenario = launch(document(committed()))
    throttling(scenario)
    answer(scenario, approve=True)
    routing_run(scenario)
    approval = scenario.state(CLAUDE_ID).approval
    assert approval is not None
    assert (approval.approved, approval.by) == (True, APPROVER)
    assert any(r.action == "approve" and APPROVER in r.reason for r in scenario.history(CLAUDE_ID))


@pytest.mark.parametrize("answered", ["rejected", "no answer"])
def test_a_commitment_not_approved_buys_nothing(launch: Launch, answered: str) -> None:
    # Given Claude whose Provisioned Throughput is a OneMonth commitment
    scenario = launch(document(committed()))
    # When it throttles and the request is rejected, or no one answers within the hour
    throttling(scenario)
    if answered == "rejected":
        answer(scenario, approve=False)
    else:
        scenario.aws.approval_request()
        scenario.advance(3600)
    run = routing_run(scenario)
    # Then nothing was bought, callers stay on-demand, and the team is told why
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.visited(run)[-3:] == ["NotApproved", "Notify", "Done"]
    assert provisioned(scenario) == []
    assert published(scenario) is None
    assert scenario.state(CLAUDE_ID).lock is None
    (note,) = scenario.notifications()
    assert "not approved; nothing bought" in note["subject"]
    # (moto 5.2.5's SendTaskFailure drops the cause: the unit tests check it is quoted)
    why = "was not bought: rejected" if answered == "rejected" else "no one answered within 3600 s"
    assert why in note["message"]


# ---------------------------------------------------------------------------------------------- the way back


def test_when_calm_returns_callers_go_back_on_demand_and_the_pt_is_deleted_after_the_drain(
    launch: Launch,
) -> None:
    # Given callers on Provisioned Throughput the controller bought
    scenario = launch(document(claude()))
    throttling(scenario)
    assert routing_run(scenario).status == "SUCCEEDED"
    (pt,) = provisioned(scenario)
    scenario.notifications()
    # When throttling stops, demand falls well within the on-demand quota, and the hold period passes
    scenario.aws.bedrock_traffic(CLAUDE, **CALM)
    scenario.alarm(CLAUDE, "throttles", "OK", [0.0])
    scenario.advance(1800 + 60)
    outcomes = scenario.evaluate()
    run = routing_run(scenario)
    # Then callers were routed back, the PT kept through the drain, then deleted
    assert [o["plan"]["action"] for o in outcomes] == ["revert_routing"]
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.visited(run)[-6:] == [
        "PublishRoute",
        "IsReleasing",
        "Drain",
        "ReleaseProvisioned",
        "Notify",
        "Done",
    ]
    assert published(scenario) == CLAUDE
    assert provisioned(scenario) == []
    state = scenario.state(CLAUDE_ID)
    assert state.route is not None
    assert state.route.kind is RouteKind.ON_DEMAND
    assert state.lock is None
    (note,) = scenario.notifications()
    assert "routed back to on-demand" in note["subject"]
    assert f"deleted {pt['provisionedModelArn']}" in note["message"]
    assert "Provisioned Throughput billed: $" in note["message"]
    assert "since the shift" not in note["message"]


# ---------------------------------------------------------------------------------------------- redelivery


def test_a_redelivered_alarm_event_starts_one_workflow(launch: Launch) -> None:
    # Given Claude on-demand
    scenario = launch(document(claude()))
    scenario.aws.bedrock_traffic(CLAUDE, **BUSY)
    name = scenario.aws.alarm_name(CLAUDE, "throttles")
    event = scenario.aws.cloudwatch.state_change_event(name, "ALARM", [37.0], scenario.aws.clock.now())
    # When EventBridge delivers the same event twice
    first = scenario.routed(scenario.aws.bus.put(event))
    second = scenario.routed(scenario.aws.bus.put(event))
    runs = [r for r in scenario.workflows() if r.workflow == "routing"]
    # Then one workflow ran and one Provisioned Throughput was bought
    assert first["execution_arn"] == second["execution_arn"]
    assert len(runs) == 1
    assert len(provisioned(scenario)) == 1


# ---------------------------------------------------------------------------------------------- orphans


def test_a_pt_a_failed_workflow_could_not_delete_is_found_and_deleted_by_the_sweeper(launch: Launch) -> None:
    # Given a purchase that never finishes, and Bedrock refusing the workflow's deletion of it
    scenario = launch(document(claude()))
    scenario.aws.bedrock.hang_next_create()
    scenario.aws.bedrock.refuse_next(
        "DeleteProvisionedModelThroughput", "ThrottlingException", "Rate exceeded"
    )
    throttling(scenario)
    run = routing_run(scenario)
    (orphan,) = provisioned(scenario)
    (note,) = scenario.notifications()
    assert run.status == "FAILED"
    assert "could NOT delete" in note["message"]
    assert "the sweeper retries" in note["message"]
    # When the scheduled sweep runs
    function = scenario.aws.stack.resource("ProvisionedSweeperFunction")
    response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=function, Payload=b"{}")
    report = json.loads(response["Payload"].read())
    # Then the orphan, routed to by no one and held by no workflow, is deleted and the team told
    assert report["deleted"] == [orphan["provisionedModelArn"]]
    assert provisioned(scenario) == []
    (swept,) = scenario.notifications()
    assert orphan["provisionedModelArn"] in swept["message"]


def test_a_workflow_that_finds_the_model_locked_changes_nothing(launch: Launch) -> None:
    # Given a shift to Provisioned Throughput decided, and another routing workflow holding the model's lock
    scenario = launch(document(claude()))
    ctl = scenario.aws.controller()
    policy = ctl.settings.effective_policies(ctl.policies.load()).by_name(CLAUDE)
    assert isinstance(policy, BedrockModelPolicy)
    now = scenario.aws.clock.now()
    demand = BedrockDemand(tokens_per_minute=380_000, throttled_per_minute=37, tokens_per_invocation=1_520)
    reading = SignalReading(Signal.THROTTLES, AlarmState.ALARM, now, 37.0, 5.0, "Count")
    plan = decide(AlarmTransition(reading, AlarmState.OK), policy, demand, scenario.state(CLAUDE_ID), now)
    assert plan.workflow is Workflow.ROUTING
    ctl.state.update(CLAUDE_ID, lambda s: acquire_lock(s, "revert_routing-other", now, timedelta(hours=1)))
    # When the workflow starts (the race the decision's own lock check cannot close)
    start_routing(scenario, ScaleRequest(plan=plan, policy=policy.model_dump(mode="json")), "shift-race")
    run = routing_run(scenario)
    # Then it ends quietly at LockContended: nothing bought, nothing published, the lock still the other's
    assert run.status == "SUCCEEDED"
    assert scenario.visited(run) == ["Prepare", "AcquireLock", "LockContended"]
    assert provisioned(scenario) == []
    assert published(scenario) is None
    lock = scenario.state(CLAUDE_ID).lock
    assert lock is not None
    assert lock.owner == "revert_routing-other"
    assert scenario.notifications() == []


def test_a_hand_started_purchase_beyond_the_published_policy_buys_nothing(launch: Launch) -> None:
    # Given Claude, its published policy allowing 10 model units and $500 an hour
    scenario = launch(document(claude()))
    now = scenario.aws.clock.now()
    # When someone starts the routing workflow with an input that allows 50 units and $10,000, and plans 50
    forged = BedrockModelPolicy.model_validate(
        claude(name=CLAUDE, bedrock={"max_model_units": 50, "hourly_budget_usd": 10_000})
    )
    demand = BedrockDemand(tokens_per_minute=5_000_000, throttled_per_minute=37, tokens_per_invocation=1_520)
    reading = SignalReading(Signal.THROTTLES, AlarmState.ALARM, now, 37.0, 5.0, "Count")
    plan = decide(AlarmTransition(reading, AlarmState.OK), forged, demand, scenario.state(CLAUDE_ID), now)
    assert (plan.model_units, plan.needs_approval) == (50, False)
    start_routing(scenario, ScaleRequest(plan=plan, policy=forged.model_dump(mode="json")), "forged-purchase")
    run = routing_run(scenario)
    # Then BuyProvisioned refuses it by the published figures: nothing bought or published, the team told
    assert (run.status, run.error) == ("FAILED", "RoutingFailed")
    assert scenario.visited(run)[-4:] == ["BuyProvisioned", "Abandon", "NotifyFailure", "Failed"]
    assert provisioned(scenario) == []
    assert published(scenario) is None
    assert scenario.state(CLAUDE_ID).lock is None
    (note,) = scenario.notifications()
    assert "PlanRefused" in note["message"]
    assert "buys 50 model units, more than the policy's max_model_units allows (10)" in note["message"]


def test_a_slow_first_token_moves_a_streaming_model_up_the_ladder(launch: Launch) -> None:
    # Given Claude whose team states its SLO as the time to the first token of a streamed answer
    scenario = launch(document(claude(bedrock={"cross_region_profile": PROFILE, "ttft_p95_ms": 800})))
    alarms = scenario.alarms()
    (ttft,) = [a for a in alarms.values() if a.get("MetricName") == "TimeToFirstToken"]
    assert (ttft["Namespace"], ttft["ExtendedStatistic"], ttft["Period"], ttft["Threshold"]) == (
        "AWS/Bedrock",
        "p95",
        60,
        800,
    )
    assert ttft["Dimensions"] == [{"Name": "ModelId", "Value": CLAUDE}]
    assert ttft["TreatMissingData"] == "notBreaching"  # nothing streamed in a minute is no slow first token
    # When its p95 time to first token reaches 1.9 s
    outcome = scenario.alarm(CLAUDE, "ttft_p95", "ALARM", [1900])
    # Then callers go to the cross-region profile, and the reason says what was slow
    assert outcome["plan"]["action"] == "shift_to_profile"
    assert "p95 time to first token 1,900 ms (threshold 800 ms)" in outcome["plan"]["reason"]
    run = routing_run(scenario)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert published(scenario) == PROFILE


def test_a_purchase_the_demand_outgrows_while_it_provisions_is_replaced_by_one_its_size(
    launch: Launch,
) -> None:
    # Given Claude's traffic at 380,000 tokens a minute (4 units of 100,000: the policy states no overflow)
    scenario = launch(document(claude()))
    scenario.aws.bedrock_traffic(CLAUDE, **BUSY)
    now = scenario.aws.clock.now()
    # When an operator starts a purchase of 1 unit by hand (sized for 90,000 tokens a minute)
    policy = BedrockModelPolicy.model_validate(claude(name=CLAUDE))
    reading = SignalReading(Signal.THROTTLES, AlarmState.ALARM, now, 37.0, 5.0, "Count")
    small = BedrockDemand(tokens_per_minute=90_000, throttled_per_minute=0, tokens_per_invocation=1_520)
    plan = decide(AlarmTransition(reading, AlarmState.OK), policy, small, scenario.state(CLAUDE_ID), now)
    assert plan.model_units == 1
    start_routing(scenario, ScaleRequest(plan=plan, policy=policy.model_dump(mode="json")), "small-purchase")
    run = routing_run(scenario)
    # Then the workflow, reading the demand as its own role may (CloudWatch, Service Quotas, the account's
    # units), replaced it by 4 units while it provisioned, deleted the small one, and sent callers to the large
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    (pt,) = provisioned(scenario)
    assert (pt["status"], pt["modelUnits"]) == ("InService", 4)
    assert published(scenario) == pt["provisionedModelArn"]
    state = scenario.state(CLAUDE_ID)
    assert state.route is not None
    assert state.route.model_units == 4
    assert state.provisioning_seconds is not None
    assert state.provisioning_seconds >= PROVISIONING
    (note,) = scenario.notifications()
    assert "Grown while it provisioned, from 1 to 4 model units" in note["message"]
