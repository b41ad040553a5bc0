"""IAM enforced in moto: the harness signs as an operator who may do anything; each function's handler and each
workflow's service integrations sign with credentials of the role template.yaml gives them; moto refuses every
call that role does not allow (its IAM check, off by default, is switched on).

What moto can check is the action. It matches a statement's Resource against "*" for every service the controller
calls (only SQS, IAM and STS name a request's resource) and evaluates none of the condition keys the template
uses (aws:ResourceTag/..., bedrock:...), so the roles here hold each of their statements' actions on every
resource and without conditions. A call to an action the role lacks fails as on AWS; what a statement's Resource
and Condition allow is checked by reading the template (tests/integration/test_iam.py). Calls answered before they
reach moto (the SageMaker fakes, the fake Bedrock) are compared with the roles by tests/integration/iam.py.
"""

from __future__ import annotations

import ast
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from moto.core.authorization import enable_iam_authentication
from moto.iam.access_control import IAMRequestBase

from genai_autoscaler_local.stack import LocalStack

OPERATOR = "local-operator"
# The modules of moto's Step Functions interpreter that make a workflow's service calls (Lambda, SNS).
_INTEGRATIONS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
)

_SIGNING_NAMES = {"cloudwatch": "monitoring"}
_OPERATION_NAMES = {"lambda:InvokeFunction": ["lambda:Invoke"]}
# AWS authorises a DynamoDB transaction by its items' actions; moto by the transaction's own name. A role that may
# write items may send a transaction here, and tests/integration/iam.py checks each item's action.
_TRANSACTIONS = {
    **dict.fromkeys(
        ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"),
        "dynamodb:TransactWriteItems",
    ),
    "dynamodb:GetItem": "dynamodb:TransactGetItems",
}
_ROLE_OF = {"AWS::Lambda::Function": "Role", "AWS::StepFunctions::StateMachine": "RoleArn"}  # the property
Credentials = dict[str, str]  # boto3.client's keyword arguments
_CLIENTS = threading.Lock()


def operator_credentials(region: str) -> dict[str, str]:
    """An IAM user allowed every action, as the environment variables the harness's own clients read."""
    iam = boto3.client("iam", region_name=region)
    iam.create_user(UserName=OPERATOR)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=OPERATOR, PolicyName="everything", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName=OPERATOR)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def _document(stored: Any) -> dict[str, Any]:
    """A role policy as moto's CloudFormation stored it: JSON, or the repr of the template's mapping (with None
    where an Fn::If chose AWS::NoValue)."""
    if isinstance(stored, dict):
        return stored
    try:
        loaded: dict[str, Any] = json.loads(stored)
    except json.JSONDecodeError:
        loaded = ast.literal_eval(stored)
    return loaded


def _as_moto_names(action: str) -> list[str]:
    """moto names a request's action `<signing name>:<operation>`: the IAM name, except for CloudWatch's
    (signed as `monitoring`) and where the operation is not named as its IAM action (Lambda's Invoke)."""
    prefix, _, name = action.partition(":")
    signing = _SIGNING_NAMES.get(prefix)
    aliases = [f"{signing}:{name}"] if signing else []
    return [action, *aliases, *_OPERATION_NAMES.get(action, [])]


def _actions_only(document: dict[str, Any]) -> dict[str, Any]:
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    narrowed = []
    for statement in statements:
        if statement is None:
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        names = [name for action in actions for name in _as_moto_names(action)]
        names += sorted({_TRANSACTIONS[a] for a in actions if a in _TRANSACTIONS})
        narrowed.append({"Effect": statement["Effect"], "Action": names, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": narrowed}


def role_credentials(stack: LocalStack, region: str) -> dict[str, Credentials]:
    """Credentials of each function's and each state machine's role (by the function's name and the state
    machine's ARN), after narrowing the role in moto to what moto can check (the module docstring)."""
    iam = boto3.client("iam", region_name=region)
    sts = boto3.client("sts", region_name=region)
    found: dict[str, Credentials] = {}
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] not in _ROLE_OF:
            continue
        role_name = stack.resource(resource["Properties"][_ROLE_OF[resource["Type"]]]["Fn::GetAtt"][0])
        for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            stored = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
            narrowed = json.dumps(_actions_only(_document(stored)))
            iam.put_role_policy(RoleName=role_name, PolicyName=policy, PolicyDocument=narrowed)
        role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=logical_id)["Credentials"]
        found[stack.resource(logical_id)] = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
    return found


def revoke(stack: LocalStack, logical_id: str, action: str, region: str) -> None:
    """Take `action` out of the role of a function or state machine (by logical id), as moto checks it."""
    iam = boto3.client("iam", region_name=region)
    resource = stack.template["Resources"][logical_id]
    role_name = stack.resource(resource["Properties"][_ROLE_OF[resource["Type"]]]["Fn::GetAtt"][0])
    names = set(_as_moto_names(action))
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = _document(iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"])
        for statement in document["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a not in names]
            # A transaction stays allowed only while an action of its items does.
            for transaction in set(_TRANSACTIONS.values()) & set(statement["Action"]):
                if not any(_TRANSACTIONS.get(a) == transaction for a in statement["Action"]):
                    statement["Action"].remove(transaction)
        document["Statement"] = [s for s in document["Statement"] if s["Action"]]
        if not document["Statement"]:
            iam.delete_role_policy(RoleName=role_name, PolicyName=policy)
            continue
        iam.put_role_policy(RoleName=role_name, PolicyName=policy, PolicyDocument=json.dumps(document))


def _running_state_machine() -> str:
    """The ARN of the state machine whose execution makes the current call: the interpreter's `env` in a
    caller's frame knows it."""
    frame = sys._getframe(1)
    while frame is not None:
        env = frame.f_locals.get("env")
        if env is not None and hasattr(env, "states"):
            arn: str = env.states.context_object.context_object_data["StateMachine"]["Id"]
            return arn
        frame = frame.f_back  # type: ignore[assignment]
    raise RuntimeError("a workflow service call made outside any execution")


@contextmanager
def enforced(credentials: dict[str, Credentials]) -> Iterator[None]:
    """moto's IAM check on; workflows' service integrations signed with their state machine's role."""

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own signs every workflow call with the key "ak", which an enforcing moto does not know.
        config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1})
        signer = credentials[_running_state_machine()]
        with _CLIENTS:  # boto3's default session is not safe to share between threads making clients
            return boto3.client(service, region_name=region, config=config, **signer)  # type: ignore[call-overload]

    with ExitStack() as stack:
        stack.enter_context(enable_iam_authentication())
        # moto recomputes each request's SigV4 signature from its own view of the request, which differs from
        # what botocore signed for some REST paths (Lambda's GetFunction): the caller is still known by its access
        # key and session token, and what is tested here is what that caller may do.
        stack.enter_context(mock.patch.object(IAMRequestBase, "check_signature", return_value=None))
        for module in _INTEGRATIONS:
            stack.enter_context(mock.patch(f"{module}.boto_client_for", boto_client_for))
        yield
