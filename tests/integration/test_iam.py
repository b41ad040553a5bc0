"""The IAM check every integration test ends with (iam.py): it names a call a role does not allow, and reads a
transaction as the actions of its items."""

from __future__ import annotations

from tests.integration.conftest import Launch, document, llm_policy
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
