"""The alarm router through EventBridge, with the sample events in events/.

The stack is deployed under the name the samples were written for (`genai-autoscaler`), so their alarm names
carry the rule's prefix and their propagated tags name this stack: each sample is delivered exactly as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler.app.dispatch import Dispatch
from genai_autoscaler_local.harness import REGION

from tests.integration.conftest import (
    IC,
    LLM_ID,
    Launch,
    Scenario,
    document,
    ic_policy,
    llm_policy,
    sample_event,
)

STACK = "genai-autoscaler"
PREFIX = f"{STACK}."
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"

POLICIES = document(
    llm_policy(signals={"concurrency_per_unit": 8}),
    ic_policy(),
    {
        "type": "sagemaker_variant",
        "endpoint_name": "mme-prod",
        "multi_model": True,
        "signals": {"model_loading_wait_ms": 2000},
        "warm_up": {"target_models": ["model-a.tar.gz", "model-b.tar.gz"]},
    },
    {"type": "bedrock_model", "model_id": CLAUDE, "bedrock": {"throttles_per_minute": 5}},
)


def with_prefix(event: dict[str, Any]) -> dict[str, Any]:
    """The same alarm, named under the controller's prefix (so the rule delivers it to the router)."""
    name = PREFIX + event["detail"]["alarmName"]
    event["detail"]["alarmName"] = name
    event["resources"] = [f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"]
    return event


def managed_by_another_stack(event: dict[str, Any]) -> dict[str, Any]:
    event["detail"]["alarmTags"]["genai-autoscaler:managed-by"] = "genai-other"
    return event


def unchanged(event: dict[str, Any]) -> dict[str, Any]:
    return event


@dataclass(frozen=True)
class RouterCase:
    id: str
    sample: str
    dispatch: str | None  # None: the rule does not deliver the event at all
    says: str = ""  # in the plan's reason, or the outcome's note
    action: str | None = None
    adapt: Callable[[dict[str, Any]], dict[str, Any]] = unchanged
    workflows: int = 0
    notification: list[str] = field(default_factory=list)


CASES = [
    RouterCase(
        "latency ALARM -> scale-out workflow",
        "alarm_latency_alarm.json",
        Dispatch.WORKFLOW,
        # Latency says the fleet is slow, not how much load there is: one more instance, whatever the overshoot
        "p95 latency 9,100 ms (threshold 4,000 ms): scale llm-prod/AllTraffic out from 1 instance to 2 "
        "instances.",
        "scale_out",
        workflows=1,
        notification=["llm-prod/AllTraffic scaled out to 2 instances"],
    ),
    RouterCase(
        "concurrency ALARM -> scale-out workflow",
        "alarm_concurrency_alarm.json",
        Dispatch.WORKFLOW,
        "concurrency per unit 19 (threshold 8)",
        "scale_out",
        workflows=1,
        notification=["llm-prod/AllTraffic scaled out to 3 instances"],
    ),
    RouterCase(
        "inference component refusing requests -> wake-up workflow",
        "alarm_ic_no_capacity.json",
        Dispatch.WORKFLOW,
        "scale llama3-8b-ic out from 0 copies to 1 copy",
        "scale_out",
        workflows=1,
        notification=["llama3-8b-ic scaled out to 1 copy"],
    ),
    RouterCase(
        "multi-model loading wait -> scale-out workflow",
        "alarm_mme_loading_wait.json",
        Dispatch.WORKFLOW,
        # In proportion: 6,100 / 2,000 of 1 instance is 3.05, so 4 (mme-prod sets no step limit; its max is 4)
        "p95 model loading wait 6,100 ms (threshold 2,000 ms): scale mme-prod/AllTraffic out from 1 instance "
        "to 4 instances.",
        "scale_out",
        workflows=1,
        notification=["mme-prod/AllTraffic scaled out to 4 instances"],
    ),
    RouterCase(
        "Bedrock throttles, no profile and no spend allowed -> notification only",
        "alarm_bedrock_throttles.json",
        Dispatch.NOTIFIED,
        "traffic stays on-demand: no cross-region profile is named; no Provisioned Throughput may be bought",
        "notify_only",
        notification=[f"GenAI Autoscaler: {CLAUDE} needs attention", "Observed: 37 (threshold 5)"],
    ),
    RouterCase(
        "latency OK -> nothing (scale-in waits for a full evaluation)",
        "alarm_latency_ok.json",
        Dispatch.NOTHING,
        "is OK; scale-in is considered once every signal has stayed OK for 900 s",
        "ignore",
    ),
    RouterCase(
        "concurrency INSUFFICIENT_DATA -> capacity held",
        "alarm_concurrency_insufficient_data.json",
        Dispatch.NOTHING,
        "holding llm-prod/AllTraffic at 1 instance",
        "ignore",
    ),
    RouterCase(
        "alarm tagged by another stack -> ignored",
        "alarm_latency_alarm.json",
        Dispatch.NOTHING,
        f"alarm is managed by genai-other, not {STACK}",
        adapt=managed_by_another_stack,
    ),
    RouterCase("foreign alarm name -> not delivered", "alarm_foreign_latency_average.json", None),
    RouterCase("composite alarm name -> not delivered", "alarm_composite.json", None),
    RouterCase("metric math alarm name -> not delivered", "alarm_metric_math.json", None),
    RouterCase(
        "foreign alarm under our prefix (Average, 300 s) -> ignored",
        "alarm_foreign_latency_average.json",
        Dispatch.NOTHING,
        "alarm on ModelLatency Average/300s is not one of ours",
        adapt=with_prefix,
    ),
    RouterCase(
        "composite alarm under our prefix -> ignored",
        "alarm_composite.json",
        Dispatch.NOTHING,
        "metric math and composite alarms are signals of this controller only when tagged so",
        adapt=with_prefix,
    ),
    RouterCase(
        "metric math alarm under our prefix -> ignored",
        "alarm_metric_math.json",
        Dispatch.NOTHING,
        "metric math and composite alarms are signals of this controller only when tagged so",
        adapt=with_prefix,
    ),
]


def launch_router_stack(launch: Launch) -> Scenario:
    scenario = launch(
        POLICIES,
        endpoints={"llm-prod": 1, "mme-prod": 1, "shared-gpu-endpoint": 1},
        provisioning_seconds=60,
        stack_name=STACK,
    )
    scenario.aws.world.add_inference_component(IC, "shared-gpu-endpoint", copies=0)
    return scenario


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sample_event_through_the_bus(launch: Launch, case: RouterCase) -> None:
    # Given the stack the samples were written for, with their targets managed
    scenario = launch_router_stack(launch)
    event = case.adapt(sample_event(case.sample))
    event["time"] = (
        scenario.aws.clock.now().isoformat()
    )  # sent now: an event past its maximum age is not acted on

    # When EventBridge receives the event
    deliveries = scenario.aws.bus.put(event)
    runs = scenario.workflows()
    notes = scenario.notifications()

    # Then the rule delivers it to the router, or not at all
    if case.dispatch is None:
        assert deliveries == []
        assert scenario.router_calls() == []
        assert (runs, notes) == ([], [])
        return
    outcome = scenario.routed(deliveries)

    # And the router answers with the expected dispatch and says why
    assert outcome["dispatch"] == case.dispatch
    plan = outcome["plan"] or {}
    assert plan.get("action") == case.action
    assert case.says in (plan.get("reason") or outcome.get("note") or "")

    # And exactly the expected workflows ran, and the expected notifications went out
    assert len(runs) == case.workflows
    assert all(run.status == "SUCCEEDED" for run in runs), [(r.error, r.cause) for r in runs]
    if case.notification:
        (note,) = notes
        for text in case.notification:
            assert text in f"{note['subject']}\n{note['message']}"
    else:
        assert notes == []


# ------------------------------------------------------------------------------------------- malformed


def _without_time_zone(event: dict[str, Any]) -> dict[str, Any]:
    event["detail"]["state"]["timestamp"] = "2026-11-24T10:02:35.128"
    return event


def _without_resources(event: dict[str, Any]) -> dict[str, Any]:
    event["resources"] = []
    return event


def _unknown_state(event: dict[str, Any]) -> dict[str, Any]:
    event["detail"]["state"]["value"] = "PENDING"
    return event


@dataclass(frozen=True)
class MalformedCase:
    id: str
    payload: Callable[[], Any]
    names: str  # the field the message must name


MALFORMED = [
    MalformedCase("not an event", lambda: {"hello": "world"}, "detail"),
    MalformedCase("another event type", lambda: sample_event("ssm_policies_changed.json"), "detail-type"),
    MalformedCase(
        "state timestamp without a time zone",
        lambda: _without_time_zone(sample_event("alarm_latency_alarm.json")),
        "detail.state.timestamp",
    ),
    MalformedCase(
        "no alarm ARN in resources",
        lambda: _without_resources(sample_event("alarm_latency_alarm.json")),
        "resources",
    ),
    MalformedCase(
        "unknown alarm state",
        lambda: _unknown_state(sample_event("alarm_latency_alarm.json")),
        "detail.state.value",
    ),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c.id for c in MALFORMED])
