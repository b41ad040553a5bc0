"""The operator's commands against a deployed stack: status, history, pause, resume, approvals, approve, reject,
and planned events (event start, list, cancel).

Each finds the stack's resources as its functions do: the stack's outputs, and the environment CloudFormation
gave the alarm router (its ControllerSettings), so the policies read are the effective ones, the stack's defaults
and managed endpoints included. Each prints a table a person reads at a glance (rich; no colour when stdout is
not a terminal), or one JSON object with --json. pause and resume record the caller's identity as STS reports it;
approve and reject send the answer to the stack's approval function signed with the caller's own credentials.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from genai_autoscaler.app.operations import cancel_hold, managed_document, managed_target, pause, resume
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import AlarmSnapshot
from genai_autoscaler.domain.decision.sagemaker_capacity import forecast_floor
from genai_autoscaler.domain.decision.sagemaker_scale_in import stabilization
from genai_autoscaler.domain.endpoint_routing import routing_advice
from genai_autoscaler.domain.guardrails import MAX_HOLD
from genai_autoscaler.domain.notifications import APPROVAL_TOKEN_LEAD
from genai_autoscaler.domain.plan import Action
from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    PolicyError,
    SageMakerPolicy,
    SageMakerVariantPolicy,
    TargetPolicy,
)
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.domain.state import ActionRecord, ObservedCapacity, TargetState
from genai_autoscaler.errors import AutoscalerError, InvalidEvent

from genai_autoscaler_tools.cli.inputs import (
    EXIT_AWS,
    EXIT_BAD_INPUT,
    EXIT_INVALID_POLICIES,
    EXIT_OK,
    CommandFailed,
)

if TYPE_CHECKING:
    from genai_autoscaler.aws.wiring import AwsController

ROUTER = "AlarmRouterFunction"  # the function whose environment holds the controller's settings
# States of statemachines/routing.asl.json that `approvals` reads an execution's history for.
REQUEST_APPROVAL, AWAIT_APPROVAL = "RequestApproval", "AwaitApproval"


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


def output(deployed: DeployedStack, key: str) -> str:
    """One of the stack's outputs; CommandFailed (exit 3) naming it when the stack lacks it (an older template)."""
    value = deployed.outputs.get(key)
    if not value:
        raise CommandFailed(
            EXIT_AWS, [f"stack {deployed.name} has no {key} output: deploy this version of template.yaml"]
        )
    return value


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """AWS's refusals and unreachable endpoints as CommandFailed (exit 3), naming what was being done; the
    controller's InvalidEvent (an unknown target, a missing reason) as exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except PolicyError as exc:
        raise CommandFailed(
            EXIT_INVALID_POLICIES, [f"the published policy document is invalid: {exc}"]
        ) from None
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
        strategy = (
            ctl.capacity.routing(policy)
            if isinstance(policy, SageMakerVariantPolicy) and observed is not None
            else None
        )
        status["routing"] = (
            None if strategy is None else {"strategy": strategy, "advice": routing_advice(strategy)}
        )
        status["concurrency_reading"] = (
            _concurrency_reading(deployed, policy, now)
            if isinstance(policy, SageMakerVariantPolicy)
            and observed is not None
            and policy.signals.concurrency_per_unit is not None
            else None
        )
        status["cooldowns"] = _cooldowns(policy, state, now)
        status["hold"] = _hold(state, now)
        status["events"] = [event.model_dump(mode="json") for event in policy.events]
        floor = forecast_floor(policy, observed, state, now) if observed is not None else None
        status["forecast"] = (
            {"floor": floor[0], "why": floor[1]}
            if floor is not None
            else {"floor": None, "why": _no_forecast(policy, state)}
        )
        # How long every signal must stay OK before a scale-in now: a trim's, and a fall's (which may be shorter:
        # the window the target's lulls ask for), and what its history measured.
        measured = state.scale_in_window
        status["scale_in_window"] = {
            "trim_seconds": math.ceil(stabilization(policy, state, now, fall=False).total_seconds()),
            "fall_seconds": math.ceil(stabilization(policy, state, now, fall=True).total_seconds()),
            "measured": None if measured is None else measured.model_dump(mode="json"),
        }
    elif isinstance(policy, BedrockModelPolicy):
        route = state.route
        status["route"] = (
            {
                "kind": "on_demand",
                "model": policy.model_id,
                "service_tier": "default",
                "model_units": None,
                "hourly_cost_usd": 0.0,
            }
            if route is None
            else {
                "kind": route.kind.value,
                "model": route.model,
                "service_tier": route.service_tier.value,
                "model_units": route.model_units,
                "hourly_cost_usd": route.hourly_cost_usd,
                "since": route.since.isoformat(),
            }
        )
    return status


# A measured reading this far from the simulator's (in standard deviations of a Poisson count) is worth a word: at
# 1.0 instead of 1.645 the example threshold keeps 97.97% of the SLO on the README's DeepSeek-R1 day, not 99.96%.
READING_DIFFERS_BY = 0.3


def _concurrency_reading(
    deployed: DeployedStack, policy: SageMakerVariantPolicy, now: datetime
) -> dict[str, Any] | None:
    """How the variant's concurrency Maximum read against its load over CloudWatch's last three hours of 10 s
    datapoints (`metric_reads.measure_concurrency_peak`), and what that means for its threshold; None when there
    was too little traffic to tell. A refused read is said, and status goes on."""
    from botocore.exceptions import BotoCoreError

    from genai_autoscaler_tools.metric_reads import (
        HIGH_RESOLUTION_RETENTION,
        equivalent_threshold,
        measure_concurrency_peak,
    )
    from genai_autoscaler_tools.sim.endpoint import PEAK_SIGMAS

    try:
        peak = measure_concurrency_peak(
            deployed.client("cloudwatch"), policy, now - HIGH_RESOLUTION_RETENTION, now, now
        )
    except (AutoscalerError, BotoCoreError) as exc:
        return {"peak_sigmas": None, "advice": f"was not measured for how its concurrency reads: {exc}"}
    if peak is None:
        return None
    advice = None
    if not peak.usable:
        advice = peak.below_the_mean()
    elif abs(peak.sigmas - PEAK_SIGMAS) >= READING_DIFFERS_BY:
        threshold = policy.signals.concurrency_per_unit
        assert threshold is not None  # only a target that watches concurrency is measured
        nearer = peak.sigmas < PEAK_SIGMAS
        where, load = ("nearer the", "higher") if nearer else ("further above its", "lower")
        held = equivalent_threshold(threshold, PEAK_SIGMAS, peak.sigmas)
        advice = (
            f"reads its concurrency Maximum {where} mean than replays assume ({peak.sigmas:.2f} standard "
            f"deviations against {PEAK_SIGMAS:g}, at {peak.instances[0]:.0f} to {peak.instances[1]:.0f} "
            f"instances): its threshold of {threshold:g} is reached at a {load} load than `simulate` and `tune` "
            f"show. The load it stands for in replays reads {held:.1f} here: set signals.concurrency_per_unit to "
            f"{held:.1f} to hold it, or replay and tune its traffic with --endpoint-param "
            f"concurrency_peak_sigmas={peak.sigmas:.2f}"
        )
    return {
        "peak_sigmas": round(peak.sigmas, 3),
        "minutes": peak.minutes,
        "instances": list(peak.instances),
        "advice": advice,
    }


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


def _hold(state: TargetState, now: datetime) -> dict[str, Any] | None:
    """What holds the target now: a planned event's floor, or the hold after a change by hand."""
    event = state.event_floor(now)
    if event is not None:
        return {
            "kind": "event",
            "floor": event.capacity,
            "until": event.until.isoformat(),
            "reason": event.reason,
        }
    if (held_until := state.held_by_hand_until(now)) is not None:
        return {"kind": "changed by hand", "floor": None, "until": held_until.isoformat(), "reason": ""}
    return None


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
        policies = [managed_target(ctl, target)] if target is not None else managed_document(ctl).targets
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
        record, untold = pause(deployed.controller, target, deployed.caller(), reason, clock())
    _said(
        {"target": target, "paused": True, **record.model_dump(mode="json")},
        as_json,
        f"{target} paused by {record.by}: the controller leaves it alone until `resume {target}`",
        untold,
    )
    return EXIT_OK


