"""The controller a Lambda handler is given: every use case's ports at once, and the clock.

Only for type checking: importing it would import every use case, which a handler that runs one of them should
not pay for at a cold start (`if TYPE_CHECKING:` wherever it is named).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from genai_autoscaler.app.approvals import ApprovalPorts
from genai_autoscaler.app.dispatch import DispatchPorts
from genai_autoscaler.app.forecasting import ForecastPorts
from genai_autoscaler.app.reconciler import ReconcilePorts
from genai_autoscaler.app.routing_workflow import RoutingWorkflowPorts
from genai_autoscaler.app.scale_workflow import ScaleWorkflowPorts
from genai_autoscaler.app.sweeper import SweeperPorts

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer


class Controller(
    ApprovalPorts,
    DispatchPorts,
    ReconcilePorts,
    ScaleWorkflowPorts,
    RoutingWorkflowPorts,
    SweeperPorts,
    ForecastPorts,
    Protocol,
):
    """Every use case's ports at once, and the clock: what a handler is given. AwsController on AWS; the local
    harness, the tests and the simulator assemble their own. A use case names only the ports it uses."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC (simulated time in the local harness)."""
        ...

    @property
    def idempotency(self) -> BasePersistenceLayer:
        """Where the alarm router remembers the events it has handled (Powertools' idempotency table), read and
        written with the controller's own DynamoDB client."""
        ...
