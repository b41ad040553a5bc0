"""The narrow interfaces between the controller's logic and AWS. boto3 implementations live in `aws/`;
tests and the simulator use in-memory ones."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from genai_autoscaler.domain.alarm_event import AlarmSnapshot, AlarmStanding
from genai_autoscaler.domain.notifications import Notification
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.domain.policy import SageMakerPolicy, SageMakerVariantPolicy
from genai_autoscaler.domain.provisioned import ProvisionedModel
from genai_autoscaler.domain.quotas import ServiceQuota
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import AlarmSpec, MetricQuery
from genai_autoscaler.domain.state import ActionRecord, ObservedCapacity, TargetState


class CapacityActuator(ABC):
    """Reads and changes the capacity of SageMaker variants and inference components."""

    @abstractmethod
    def observe(self, target: SageMakerPolicy) -> ObservedCapacity | None:
        """The target's capacity and status now; None if it does not exist."""

    @abstractmethod
    def set_capacity(self, target: SageMakerPolicy, count: int) -> None:
        """Request `count` instances or copies."""

    @abstractmethod
    def set_floor(self, target: SageMakerPolicy, min_capacity: int) -> None:
        """Set the MinCapacity of the target's Application Auto Scaling scalable target."""

    def routing(self, target: SageMakerVariantPolicy) -> str | None:
        """How the variant routes requests to its instances: its endpoint config's RoutingStrategy
        (`domain.endpoint_routing`); None where this reader cannot tell, or the variant does not exist."""
        return None


class StateStore(ABC):
    @abstractmethod
    def load(self, target_id: str) -> TargetState:
        """The remembered state (an empty one for a target never seen)."""

    @abstractmethod
    def update(
        self,
        target_id: str,
        change: Callable[[TargetState], TargetState],
        record: ActionRecord | None = None,
    ) -> TargetState:
        """Apply `change` to the current state atomically (retrying on concurrent writes), together with
        an optional history record; returns the new state. Exceptions raised by `change` propagate."""

    @abstractmethod
    def history(self, target_id: str, limit: int = 20, since: datetime | None = None) -> list[ActionRecord]:
        """The newest history records first (those at `since` or later, when given)."""


class Dashboards(ABC):
    """CloudWatch dashboards."""

    @property
    @abstractmethod
    def region(self) -> str:
        """The region whose metrics a dashboard's widgets show."""

    @abstractmethod
    def put(self, name: str, body: dict[str, Any]) -> list[str]:
        """Create or replace the dashboard; returns CloudWatch's validation messages (empty when none)."""


class AdoptedAlarmRules(ABC):
    """The EventBridge rules that bring adopted alarms' state changes to the alarm router (domain/adopted.py),
    named `<prefix><n>`."""

    @abstractmethod
    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Rule name -> its event pattern, for the rules named `prefix*` that deliver to the router."""

    @abstractmethod
    def put(self, name: str, pattern: dict[str, Any]) -> None:
        """Create or update the rule `name` with `pattern`, delivering to the router (retries, dead letters)."""

    @abstractmethod
    def delete(self, name: str) -> None: ...


class EventSchedules(ABC):
    """EventBridge Scheduler schedules of recurring events (domain/recurring.py), named from one prefix."""

    @abstractmethod
    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Schedule name -> its CreateSchedule parameters as they stand, for every schedule named from `prefix`."""

    @abstractmethod
    def put(self, request: dict[str, Any], exists: bool) -> None:
        """Create the schedule, or update it (`exists`), from CreateSchedule's parameters."""

    @abstractmethod
    def delete(self, name: str) -> None: ...


class AlarmDirectory(ABC):
    """CloudWatch alarms owned by the controller."""

    @abstractmethod
    def put(self, spec: AlarmSpec) -> None: ...

    @abstractmethod
    def owned(self) -> dict[str, dict[str, Any] | None]:
        """Alarm name -> its PutMetricAlarm parameters as they stand, for every alarm tagged as this
        controller's own (None where the alarm watches no signal the controller recognises)."""

    @abstractmethod
    def delete(self, alarm_names: Sequence[str]) -> None: ...

    @abstractmethod
    def snapshot(self) -> dict[str, AlarmSnapshot]:
        """Every alarm under the controller's name prefix, by name, as it stands now (one listing)."""

    @abstractmethod
    def alarm_name(self, spec: AlarmSpec) -> str: ...

    @abstractmethod
    def standing(self, alarm_names: Sequence[str]) -> dict[str, AlarmStanding]:
        """The named alarms (anyone's: metric, metric-math, anomaly-detection or composite) as they stand now,
        by name; a name with no alarm is left out."""