def resume_target(stack: str, region: str | None, target: str, as_json: bool) -> int:
    deployed = connect(stack, region)
    with aws_errors(f"resuming {target}"):
        by = deployed.caller()
        lifted, untold = resume(deployed.controller, target, by, clock())
    _said(
        {"target": target, "paused": False, "resumed_by": by, "was": lifted.model_dump(mode="json")},
        as_json,
        f"{target} resumed by {by} (paused by {lifted.by}: {lifted.reason}); the controller acts on it "
        "again from its next event",
        untold,
    )
    return EXIT_OK


def _said(data: dict[str, Any], as_json: bool, line: str, untold: str | None = None) -> None:
    """What was done, on stdout; that the team was not told of it (it stands), on stderr."""
    print(json.dumps(data | ({"untold": untold} if untold else {})) if as_json else line)
    if untold:
        print(f"warning: {untold}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- approvals
def pending_approvals(deployed: DeployedStack) -> list[dict[str, Any]]:
    """The commitments routing workflows wait on a person for: the terms RequestApproval stated, the token
    AwaitApproval published, read from each running execution's history."""
    sfn = deployed.client("stepfunctions")
    pending = []
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=output(deployed, "RoutingWorkflowArn"), statusFilter="RUNNING"
    )
    for page in pages:
        for execution in page["executions"]:
            waiting = _waiting_on_approval(sfn, execution["executionArn"])
            if waiting is not None:
                pending.append(waiting)
    return pending


