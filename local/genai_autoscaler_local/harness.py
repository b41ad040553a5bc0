"""LocalAws: the whole controller running against moto, in one process, on simulated time.

with LocalAws(parameters={"ManagedEndpoints": "llm-prod"}) as aws:
    aws.create_endpoint("llm-prod", instances=1)
    aws.publish_policies({...})
    aws.deployed()                       # the stack-status event: the reconciler creates the alarms
    aws.alarm("llm-prod/AllTraffic", "latency_p95", "ALARM", [9.1e6])
    aws.wait_for_workflows()
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.ssm_policies import SsmPolicySource
from genai_autoscaler.aws.wiring import AwsController
from genai_autoscaler.domain.notifications import APPROVAL_TOKEN_LEAD
from genai_autoscaler.domain.policy import parse_policy_document
from genai_autoscaler.domain.signals import Signal, alarm_specs
from genai_autoscaler.domain.targets import MANAGEMENT_TAG
from moto import mock_aws
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_local.event_bus import Delivery, LocalCloudWatch, LocalEventBridge, envelope
from genai_autoscaler_local.iam_enforcement import enforced, operator_credentials, role_credentials
from genai_autoscaler_local.lambda_runtime import InProcessLambdas
from genai_autoscaler_local.sagemaker_fakes import SageMakerWorld
from genai_autoscaler_local.stack import LocalStack, deploy

if TYPE_CHECKING:
    from genai_autoscaler.aws.controller import Controller

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
CALLBACK_REAL_LIMIT = 120  # seconds of real time a task token is waited for, at most
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def _fresh_default_session() -> Iterator[None]:
    """boto3's default session keeps the credentials it first read: a new one reads the environment's now,
    and the next one after this block reads it again."""
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = None


class LocalController(AwsController):
    """The real AWS wiring, with the SageMaker fakes on its clients, the fake Bedrock (moto has no Provisioned
    Throughput) and the simulated clock."""

    def __init__(
        self,
        settings: ControllerSettings,
        world: SageMakerWorld,
        bedrock: FakeBedrock,
        clock: SimClock,
        credentials: dict[str, str] | None = None,
    ):
        super().__init__(
            settings,
            client=lambda service: bedrock if service == "bedrock" else world.client(service, credentials),
        )
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()


@dataclass
class WorkflowRun:
    execution_arn: str
    name: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    workflow: str = "scale"  # or "routing"


class LocalAws:
    def __init__(
        self,
        parameters: dict[str, str] | None = None,
        stack_name: str = "genai-local",
        provisioning_seconds: float = 360,
        bedrock_provisioning_seconds: float = 600,
        root: Path = REPO_ROOT,
        quiet: bool = False,
        enforce_iam: bool = False,
    ):
        self.parameters = {"NotificationEmail": "ml-platform@example.com", **(parameters or {})}
        self.stack_name = stack_name
        self.root = root
        self.clock = SimClock()
        self.world = SageMakerWorld(self.clock, REGION, provisioning_seconds)
        self.bedrock = FakeBedrock(self.clock.now, REGION, provisioning_seconds=bedrock_provisioning_seconds)
        self._exit = ExitStack()
        # Each handler and workflow signs as its role and moto refuses what the role does not allow (iam_enforcement).
        self.enforce_iam = enforce_iam
        self.role_credentials: dict[str, dict[str, str]] = {}  # by function name and state machine ARN
        # Quiet: the handlers' structured logs and EMF metrics stay off the terminal (the demo prints its own).
        self._function_env = (
            {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"} if quiet else {}
        )

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalAws:
        self._exit.enter_context(mock.patch.dict(os.environ, FAKE_CREDENTIALS))
        self._exit.enter_context(mock_aws(config=MOTO_CONFIG))
        if self.enforce_iam:
            self._exit.enter_context(mock.patch.dict(os.environ, operator_credentials(REGION)))
            del os.environ["AWS_SESSION_TOKEN"]  # a user's long-term key has none (the patch puts it back)
            self._exit.enter_context(_fresh_default_session())
        self._exit.enter_context(self._simulated_time())
        self.stack: LocalStack = deploy(self.root, self.stack_name, self.parameters, REGION)
        if self.enforce_iam:
            self.role_credentials = role_credentials(self.stack, REGION)
            self._exit.enter_context(enforced(self.role_credentials))
        self.lambdas = InProcessLambdas(self.stack.code_dirs, self.controller, self._function_env)
        self._exit.enter_context(self.lambdas.installed())
        self.bus = LocalEventBridge(REGION)
        self.cloudwatch = LocalCloudWatch(REGION, self.bus)
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self._inbox = self._subscribe_inbox()
        self._seen_executions: set[str] = set()
        self._received: list[dict[str, str]] = []
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    @contextmanager
    def _simulated_time(self) -> Iterator[None]:
        """Workflow Wait and Retry states, and alarm timestamps, follow the simulated clock."""
        clock = self.clock

        def wait(_self: Any, env: Any, wait_seconds: int) -> None:
            clock.advance(wait_seconds)

        sleeper = SimpleNamespace(sleep=clock.advance, time=time.time)

        def wait_for_callback(endpoint: Any, timeout: float | None = None) -> Any:
            # A task token's timeout (TimeoutSeconds of a .waitForTaskToken task) runs on the simulated clock:
            # advancing it past the timeout times the task out. CALLBACK_REAL_LIMIT seconds of real time bound
            # the wait, so that a test that never answers cannot hang.
            started, real_deadline = clock.now(), time.monotonic() + CALLBACK_REAL_LIMIT
            while not endpoint._notify_event.wait(0.01):
                waited = (clock.now() - started).total_seconds()
                if (timeout is not None and waited >= timeout) or time.monotonic() > real_deadline:
                    break
            return endpoint._outcome

        with (
            mock.patch(
                "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction._wait_interval",
                wait,
            ),
            mock.patch("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl.time", sleeper),
            mock.patch("moto.cloudwatch.models.utcnow", side_effect=lambda: clock.now().replace(tzinfo=None)),
            mock.patch(
                "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackEndpoint.wait",
                wait_for_callback,
            ),
        ):
            yield

    def controller(self, settings: ControllerSettings | None = None) -> Controller:
        """A controller as the stack's functions see it (their environment, the fakes, the clock)."""
        if settings is None:
            function = boto3.client("lambda", region_name=REGION).get_function(
                FunctionName=self.stack.resource("AlarmRouterFunction")
            )
            settings = ControllerSettings.from_env(function["Configuration"]["Environment"]["Variables"])
        running = self.lambdas.running  # the function whose handler asks on this thread, if one does
        credentials = None
        if running is not None and self.enforce_iam:
            credentials = self.role_credentials[
                running
            ]  # every function has its role's: never the operator's
        return LocalController(settings, self.world, self.bedrock, self.clock, credentials)

    def _subscribe_inbox(self) -> str:
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName=f"{self.stack_name}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=self.stack.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        return str(queue_url)

    # ------------------------------------------------------------------ the world
    def create_endpoint(
        self,
        name: str,
        instances: int = 1,
        tags: dict[str, str] | None = None,
        variant: str = "AllTraffic",
        routing: str | None = None,
    ) -> None:
        """An InService endpoint of one variant; `routing`: its RoutingStrategy (none set: SageMaker routes at
        random)."""
        self.sagemaker.create_model(
            ModelName=f"{name}-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm:latest"},
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": f"{name}-model",
                    "InitialInstanceCount": instances,
                    "InstanceType": "ml.g4dn.xlarge",
                    "InitialVariantWeight": 1.0,
                    **({"RoutingConfig": {"RoutingStrategy": routing}} if routing else {}),
                }
            ],
        )
        self.sagemaker.create_endpoint(
            EndpointName=name,
            EndpointConfigName=f"{name}-config",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )

    def register_scalable_target(
        self, endpoint: str, minimum: int, maximum: int, variant: str = "AllTraffic"
    ) -> None:
        boto3.client("application-autoscaling", region_name=REGION).register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=f"endpoint/{endpoint}/variant/{variant}",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=minimum,
            MaxCapacity=maximum,
        )

    def instance_count(self, endpoint: str, variant: str = "AllTraffic") -> int:
        described = self.sagemaker.describe_endpoint(EndpointName=endpoint)
        return next(
            int(v["DesiredInstanceCount"])
            for v in described["ProductionVariants"]
            if v["VariantName"] == variant
        )

    def publish_policies(self, document: dict[str, Any]) -> list[Delivery]:
        """Validate and store the document as `genai-autoscaler publish-config` does, and announce it."""
        parse_policy_document(document)
        name = self.stack.outputs["PolicyParameterName"]
        SsmPolicySource(boto3.client("ssm", region_name=REGION), name).publish(document)
        return self.bus.put(
            envelope(
                "aws.ssm",
                "Parameter Store Change",
                {"name": name, "type": "String", "operation": "Update"},
                [f"arn:aws:ssm:{REGION}:123456789012:parameter{name}"],
                REGION,
                self.clock.now(),
            )
        )

    # ------------------------------------------------------------------ events
    def deployed(self) -> list[Delivery]:
        """The CloudFormation stack-status event that follows a deploy."""
        return self.bus.put(
            envelope(
                "aws.cloudformation",
                "CloudFormation Stack Status Change",
                {
                    "stack-id": self.stack.stack_id,
                    "status-details": {"status": "CREATE_COMPLETE", "status-reason": ""},
                },
                [self.stack.stack_id],
                REGION,
                self.clock.now(),
            )
        )

    def alarm_name(self, target_name: str, signal: Signal | str) -> str:
        controller = self.controller()
        tagged = controller.endpoints.tagged_variants(MANAGEMENT_TAG)
        document = controller.settings.effective_policies(controller.policies.load(), tagged)
        policy = document.by_name(target_name)
        if policy is None:
            raise KeyError(f"no managed target {target_name}")
        spec = next(s for s in alarm_specs(policy) if s.signal == Signal(signal))
        return controller.alarms.alarm_name(spec)

    def alarm(
        self, target_name: str, signal: Signal | str, state: str, datapoints: list[float]
    ) -> list[Delivery]:
        return self.cloudwatch.set_state(
            self.alarm_name(target_name, signal), state, datapoints, self.clock.now()
        )

    def bedrock_traffic(
        self,
        model_id: str,
        input_tokens: float,
        output_tokens: float,
        invocations: float,
        minutes: int = 1,
        quota_usage: bool = False,
    ) -> None:
        """A Bedrock model's traffic per minute for the last `minutes` whole minutes and from now on, as AWS/Bedrock
        publishes it (ModelId dimension); its throttles are the throttle alarm's datapoints. `quota_usage`: with
        EstimatedTPMQuotaUsage (input + output: a model without output burndown), as Bedrock publishes it for
        the models it covers."""
        figures = {
            "InputTokenCount": input_tokens,
            "OutputTokenCount": output_tokens,
            "Invocations": invocations,
        }
        if quota_usage:
            figures["EstimatedTPMQuotaUsage"] = input_tokens + output_tokens
        for ago in range(minutes, 0, -1):
            minute = self.clock.now() - timedelta(minutes=ago)
            for name, value in figures.items():
                self.cloudwatch.hold("AWS/Bedrock", name, {"ModelId": model_id}, value, minute)

    def evaluate(self) -> Any:
        """One run of the every-minute evaluation (as EventBridge Scheduler would start it)."""
        self.cloudwatch.publish_until(self.clock.now())
        function = self.stack.resource("EvaluatorFunction")
        response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=function, Payload=b"{}")
        return json.loads(response["Payload"].read())

    def forecast(self) -> Any:
        """One run of the hourly forecaster (as EventBridge Scheduler would start it)."""
        function = self.stack.resource("ForecasterFunction")
        response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=function, Payload=b"{}")
        return json.loads(response["Payload"].read())

    @contextmanager
    def workflows_held(self) -> Iterator[None]:
        """Workflows started within the block begin to run when it ends.

        Alarms that change on the same evaluation reach the router within milliseconds of each other in AWS,
        before a workflow started by the first has taken a step. Here a workflow runs on a thread of its own and
        its Wait states move the one simulated clock: started at once, it would run ahead of the next delivery.
        """
        held: list[ExecutionWorker] = []
        try:
            with mock.patch.object(ExecutionWorker, "start", lambda worker: held.append(worker)):
                yield
        finally:
            for worker in held:
                worker.start()

    # ------------------------------------------------------------------ outcomes
    def wait_for_workflows(self, timeout: float = 60) -> list[WorkflowRun]:
        """Every workflow execution (scale or routing) started since the last call, once finished."""
        arns = {
            "scale": self.stack.outputs["ScaleWorkflowArn"],
            "routing": self.stack.outputs["RoutingWorkflowArn"],
        }
        deadline = time.monotonic() + timeout
        while True:
            fresh = [
                (workflow, e)
                for workflow, arn in arns.items()
                for e in self.sfn.list_executions(stateMachineArn=arn)["executions"]
                if e["executionArn"] not in self._seen_executions
            ]
            if all(e["status"] != "RUNNING" for _, e in fresh):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"workflows still running after {timeout} s")
            time.sleep(0.02)
        runs = []
        for workflow, execution in sorted(fresh, key=lambda pair: pair[1]["startDate"]):
            self._seen_executions.add(execution["executionArn"])
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            runs.append(
                WorkflowRun(
                    execution_arn=execution["executionArn"],
                    name=execution["name"],
                    status=described["status"],
                    output=json.loads(described["output"]) if described.get("output") else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                    workflow=workflow,
                )
            )
        return runs

    def notifications(self) -> list[dict[str, str]]:
        """SNS messages published since the last call: {subject, message}."""
        self._read_inbox()
        messages, self._received = self._received, []
        return messages

    def approval_request(self, timeout: float = 30) -> dict[str, str]:
        """The next request for approval the routing workflow published: {subject, message, token}, the token
        read from the message as the person who approves reads it. Other notifications stay for notifications()."""
        deadline = time.monotonic() + timeout
        while True:
            self._read_inbox()
            for message in self._received:
                if APPROVAL_TOKEN_LEAD in message["message"]:
                    self._received.remove(message)
                    return {**message, "token": message["message"].rsplit(APPROVAL_TOKEN_LEAD, 1)[1]}
            if time.monotonic() > deadline:
                raise TimeoutError(f"no approval request after {timeout} s")
            time.sleep(0.02)

    def function_url(self, request: Any) -> tuple[int, dict[str, Any]]:
        """A signed request to the stack's approval function URL (AuthType AWS_IAM), served as Lambda serves
        it: the caller is who the request's access key belongs to in moto's IAM (refused without one), given
        to the function in `requestContext.authorizer.iam` of a version 2.0 event. Returns (status, JSON)."""
        from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

        if request.url.rstrip("/") != self.stack.outputs["ApprovalUrl"].rstrip("/"):
            return 404, {"Message": f"no function URL {request.url}"}
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        authorization = headers.get("Authorization", "")
        key_id = authorization.partition("Credential=")[2].partition("/")[0]
        try:
            caller = create_access_key("123456789012", "aws", key_id, headers).arn
        except CreateAccessKeyFailure:
            return 403, {"Message": "Forbidden"}
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        event = {
            "version": "2.0",
            "requestContext": {
                "authorizer": {"iam": {"userArn": caller}},
                "http": {"method": request.method},
            },
            "body": body,
            "isBase64Encoded": False,
        }
        response = boto3.client("lambda", region_name=REGION).invoke(
            FunctionName=self.stack.resource("ApprovalFunction"), Payload=json.dumps(event).encode()
        )
        answered = json.loads(response["Payload"].read())
        return int(answered["statusCode"]), json.loads(answered["body"])

    def _read_inbox(self) -> None:
        sqs = boto3.client("sqs", region_name=REGION)
        while True:
            batch = sqs.receive_message(QueueUrl=self._inbox, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return
            for message in batch:
                body = json.loads(message["Body"])
                self._received.append({"subject": body.get("Subject", ""), "message": body["Message"]})
                sqs.delete_message(QueueUrl=self._inbox, ReceiptHandle=message["ReceiptHandle"])

    def target_state(self, target_id: str) -> Any:
        return self.controller().state.load(target_id)

    def history(self, target_id: str) -> Any:
        return self.controller().state.history(target_id)
