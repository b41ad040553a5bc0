"""The operator's side against the stack deployed in moto, as an operator runs it: the commands (status,
history, pause, resume, approvals, approve, reject, event) find the stack's resources from CloudFormation and
sign as the caller; with a chat topic, the team's channel gets cards."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from genai_autoscaler.app.dispatch import Dispatch
from genai_autoscaler_local.harness import REGION
from genai_autoscaler_tools.cli import operate
from genai_autoscaler_tools.cli.main import main
from genai_autoscaler_tools.metric_reads import equivalent_threshold

from tests.integration.conftest import (
    LLM,
    LLM_ID,
    Launch,
    Scenario,
    document,
    llm_policy,
    published,
    put_published,
)
from tests.integration.test_routing_workflow import CLAUDE_ID, committed, provisioned, routing_run, throttling

OPERATOR = "arn:aws:iam::123456789012:user/local-operator"  # the harness's caller (iam_enforcement)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        loaded: dict = json.loads(self.out)  # type: ignore[type-arg]
        return loaded


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def run(scenario: Scenario, *argv: str) -> Ran:
        monkeypatch.setattr(operate, "clock", scenario.aws.clock.now)  # the stack's simulated time
        capsys.readouterr()
        code = main([*argv, "--stack", scenario.aws.stack_name, "--region", REGION])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def test_status_shows_each_target_with_capacity_alarms_mode_and_last_action(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    scenario.alarm(LLM, "latency_p95", "OK", [1.2e6])

    ran = cli(scenario, "status", "--json")

    assert ran.code == 0, ran.err
    assert ran.json()["dashboard"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/{scenario.aws.stack_name}-{REGION}"
    )
    (row,) = ran.json()["targets"]
    assert row["target"] == LLM
    assert row["kind"] == "sagemaker_variant"
    assert row["capacity"] == {
        "found": True,
        "desired": 1,
        "serving": 1,
        "status": "InService",
        "min": 1,
        "max": 4,
        "aas_floor": None,
    }
    assert row["alarms"]["latency_p95"] == "OK"
    assert set(row["alarms"]) == {"latency_p95", "concurrency"}
    assert row["mode"] == {"mode": "acting"}
    assert row["in_flight"] is None
    assert row["forecast"]["floor"] is None
    assert "no forecast yet" in row["forecast"]["why"]
    # The scale-in window of now: the policy's, until the forecaster has measured the target's returning demand
    assert row["scale_in_window"] == {"trim_seconds": 900, "fall_seconds": 900, "measured": None}

    # No busy minutes in CloudWatch: how the concurrency metric reads is not measured, nor said
    assert row["concurrency_reading"] is None

    # An endpoint config without a RoutingConfig: SageMaker routes at random, and status says what that costs
    assert row["routing"]["strategy"] == "RANDOM"
    assert "LEAST_OUTSTANDING_REQUESTS" in row["routing"]["advice"]

    table = cli(scenario, "status")
    assert table.code == 0
    assert LLM in table.out
    assert "1 desired, 1 serving (InService) [1, 4]" in table.out
    assert "routing RANDOM" in table.out
    assert f"{LLM} routes requests at random" in " ".join(table.out.split())


def test_status_says_how_the_concurrency_maximum_reads_where_it_differs_from_what_replays_assume(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # Given llm-prod's last 40 minutes in CloudWatch, its concurrency Maximum reading 0.5 standard deviations
    # above the mean its instances hold (as a fleet whose busiest instance reads near the mean would)
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 4})
    now = scenario.aws.clock.now()
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put_published(cloudwatch, published(0.5, 40), now - timedelta(minutes=41))

    # Then status measures it as trace export does, and says what it means for the threshold
    (row,) = cli(scenario, "status", "--json").json()["targets"]
    reading = row["concurrency_reading"]
    assert reading["peak_sigmas"] == pytest.approx(0.5, abs=0.15)
    assert reading["instances"] == [pytest.approx(4), pytest.approx(4)]
    shown = f"{reading['peak_sigmas']:.2f}"
    assert f"concurrency_peak_sigmas={shown}" in reading["advice"]
    assert "reached at a higher load" in reading["advice"]
    # and the threshold that holds, on this endpoint, the load its threshold of 4 stands for in replays
    held = re.search(r"set signals.concurrency_per_unit to ([0-9.]+) to hold it", reading["advice"])
    assert held is not None, reading["advice"]
    assert float(held.group(1)) == pytest.approx(
        equivalent_threshold(4, 1.645, reading["peak_sigmas"]), abs=0.06
    )
    assert float(held.group(1)) < 4
    table = cli(scenario, "status")
    assert f"concurrency Maximum reads mean + {shown}" in table.out
    assert f"{LLM} reads its concurrency Maximum nearer the mean" in " ".join(table.out.split())


def test_status_gives_no_routing_advice_to_an_endpoint_that_routes_to_the_least_busy_instance(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    # Given llm-prod created with the routing AWS advises for generative AI
    scenario = launch(document(llm_policy()))
    scenario.aws.create_endpoint("llm-prod", instances=2, routing="LEAST_OUTSTANDING_REQUESTS")

    # Then status reads it from the endpoint config, and advises nothing
    (row,) = cli(scenario, "status", "--json").json()["targets"]
    assert row["routing"] == {"strategy": "LEAST_OUTSTANDING_REQUESTS", "advice": None}
    table = cli(scenario, "status")
    assert "routing LEAST_OUTSTANDING_REQUESTS" in table.out
    assert "routes requests at random" not in " ".join(table.out.split())


def test_a_paused_target_is_left_alone_until_resumed_and_both_are_recorded_with_who(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    # When an operator pauses llm-prod
    paused = cli(scenario, "pause", LLM, "--reason", "load test until 18:00")
    assert paused.code == 0, paused.err
    (told,) = scenario.notifications()
    assert told["subject"] == f"GenAI Autoscaler: {LLM} paused"
    assert f"Paused by: {OPERATOR}" in told["message"]

    # Then its next alarm is only reported, and status says who paused it and why
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    assert outcome["dispatch"] != Dispatch.WORKFLOW
    assert f"paused by {OPERATOR} (load test until 18:00)" in outcome["plan"]["reason"]
    assert scenario.executions() == []
    mode = cli(scenario, "status", LLM, "--json").json()["targets"][0]["mode"]
    assert mode["mode"] == "paused"
    assert mode["by"] == OPERATOR
    assert mode["reason"] == "load test until 18:00"

    # When it is resumed, the next alarm scales it out
    resumed = cli(scenario, "resume", LLM_ID)
    assert resumed.code == 0, resumed.err
    assert "resumed by" in resumed.out
    scenario.advance(60)
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED"

    # And the history has both, newest first, with who asked
    history = cli(scenario, "history", LLM, "--json").json()["history"]
    by_action = {record["action"]: record for record in history}
    assert by_action["pause"]["started_by"] == OPERATOR
    assert by_action["pause"]["reason"] == "load test until 18:00"
    assert by_action["resume"]["started_by"] == OPERATOR
    actions = [record["action"] for record in history]
    assert actions.index("resume") < actions.index("pause")
    table = cli(scenario, "history", LLM)
    assert table.code == 0
    assert "load test until 18:00" in table.out


def test_history_since_keeps_only_the_later_records(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    cli(scenario, "pause", LLM, "--reason", "first")
    cli(scenario, "resume", LLM)
    since = (scenario.aws.clock.now() + timedelta(seconds=1)).isoformat()
    scenario.advance(600)
    scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    scenario.workflows()

    later = cli(scenario, "history", LLM, "--since", since, "--json").json()["history"]

    assert later
    assert "pause" not in {record["action"] for record in later}
    assert all(record["at"] >= since for record in later)


def test_an_unknown_target_or_a_target_not_paused_is_a_named_error(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    unknown = cli(scenario, "pause", "chat-prod/AllTraffic", "--reason", "x")
    assert unknown.code == 2
    assert f"'chat-prod/AllTraffic' is not a managed target; the managed targets: {LLM}" in unknown.err

    not_paused = cli(scenario, "resume", LLM)
    assert not_paused.code == 2
    assert f"{LLM} is not paused" in not_paused.err
    assert scenario.history() == []
    assert scenario.notifications() == []

    no_reason = cli(scenario, "pause", LLM, "--reason", "  ")
    assert no_reason.code == 2
    assert "a pause needs a reason" in no_reason.err


def test_a_stack_that_is_not_there_is_an_aws_error(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    launch(document(llm_policy()), endpoints={"llm-prod": 1})

    code = main(["status", "--stack", "no-such-stack", "--region", REGION])

    assert code == 3
    assert "reading stack no-such-stack" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- approvals
@pytest.fixture
def function_urls(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The signed requests `approve` and `reject` send go to the harness's function URL, as AWS serves it."""

    def serve(scenario: Scenario) -> None:
        monkeypatch.setattr(operate, "deliver", scenario.aws.function_url)

    return serve


