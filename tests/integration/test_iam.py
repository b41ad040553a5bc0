"""IAM in the integration tests: moto refuses what a role does not allow (every test runs so), and the check
every test ends with (iam.py) names a call a role does not allow and reads a transaction as its items' actions."""

from __future__ import annotations

from genai_autoscaler_local.harness import REGION
from genai_autoscaler_local.iam_enforcement import revoke

from tests.integration.conftest import LLM, Launch, document, llm_policy
from tests.integration.iam import allowed_actions, iam_actions, not_allowed


def test_a_call_the_role_does_not_allow_is_named_with_its_function(launch: Launch) -> None:
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    calls = {
        ("ScaleStepsFunction", "sagemaker:UpdateEndpointWeightsAndCapacities"),
        (
            "ScaleStepsFunction",
            "bedrock:CreateProvisionedModelThroughput",
        ),  # the routing steps' role, not this one
        ("RoutingStepsFunction", "bedrock:CreateProvisionedModelThroughput"),
        ("AlarmRouterFunction", "states:DescribeExecution"),
    }
    assert not_allowed(scenario.aws.stack, calls) == [
        "ScaleStepsFunction: bedrock:CreateProvisionedModelThroughput"
    ]


def test_the_roles_come_from_the_template_as_aws_sam_translator_makes_them(launch: Launch) -> None:
    stack = launch(document(llm_policy())).aws.stack
    # The Lambda basic execution role is a managed policy, not a statement: only the template's own are read
    assert "logs:CreateLogGroup" not in allowed_actions(stack, "EvaluatorFunction")
    assert "states:StartExecution" in allowed_actions(stack, "EvaluatorFunction")
    assert "ssm:PutParameter" in allowed_actions(stack, "RoutingStepsFunction")


def test_a_transaction_needs_the_actions_of_its_items() -> None:
    params = {"TransactItems": [{"Put": {}}, {"Put": {}}, {"ConditionCheck": {}}]}
    assert iam_actions("dynamodb", "TransactWriteItems", params) == {
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
    }
    assert iam_actions("states", "StartExecution", {}) == {"states:StartExecution"}


# ---------------------------------------------------------------------------------------------------- enforced
# Every integration test runs with moto's IAM check on, each handler and workflow signing as its own role
# (genai_autoscaler_local.iam_enforcement). These show the check is live: a role short of one action fails.


def test_a_reconciler_that_may_not_create_alarms_is_refused_by_aws(launch: Launch) -> None:
    scenario = launch(endpoints={"llm-prod": 1})
    revoke(scenario.aws.stack, "ReconcilerFunction", "cloudwatch:PutMetricAlarm", REGION)

    deliveries = scenario.aws.publish_policies(document(llm_policy()))

    (to_reconciler,) = [d for d in deliveries if "ReconcilerFunction" in d.target_arn]
    assert "ReconcilerFunctionRole" in str(to_reconciler.error)
    assert "is not authorized to perform: monitoring:PutMetricAlarm" in str(
        to_reconciler.error
    )  # moto's name
    assert scenario.alarms() == {}


def test_a_workflow_that_may_not_invoke_its_steps_fails_and_changes_nothing(launch: Launch) -> None:
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    revoke(scenario.aws.stack, "ScaleWorkflow", "lambda:InvokeFunction", REGION)

    scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    (run,) = scenario.workflows()

    assert run.status == "FAILED"
    failures = [
        e["taskFailedEventDetails"]
        for e in scenario.aws.sfn.get_execution_history(executionArn=run.execution_arn)["events"]
        if "taskFailedEventDetails" in e
    ]
    assert failures
    assert "ScaleWorkflowRole" in failures[0]["cause"]
    assert "is not authorized to perform: lambda:Invoke" in failures[0]["cause"]
    assert scenario.aws.instance_count("llm-prod") == 1


def test_the_routers_idempotency_records_are_written_as_its_role(launch: Launch) -> None:
    # Powertools' idempotency layer uses the controller's DynamoDB client, so its calls are the router role's
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    revoke(scenario.aws.stack, "AlarmRouterFunction", "dynamodb:PutItem", REGION)

    deliveries = scenario.aws.alarm(LLM, "latency_p95", "ALARM", [9.1e6])

    (to_router,) = [d for d in deliveries if "AlarmRouterFunction" in d.target_arn]
    assert "is not authorized to perform: dynamodb:PutItem" in str(to_router.error)
    assert scenario.executions() == []