def _waiting_on_approval(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The approval an execution waits on now (its terms and task token); None when it waits on none."""
    history = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=1000)
    events = sorted(history["events"], key=lambda e: e["id"], reverse=True)  # newest first, whoever serves it
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    if not entered or entered[0] != AWAIT_APPROVAL:
        return None
    token = terms = None
    for event in events:  # newest first: AwaitApproval's last publish, then what RequestApproval stated
        scheduled = event.get("taskScheduledEventDetails")
        if token is None and scheduled is not None:
            message = json.loads(scheduled["parameters"])["Message"]
            token = message.rsplit(APPROVAL_TOKEN_LEAD, 1)[-1]
        exited = event.get("stateExitedEventDetails")
        if exited is not None and exited["name"] == REQUEST_APPROVAL:
            terms = json.loads(exited["output"])["approval_request"].get("terms")
            break
    if token is None or terms is None:
        return None
    return {**terms, "execution_arn": execution_arn, "task_token": token}


def approvals(stack: str, region: str | None, as_json: bool) -> int:
    deployed = connect(stack, region)
    with aws_errors(f"reading the routing workflows of stack {stack}"):
        pending = pending_approvals(deployed)
    rows = [{k: v for k, v in p.items() if k != "task_token"} for p in pending]
    if as_json:
        print(json.dumps({"stack": stack, "approvals": rows}))
        return EXIT_OK
    from genai_autoscaler_tools.cli.tables import approvals_table

    approvals_table(stack, rows)
    return EXIT_OK


def answer_approval(
    stack: str, region: str | None, execution: str, approved: bool, reason: str | None, as_json: bool
) -> int:
    """approve / reject: the answer goes to the stack's approval function, signed with the caller's own
    credentials, so that the identity AWS authenticates is the one recorded."""
    deployed = connect(stack, region)
    with aws_errors(f"reading the routing workflows of stack {stack}"):
        pending = {p["execution"]: p for p in pending_approvals(deployed)}
    request = pending.get(execution)
    if request is None:
        waiting = ", ".join(sorted(pending)) or "none"
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"no approval waits for execution {execution!r}; waiting: {waiting}"]
        )
    body: dict[str, Any] = {
        "target_id": request["target_id"],
        "execution": execution,
        "task_token": request["task_token"],
        "approved": approved,
        "commitment": request["commitment"],
        "model_units": request["model_units"],
    }
    if reason is not None:
        body["reason"] = reason
    url = output(deployed, "ApprovalUrl")
    with aws_errors(f"answering {execution}"):
        status, answered = send_signed(url, body, region)
    if status != 200:
        # 400 and 409 are the answer's own trouble (a stale token, a request already answered); 403 and 5xx AWS's.
        code = EXIT_BAD_INPUT if status in (400, 409) else EXIT_AWS
        raise CommandFailed(
            code, [f"the approval function answered {status}: {answered.get('error', answered)}"]
        )
    verb = "approved" if approved else "rejected"
    cost = f"{request['model_units']} model unit(s), {request['commitment']}, ${request['hourly_cost_usd']:,.2f}/h"
    _said(answered, as_json, f"{execution} {verb} by {answered.get('by')}: {request['target']} ({cost})")
    return EXIT_OK


def send_signed(url: str, body: dict[str, Any], region: str | None) -> tuple[int, dict[str, Any]]:
    """POST `body` to a function URL with AuthType AWS_IAM, signed (SigV4, service lambda) with the caller's
    credentials; returns the status and the JSON answer."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session(region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        raise CommandFailed(EXIT_AWS, ["no AWS credentials to sign the answer with"])
    found = re.search(r"\.lambda-url\.([a-z0-9-]+)\.on\.aws", url)
    signing_region = found[1] if found else session.region_name
    if signing_region is None:
        raise CommandFailed(EXIT_AWS, [f"no region to sign for {url}: pass --region"])
    request = AWSRequest(
        method="POST", url=url, data=json.dumps(body), headers={"content-type": "application/json"}
    )
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", signing_region).add_auth(request)
    return deliver(request)


def deliver(request: Any) -> tuple[int, dict[str, Any]]:
    """Send a signed request (the local harness serves function URLs in its place)."""
    from botocore.httpsession import URLLib3Session

    response = URLLib3Session().send(request.prepare())
    try:
        answered = json.loads(response.content or b"{}")
    except ValueError:
        answered = {"error": response.content.decode(errors="replace")[:500]}
    return response.status_code, answered if isinstance(answered, dict) else {"answer": answered}


# ---------------------------------------------------------------------------------------------------- events
def event_start(
    stack: str,
    region: str | None,
    target: str,
    capacity: int,
    until: datetime | None,
    duration: timedelta | None,
    reason: str,
    as_json: bool,
) -> int:
    """A planned scale through the scale workflow: `capacity` for the window, held until its end; afterwards
    the controller brings it back to what the load needs (its usual scale-in, never below that)."""
    deployed = connect(stack, region)
    now = clock()
    end = until if until is not None else now + (duration or timedelta())
    if end <= now:
        raise CommandFailed(EXIT_BAD_INPUT, [f"the event must end in the future, not at {end.isoformat()}"])
    if end - now > MAX_HOLD:
        raise CommandFailed(EXIT_BAD_INPUT, [f"an event holds a target {MAX_HOLD.days} days at most"])
    ctl = deployed.controller
    with aws_errors(f"starting an event on {target}"):
        # Where the scale workflow looks for it: the document and the stack's ManagedEndpoints, not the tags.
        document = ctl.settings.effective_policies(ctl.policies.load())
        policy = document.by_name(target) or document.find(target)
        if policy is None:
            tagged = managed_target(
                ctl, target
            )  # raises, naming the managed targets, when it is none of them
            raise CommandFailed(
                EXIT_BAD_INPUT,
                [
                    f"{tagged.name} is managed by its tag only: a planned scale needs it in the policy document "
                    "(or the stack's ManagedEndpoints), where the scale workflow finds it"
                ],
            )
    if not isinstance(policy, SageMakerPolicy):
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"{policy.name} is a Bedrock model: events scale SageMaker targets"]
        )
    bounds = policy.capacity
    if not bounds.min <= capacity <= bounds.max:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [f"--capacity {capacity} is outside {policy.name}'s capacity [{bounds.min}, {bounds.max}]"],
        )
    request = {
        "target": policy.name,
        "desired_capacity": capacity,
        "reason": reason,
        "hold_minutes": math.ceil((end - now).total_seconds() / 60),
    }
    name = f"event-{re.sub(r'[^A-Za-z0-9_-]+', '-', policy.name)[:40]}-{now:%Y%m%dT%H%M%S}"
    with aws_errors(f"starting an event on {policy.name}"):
        started = deployed.client("stepfunctions").start_execution(
            stateMachineArn=output(deployed, "ScaleWorkflowArn"), name=name, input=json.dumps(request)
        )
    _said(
        {"execution": name, "execution_arn": started["executionArn"], **request},
        as_json,
        f"{name}: {policy.name} to {capacity} until {end.isoformat(timespec='minutes')} ({reason}); "
        f"`event list` follows it",
    )
    return EXIT_OK