def waiting_commitment(launch: Launch) -> Scenario:
    """Claude throttling, its routing workflow waiting for a person to approve a OneMonth commitment."""
    scenario = launch(document(committed()))
    throttling(scenario)
    scenario.aws.approval_request()  # published: the workflow waits at AwaitApproval
    return scenario


def test_approvals_lists_what_waits_and_approve_records_the_caller_and_buys(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
    function_urls,  # type: ignore[no-untyped-def]
) -> None:
    scenario = waiting_commitment(launch)
    function_urls(scenario)

    listed = cli(scenario, "approvals", "--json")
    assert listed.code == 0, listed.err
    (waiting,) = listed.json()["approvals"]
    assert waiting["target_id"] == CLAUDE_ID
    assert (waiting["commitment"], waiting["model_units"], waiting["hourly_cost_usd"]) == (
        "OneMonth",
        5,
        200.0,
    )
    assert "task_token" not in waiting
    table = cli(scenario, "approvals")
    assert waiting["execution"] in table.out
    assert "$200.00/h" in table.out

    approved = cli(scenario, "approve", waiting["execution"])

    assert approved.code == 0, approved.err
    assert f"approved by {OPERATOR}" in approved.out
    run = routing_run(scenario)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    (pt,) = provisioned(scenario)
    assert pt["commitmentDuration"] == "OneMonth"
    assert scenario.state(CLAUDE_ID).approval.by == OPERATOR  # type: ignore[union-attr]
    assert cli(scenario, "approvals", "--json").json()["approvals"] == []


