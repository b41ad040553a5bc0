"""Create the stack of template.yaml in moto: the SAM transform done offline with aws-sam-translator,
code uploaded to moto's S3, then moto's CloudFormation creates what it supports. Alarms, which moto's
CloudFormation does not create, are put through the CloudWatch API from the template's own properties.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from moto.cloudformation.parsing import clean_json
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse as parse_sam_yaml

ARTIFACT_BUCKET = "genai-autoscaler-local-artifacts"


def _zip_directory(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(path))
    return buffer.getvalue()


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs; the template uses none by name."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass
class LocalStack:
    name: str
    root: Path
    template: dict[str, Any]
    physical: dict[str, str]
    outputs: dict[str, str]
    parameters: dict[str, str]
    stack_id: str = ""
    code_dirs: dict[str, Path] = field(default_factory=dict)  # function physical name -> source folder

    def resource(self, logical_id: str) -> str:
        return self.physical[logical_id]


def load_sam_template(root: Path) -> dict[str, Any]:
    return dict(parse_sam_yaml((root / "template.yaml").read_text()))


def deploy(root: Path, stack_name: str, parameters: dict[str, str], region: str) -> LocalStack:
    """Create the stack in moto (call inside an active mock); returns its resources by logical id."""
    template = load_sam_template(root)
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    packaged = json.loads(json.dumps(template))
    code_dirs_by_logical: dict[str, Path] = {}
    for logical_id, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            source = root / props["CodeUri"]
            code_dirs_by_logical[logical_id] = source
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=_zip_directory(source))
            props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=b"PK\x05\x06" + b"\x00" * 18)
            props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())

    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    translated = transform(packaged, {}, _NoManagedPolicies())
    # What moto's CloudFormation does not create is created below through each service's API.
    by_api = {k: v for k, v in translated["Resources"].items() if v["Type"] in _API_CREATORS}
    cfn_template = json.loads(json.dumps(translated))
    for logical_id in by_api:
        del cfn_template["Resources"][logical_id]
    # Outputs of what is created through the API are filled in once it is (their physical id is the value).
    later = {
        key: output["Value"]["Fn::GetAtt"][0]
        for key, output in dict(cfn_template.get("Outputs", {})).items()
        if isinstance(output.get("Value"), dict) and output["Value"].get("Fn::GetAtt", [None])[0] in by_api
    }
    for key in later:
        del cfn_template["Outputs"][key]
    # What others refer to by Ref and moto's CloudFormation does not create is made first, and its name put
    # in place of each Ref to it.
    made_first: dict[str, str] = {}
    for logical_id, resource in list(cfn_template["Resources"].items()):
        if resource["Type"] in _MADE_FIRST:
            made_first[logical_id] = _MADE_FIRST[resource["Type"]](stack_name, logical_id, region)
            del cfn_template["Resources"][logical_id]
    cfn_template = _with_refs_resolved(cfn_template, made_first)

    cfn = boto3.client("cloudformation", region_name=region)
    stack_id = cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )["StackId"]
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r and "PhysicalResourceId" in r
    } | made_first
    described = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    local = LocalStack(
        name=stack_name,
        root=root,
        template=translated,
        physical=physical,
        outputs=outputs,
        parameters=parameters,
        stack_id=stack_id,
        code_dirs={physical[k]: v for k, v in code_dirs_by_logical.items() if k in physical},
    )
    resource_map = _moto_resource_map(stack_id, region)
    sfn = boto3.client("stepfunctions", region_name=region)
    for logical_id, resource in cfn_template["Resources"].items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            # With execution enabled, moto serves the Step Functions API from its interpreter's backend,
            # which does not see what CloudFormation created: create it there too, same name and ARN.
            props = resource["Properties"]
            definition = str(clean_json(props["DefinitionString"], resource_map))
            for key, value in clean_json(props.get("DefinitionSubstitutions", {}), resource_map).items():
                definition = definition.replace("${" + key + "}", str(value))
            sfn.create_state_machine(
                name=physical[logical_id].rsplit(":", 1)[-1],
                definition=definition,
                roleArn=clean_json(props["RoleArn"], resource_map),
                type=props.get("StateMachineType", "STANDARD"),
            )
    for logical_id, resource in by_api.items():
        if "Condition" in resource and not resource_map.lazy_condition_map[resource["Condition"]]:
            continue
        props = clean_json(resource.get("Properties", {}), resource_map)
        physical[logical_id] = _API_CREATORS[resource["Type"]](logical_id, props, local, region)
    local.outputs.update({key: physical[logical_id] for key, logical_id in later.items()})
    _add_outputs(stack_id, region, {key: local.outputs[key] for key in later}, translated.get("Outputs", {}))
    return local


def _add_outputs(stack_id: str, region: str, values: dict[str, str], declared: dict[str, Any]) -> None:
    """Outputs of what was created through the API, added to moto's stack so that DescribeStacks shows them
    as CloudFormation would (the operator's commands read them there)."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    # moto parses each output from the template it was given: they are given to it as literal values.
    outputs = cloudformation_backends[DEFAULT_ACCOUNT_ID][region].stacks[stack_id].output_map
    for key, value in values.items():
        description = declared.get(key, {}).get("Description", "")
        outputs._output_json_map[key] = {"Value": value, "Description": description}


def _moto_resource_map(stack_id: str, region: str) -> Any:
    from moto.cloudformation.models import cloudformation_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    return cloudformation_backends[DEFAULT_ACCOUNT_ID][region].stacks[stack_id].resource_map


def _alarm(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    name = props.pop("AlarmName", f"{stack.name}-{logical_id}")
    boto3.client("cloudwatch", region_name=region).put_metric_alarm(AlarmName=name, **props)
    return str(name)


def _subscription(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    response = boto3.client("sns", region_name=region).subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
    )
    return str(response["SubscriptionArn"])


def _schedule(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    props.setdefault("Name", f"{stack.name}-{logical_id}")
    boto3.client("scheduler", region_name=region).create_schedule(**props)
    return str(props["Name"])


def _queue_policy(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    sqs = boto3.client("sqs", region_name=region)
    for queue_url in props["Queues"]:
        sqs.set_queue_attributes(
            QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return logical_id


def _invoke_config(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    boto3.client("lambda", region_name=region).put_function_event_invoke_config(**props)
    return logical_id


def _function_url(logical_id: str, props: dict[str, Any], stack: LocalStack, region: str) -> str:
    """The function URL; its physical id here is the URL (the only attribute the template reads)."""
    response = boto3.client("lambda", region_name=region).create_function_url_config(
        FunctionName=props["TargetFunctionArn"], AuthType=props["AuthType"]
    )
    return str(response["FunctionUrl"])


def _schedule_group(stack_name: str, logical_id: str, region: str) -> str:
    """A schedule group named as CloudFormation would (stack, resource, a suffix; 64 characters at most)."""
    name = f"{stack_name[:40]}-{logical_id[:16]}-LOCAL"
    boto3.client("scheduler", region_name=region).create_schedule_group(Name=name)
    return name


_MADE_FIRST: dict[str, Callable[[str, str, str], str]] = {"AWS::Scheduler::ScheduleGroup": _schedule_group}


def _with_refs_resolved(template: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """`template` with every Ref to a resource of `names`, and each ${name} in an Fn::Sub, replaced by its name."""

    def resolved(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in names:
                return names[value["Ref"]]
            if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
                text = value["Fn::Sub"]
                for logical_id, name in names.items():
                    text = text.replace("${" + logical_id + "}", name)
                return {"Fn::Sub": text}
            return {key: resolved(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolved(item) for item in value]
        return value

    resolved_template: dict[str, Any] = resolved(template)
    return resolved_template


_API_CREATORS: dict[str, Callable[[str, dict[str, Any], LocalStack, str], str]] = {
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::SNS::Subscription": _subscription,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::Lambda::EventInvokeConfig": _invoke_config,
    "AWS::Lambda::Url": _function_url,
}


def template_yaml(root: Path) -> dict[str, Any]:
    """template.yaml as plain data (CloudFormation tags kept as their long forms)."""
    return load_sam_template(root)


__all__ = ["LocalStack", "deploy", "template_yaml", "yaml"]
