"""In-memory ports: the controller without AWS, for `genai-autoscaler plan`, unit tests and the simulator.

They keep what they are given and record what they are asked to do; none of them decides anything, so
the logic that runs on them is exactly the logic that runs in Lambda.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from genai_autoscaler.app.ports import (
    AdoptedAlarmRules,
    AlarmDirectory,
    CapacityActuator,
    Dashboards,
    EndpointDirectory,
    EventSchedules,
    MetricReader,
    Notifier,
    PolicySource,
    ProvisionedThroughputs,
    QuotaSource,
    RouteRegistry,
    StateStore,
    TaskTokens,
    WarmUpInvoker,
    WorkflowStarter,
)
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import AlarmSnapshot, AlarmStanding
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.domain.policy import SageMakerPolicy
from genai_autoscaler.domain.quotas import ServiceQuota
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import AlarmSpec, MetricQuery
from genai_autoscaler.domain.state import ActionRecord, ObservedCapacity, ScalableTargetFloor, TargetState
from genai_autoscaler.errors import InvalidEvent


@dataclass
class MemoryPolicies(PolicySource):
    document: dict[str, Any] = field(default_factory=dict)

    def load(self) -> dict[str, Any]:
        return self.document


@dataclass
class MemoryQuotas(QuotaSource):
    """Quotas by (service code, quota code); a pair not listed has none. With `failure`, every read raises it
    (Service Quotas throttling or refusing)."""

    quotas: dict[tuple[str, str], ServiceQuota] = field(default_factory=dict)
    failure: Exception | None = None
    reads: list[tuple[str, str]] = field(default_factory=list)

    def get(self, service_code: str, quota_code: str) -> ServiceQuota | None:
        self.reads.append((service_code, quota_code))
        if self.failure is not None:
            raise self.failure
        return self.quotas.get((service_code, quota_code))


@dataclass
class MemoryRoutes(RouteRegistry):
    """Routes by base model ID, and every publication in order."""

    routes: dict[str, PublishedRoute] = field(default_factory=dict)
    published: list[PublishedRoute] = field(default_factory=list)

    def publish(self, model_id: str, route: PublishedRoute) -> None:
        if route.target != model_id:
            raise InvalidEvent(f"a route for {route.target} cannot be published for {model_id}")
        self.routes[model_id] = route
        self.published.append(route)

    def current(self, model_id: str) -> PublishedRoute | None:
        return self.routes.get(model_id)


@dataclass
class MemoryCapacity(CapacityActuator):
    """Capacity by target id; a target not listed does not exist. Changes apply at once."""

    observed: dict[str, ObservedCapacity] = field(default_factory=dict)
    changes: list[tuple[str, str, int]] = field(default_factory=list)

    def observe(self, target: SageMakerPolicy) -> ObservedCapacity | None:
        return self.observed.get(target.target_id)

    def set_capacity(self, target: SageMakerPolicy, count: int) -> None:
        self.changes.append((target.target_id, "set_capacity", count))
        current = self.observed[target.target_id]
        self.observed[target.target_id] = current.model_copy(update={"desired": count, "current": count})

    def set_floor(self, target: SageMakerPolicy, min_capacity: int) -> None:
        self.changes.append((target.target_id, "set_floor", min_capacity))
        current = self.observed[target.target_id]
        floor = current.scalable_target or ScalableTargetFloor(
            min_capacity=min_capacity, max_capacity=min_capacity
        )
        count = max(current.desired, min_capacity)
        self.observed[target.target_id] = current.model_copy(
            update={
                "desired": count,
                "current": count,
                "scalable_target": floor.model_copy(update={"min_capacity": min_capacity}),
            }
        )


@dataclass
class MemoryState(StateStore):
    states: dict[str, TargetState] = field(default_factory=dict)
    records: list[ActionRecord] = field(default_factory=list)

    def load(self, target_id: str) -> TargetState:
        return self.states.get(target_id) or TargetState(target_id=target_id)

    def update(
        self,
        target_id: str,
        change: Callable[[TargetState], TargetState],
        record: ActionRecord | None = None,
    ) -> TargetState:
        current = self.load(target_id)
        new = change(current)
        if new != current:
            new = new.model_copy(update={"version": current.version + 1})
            self.states[target_id] = new
        if record is not None:
            self.records.append(record)
        return new

    def history(self, target_id: str, limit: int = 20, since: datetime | None = None) -> list[ActionRecord]:
        return [
            r for r in reversed(self.records) if r.target_id == target_id and (since is None or r.at >= since)
        ][:limit]


@dataclass
class MemoryAlarms(AlarmDirectory):
    prefix: str = "local."
    alarms: dict[str, AlarmSpec] = field(default_factory=dict)
    states: dict[str, AlarmSnapshot] = field(default_factory=dict)
    others: dict[str, AlarmStanding] = field(default_factory=dict)  # alarms the controller did not create

    def alarm_name(self, spec: AlarmSpec) -> str:
        return spec.alarm_name(self.prefix)

    def standing(self, alarm_names: Sequence[str]) -> dict[str, AlarmStanding]:
        return {name: self.others[name] for name in alarm_names if name in self.others}

    def put(self, spec: AlarmSpec) -> None:
        self.alarms[self.alarm_name(spec)] = spec

    def owned(self) -> dict[str, dict[str, Any] | None]:
        return {name: spec.put_request(name) for name, spec in self.alarms.items()}

    def delete(self, alarm_names: Sequence[str]) -> None:
        for name in alarm_names:
            self.alarms.pop(name, None)
            self.states.pop(name, None)

    def snapshot(self) -> dict[str, AlarmSnapshot]:
        return dict(self.states)


@dataclass
class MemoryMetrics(MetricReader):
    """Peaks and datapoints by (target id, label: the signal of an alarm's metric, else the metric name); a
    pair not listed has no datapoints."""

    peaks: dict[tuple[str, str], float] = field(default_factory=dict)
    points: dict[tuple[str, str], list[tuple[datetime, float]]] = field(default_factory=dict)
    queries: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    recent: set[tuple[str, str, tuple[tuple[str, str], ...]]] = field(
        default_factory=set
    )  # as ListMetrics lists

    def published(self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> bool:
        return (namespace, name, tuple(sorted(dimensions))) in self.recent

    def peak(self, query: MetricQuery, start: datetime, end: datetime) -> float | None:
        self.queries.append((query.metric_name, start, end))
        return self.peaks.get((query.target_id, query.label))

    def series(self, query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        self.queries.append((query.metric_name, start, end))
        return [(at, v) for at, v in self.points.get((query.target_id, query.label), []) if start <= at < end]


@dataclass
class RecordingNotifier(Notifier):
    published: list[tuple[str, str]] = field(default_factory=list)

    def publish(self, subject: str, message: str) -> None:
        self.published.append((subject, message))


@dataclass
class RecordingWorkflows(WorkflowStarter):
    """Records the workflows that would start; the same name starts once, as in Step Functions."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds: dict[str, Workflow] = field(default_factory=dict)  # which workflow each name started
    ended: set[str] = field(default_factory=set)  # executions a test has ended

    def start(self, name: str, request: dict[str, Any], workflow: Workflow = Workflow.SCALE) -> str | None:
        if name in self.ended:
            return None
        self.started.setdefault(name, request)
        self.kinds.setdefault(name, workflow)
        return f"arn:aws:states:local:000000000000:execution:{workflow}:{name}"

    def running(self, name: str) -> bool | None:
        return name in self.started and name not in self.ended


@dataclass
class RecordingTaskTokens(TaskTokens):
    """The answers sent to waiting tasks: (token, output) and (token, error, cause)."""

    succeeded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.succeeded.append((token, output))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.failed.append((token, error, cause))


@dataclass
class MemoryEndpoints(EndpointDirectory):
    tagged: list[tuple[str, str]] = field(default_factory=list)

    def tagged_variants(self, tag_key: str) -> list[tuple[str, str]]:
        return list(self.tagged)

    def is_tagged(self, endpoint_name: str, tag_key: str) -> bool:
        return any(endpoint == endpoint_name for endpoint, _ in self.tagged)


@dataclass
class FixedLatencyWarmUp(WarmUpInvoker):
    latency_ms: float = 50.0
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def invoke(
        self, target: SageMakerPolicy, body: bytes, content_type: str, target_model: str | None
    ) -> float:
        self.calls.append((target.target_id, target_model))
        return self.latency_ms


@dataclass(frozen=True)
class StaticController:
    """A Controller assembled from given ports (tests, the simulator)."""

    settings: ControllerSettings
    policies: PolicySource
    capacity: CapacityActuator
    state: StateStore
    alarms: AlarmDirectory
    metrics: MetricReader
    notifier: Notifier
    workflows: WorkflowStarter
    endpoints: EndpointDirectory
    warm_up: WarmUpInvoker
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    routes: RouteRegistry | None = None
    provisioned: ProvisionedThroughputs | None = None
    quotas: QuotaSource | None = None
    tasks: TaskTokens = field(default_factory=lambda: RecordingTaskTokens())
    dashboards: Dashboards | None = None
    schedules: EventSchedules | None = None
    adopted_rules: AdoptedAlarmRules | None = None

    def now(self) -> datetime:
        return self.clock()


def memory_controller(
    document: dict[str, Any] | None = None,
    observed: dict[str, ObservedCapacity] | None = None,
    states: dict[str, TargetState] | None = None,
    settings: ControllerSettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> StaticController:
    """A controller whose ports are all in memory."""
    settings = settings or ControllerSettings(stack_name="local")
    return StaticController(
        settings=settings,
        policies=MemoryPolicies(document or {}),
        capacity=MemoryCapacity(dict(observed or {})),
        state=MemoryState(dict(states or {})),
        alarms=MemoryAlarms(prefix=settings.alarm_prefix),
        metrics=MemoryMetrics(),
        notifier=RecordingNotifier(),
        workflows=RecordingWorkflows(),
        endpoints=MemoryEndpoints(),
        warm_up=FixedLatencyWarmUp(),
        clock=clock or (lambda: datetime.now(UTC)),
    )