def test_reject_buys_nothing_and_an_unknown_execution_is_named(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
    function_urls,  # type: ignore[no-untyped-def]
) -> None:
    scenario = waiting_commitment(launch)
    function_urls(scenario)
    (waiting,) = cli(scenario, "approvals", "--json").json()["approvals"]

    unknown = cli(scenario, "approve", "shift-nothing")
    assert unknown.code == 2
    assert f"no approval waits for execution 'shift-nothing'; waiting: {waiting['execution']}" in unknown.err

    rejected = cli(scenario, "reject", waiting["execution"], "--reason", "not this quarter")

    assert rejected.code == 0, rejected.err
    run = routing_run(scenario)
    assert run.status == "SUCCEEDED"
    assert "NotApproved" in scenario.visited(run)
    assert provisioned(scenario) == []
    record = scenario.state(CLAUDE_ID).approval
    assert record is not None
    assert (record.approved, record.by, record.reason) == (False, OPERATOR, "not this quarter")


# ---------------------------------------------------------------------------------------------------- events
def test_a_planned_event_scales_holds_and_can_be_lifted_early(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    now = scenario.aws.clock.now()

    started = cli(
        scenario, "event", "start", LLM, "--capacity", "3", "--for", "2h", "--reason", "launch", "--json"
    )

    assert started.code == 0, started.err
    assert started.json()["hold_minutes"] == 120
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert scenario.aws.instance_count("llm-prod") == 3
    floor = scenario.state().event_floor(now)
    assert floor is not None
    assert (floor.capacity, floor.until) == (3, now + timedelta(hours=2))
    listed = cli(scenario, "event", "list", "--json").json()
    (event,) = listed["events"]
    assert (event["execution"], event["status"], event["target"]) == (
        started.json()["execution"],
        "SUCCEEDED",
        LLM,
    )
    assert (event["desired_capacity"], event["reason"]) == (3, "launch")
    assert listed["holds"][LLM]["until"] == (now + timedelta(hours=2)).isoformat()
    assert listed["holds"][LLM]["floor"] == 3

    cancelled = cli(scenario, "event", "cancel", LLM)

    assert cancelled.code == 0, cancelled.err
    assert scenario.state().event_floor(now) is None
    assert scenario.history()[0].action == "event_cancel"
    assert scenario.history()[0].by == OPERATOR
    assert any(n["subject"] == f"GenAI Autoscaler: {LLM} hold lifted" for n in scenario.notifications())
    assert cli(scenario, "event", "list", "--json").json()["holds"] == {}


def test_an_event_outside_the_policy_or_in_the_past_starts_nothing(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    too_big = cli(scenario, "event", "start", LLM, "--capacity", "9", "--for", "1h", "--reason", "x")
    past = cli(
        scenario, "event", "start", LLM, "--capacity", "2", "--until", "2020-01-01T00:00Z", "--reason", "x"
    )
    too_long = cli(scenario, "event", "start", LLM, "--capacity", "2", "--for", "8d", "--reason", "x")
    not_held = cli(scenario, "event", "cancel", LLM)

    assert (too_big.code, past.code, too_long.code, not_held.code) == (2, 2, 2, 2)
    assert f"--capacity 9 is outside {LLM}'s capacity [1, 4]" in too_big.err
    assert "must end in the future" in past.err
    assert "7 days at most" in too_long.err
    assert "is not held" in not_held.err
    assert scenario.executions() == []


# ---------------------------------------------------------------------------------------------------- chat
CHAT_TOPIC = "arn:aws:sns:us-east-1:123456789012:team-chat"


def chat_inbox() -> Callable[[], list[dict[str, Any]]]:
    """The chat topic (the team's, made before the stack names it), read through a queue: its cards."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    sns.create_topic(Name="team-chat")
    url = sqs.create_queue(QueueName="team-chat-cards")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=CHAT_TOPIC, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )

    def cards() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return cards


def test_with_a_chat_topic_the_team_gets_cards_and_the_email_keeps_its_prose(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(
        document(llm_policy()), endpoints={"llm-prod": 1}, parameters={"ChatTopicArn": CHAT_TOPIC}
    )
    cards = chat_inbox()

    # When a scale-out runs (a workflow step's report) and an operator pauses the target (a use case's)
    scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED"
    assert cli(scenario, "pause", LLM, "--reason", "load test").code == 0

    # Then the chat topic has a card for each, in Amazon Q Developer's custom-notification format
    received = cards()
    assert [c["content"]["title"] for c in received] == [f"{LLM} scaled out to 2 instances", f"{LLM} paused"]
    for card in received:
        assert (card["version"], card["source"], card["content"]["textType"]) == (
            "1.0",
            "custom",
            "client-markdown",
        )
        assert card["metadata"]["threadId"] == f"genai-local/{LLM}"
    assert received[1]["content"]["nextSteps"] == [f"`genai-autoscaler resume {LLM} --stack genai-local`"]
    # And the e-mail topic still carries prose, not JSON
    emails = scenario.notifications()
    assert [e["subject"] for e in emails] == [
        f"GenAI Autoscaler: {LLM} scaled out to 2 instances",
        f"GenAI Autoscaler: {LLM} paused",
    ]
    assert all(not e["message"].lstrip().startswith("{") for e in emails)


def test_an_event_below_what_the_target_has_holds_it_there_and_scales_nothing(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    # Given llm-prod at 3 instances
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 3})
    now = scenario.aws.clock.now()

    # When an event asks for 2 for an hour
    assert cli(scenario, "event", "start", LLM, "--capacity", "2", "--for", "1h", "--reason", "x").code == 0
    (run,) = scenario.workflows()

    # Then nothing is scaled (never in, for an event), and 2 is held as the floor for the hour
    assert run.status == "SUCCEEDED"
    assert scenario.visited(run)[-1] == "FloorHeld"
    assert scenario.aws.instance_count("llm-prod") == 3
    floor = scenario.state().event_floor(now)
    assert floor is not None
    assert (floor.capacity, floor.until) == (2, now + timedelta(hours=1))


def test_an_event_on_a_target_managed_by_its_tag_only_is_refused_by_name(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    scenario.aws.create_endpoint("chat-prod", instances=1, tags={"genai-autoscaler:managed": "true"})

    ran = cli(
        scenario, "event", "start", "chat-prod/AllTraffic", "--capacity", "2", "--for", "1h", "--reason", "x"
    )

    assert ran.code == 2
    assert "chat-prod/AllTraffic is managed by its tag only" in ran.err
    assert scenario.executions() == []
