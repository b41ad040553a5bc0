"""The reconciler against the stack in moto: the alarms it keeps, exactly as CloudWatch describes them.

It runs as in AWS: after a deploy (the CloudFormation stack-status event), when the policy parameter changes
(the SSM event that `publish_policies` sends), and when an endpoint's management tag changes (the tag event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler_local.harness import REGION, LocalAws

from tests.integration.conftest import (
    LLM,
    LLM_ID,
    Launch,
    Scenario,
    document,
    ic_policy,
    llm_policy,
    sample_event,
)

STACK = "genai-local"
PREFIX = f"{STACK}."
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BEDROCK_ID = f"bedrock/{CLAUDE}"
VARIANT_DIMS = [{"Name": "EndpointName", "Value": "llm-prod"}, {"Name": "VariantName", "Value": "AllTraffic"}]
IC_DIMS = [{"Name": "InferenceComponentName", "Value": "llama3-8b-ic"}]
CHAT_DIMS = [{"Name": "EndpointName", "Value": "chat-prod"}, {"Name": "VariantName", "Value": "AllTraffic"}]

POLICIES = document(
    llm_policy(),
    ic_policy(),  # no signals of its own: the stack's DefaultLatencyThresholdMs (20000) and
    # DefaultConcurrencyPerInstance (8) apply
    {
        "type": "sagemaker_variant",
        "endpoint_name": "chat-prod",
        "signals": {
            "latency_p95_ms": 2500,
            "latency_evaluation": {"period_seconds": 30, "evaluation_periods": 5, "datapoints_to_alarm": 4},
            "concurrency_per_unit": None,  # turned off: no concurrency alarm
        },
    },
    {
        "type": "bedrock_model",
        "model_id": CLAUDE,
        "bedrock": {"throttles_per_minute": 5, "latency_p95_ms": 8000},
    },
)


@dataclass(frozen=True)
class ExpectedAlarm:
    id: str
    name: str
    target_id: str
    signal: str
    namespace: str
    metric: str
    statistic: tuple[str, str]  # ("Statistic" | "ExtendedStatistic", value)
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    dimensions: list[dict[str, str]]
    threshold: float
    treat_missing_data: str
    comparison: str = "GreaterThanThreshold"


EXPECTED = [
    ExpectedAlarm(
        "variant p95 latency, threshold in microseconds",
        f"{PREFIX}variant-llm-prod-AllTraffic-latency_p95",
        LLM_ID,
        "latency_p95",
        "AWS/SageMaker",
        "ModelLatency",
        ("ExtendedStatistic", "p95"),
        60,
        3,
        2,
        VARIANT_DIMS,
        4_000_000.0,
        "notBreaching",
    ),
    ExpectedAlarm(
        "variant concurrency, high resolution, missing data not idle",
        f"{PREFIX}variant-llm-prod-AllTraffic-concurrency",
        LLM_ID,
        "concurrency",
        "AWS/SageMaker",
        "ConcurrentRequestsPerModel",
        ("Statistic", "Maximum"),
        10,
        3,
        3,
        VARIANT_DIMS,
        4.0,
        "missing",
    ),
    ExpectedAlarm(
        "variant with its own evaluation settings",
        f"{PREFIX}variant-chat-prod-AllTraffic-latency_p95",
        "variant/chat-prod/AllTraffic",
        "latency_p95",
        "AWS/SageMaker",
        "ModelLatency",
        ("ExtendedStatistic", "p95"),
        30,
        5,
        4,
        CHAT_DIMS,
        2_500_000.0,
        "notBreaching",
    ),
    ExpectedAlarm(
        "inference component p95 latency from the stack default",
        f"{PREFIX}inference-component-llama3-8b-ic-latency_p95",
        "inference-component/llama3-8b-ic",
        "latency_p95",
        "AWS/SageMaker",
        "ModelLatency",
        ("ExtendedStatistic", "p95"),
        60,
        3,
        2,
        IC_DIMS,
        20_000_000.0,
        "notBreaching",
    ),
    ExpectedAlarm(
        "inference component concurrency per copy",
        f"{PREFIX}inference-component-llama3-8b-ic-concurrency",
        "inference-component/llama3-8b-ic",
        "concurrency",
        "AWS/SageMaker",
        "ConcurrentRequestsPerCopy",
        ("Statistic", "Maximum"),
        10,
        3,
        3,
        IC_DIMS,
        8.0,
        "missing",
    ),
    ExpectedAlarm(
        "inference component refused requests wake it from zero",
        f"{PREFIX}inference-component-llama3-8b-ic-no_capacity",
        "inference-component/llama3-8b-ic",
        "no_capacity",
        "AWS/SageMaker",
        "NoCapacityInvocationFailures",
        ("Statistic", "Sum"),
        60,
        1,
        1,
        IC_DIMS,
        0.0,
        "notBreaching",
    ),
    ExpectedAlarm(
        "Bedrock throttles at or above the threshold",
        f"{PREFIX}bedrock-anthropic.claude-3-5-sonnet-20240620-v1-0-throttles",
        BEDROCK_ID,
        "throttles",
        "AWS/Bedrock",
        "InvocationThrottles",
        ("Statistic", "Sum"),
        60,
        1,
        1,
        [{"Name": "ModelId", "Value": CLAUDE}],
        5.0,
        "notBreaching",
        "GreaterThanOrEqualToThreshold",
    ),
    ExpectedAlarm(
        "Bedrock p95 latency, threshold in milliseconds",
        f"{PREFIX}bedrock-anthropic.claude-3-5-sonnet-20240620-v1-0-latency_p95",
        BEDROCK_ID,
        "latency_p95",
        "AWS/Bedrock",
        "InvocationLatency",
        ("ExtendedStatistic", "p95"),
        60,
        3,
        2,
        [{"Name": "ModelId", "Value": CLAUDE}],
        8000.0,
        "notBreaching",
    ),
]


@dataclass(frozen=True)
class Reconciled:
    report: dict[str, Any]
    alarms: dict[str, dict[str, Any]]
    tags: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def reconciled() -> Reconciled:
    """The policy document published once; what the reconciler made of it, read back as plain data."""
    with LocalAws(stack_name=STACK, quiet=True, enforce_iam=True) as aws:
        aws.publish_policies(POLICIES)
        scenario = Scenario(aws)
        report = scenario.last_reconcile()
        alarms = scenario.alarms()
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        tags = {
            name: {
                t["Key"]: t["Value"]
                for t in cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            }
            for name, alarm in alarms.items()
        }
    return Reconciled(report, alarms, tags)


def test_published_policies_get_exactly_the_alarms_their_signals_need(reconciled: Reconciled) -> None:
    # Given the policy document published (the SSM change event ran the reconciler)
    # Then it created one alarm per enabled signal, and no other under its prefix
    assert sorted(reconciled.report["created"]) == sorted(e.name for e in EXPECTED)
    assert set(reconciled.alarms) == {e.name for e in EXPECTED}
    assert (reconciled.report["updated"], reconciled.report["deleted"]) == ([], [])
    assert reconciled.report["targets"] == [
        "llm-prod/AllTraffic",
        "llama3-8b-ic",
        "chat-prod/AllTraffic",
        CLAUDE,
    ]


@pytest.mark.parametrize("expected", EXPECTED, ids=[e.id for e in EXPECTED])
def test_each_alarm_watches_its_signal_as_specified(reconciled: Reconciled, expected: ExpectedAlarm) -> None:
    # Given the alarm as CloudWatch describes it
    alarm = reconciled.alarms[expected.name]

    # Then its metric, statistic, evaluation and threshold are those of the signal
    assert (alarm["Namespace"], alarm["MetricName"]) == (expected.namespace, expected.metric)
    key, value = expected.statistic
    other = "Statistic" if key == "ExtendedStatistic" else "ExtendedStatistic"
    assert alarm.get(key) == value
    assert other not in alarm
    if key == "ExtendedStatistic":
        assert alarm["EvaluateLowSampleCountPercentile"] == "evaluate"
    assert alarm["Period"] == expected.period
    assert alarm["EvaluationPeriods"] == expected.evaluation_periods
    assert alarm["DatapointsToAlarm"] == expected.datapoints_to_alarm
    assert alarm["Dimensions"] == expected.dimensions
    assert alarm["Threshold"] == expected.threshold
    assert alarm["ComparisonOperator"] == expected.comparison
    assert alarm["TreatMissingData"] == expected.treat_missing_data
    # A Unit would hide datapoints published in another unit; actions are not needed for EventBridge.
    assert "Unit" not in alarm
    assert alarm["ActionsEnabled"] is False

    # And its tags say whose it is, for which target and signal
    assert reconciled.tags[expected.name] == {
        "genai-autoscaler:managed-by": STACK,
        "genai-autoscaler:target": expected.target_id,
        "genai-autoscaler:signal": expected.signal,
    }


# ------------------------------------------------------------------------------------------ changes


def test_changed_threshold_updates_only_that_alarm(launch: Launch) -> None:
    # Given the alarms of llm-prod at 4,000 ms
    scenario = launch(document(llm_policy()))
    latency = f"{PREFIX}variant-llm-prod-AllTraffic-latency_p95"
    concurrency_before = scenario.alarms()[f"{PREFIX}variant-llm-prod-AllTraffic-concurrency"]

    # When the team raises the latency threshold to 6,000 ms
    scenario.advance(60)
    scenario.aws.publish_policies(document(llm_policy(signals={"latency_p95_ms": 6000})))

    # Then the latency alarm is updated in place, and nothing else is touched
    report = scenario.last_reconcile()
    assert (report["created"], report["updated"], report["deleted"]) == ([], [latency], [])
    alarms = scenario.alarms()
    assert alarms[latency]["Threshold"] == 6_000_000.0
    assert (
        alarms[latency]["AlarmDescription"]
        == "GenAI Autoscaler: p95 ModelLatency above 6000 ms on llm-prod/AllTraffic"
    )
    concurrency_after = alarms[f"{PREFIX}variant-llm-prod-AllTraffic-concurrency"]
    assert concurrency_after == concurrency_before


def test_removed_target_loses_its_alarms(launch: Launch) -> None:
    # Given llm-prod and an inference component managed
    scenario = launch(document(llm_policy(), ic_policy()))
    assert len(scenario.alarms()) == 5

    # When the inference component is removed from the document
    scenario.aws.publish_policies(document(llm_policy()))

    # Then its three alarms are deleted, and llm-prod's stay
    report = scenario.last_reconcile()
    assert report["deleted"] == [
        f"{PREFIX}inference-component-llama3-8b-ic-concurrency",
        f"{PREFIX}inference-component-llama3-8b-ic-latency_p95",
        f"{PREFIX}inference-component-llama3-8b-ic-no_capacity",
    ]
    assert (report["created"], report["updated"]) == ([], [])
    assert set(scenario.alarms()) == {
        f"{PREFIX}variant-llm-prod-AllTraffic-concurrency",
        f"{PREFIX}variant-llm-prod-AllTraffic-latency_p95",
    }


def test_endpoint_tagged_for_management_gets_alarms_without_a_redeploy(launch: Launch) -> None:
    # Given llm-prod managed, chat-prod not (yet), and team-test tagged "false"
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1, "chat-prod": 2, "team-test": 1})
    sagemaker = scenario.aws.sagemaker
    arn = sagemaker.describe_endpoint(EndpointName="chat-prod")["EndpointArn"]
    sagemaker.add_tags(
        ResourceArn=sagemaker.describe_endpoint(EndpointName="team-test")["EndpointArn"],
        Tags=[{"Key": "genai-autoscaler:managed", "Value": "false"}],
    )
    assert not any("chat-prod" in name for name in scenario.alarms())

    # When chat-prod is tagged genai-autoscaler:managed=true and the tag event arrives
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "genai-autoscaler:managed", "Value": "true"}])
    event = sample_event("tag_change_endpoint_managed.json")
    deliveries = scenario.aws.bus.put(event)

    # Then the reconciler ran and chat-prod's AllTraffic variant has alarms with the stack's defaults
    assert [d.error for d in deliveries if "ReconcilerFunction" in d.target_arn] == [None]
    report = scenario.last_reconcile()
    chat = {
        f"{PREFIX}variant-chat-prod-AllTraffic-concurrency",
        f"{PREFIX}variant-chat-prod-AllTraffic-latency_p95",
    }
    assert set(report["created"]) == chat
    assert "chat-prod/AllTraffic" in report["targets"]
    assert not any("team-test" in name for name in scenario.alarms())
    alarms = scenario.alarms()
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-latency_p95"]["Threshold"] == 20_000_000.0
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-concurrency"]["Threshold"] == 8.0
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-latency_p95"]["Dimensions"] == CHAT_DIMS

    # When the tag is removed again
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["genai-autoscaler:managed"])
    scenario.aws.bus.put(event | {"detail": event["detail"] | {"tags": {"team": "chat"}}})

    # Then its alarms go with it
    assert set(scenario.last_reconcile()["deleted"]) == chat
    assert not any("chat-prod" in name for name in scenario.alarms())


def test_alarms_under_the_prefix_that_are_not_ours_are_left_alone(launch: Launch) -> None:
    # Given a team's own alarm that happens to share the prefix, and one owned by another stack
    scenario = launch(document(llm_policy()))
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    foreign = {
        f"{PREFIX}team-latency-average": [],
        f"{PREFIX}other-stack-latency": [{"Key": "genai-autoscaler:managed-by", "Value": "genai-other"}],
    }
    for name, tags in foreign.items():
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName="ModelLatency",
            Dimensions=VARIANT_DIMS,
            Statistic="Average",
            Period=300,
            EvaluationPeriods=1,
            Threshold=5_000_000.0,
            ComparisonOperator="GreaterThanThreshold",
            Tags=tags,
        )

    # When the reconciler runs after a deploy
    deliveries = scenario.aws.deployed()

    # Then it deletes neither, and keeps its own
    assert [d.error for d in deliveries] == [None]
    report = scenario.last_reconcile()
    assert report["deleted"] == []
    assert set(foreign) <= set(scenario.alarms())
    assert len(scenario.alarms()) == 4


def test_second_reconcile_changes_nothing(launch: Launch) -> None:
    # Given every kind of alarm reconciled once
    scenario = launch(POLICIES)
    before = scenario.alarms()

    # When the reconciler runs again, a minute later, after a deploy
    scenario.advance(60)
    deliveries = scenario.aws.deployed()

    # Then it finds every alarm as wanted and puts none again
    assert [d.error for d in deliveries] == [None]
    report = scenario.last_reconcile()
    assert (report["created"], report["updated"], report["deleted"]) == ([], [], [])
    assert report["unchanged"] == len(EXPECTED)
    assert scenario.alarms() == before  # AlarmConfigurationUpdatedTimestamp would have moved


def test_document_that_does_not_validate_changes_no_alarm(launch: Launch) -> None:
    # Given llm-prod's alarms
    scenario = launch(document(llm_policy()))
    before = scenario.alarms()

    # When a document with a capacity min above max lands in the parameter (bypassing publish-config)
    broken = document(llm_policy(capacity={"min": 5, "max": 2}))
    name = scenario.aws.stack.outputs["PolicyParameterName"]
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=name, Value=json.dumps(broken), Type="String", Overwrite=True
    )
    event = sample_event("ssm_policies_changed.json")
    event["detail"]["name"] = name
    deliveries = scenario.aws.bus.put(event)

    # Then the reconciler changes no alarm, reports the problem, and tells the team where it is
    (delivery,) = [d for d in deliveries if "ReconcilerFunction" in d.target_arn]
    assert delivery.error is None
    assert delivery.result["problems"] == ["targets[0].capacity: min (5) is above max (2)"]
    assert (delivery.result["created"], delivery.result["deleted"]) == ([], [])
    assert scenario.alarms() == before
    (note,) = scenario.notifications()
    assert note["subject"] == "GenAI Autoscaler: the policy document is invalid; nothing was changed"
    assert name in note["message"]
    assert "targets[0].capacity: min (5) is above max (2)" in note["message"]


def test_endpoints_named_by_the_stack_get_default_alarms_after_the_deploy(launch: Launch) -> None:
    # Given a stack deployed with ManagedEndpoints and defaults of its own, and no policy document published
    scenario = launch(
        endpoints={"llm-prod": 1, "chat-prod": 1},
        parameters={
            "ManagedEndpoints": "llm-prod,chat-prod",
            "DefaultLatencyThresholdMs": "3000",
            "DefaultConcurrencyPerInstance": "6",
        },
    )
    assert scenario.alarms() == {}

    # When the stack-status event of the deploy arrives
    deliveries = scenario.aws.deployed()

    # Then the reconciler gave both AllTraffic variants the default alarms
    assert [d.error for d in deliveries] == [None]
    report = scenario.last_reconcile()
    assert report["targets"] == ["llm-prod/AllTraffic", "chat-prod/AllTraffic"]
    alarms = scenario.alarms()
    assert set(alarms) == {
        f"{PREFIX}variant-{endpoint}-AllTraffic-{signal}"
        for endpoint in ("llm-prod", "chat-prod")
        for signal in ("latency_p95", "concurrency")
    }
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-latency_p95"]["Threshold"] == 3_000_000.0
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-concurrency"]["Threshold"] == 6.0
    assert alarms[f"{PREFIX}variant-chat-prod-AllTraffic-concurrency"]["Period"] == 10


def list_endpoints_reports_updating(scenario: Scenario) -> None:
    """ListEndpoints as SageMaker answers it: an endpoint being updated is Updating, and StatusEquals filters.

    The harness fakes the Updating phase in DescribeEndpoint only; moto's ListEndpoints always says InService.
    """
    world = scenario.aws.world

    def with_status(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        for endpoint in parsed.get("Endpoints", []):
            if world.updating(endpoint["EndpointName"]):
                endpoint["EndpointStatus"] = "Updating"
        wanted = context.get("genai_params", {}).get("StatusEquals")
        if wanted:
            parsed["Endpoints"] = [e for e in parsed["Endpoints"] if e["EndpointStatus"] == wanted]

    world.hook("sagemaker", "after-call.sagemaker.ListEndpoints", with_status)


def test_tag_managed_endpoint_keeps_its_alarms_while_it_is_updating(launch: Launch) -> None:
    # Given chat-prod managed by its tag, with its alarms
    scenario = launch(endpoints={})
    scenario.aws.create_endpoint("chat-prod", instances=1, tags={"genai-autoscaler:managed": "true"})
    list_endpoints_reports_updating(scenario)
    scenario.aws.deployed()
    alarms = set(scenario.alarms())
    assert len(alarms) == 2

    # When it is being scaled (Updating for a few minutes) as the reconciler runs
    scenario.aws.world.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName="chat-prod",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}],
    )
    scenario.aws.deployed()

    # Then its alarms are still there
    assert scenario.last_reconcile()["deleted"] == []
    assert set(scenario.alarms()) == alarms


# ------------------------------------------------------------------------------------------ token quota


def test_a_bedrock_quota_gets_a_metric_math_alarm_that_routes_before_throttling(launch: Launch) -> None:
    # Given a Bedrock model with a tokens-per-minute quota and a cross-region profile
    quota_policies = document(
        {
            "type": "bedrock_model",
            "model_id": CLAUDE,
            "bedrock": {
                "throttles_per_minute": 5,
                "tokens_per_minute_quota": 400_000,
                "cross_region_profile": f"us.{CLAUDE}",
            },
        }
    )
    scenario = launch(quota_policies)
    name = scenario.aws.alarm_name(CLAUDE, "token_quota")
    alarm = scenario.alarms()[name]

    # Then its alarm sums input and output tokens per minute against 80% of the quota, by metric math
    assert "MetricName" not in alarm
    assert alarm["Threshold"] == 320_000.0
    total, *terms = alarm["Metrics"]
    assert (total["Expression"], total["ReturnData"]) == ("m0 + m1", True)
    assert [t["MetricStat"]["Metric"]["MetricName"] for t in terms] == ["InputTokenCount", "OutputTokenCount"]
    assert {t["MetricStat"]["Stat"] for t in terms} == {"Sum"}

    # And a second reconcile finds it as wanted
    scenario.advance(60)
    scenario.aws.deployed()
    report = scenario.last_reconcile()
    assert (report["created"], report["updated"], report["deleted"]) == ([], [], [])

    # When it fires, before a single request is throttled
    outcome = scenario.routed(
        scenario.aws.cloudwatch.set_state(name, "ALARM", [352_000.0], scenario.aws.clock.now())
    )

    # Then the router recognises it by its tags and climbs the ladder
    assert outcome["plan"]["signal"] == "token_quota"
    assert outcome["plan"]["action"] == "shift_to_profile"
    assert outcome["plan"]["route_to"] == f"us.{CLAUDE}"


def test_the_reconciler_keeps_the_stacks_dashboard_in_step_with_the_targets(launch: Launch) -> None:
    # Given llm-prod managed, its dashboard put by the reconciler
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    name = f"{scenario.aws.stack_name}-{REGION}"
    assert scenario.last_reconcile()["dashboard"] == name
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    assert ["AWS/SageMaker", "ModelLatency", "EndpointName", "llm-prod", "VariantName", "AllTraffic"] in [
        m[:6] for m in metrics
    ]
    # When a Bedrock model joins the document, the next reconcile puts it on the dashboard
    scenario.aws.publish_policies(
        document(llm_policy(), {"type": "bedrock_model", "model_id": "amazon.nova-pro-v1:0"})
    )
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    texts = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert [t.splitlines()[0] for t in texts] == [
        "## llm-prod/AllTraffic",
        "## amazon.nova-pro-v1:0",
        "## The controller",
    ]
    metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    assert ["AWS/Bedrock", "Invocations", "ModelId", "amazon.nova-pro-v1:0"] in [m[:4] for m in metrics]


BUSINESS_HOURS = {
    "name": "business-hours",
    "schedule": "cron(0 9 ? * MON-FRI *)",
    "timezone": "Europe/Berlin",
    "duration_minutes": 540,
    "capacity": 3,
    "reason": "weekday business hours",
}


def test_recurring_events_become_schedules_that_start_the_scale_workflow(launch: Launch) -> None:
    # Given llm-prod with a weekday business-hours floor of 3 in Berlin time
    scenario = launch(document(llm_policy(events=[BUSINESS_HOURS])), endpoints={"llm-prod": 1})
    scheduler = boto3.client("scheduler", region_name=REGION)
    # Then the reconciler made one schedule for it, starting the scale workflow with a planned scale
    (name,) = scenario.last_reconcile()["schedules_created"]
    group = scenario.aws.stack.resource("EventScheduleGroup")
    schedule = scheduler.get_schedule(GroupName=group, Name=name)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(0 9 ? * MON-FRI *)",
        "Europe/Berlin",
    )
    assert schedule["Target"]["Arn"] == scenario.aws.stack.outputs["ScaleWorkflowArn"]
    assert schedule["Target"]["RoleArn"].endswith(scenario.aws.stack.resource("EventSchedulerRole"))
    planned = json.loads(schedule["Target"]["Input"])
    assert (planned["target"], planned["desired_capacity"], planned["hold_minutes"]) == (LLM, 3, 540)
    # And a reconcile with nothing changed leaves it alone
    scenario.aws.deployed()
    assert scenario.last_reconcile()["schedules_created"] == []
    assert scenario.last_reconcile()["schedules_updated"] == []

    # When Scheduler starts the workflow at 09:00 with that input
    started_at = scenario.aws.clock.now()
    scenario.aws.sfn.start_execution(
        stateMachineArn=schedule["Target"]["Arn"], name="scheduled-0900", input=schedule["Target"]["Input"]
    )
    (run,) = scenario.workflows()
    # Then the target has its 3 instances, held as a floor for the nine hours
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.aws.instance_count("llm-prod") == 3
    floor = scenario.state().event_floor(started_at)
    assert floor is not None
    assert (floor.capacity, floor.until) == (3, started_at + timedelta(minutes=540))

    # When the event leaves the document, its schedule goes
    scenario.aws.publish_policies(document(llm_policy()))
    assert scenario.last_reconcile()["schedules_deleted"] == [name]
    assert name not in {s["Name"] for s in scheduler.list_schedules()["Schedules"]}
    # (the stack's own schedules, such as its reconcile every 15 minutes, are not named as events are)
    assert {s["Name"] for s in scheduler.list_schedules()["Schedules"]} >= {
        f"{scenario.aws.stack_name}-reconcile"
    }


def test_a_changed_event_updates_its_schedule(launch: Launch) -> None:
    scenario = launch(document(llm_policy(events=[BUSINESS_HOURS])), endpoints={"llm-prod": 1})
    (name,) = scenario.last_reconcile()["schedules_created"]

    scenario.aws.publish_policies(document(llm_policy(events=[BUSINESS_HOURS | {"capacity": 4}])))

    assert scenario.last_reconcile()["schedules_updated"] == [name]
    group = scenario.aws.stack.resource("EventScheduleGroup")
    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(GroupName=group, Name=name)
    assert json.loads(schedule["Target"]["Input"])["desired_capacity"] == 4


def test_a_model_whose_output_burns_its_quota_down_counts_its_output_tokens_as_many_times(
    launch: Launch,
) -> None:
    # Given a Claude 4-class model whose output tokens burn the tokens-per-minute quota down 5 times
    scenario = launch(
        document(
            {
                "type": "bedrock_model",
                "model_id": CLAUDE,
                "bedrock": {"tokens_per_minute_quota": 400_000, "output_token_burndown": 5},
            }
        )
    )
    name = scenario.aws.alarm_name(CLAUDE, "token_quota")
    # Then the token-quota alarm weighs them so, against 80% of the quota
    alarm = scenario.alarms()[name]
    total, *terms = alarm["Metrics"]
    assert total["Expression"] == "m0 + 5 * m1"
    assert [t["MetricStat"]["Metric"]["MetricName"] for t in terms] == ["InputTokenCount", "OutputTokenCount"]
    assert alarm["Threshold"] == 320_000.0
    # And a second reconcile finds it as wanted (the expression reads back as it was put)
    scenario.advance(60)
    scenario.aws.deployed()
    report = scenario.last_reconcile()
    assert (report["created"], report["updated"], report["deleted"]) == ([], [], [])


def test_where_bedrock_publishes_the_quota_used_the_token_quota_alarm_watches_it(launch: Launch) -> None:
    # Given a model for which Bedrock publishes EstimatedTPMQuotaUsage (burndown and cache writes included)
    model = {
        "type": "bedrock_model",
        "model_id": CLAUDE,
        "bedrock": {
            "tokens_per_minute_quota": 400_000,
            "output_token_burndown": 5,
            "cross_region_profile": f"us.{CLAUDE}",
        },
    }
    scenario = launch()
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_data(
        Namespace="AWS/Bedrock",
        MetricData=[
            {
                "MetricName": "EstimatedTPMQuotaUsage",
                "Dimensions": [{"Name": "ModelId", "Value": CLAUDE}],
                "Timestamp": scenario.aws.clock.now(),
                "Value": 90_000,
            }
        ],
    )
    # When the policy is published
    scenario.aws.publish_policies(document(model))
    # Then the token-quota alarm is on that metric, per minute, against 80% of the quota (no metric math)
    name = scenario.aws.alarm_name(CLAUDE, "token_quota")
    alarm = scenario.alarms()[name]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "AWS/Bedrock",
        "EstimatedTPMQuotaUsage",
        "Sum",
        60,
    )
    assert alarm["Dimensions"] == [{"Name": "ModelId", "Value": CLAUDE}]
    assert alarm["Threshold"] == 320_000.0
    assert "Metrics" not in alarm or not alarm["Metrics"]
    # And when it fires, the router knows it as the model's token-quota signal and climbs the ladder
    outcome = scenario.routed(
        scenario.aws.cloudwatch.set_state(name, "ALARM", [352_000.0, 360_000.0], scenario.aws.clock.now())
    )
    assert outcome["plan"]["signal"] == "token_quota"
    assert outcome["plan"]["action"] == "shift_to_profile"