def test_malformed_event_fails_the_invocation_with_invalid_event(launch: Launch, case: MalformedCase) -> None:
    # Given the stack
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1}, stack_name=STACK)

    # When the router function is invoked with a payload that is not an alarm state change
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=scenario.aws.stack.resource("AlarmRouterFunction"),
        Payload=json.dumps(case.payload()).encode(),
    )
    error = json.loads(response["Payload"].read())

    # Then the invocation fails with InvalidEvent naming the field (EventBridge retries, then the DLQ)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "InvalidEvent"
    assert error["errorMessage"].startswith("not a CloudWatch Alarm State Change event: ")
    assert f"{case.names}:" in error["errorMessage"]

    # And nothing was started, sent or remembered
    assert scenario.workflows() == []
    assert scenario.notifications() == []
    idempotency = scenario.aws.ddb.scan(TableName=scenario.aws.stack.resource("IdempotencyTable"))
    assert idempotency["Items"] == []


def test_alarm_of_an_endpoint_managed_by_its_tag_scales_it_with_the_defaults(launch: Launch) -> None:
    # Given chat-prod managed only by its tag (no policy document), its alarms made after the deploy
    scenario = launch(endpoints={"chat-prod": 1}, provisioning_seconds=60)
    sagemaker = scenario.aws.sagemaker
    sagemaker.add_tags(
        ResourceArn=sagemaker.describe_endpoint(EndpointName="chat-prod")["EndpointArn"],
        Tags=[{"Key": "genai-autoscaler:managed", "Value": "true"}],
    )
    scenario.aws.deployed()
    latency = "genai-local.variant-chat-prod-AllTraffic-latency_p95"
    assert latency in scenario.alarms()

    # When its latency alarm fires (aws.alarm() knows only document targets: the alarm is named directly)
    deliveries = scenario.aws.cloudwatch.set_state(latency, "ALARM", [24_100_000.0], scenario.aws.clock.now())
    outcome = scenario.routed(deliveries)
    (run,) = scenario.workflows()

    # Then the router found its policy from the propagated tags and the stack defaults (20,000 ms, max 4)
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    assert outcome["plan"]["target"] == "chat-prod/AllTraffic"
    assert (
        "(threshold 20,000 ms): scale chat-prod/AllTraffic out from 1 instance to 2 instances"
        in (outcome["plan"]["reason"])
    )
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.aws.instance_count("chat-prod") == 2
    assert scenario.state("variant/chat-prod/AllTraffic").last_known_capacity == 2


