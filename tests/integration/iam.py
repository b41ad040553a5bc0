"""Each function's AWS calls against the IAM statements template.yaml gives its role, as aws-sam-translator
translates them. moto refuses, in every integration test, an action a role lacks (iam_enforcement in the local
harness); this check covers what moto cannot: the calls the SageMaker fakes and the fake Bedrock answer before
they reach moto, and a DynamoDB transaction's items (AWS authorises each item's action). Every call a handler
makes through the controller's clients, Powertools' idempotency table included, is recorded, and the test fails
at teardown on any its role does not allow.

Only actions are compared, not resources: a statement's resource and condition are checked by reading the
template.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from genai_autoscaler_local.stack import LocalStack

FUNCTIONS = (
    "AlarmRouterFunction",
    "EvaluatorFunction",
    "ForecasterFunction",
    "ReconcilerFunction",
    "ScaleStepsFunction",
    "RoutingStepsFunction",
    "ProvisionedSweeperFunction",
    "ApprovalFunction",
)


# A transaction is authorised by the actions of its items (DynamoDB developer guide, "Using IAM with DynamoDB
# transactions"): Put, Update, Delete and Get by PutItem, UpdateItem, DeleteItem and GetItem, ConditionCheck by
# ConditionCheckItem.
_TRANSACTION_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "Get": "GetItem",
    "ConditionCheck": "ConditionCheckItem",
}


def iam_actions(prefix: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one API call needs: `prefix:operation`, except for a transaction, its items' actions."""
    if prefix == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {kind for item in params.get("TransactItems", []) for kind in item}
        return {f"dynamodb:{_TRANSACTION_ITEMS[kind]}" for kind in kinds}
    return {f"{prefix}:{operation}"}


def _branches(value: Any) -> Iterator[Any]:
    """The values a template value may take: both branches of an Fn::If, nothing for AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return
    elif isinstance(value, list):
        for item in value:
            yield from _branches(item)
    else:
        yield value


def allowed_actions(stack: LocalStack, function: str) -> list[str]:
    """The actions the Allow statements of `function`'s role name (patterns such as `logs:*` included)."""
    resources = stack.template["Resources"]
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    actions: list[str] = []
    for policy in _branches(resources[role]["Properties"].get("Policies", [])):
        for statement in _branches(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") == "Allow":
                actions += [a for a in _branches(statement.get("Action", [])) if isinstance(a, str)]
    return actions


def not_allowed(stack: LocalStack, calls: set[tuple[str, str]]) -> list[str]:
    """`function: action` for each recorded call (function logical id, IAM action) its role does not allow."""
    allowed = {function: allowed_actions(stack, function) for function in FUNCTIONS}
    return sorted(
        f"{function}: {action}"
        for function, action in calls
        if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in allowed[function])
    )
