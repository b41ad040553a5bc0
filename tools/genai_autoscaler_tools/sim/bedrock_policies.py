"""The routing policies a Bedrock replay compares: GenAI Autoscaler's controller, on-demand only, a static
Provisioned Throughput, and the oracle.

`BedrockControllerPolicy` runs the controller's own code, as `policies.ControllerPolicy` does for SageMaker: the
alarms the reconciler creates (`alarm_specs`, tagged as it tags them), `dispatch_alarm` for each state change,
`evaluate_targets` every minute (which call `decide` with the model's `BedrockDemand`), and the routing workflow
as deployed: statemachines/routing.asl.json itself, run by `genai_autoscaler_tools.asl` on the steps of
`app/routing_workflow.py` (`run_routing_step`), with its polling and its drain in simulated time. The steps keep
the controller's state (`TargetState.route`, `last_shift_at`, the lock) as they do in Lambda; the simulator only
supplies what AWS would: the route parameter (callers see it `route_delay_s` later), Bedrock's Provisioned
Throughput (InService `pt_provisioning_s` after its purchase) and CloudWatch. Nothing of the ladder is
re-implemented here.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from genai_autoscaler.app.ports import MetricReader, ProvisionedThroughputs, WorkflowStarter
from genai_autoscaler.app.quotas import bedrock_quotas
from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.bedrock import RouteKind
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.provisioned import ProvisionedModel, ProvisionedModelStatus
from genai_autoscaler.domain.quotas import BEDROCK_SERVICE_CODE, ServiceQuota
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import (
    TAG_TARGET,
    MetricQuery,
    alarm_specs,
)
from genai_autoscaler.errors import ActuationRejected, AutoscalerError

from genai_autoscaler_tools.asl import SUCCEEDED, ExecutionResult, StateMachine, TaskFailed
from genai_autoscaler_tools.memory import (
    FixedLatencyWarmUp,
    MemoryAlarms,
    MemoryCapacity,
    MemoryEndpoints,
    MemoryPolicies,
    MemoryQuotas,
    MemoryRoutes,
    MemoryState,
    RecordingNotifier,
    StaticController,
)
from genai_autoscaler_tools.sim.bedrock_replay import BedrockAction, BedrockWorld, Route, RoutingPolicy
from genai_autoscaler_tools.sim.bedrock_service import Destination, Kind
from genai_autoscaler_tools.sim.controller_alarms import ControllerAlarms, SimulationError

STACK = "sim"
REGION, ACCOUNT = "us-east-1", "000000000000"
ROUTING_WORKFLOW = Path(__file__).resolve().parents[3] / "statemachines" / "routing.asl.json"
ROUTING_STEPS = "routing-steps"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}"
PUBLISH = "arn:aws:states:::sns:publish"
PUBLISH_AND_WAIT = "arn:aws:states:::sns:publish.waitForTaskToken"
_KIND = {
    RouteKind.ON_DEMAND: Kind.ON_DEMAND,
    RouteKind.PROFILE: Kind.PROFILE,
    RouteKind.GLOBAL_PROFILE: Kind.GLOBAL_PROFILE,
    RouteKind.PROVISIONED: Kind.PROVISIONED,
}


# ------------------------------------------------------------------------------------------ what AWS supplies


@dataclass
class _SimRoutes(MemoryRoutes):
    """The route parameter: what is published reaches callers `route_delay_s` later."""

    world: BedrockWorld | None = None

    def publish(self, model_id: str, route: PublishedRoute) -> None:
        super().publish(model_id, route)
        assert self.world is not None
        settings = self.world.target.bedrock
        kinds = {
            route.target: Kind.ON_DEMAND,
            settings.cross_region_profile: Kind.PROFILE,
            settings.global_profile: Kind.GLOBAL_PROFILE,
        }
        overflow = tuple(kinds[i] for i in route.overflow if i in kinds)
        self.world.publish(
            _KIND[route.kind], route.model_id, route.service_tier == "priority", overflow=overflow
        )


@dataclass
class SimProvisionedThroughputs(ProvisionedThroughputs):
    """Bedrock's Provisioned Throughput in the simulated account: Creating for `pt_provisioning_s` after the
    purchase, then InService; billed (by the world) from the purchase to the deletion."""

    world: BedrockWorld
    models: dict[str, ProvisionedModel] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def create(
        self,
        model_id: str,
        model_units: int,
        name: str,
        commitment: str | None,
        client_token: str,
        tags: dict[str, str],
    ) -> str:
        if client_token in self.by_token:
            return self.by_token[client_token]
        world = self.world
        # Numbered by purchase, never reused (a deleted one leaves `models`, not the bill)
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/{len(self.by_token) + 1:012x}"
        created = world.moment(world.now)
        term = {"OneMonth": 30, "SixMonths": 182}.get(commitment or "")
        self.models[arn] = ProvisionedModel(
            arn=arn,
            name=name,
            model_arn=model_id
            if model_id.startswith("arn:")
            else f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
            model_units=model_units,
            status=ProvisionedModelStatus.CREATING,
            commitment=commitment,  # OneMonth | SixMonths, as the workflow passes
            commitment_expires_at=None if term is None else created + timedelta(days=term),
            created_at=created,
        )
        self.by_token[client_token] = arn
        self.tags[arn] = dict(tags)
        world.buy(arn, model_units, world.now + world.model.pt_provisioning_s)
        return arn

    def describe(self, arn: str) -> ProvisionedModel | None:
        model = self.models.get(arn) or next((m for m in self.models.values() if m.name == arn), None)
        if model is None:
            return None
        record = self.world.provisioned[model.arn]
        ready = self.world.now >= record.in_service_at
        status = ProvisionedModelStatus.IN_SERVICE if ready else ProvisionedModelStatus.CREATING
        return model.model_copy(update={"status": status})

    def delete(self, arn: str) -> None:
        model = self.models.get(arn)
        if model is None:
            return
        now = self.world.moment(self.world.now)
        if model.commitment_expires_at is not None and now < model.commitment_expires_at:
            raise ActuationRejected(
                f"{arn}: a committed Provisioned Throughput cannot be deleted before its term"
            )
        del self.models[arn]
        self.world.delete(arn)

    def created_by(self, tag_key: str, tag_value: str) -> list[ProvisionedModel]:
        return [
            model.model_copy(update={"target_id": self.tags[arn].get(TAG_TARGET)})
            for arn, model in self.models.items()
            if self.tags[arn].get(tag_key) == tag_value
        ]

    def model_units_in_use(self, committed: bool) -> int:
        return sum(m.model_units for m in self.models.values() if m.committed == committed)


@dataclass
class _BedrockMetrics(MetricReader):
    world: BedrockWorld

    def series(self, query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        world = self.world
        called = dict(query.dimensions).get("ModelId", world.target.model_id)
        suffix = "" if called == world.target.model_id else f"@{called}"  # as the replay publishes them
        points = world.cloudwatch.datapoints(
            f"{query.metric_name}/{query.stat}{suffix}",
            query.period,
            world.seconds(start),
            world.seconds(end),
            world.now,
        )
        return [(world.moment(at), value) for at, value in points]

    def published(self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> bool:
        return name == "EstimatedTPMQuotaUsage" and self.world.model.quota_usage_metric


@dataclass
class _RoutingWorkflows(WorkflowStarter):
    """Step Functions: an execution name starts once; each runs routing.asl.json on simulated time."""

    policy: BedrockControllerPolicy
    started: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, name: str, request: dict[str, Any], workflow: Workflow = Workflow.SCALE) -> str | None:
        if workflow is not Workflow.ROUTING:
            raise SimulationError(f"a Bedrock model's plan started the {workflow} workflow")
        if name not in self.started:
            self.started[name] = request
            self.policy.world.run(self.policy.execute(name, request))
        return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-routing:{name}"

    def running(self, name: str) -> bool | None:
        return None  # a simulated execution always reaches its end, which releases its lock


# ------------------------------------------------------------------------------------------ the controller


class BedrockControllerPolicy(RoutingPolicy):
    """GenAI Autoscaler's controller, its code unchanged, on simulated Bedrock (see the module's doc)."""

    name = "controller"

    def __init__(self, target: BedrockModelPolicy):
        self.target = target
        self.executions: list[tuple[str, ExecutionResult]] = []

    def attach(self, world: BedrockWorld) -> None:
        self.world = world
        world.publishing = True
        settings = ControllerSettings(stack_name=STACK)
        target = self.target
        self.alarm_directory = MemoryAlarms(prefix=settings.alarm_prefix)
        self.provisioned = SimProvisionedThroughputs(world)
        self.ctl = StaticController(
            settings=settings,
            policies=MemoryPolicies({"version": 1, "targets": [target.model_dump(mode="json")]}),
            capacity=MemoryCapacity(),
            state=MemoryState(),
            alarms=self.alarm_directory,
            metrics=_BedrockMetrics(world),
            notifier=RecordingNotifier(),
            workflows=_RoutingWorkflows(self),
            endpoints=MemoryEndpoints(),
            warm_up=FixedLatencyWarmUp(),
            clock=lambda: world.moment(world.now),
            routes=_SimRoutes(world=world),
            provisioned=self.provisioned,
            quotas=self._service_quotas(),
        )
        # The reconciler's alarms: with the quota as the controller reads it (Service Quotas where the policy
        # names a code, else the policy's), on EstimatedTPMQuotaUsage where Bedrock publishes it.
        token_quota = bedrock_quotas(self.ctl, target).tokens_per_minute.figure
        # Tagged: the token-quota alarm's metric math is recognised by its tags.
        self.alarms = ControllerAlarms(self.ctl, self.alarm_directory, world.cloudwatch, world, tagged=True)
        for spec in alarm_specs(target, token_quota, world.model.quota_usage_metric):
            self.alarms.add(spec)
            if spec.summed_metrics:
                world.math[f"{spec.metric_name}/{spec.stat}"] = spec
        self.machine = self._routing_workflow()
        world.every(60.0, self.alarms.evaluate)

    def _service_quotas(self) -> MemoryQuotas | None:
        """Service Quotas as the account has it: the model's on-demand TPM quota under the policy's code."""
        code = self.target.bedrock.tokens_per_minute_quota_code
        if code is None:
            return None
        quota = ServiceQuota(
            BEDROCK_SERVICE_CODE,
            code,
            "On-demand InvokeModel tokens per minute",
            self.world.quotas.on_demand.tokens_per_minute,
            True,
        )
        return MemoryQuotas({(BEDROCK_SERVICE_CODE, code): quota})

    def execute(self, name: str, request: dict[str, Any]) -> Generator[float, None, None]:
        """One execution of routing.asl.json, on simulated time; its outcome is recorded as an action."""
        plan = request["plan"]
        started, started_at = self.world.now, self.ctl.now()
        result = yield from self.machine.run(request, name)
        self.executions.append((name, result))
        if result.error == "States.Runtime":
            raise SimulationError(f"the routing workflow {name} could not run: {result.cause}")
        self.world.actions.append(_action(plan, started, result, started_at))

    def _routing_workflow(self) -> StateMachine:
        if not ROUTING_WORKFLOW.is_file():
            raise SimulationError(
                f"the simulator runs the routing workflow from the repository's {ROUTING_WORKFLOW}, which is not "
                "there: run it from a checkout (pip install -e .)"
            )
        ctl = self.ctl

        def publish(parameters: dict[str, Any], token: str) -> dict[str, str]:
            ctl.notifier.publish(parameters["Subject"], parameters["Message"])
            return {"MessageId": token}

        def unanswered(parameters: dict[str, Any], token: str) -> dict[str, Any]:
            # Nobody approves a commitment in a replay: the request times out, which counts as rejected.
            ctl.notifier.publish(parameters["Subject"], parameters["Message"])
            raise TaskFailed("States.Timeout", "no one answers an approval request in a simulation")

        return StateMachine.from_file(
            ROUTING_WORKFLOW,
            {
                "RoutingStepsFunctionArn": ROUTING_STEPS,
                "NotificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}",
            },
            tasks={
                ROUTING_STEPS: lambda payload: run_routing_step(
                    ctl, payload["step"], payload["state"], ctl.now()
                ),
                PUBLISH: publish,
                PUBLISH_AND_WAIT: unanswered,
            },
            catchable=(AutoscalerError,),
        )


def _action(
    plan: dict[str, Any], started: float, result: ExecutionResult, started_at: datetime
) -> BedrockAction:
    action = plan["action"]
    units = plan.get("model_units")
    wanted = re.search(r"demand needs (\d+)", plan.get("reason", ""))
    bought = f"{units} units" + (
        f" (demand asked for {wanted[1]})" if wanted and int(wanted[1]) != units else ""
    )
    grown = (result.output or {}).get("grown") if isinstance(result.output, dict) else None
    if grown:  # replaced by a larger purchase while it provisioned (app.routing_workflow._grown)
        minutes = int((started + (datetime.fromisoformat(grown["at"]) - started_at).total_seconds()) // 60)
        bought += f", grown to {grown['to_units']} at {minutes // 60}:{minutes % 60:02d}"
    detail = {
        "shift_to_profile": plan.get("route_to") or "",
        "shift_to_priority_tier": "Priority tier",
        "shift_to_provisioned": bought,
        "revert_routing": "to on-demand",
    }.get(action, "")
    visited = result.visited
    if result.status != SUCCEEDED:
        outcome = "failed"
    elif "PublishRoute" in visited and "Abandon" not in visited:
        outcome = ""
    elif "NotApproved" in visited:
        outcome = "not approved"
    else:
        outcome = "superseded" if "Superseded" in visited else "not carried out"
    return BedrockAction(started, action, f"{detail} ({outcome})" if outcome else detail)


# ------------------------------------------------------------------------------------------ the baselines


class OnDemandOnly(RoutingPolicy):
    """Callers call the model itself, whatever happens."""

    name = "on_demand_only"

    def attach(self, world: BedrockWorld) -> None:
        self.world = world


class StaticProvisioned(RoutingPolicy):
    """Provisioned Throughput bought before the start, InService at the start, every request sent to it."""

    name = "static_pt"
    ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/static"

    def __init__(self, units: int):
        if units < 1:
            raise ValueError(f"a static Provisioned Throughput needs at least 1 model unit, got {units}")
        self.units = units

    def attach(self, world: BedrockWorld) -> None:
        self.world = world
        world.buy(self.ARN, self.units, 0.0)
        world.publish(Kind.PROVISIONED, self.ARN, delay=0.0)
        world.record_action("buy Provisioned Throughput", f"{self.units} units, kept throughout")


class OraclePolicy(RoutingPolicy):
    """Perfect foresight: each attempt goes to the first of the model on-demand, the geographic profile and the
    global profile (those the policy names) that has room, else to the hour's Provisioned Throughput, bought
    ahead for the hour (InService at its start, deleted at its end) at `units[hour]` (0: none)."""

    name = "oracle"

    def __init__(self, units: list[int], period_s: float = 3600.0):
        self.units, self.period_s = list(units), period_s

    def attach(self, world: BedrockWorld) -> None:
        self.world = world
        self._hour = -1
        self._route: Route | None = None
        free = [d for d in (world.on_demand, world.profile, world.global_profile) if d is not None]
        self.free = tuple(free)
        for hour, units in enumerate(self.units):
            if units > 0:
                start = hour * self.period_s
                world.now = start
                world.buy(self._arn(hour), units, start, min(world.end_s, start + self.period_s))
        world.now = 0.0
        previous = 0
        for hour, units in enumerate(self.units):
            if units != previous:
                world.actions.append(_bought(hour * self.period_s, units))
            previous = units

    def _arn(self, hour: int) -> str:
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/oracle-{hour}"

    def route(self, now: float) -> Route:
        hour = int(now // self.period_s)
        if hour != self._hour or self._route is None:
            self._hour = hour
            extra: tuple[Destination, ...] = ()
            if 0 <= hour < len(self.units) and self.units[hour] > 0:
                extra = (self.world.provisioned_destination(self._arn(hour), now),)
            self._route = Route(self.free + extra)
        return self._route


def _bought(at_s: float, units: int) -> BedrockAction:
    return BedrockAction(at_s, "provision", f"{units} units for the hour" if units else "none")