# ------------------------------------------------------------------------------------------- old events


@pytest.mark.parametrize(
    ("age", "says"),
    [
        (timedelta(hours=6), "21,600 s old"),
        (timedelta(days=30), "2,592,000 s old"),
        (-timedelta(hours=1), "3,600 s ahead"),
    ],
    ids=["6 hours old (a late redelivery)", "30 days old (a redrive)", "an hour in the future"],
)
def test_an_alarm_event_past_its_maximum_age_is_recorded_and_not_acted_on(
    launch: Launch, age: timedelta, says: str
) -> None:
    # Given the stack (events older than 900 s are not acted on), and a latency ALARM sent `age` ago
    scenario = launch_router_stack(launch)
    event = sample_event("alarm_latency_alarm.json")
    event["time"] = (scenario.aws.clock.now() - age).isoformat()

    # When EventBridge delivers it (a redrive of the failed-events queue does the same)
    outcome = scenario.routed(scenario.aws.bus.put(event))

    # Then nothing is started or sent, and the target's history says which event was set aside and why
    assert outcome["dispatch"] == Dispatch.TOO_OLD
    assert says in outcome["note"]
    assert (scenario.workflows(), scenario.notifications()) == ([], [])
    (record,) = scenario.history(LLM_ID)
    assert (record.action, record.outcome) == ("ignore", "event_too_old")
    assert "the limit is 900 s" in record.reason


