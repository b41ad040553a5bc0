"""Every non-alarm event the stack consumes, from events/, reaches the function its rule names."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.integration.conftest import Launch, Scenario, document, llm_policy, sample_event

STACK = "genai-autoscaler"  # the stack the samples were written for


def _reconciler_deliveries(scenario: Scenario, event: dict[str, Any]) -> list[Any]:
    reconciler = scenario.aws.stack.resource("ReconcilerFunction")
    deliveries = scenario.aws.bus.put(event)
    return [d for d in deliveries if d.target_arn.endswith(reconciler)]


def test_the_stack_status_event_after_a_deploy_runs_the_reconciler(launch: Launch) -> None:
    # Given a fresh stack (no alarms yet) managing llm-prod by its parameter
    scenario = launch(
        endpoints={"llm-prod": 1}, parameters={"ManagedEndpoints": "llm-prod"}, stack_name=STACK
    )
    event = sample_event("cloudformation_stack_create_complete.json")
    # (the sample's stack id is another deployment's: this stack's id is what its rule matches)
    event["resources"] = [scenario.aws.stack.stack_id]
    event["detail"]["stack-id"] = scenario.aws.stack.stack_id
    # When CloudFormation announces CREATE_COMPLETE
    (delivery,) = _reconciler_deliveries(scenario, event)
    # Then the reconciler created the endpoint's alarms
    assert delivery.error is None
    assert len(delivery.result["created"]) == 2


def test_another_stacks_status_event_is_not_delivered(launch: Launch) -> None:
    scenario = launch(
        endpoints={"llm-prod": 1}, parameters={"ManagedEndpoints": "llm-prod"}, stack_name=STACK
    )
    assert _reconciler_deliveries(scenario, sample_event("cloudformation_stack_create_complete.json")) == []


def test_the_policy_parameter_change_event_runs_the_reconciler(launch: Launch) -> None:
    # Given a document published without its event (as a write by hand would be)
    scenario = launch(endpoints={"llm-prod": 1}, stack_name=STACK)
    scenario.aws.controller().policies.publish(document(llm_policy()))  # type: ignore[attr-defined]
    # When Parameter Store announces the change, as in the sample
    (delivery,) = _reconciler_deliveries(scenario, sample_event("ssm_policies_changed.json"))
    # Then the document's alarms exist
    assert delivery.error is None
    assert {a.rsplit("-", 1)[-1] for a in delivery.result["created"]} == {"latency_p95", "concurrency"}


def test_the_management_tag_event_picks_up_the_endpoint(launch: Launch) -> None:
    scenario = launch(stack_name=STACK)
    scenario.aws.create_endpoint("chat-prod", instances=1, tags={"genai-autoscaler:managed": "true"})
    (delivery,) = _reconciler_deliveries(scenario, sample_event("tag_change_endpoint_managed.json"))
    assert delivery.result["targets"] == ["chat-prod/AllTraffic"]
    assert len(delivery.result["created"]) == 2


def test_the_scheduled_evaluation_runs_the_evaluator(launch: Launch) -> None:
    # Given a managed endpoint whose alarms have been OK for a while
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 2}, stack_name=STACK)
    for signal in ("latency_p95", "concurrency"):
        scenario.alarm("llm-prod/AllTraffic", signal, "OK", [1.0])
    scenario.advance(1000)
    scenario.aws.cloudwatch.publish_until(scenario.aws.clock.now())  # the endpoint kept publishing meanwhile
    # When EventBridge Scheduler invokes the evaluator with the sample payload
    evaluator = scenario.aws.stack.resource("EvaluatorFunction")
    response = boto3.client("lambda", region_name="us-east-1").invoke(
        FunctionName=evaluator, Payload=json.dumps(sample_event("schedule_evaluation.json")).encode()
    )
    result = json.loads(response["Payload"].read())
    # Then it evaluated the target and started its scale-in
    assert "FunctionError" not in response
    assert result["evaluated"] == 1
    (outcome,) = result["outcomes"]
    assert (outcome["plan"]["action"], outcome["plan"]["desired_capacity"]) == ("scale_in", 1)