class MetricReader(ABC):
    """Recent figures of a signal's metric (CloudWatch GetMetricData)."""

    @abstractmethod
    def series(self, query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """The datapoints (period start, value) of the metric and statistic for the periods starting in
        [start, end), oldest first."""

    def peak(self, query: MetricQuery, start: datetime, end: datetime) -> float | None:
        """The highest value of the metric and statistic over [start, end); None without datapoints."""
        values = [value for _, value in self.series(query, start, end)]
        return max(values) if values else None

    def peak_of_each(
        self, windows: Sequence[tuple[MetricQuery, datetime]], end: datetime
    ) -> list[float | None]:
        """`peak` of each query over [its start, end), in order: one read where the reader can batch them."""
        return [self.peak(query, start, end) for query, start in windows]

    def published(self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> bool:
        """Whether the metric has datapoints of late (CloudWatch ListMetrics lists it); none by default."""
        return False

    def per_period(self, query: MetricQuery, start: datetime, end: datetime) -> list[float | None]:
        """The metric period by period from `start` (a period's start) to `end`, None for a period without a
        datapoint: gaps stay gaps."""
        values: list[float | None] = [None] * int((end - start).total_seconds() // query.period)
        for at, value in self.series(query, start, end):
            index = round((at - start).total_seconds() / query.period)
            if 0 <= index < len(values):
                values[index] = value
        return values


class Notifier(ABC):
    @abstractmethod
    def publish(self, subject: str, message: str) -> None:
        """The prose, to the notification topic (its e-mail subscribers)."""

    def chat(self, notification: Notification) -> None:  # noqa: B027 (none by default)
        """The card, to the team's chat channel where the stack has one (domain/chat.py); never raises."""

    def send(self, notification: Notification) -> None:
        """Tell the team: the prose to the notification topic, then the card to the chat channel."""
        self.publish(notification.subject, notification.message)
        self.chat(notification)


class WorkflowStarter(ABC):
    @abstractmethod
    def start(self, name: str, request: dict[str, Any], workflow: Workflow = Workflow.SCALE) -> str | None:
        """Start an execution of `workflow`; idempotent for the same name. Returns the execution ARN (that of
        the running execution of that name, if there is one), or None when an execution of that name has
        already run to its end: nothing was started."""

    @abstractmethod
    def running(self, name: str) -> bool | None:
        """Whether the execution `name` (of either workflow) is running: False once it has ended or if it was
        never started, None when that cannot be told (the caller then takes it to be running)."""


class TaskTokens(ABC):
    """The answers to a workflow's .waitForTaskToken task (Step Functions SendTaskSuccess, SendTaskFailure)."""

    @abstractmethod
    def succeed(self, token: str, output: dict[str, Any]) -> None: ...

    @abstractmethod
    def fail(self, token: str, error: str, cause: str) -> None: ...


class EndpointDirectory(ABC):
    @abstractmethod
    def tagged_variants(self, tag_key: str) -> list[tuple[str, str]]:
        """(endpoint, variant) of every endpoint tagged `tag_key`=true that is not being deleted."""

    @abstractmethod
    def is_tagged(self, endpoint_name: str, tag_key: str) -> bool:
        """Whether the endpoint carries `tag_key`=true (False when it does not exist)."""


class PolicySource(ABC):
    @abstractmethod
    def load(self) -> dict[str, Any]:
        """The raw policy document (an empty one where none has been published)."""


class RouteRegistry(ABC):
    """Where each Bedrock model's callers are sent: one route per base model ID, read by the callers."""

    @abstractmethod
    def publish(self, model_id: str, route: PublishedRoute) -> None:
        """Send the callers of the base model `model_id` to `route` (replacing any route they had).
        Raises InvalidEvent if `route.target` is not `model_id`."""

    @abstractmethod
    def current(self, model_id: str) -> PublishedRoute | None:
        """The route published for the base model `model_id`; None where none has been (callers use the
        model itself)."""


class WarmUpInvoker(ABC):
    @abstractmethod
    def invoke(
        self, target: SageMakerPolicy, body: bytes, content_type: str, target_model: str | None
    ) -> float:
        """Send one request; returns its latency in milliseconds, raises on failure."""


class ProvisionedThroughputs(ABC):
    """Bedrock Provisioned Throughput: buying model units for a model, watching them, giving them back."""

    @abstractmethod
    def create(
        self,
        model_id: str,
        model_units: int,
        name: str,
        commitment: str | None,
        client_token: str,
        tags: dict[str, str],
    ) -> str:
        """Buy `model_units` for `model_id` (with a commitment term only when `commitment` is given); returns
        the provisioned model's ARN. Idempotent for the same `client_token`: Bedrock returns the first
        purchase's ARN and buys nothing more, whatever the other arguments (it reports no mismatch)."""

    @abstractmethod
    def describe(self, arn: str) -> ProvisionedModel | None:
        """The provisioned model as it stands, by its ARN or its name (GetProvisionedModelThroughput takes
        either); None when it does not exist (any more)."""

    @abstractmethod
    def delete(self, arn: str) -> None:
        """Delete it; nothing happens when it is already gone. Bedrock refuses a committed one before its
        term ends (see `domain.provisioned.may_delete`), which raises ActuationRejected."""

    @abstractmethod
    def created_by(self, tag_key: str, tag_value: str) -> list[ProvisionedModel]:
        """Every provisioned model tagged `tag_key`=`tag_value`, for the sweeper; oldest first. Their
        `failure_message` is None: Bedrock's listing does not carry it. Their `target_id` is their
        genai-autoscaler:target tag (None without one)."""

    @abstractmethod
    def model_units_in_use(self, committed: bool) -> int:
        """The model units held by the account's provisioned models (any model, any creator) with a commitment
        term (`committed`) or without one: what the account's model-unit quota has left is that quota minus
        these. Failed ones hold none."""


class QuotaSource(ABC):
    """The account's quotas, as Service Quotas reports them."""

    @abstractmethod
    def get(self, service_code: str, quota_code: str) -> ServiceQuota | None:
        """The quota's applied value, else AWS's default for it; None where Service Quotas has no such quota in
        this account and Region. Raises TransientAwsError or ActuationRejected when it cannot be read."""