# ------------------------------------------------------------------------------------------- adopted alarms

ADOPTED = "team-claude-prod-p95"


def test_a_teams_own_alarm_adopted_by_the_policy_reaches_the_router_and_is_its_signal(launch: Launch) -> None:
    # Given the stack, and the team's own p95 latency alarm on Claude (no tags, its own name)
    scenario = launch(endpoints={"llm-prod": 1}, stack_name=STACK)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName=ADOPTED,
        Namespace="AWS/Bedrock",
        MetricName="InvocationLatency",
        Dimensions=[{"Name": "ModelId", "Value": CLAUDE}],
        ExtendedStatistic="p95",
        Period=60,
        EvaluationPeriods=3,
        Threshold=18_000,
        ComparisonOperator="GreaterThanThreshold",
    )
    claude = {
        "type": "bedrock_model",
        "model_id": CLAUDE,
        "bedrock": {"throttles_per_minute": 5, "cross_region_profile": f"us.{CLAUDE}"},
        "adopted_alarms": [
            {"alarm_name": ADOPTED, "signal": "latency_p95"},
            {"alarm_name": "team-claude-never-made", "signal": "ttft_p95"},
        ],
    }
    # When a policy adopting it is published
    scenario.aws.publish_policies(document(llm_policy(), claude))
    report = scenario.last_reconcile()
    # Then the reconciler keeps a rule that brings its events to the router, and names the alarm that is missing
    assert report["adopted_rules"] == [f"{STACK}-adopted-1"]
    assert report["adopted_missing"] == ["team-claude-never-made"]
    events = boto3.client("events", region_name=REGION)
    rule = events.describe_rule(Name=f"{STACK}-adopted-1")
    assert json.loads(rule["EventPattern"])["detail"]["alarmName"] == ["team-claude-never-made", ADOPTED]
    (target,) = events.list_targets_by_rule(Rule=f"{STACK}-adopted-1")["Targets"]
    assert "AlarmRouterFunction" in target["Arn"]
    assert target["DeadLetterConfig"]["Arn"].startswith(f"arn:aws:sqs:{REGION}:")
    # And when the team's alarm fires, its event reaches the router through that rule, which climbs the ladder
    deliveries = scenario.aws.cloudwatch.set_state(
        ADOPTED, "ALARM", [21_540, 22_870, 24_110], scenario.aws.clock.now()
    )
    assert [d.rule for d in deliveries] == [f"{STACK}-adopted-1"]
    outcome = scenario.routed(deliveries)
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    assert outcome["plan"]["action"] == "shift_to_profile"
    assert f"alarm {ADOPTED}" in outcome["plan"]["reason"]
    assert outcome["plan"]["observed_value"] == 24_110
    # The team's alarm is left as it was: untagged
    arn = cloudwatch.describe_alarms(AlarmNames=[ADOPTED])["MetricAlarms"][0]["AlarmArn"]
    assert cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
