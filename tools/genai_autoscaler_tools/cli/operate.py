"""The operator's commands against a deployed stack: status, history, pause and resume.

Each finds the stack's resources as its functions do: the stack's outputs, and the environment CloudFormation
gave the alarm router (its ControllerSettings), so the policies read are the effective ones, the stack's defaults
and managed endpoints included. Each prints a table a person reads at a glance (rich; no colour when stdout is
not a terminal), or one JSON object with --json. pause and resume record the caller's identity as STS reports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from genai_autoscaler.app.operations import managed_target, managed_targets, pause, resume
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import AlarmSnapshot
from genai_autoscaler.domain.decision.sagemaker_capacity import forecast_floor
from genai_autoscaler.domain.policy import BedrockModelPolicy, SageMakerPolicy, TargetPolicy
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.domain.state import ActionRecord, ObservedCapacity, TargetState
from genai_autoscaler.errors import AutoscalerError, InvalidEvent

from genai_autoscaler_tools.cli.inputs import EXIT_AWS, EXIT_BAD_INPUT, EXIT_OK, CommandFailed

if TYPE_CHECKING:
    from genai_autoscaler.aws.wiring import AwsController

ROUTER = "AlarmRouterFunction"  # the function whose environment holds the controller's settings


def clock() -> datetime:
    """Now, as the commands record and judge it (the tests put the harness's simulated clock here)."""
    return datetime.now(UTC)


@dataclass
class DeployedStack:
    name: str
    outputs: dict[str, str]
    controller: AwsController
    client: Callable[[str], Any]

    def caller(self) -> str:
        """The caller's ARN, as STS authenticated it."""
        return str(self.client("sts").get_caller_identity()["Arn"])


def connect(stack: str, region: str | None) -> DeployedStack:
    """The deployed stack `stack`: its outputs and a controller with its functions' settings.
    Raises CommandFailed (exit 3) when AWS refuses or cannot be reached, or the stack is not there."""
    import boto3
    from genai_autoscaler.aws.wiring import AwsController

    @cache
    def client(service: str) -> Any:
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]

    with aws_errors(f"reading stack {stack}"):
        cloudformation = client("cloudformation")
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        router = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=ROUTER)
        function = router["StackResourceDetail"]["PhysicalResourceId"]
        environment = client("lambda").get_function_configuration(FunctionName=function)["Environment"]
    try:
        settings = ControllerSettings.from_env(environment["Variables"])
    except InvalidEvent as exc:
        raise CommandFailed(EXIT_AWS, [f"stack {stack}: {exc}"]) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return DeployedStack(stack, outputs, AwsController(settings, client=client), client)


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """AWS's refusals and unreachable endpoints as CommandFailed (exit 3), naming what was being done; the
    controller's InvalidEvent (an unknown target, a missing reason) as exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except InvalidEvent as exc:
        raise CommandFailed(EXIT_BAD_INPUT, [str(exc)]) from None
    except (ClientError, BotoCoreError, AutoscalerError) as exc:
        raise CommandFailed(EXIT_AWS, [f"{doing}: {exc}"]) from None


# ---------------------------------------------------------------------------------------------------- status
def target_status(
    deployed: DeployedStack, policy: TargetPolicy, alarms: dict[str, AlarmSnapshot], now: datetime
) -> dict[str, Any]:
    """What `status` says of one target, as plain data (the table and --json show the same)."""
    ctl = deployed.controller
    state = ctl.state.load(policy.target_id)
    last = ctl.state.history(policy.target_id, limit=1)
    status: dict[str, Any] = {
        "target": policy.name,
        "target_id": policy.target_id,
        "kind": policy.kind.value,
        "mode": _mode(policy, state),
        "alarms": {
            spec.signal.value: alarms[name].state.value if name in alarms else "MISSING"
            for spec in alarm_specs(policy)
            for name in [ctl.alarms.alarm_name(spec)]
        },
        "in_flight": (
            {"execution": state.lock.owner, "until": state.lock.expires_at.isoformat()}
            if state.lock_held(now) and state.lock is not None
            else None
        ),
        "last_action": _record(last[0]) if last else None,
    }
    if isinstance(policy, SageMakerPolicy):
        observed = ctl.capacity.observe(policy)
        status["capacity"] = _capacity(policy, observed)
        status["cooldowns"] = _cooldowns(policy, state, now)
        floor = forecast_floor(policy, observed, state, now) if observed is not None else None
        status["forecast"] = (
            {"floor": floor[0], "why": floor[1]}
            if floor is not None
            else {"floor": None, "why": _no_forecast(policy, state)}
        )
    elif isinstance(policy, BedrockModelPolicy):
        route = state.route
        status["route"] = (
            {"kind": "on_demand", "model": policy.model_id, "model_units": None, "hourly_cost_usd": 0.0}
            if route is None
            else {
                "kind": route.kind.value,
                "model": route.model,
                "model_units": route.model_units,
                "hourly_cost_usd": route.hourly_cost_usd,
                "since": route.since.isoformat(),
            }
        )
    return status


def _mode(policy: TargetPolicy, state: TargetState) -> dict[str, Any]:
    if state.pause is not None:
        return {
            "mode": "paused",
            "by": state.pause.by,
            "at": state.pause.at.isoformat(),
            "reason": state.pause.reason,
        }
    if policy.paused:
        return {"mode": "paused", "by": "the policy document", "at": None, "reason": "paused: true"}
    return {"mode": "advisory" if policy.advisory else "acting"}


def _capacity(policy: SageMakerPolicy, observed: ObservedCapacity | None) -> dict[str, Any]:
    limits = {"min": policy.capacity.min, "max": policy.capacity.max}
    if observed is None:
        return {"found": False, **limits}
    scalable = observed.scalable_target
    return {
        "found": True,
        "desired": observed.desired,
        "serving": observed.current,
        "status": observed.status,
        **limits,
        "aas_floor": None if scalable is None else scalable.min_capacity,
    }


def _cooldowns(policy: SageMakerPolicy, state: TargetState, now: datetime) -> dict[str, str]:
    """Each cooldown still running, with when it ends."""
    running = {}
    for name, last, seconds in (
        ("scale_out", state.last_scale_out_at, policy.scale_out.cooldown_seconds),
        ("scale_in", state.last_scale_in_at, policy.scale_in.cooldown_seconds),
    ):
        if last is not None and last + timedelta(seconds=seconds) > now:
            running[name] = (last + timedelta(seconds=seconds)).isoformat()
    return running


def _no_forecast(policy: SageMakerPolicy, state: TargetState) -> str:
    if policy.forecast.mode == "off":
        return "forecast off in the policy"
    if state.forecast is None:
        return "no forecast yet (the forecaster runs hourly once there is a day of history)"
    return state.forecast.stands_aside or "the forecast does not reach past now"


def _record(record: ActionRecord) -> dict[str, Any]:
    return {
        "at": record.at.isoformat(),
        "action": record.action,
        "outcome": record.outcome,
        "from": record.from_capacity,
        "to": record.to_capacity,
        "started_by": _started_by(record),
        "reason": record.reason,
        **({"error": record.error} if record.error else {}),
    }


def _started_by(record: ActionRecord) -> str:
    if record.by:
        return record.by
    if record.execution:
        return f"workflow {record.execution}"
    return "the controller"


def status(stack: str, region: str | None, target: str | None, as_json: bool) -> int:
    deployed = connect(stack, region)
    now = clock()
    ctl = deployed.controller
    with aws_errors(f"reading the status of stack {stack}"):
        policies = [managed_target(ctl, target)] if target is not None else managed_targets(ctl)
        alarms = ctl.alarms.snapshot()
        rows = [target_status(deployed, policy, alarms, now) for policy in policies]
    dashboard = deployed.outputs.get("DashboardUrl")
    if as_json:
        print(json.dumps({"stack": stack, "at": now.isoformat(), "dashboard": dashboard, "targets": rows}))
        return EXIT_OK
    from genai_autoscaler_tools.cli.tables import status_table

    status_table(stack, now, rows, dashboard)
    return EXIT_OK


def history(
    stack: str, region: str | None, target: str, since: datetime | None, limit: int, as_json: bool
) -> int:
    deployed = connect(stack, region)
    ctl = deployed.controller
    with aws_errors(f"reading the history of {target}"):
        policy = managed_target(ctl, target)
        records = [_record(r) for r in ctl.state.history(policy.target_id, limit=limit, since=since)]
    if as_json:
        print(json.dumps({"target": policy.name, "target_id": policy.target_id, "history": records}))
        return EXIT_OK
    from genai_autoscaler_tools.cli.tables import history_table

    history_table(policy.name, records)
    return EXIT_OK


def pause_target(stack: str, region: str | None, target: str, reason: str, as_json: bool) -> int:
    deployed = connect(stack, region)
    with aws_errors(f"pausing {target}"):
        record = pause(deployed.controller, target, deployed.caller(), reason, clock())
    _said(
        {"target": target, "paused": True, **record.model_dump(mode="json")},
        as_json,
        f"{target} paused by {record.by}: the controller leaves it alone until `resume {target}`",
    )
    return EXIT_OK


def resume_target(stack: str, region: str | None, target: str, as_json: bool) -> int:
    deployed = connect(stack, region)
    with aws_errors(f"resuming {target}"):
        by = deployed.caller()
        lifted = resume(deployed.controller, target, by, clock())
    _said(
        {"target": target, "paused": False, "resumed_by": by, "was": lifted.model_dump(mode="json")},
        as_json,
        f"{target} resumed by {by} (paused by {lifted.by}: {lifted.reason}); the controller acts on it "
        "again from its next event",
    )
    return EXIT_OK


def _said(data: dict[str, Any], as_json: bool, line: str) -> None:
    print(json.dumps(data) if as_json else line)