def planned_events(deployed: DeployedStack, limit: int, scanned: int = 1000) -> list[dict[str, Any]]:
    """The newest `limit` executions of the scale workflow started for a planned event (their input a
    PlannedScale), looked for among the newest `scanned` executions (ListExecutions lists the newest first).
    Those the controller started (named after their action) are passed over without reading their input."""
    sfn = deployed.client("stepfunctions")
    controllers = tuple(f"{action.value}-" for action in Action)
    found: list[dict[str, Any]] = []
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=output(deployed, "ScaleWorkflowArn"), PaginationConfig={"MaxItems": scanned}
    )
    executions = sorted(
        (e for page in pages for e in page["executions"]), key=lambda e: e["startDate"], reverse=True
    )
    for execution in executions:
        if execution["name"].startswith(controllers):
            continue
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            request = json.loads(described.get("input") or "{}")
        except ValueError:
            continue
        if not isinstance(request, dict) or "desired_capacity" not in request or "plan" in request:
            continue
        found.append(
            {
                "execution": execution["name"],
                "status": execution["status"],
                "started": execution["startDate"].astimezone(UTC).isoformat(),
                **{key: request.get(key) for key in ("target", "desired_capacity", "reason", "hold_minutes")},
            }
        )
        if len(found) == limit:
            break
    return found


def event_list(stack: str, region: str | None, limit: int, as_json: bool) -> int:
    deployed = connect(stack, region)
    now = clock()
    ctl = deployed.controller
    with aws_errors(f"reading the events of stack {stack}"):
        events = planned_events(deployed, limit)
        holds = {
            policy.name: hold
            for policy in managed_document(ctl).targets
            if (hold := _hold(ctl.state.load(policy.target_id), now))
        }
    if as_json:
        print(json.dumps({"stack": stack, "events": events, "holds": holds}))
        return EXIT_OK
    from genai_autoscaler_tools.cli.tables import events_table

    events_table(stack, events, holds)
    return EXIT_OK


def event_cancel(stack: str, region: str | None, target: str, as_json: bool) -> int:
    deployed = connect(stack, region)
    with aws_errors(f"cancelling the hold on {target}"):
        by = deployed.caller()
        until, untold = cancel_hold(deployed.controller, target, by, clock())
    _said(
        {"target": target, "held_until": until.isoformat(), "lifted_by": by},
        as_json,
        f"the hold on {target} (until {until.isoformat(timespec='minutes')}) is lifted by {by}; the controller "
        "decides for it again from its next event",
        untold,
    )
    return EXIT_OK
