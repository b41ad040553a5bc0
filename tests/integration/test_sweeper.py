"""The Provisioned Throughput sweeper function, deployed from template.yaml into moto and invoked as EventBridge
Scheduler invokes it: routes in SSM, state in DynamoDB, the fake Bedrock client, notifications through SNS."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
from genai_autoscaler.domain.bedrock import RouteKind
from genai_autoscaler.domain.provisioned import purchase_prefix
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_TARGET
from genai_autoscaler_local.harness import REGION

from tests.integration.conftest import Launch, Scenario, document

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TARGET_ID = f"bedrock/{MODEL}"
STACK = "genai-sweep"
HOUR = 3600


def bedrock_policy() -> dict[str, Any]:
    return {"type": "bedrock_model", "model_id": MODEL}


def buy(ctl: Controller, name: str, commitment: str | None = None, stack: str = STACK) -> str:
    assert ctl.provisioned is not None
    tags = {TAG_MANAGED_BY: stack, TAG_TARGET: TARGET_ID}
    return ctl.provisioned.create(MODEL, 1, f"{purchase_prefix(stack)}{name}", commitment, name, tags)


def sweep(scenario: Scenario) -> dict[str, Any]:
    function = scenario.aws.stack.resource("ProvisionedSweeperFunction")
    response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=function, Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def test_the_scheduled_sweep_deletes_orphans_keeps_routes_and_reports_commitments(launch: Launch) -> None:
    # Given a stack managing a Bedrock model, and four Provisioned Throughputs of that model: one callers are
    # routed to, an hourly orphan, a committed orphan, and another stack's
    scenario = launch(stack_name=STACK)
    scenario.aws.publish_policies(document(bedrock_policy()))
    ctl = scenario.aws.controller()
    assert ctl.routes is not None
    routed = buy(ctl, "shift-1")
    orphan = buy(ctl, "shift-2")
    committed = buy(ctl, "shift-3", commitment="OneMonth")
    foreign = buy(ctl, "shift-4", stack="someone-else")
    ctl.routes.publish(
        MODEL, PublishedRoute(model_id=routed, kind=RouteKind.PROVISIONED, since=ctl.now(), target=MODEL)
    )
    # and the model's state as an older controller wrote it, without orphans_reported_at
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=scenario.aws.stack.outputs["StateTableName"],
        Item={
            "pk": {"S": TARGET_ID},
            "sk": {"S": "STATE"},
            "version": {"N": "3"},
            "lock": {"NULL": True},
            "last_shift_at": {"S": ctl.now().isoformat()},
        },
    )
    scenario.notifications()  # what publishing the policies said
    scenario.advance(HOUR)

    # When EventBridge Scheduler invokes the sweeper
    report = sweep(scenario)

    # Then the hourly orphan is deleted, the committed one reported, and the rest left alone
    assert report["errors"] == []
    assert report["deleted"] == [orphan]
    assert report["reported"] == [committed]
    assert set(scenario.aws.bedrock.provisioned_model_arns()) == {routed, committed, foreign}
    verdicts = {finding["arn"]: finding["verdict"] for finding in report["findings"]}
    assert verdicts == {routed: "keep", orphan: "delete", committed: "report"}
    # and the team gets one e-mail
    (notification,) = scenario.notifications()
    assert (
        notification["subject"]
        == "GenAI Autoscaler: unused Provisioned Throughput 1 deleted, 1 still billing"
    )
    assert orphan in notification["message"]
    assert committed in notification["message"]
    # and DynamoDB holds the deletion in the model's history and when the commitment was reported
    (record,) = scenario.history(TARGET_ID)
    assert (record.action, record.outcome) == ("sweep_provisioned", "deleted")
    state = scenario.state(TARGET_ID)
    assert state.orphans_reported_at == {committed: scenario.aws.clock.now()}
    assert state.version > 3

    # When it runs again half an hour later
    scenario.advance(1800)
    again = sweep(scenario)

    # Then nothing new is deleted and nobody is told twice
    assert (again["deleted"], again["reported"], again["errors"]) == ([], [], [])
    assert scenario.notifications() == []
