"""The Controller on AWS: each port built from its boto3 client on first use, so a Lambda that never
touches a service never pays for creating its client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any

from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.aws.clients import client
from genai_autoscaler.aws.cloudwatch_alarms import CloudWatchAlarms
from genai_autoscaler.aws.cloudwatch_dashboards import CloudWatchDashboards
from genai_autoscaler.aws.cloudwatch_metrics import CloudWatchMetrics
from genai_autoscaler.aws.dynamodb_state import DynamoDbStateStore
from genai_autoscaler.aws.eventbridge_rules import EventBridgeAdoptedRules
from genai_autoscaler.aws.sagemaker_capacity import SageMakerCapacity
from genai_autoscaler.aws.sagemaker_endpoints import SageMakerEndpoints
from genai_autoscaler.aws.sagemaker_warm_up import SageMakerWarmUp
from genai_autoscaler.aws.scheduler_events import SchedulerEvents
from genai_autoscaler.aws.service_quotas import ServiceQuotasSource
from genai_autoscaler.aws.sns_notifier import SnsNotifier
from genai_autoscaler.aws.ssm_policies import SsmPolicySource
from genai_autoscaler.aws.ssm_routes import SsmRouteRegistry
from genai_autoscaler.aws.stepfunctions_workflows import StepFunctionsTaskTokens, StepFunctionsWorkflows
from genai_autoscaler.domain.plan import Workflow


class AwsController:
    def __init__(self, settings: ControllerSettings, client: Callable[[str], Any] = client):
        self.settings = settings
        self._client = client

    def now(self) -> datetime:
        return datetime.now(UTC)

    @cached_property
    def policies(self) -> SsmPolicySource:
        return SsmPolicySource(self._client("ssm"), self.settings.policy_parameter_name)

    @cached_property
    def capacity(self) -> SageMakerCapacity:
        return SageMakerCapacity(self._client("sagemaker"), self._client("application-autoscaling"))

    @cached_property
    def state(self) -> DynamoDbStateStore:
        return DynamoDbStateStore(self._client("dynamodb"), self.settings.state_table_name)

    @cached_property
    def alarms(self) -> CloudWatchAlarms:
        return CloudWatchAlarms(
            self._client("cloudwatch"), self.settings.alarm_prefix, self.settings.stack_name
        )

    @cached_property
    def dashboards(self) -> CloudWatchDashboards:
        return CloudWatchDashboards(self._client("cloudwatch"))

    @cached_property
    def schedules(self) -> SchedulerEvents:
        return SchedulerEvents(self._client("scheduler"), self.settings.event_schedule_group)

    @cached_property
    def adopted_rules(self) -> EventBridgeAdoptedRules:
        settings = self.settings
        return EventBridgeAdoptedRules(
            self._client("events"), settings.alarm_router_arn, settings.failed_events_queue_arn
        )

    @cached_property
    def metrics(self) -> CloudWatchMetrics:
        return CloudWatchMetrics(self._client("cloudwatch"))

    @cached_property
    def notifier(self) -> SnsNotifier:
        settings = self.settings
        return SnsNotifier(
            self._client("sns"), settings.notification_topic_arn, settings.chat_topic_arn, settings.stack_name
        )

    @cached_property
    def workflows(self) -> StepFunctionsWorkflows:
        return StepFunctionsWorkflows(
            self._client("stepfunctions"),
            {
                Workflow.SCALE: self.settings.scale_workflow_arn,
                Workflow.ROUTING: self.settings.routing_workflow_arn,
            },
        )

    @cached_property
    def tasks(self) -> StepFunctionsTaskTokens:
        return StepFunctionsTaskTokens(self._client("stepfunctions"))

    @cached_property
    def endpoints(self) -> SageMakerEndpoints:
        return SageMakerEndpoints(self._client("sagemaker"))

    @cached_property
    def warm_up(self) -> SageMakerWarmUp:
        return SageMakerWarmUp(self._client("sagemaker-runtime"))

    @cached_property
    def routes(self) -> SsmRouteRegistry:
        return SsmRouteRegistry(self._client("ssm"), self.settings.stack_name)

    @cached_property
    def provisioned(self) -> BedrockProvisionedThroughputs:
        return BedrockProvisionedThroughputs(self._client("bedrock"))

    @cached_property
    def idempotency(self) -> Any:
        return idempotency_store(self.settings.idempotency_table_name, self._client("dynamodb"))

    @cached_property
    def quotas(self) -> ServiceQuotasSource:
        # Shared per client, so what one invocation read serves the next ones in this execution environment.
        return ServiceQuotasSource.shared(self._client("service-quotas"))


@cache
def idempotency_store(table_name: str, dynamodb: Any) -> Any:
    """The Powertools idempotency store on the controller's DynamoDB client, made once per execution
    environment (made per invocation, the router's idempotent wrapper would be made again on every event)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
