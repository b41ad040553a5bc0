"""The controller's collaborators, as one object handed to every use case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from genai_autoscaler.app.ports import (
    AlarmDirectory,
    CapacityActuator,
    EndpointDirectory,
    MetricReader,
    Notifier,
    PolicySource,
    ProvisionedThroughputs,
    QuotaSource,
    RouteRegistry,
    StateStore,
    WarmUpInvoker,
    WorkflowStarter,
)
from genai_autoscaler.app.settings import ControllerSettings


class Controller(Protocol):
    @property
    def settings(self) -> ControllerSettings: ...
    @property
    def policies(self) -> PolicySource: ...
    @property
    def capacity(self) -> CapacityActuator: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def alarms(self) -> AlarmDirectory: ...
    @property
    def metrics(self) -> MetricReader: ...
    @property
    def notifier(self) -> Notifier: ...
    @property
    def workflows(self) -> WorkflowStarter: ...
    @property
    def endpoints(self) -> EndpointDirectory: ...
    @property
    def warm_up(self) -> WarmUpInvoker: ...
    @property
    def routes(self) -> RouteRegistry | None:
        """Where Bedrock callers are sent (None: this controller does not route Bedrock traffic)."""
        ...

    @property
    def provisioned(self) -> ProvisionedThroughputs | None:
        """Bedrock Provisioned Throughput (None: this controller does not buy any)."""
        ...

    @property
    def quotas(self) -> QuotaSource | None:
        """The account's quotas in Service Quotas (None: the policies' own figures are used)."""
        ...

    def now(self) -> datetime:
        """The current time, timezone-aware UTC (a simulated clock in the local harness)."""
        ...


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

    def now(self) -> datetime:
        return self.clock()
