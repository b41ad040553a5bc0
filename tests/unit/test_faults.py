"""The scale workflow under faults: statemachines/scale.asl.json run by the ASL interpreter on in-memory ports,
with each AWS call the steps make failing once (transient: the workflow's Retry must converge) or every time
(lasting: the execution must end in a safe state, and say so).

`-s` prints the fault matrix: call x transient/lasting -> the path the execution ended on and what it left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from genai_autoscaler.app import locks
from genai_autoscaler.app.dispatch import ScaleRequest
from genai_autoscaler.app.routing_workflow import run_routing_step
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler.domain.bedrock import BedrockDemand, BedrockRoute, RouteKind, bought
from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, decide
from genai_autoscaler.domain.plan import Action, Actuation, Plan
from genai_autoscaler.domain.provisioned import purchase_prefix
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.state import TargetState
from genai_autoscaler.errors import AutoscalerError, TransientAwsError
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_tools.asl import ExecutionResult, StateMachine, TaskFailed, run_to_end
from genai_autoscaler_tools.memory import MemoryRoutes, StaticController, memory_controller

from tests.unit.bedrock_fixtures import MODEL, PROVISIONING
from tests.unit.builders import NOW, observed, variant
from tests.unit.test_bedrock_ladder import throttles
from tests.unit.test_routing_workflow import DEMAND, PROFILE
from tests.unit.test_routing_workflow import TARGET_ID as ROUTED
from tests.unit.test_routing_workflow import policy as routing_policy

SCALE_WORKFLOW = Path(__file__).resolve().parents[2] / "statemachines" / "scale.asl.json"
TARGET = "variant/llm-prod/AllTraffic"
POLICY = variant(warm_up={"count": 2, "concurrency": 1})

# Each AWS call the scale workflow's steps make, by the port method that makes it.
CALLS = {
    "ssm:GetParameter": ("policies", "load"),
    "sagemaker:Describe*": ("capacity", "observe"),
    "sagemaker:UpdateEndpointWeightsAndCapacities": ("capacity", "set_capacity"),
    "application-autoscaling:RegisterScalableTarget": ("capacity", "set_floor"),
    "dynamodb:GetItem": ("state", "load"),
    "dynamodb:TransactWriteItems": ("state", "update"),
    "sagemaker:InvokeEndpoint (warm-up)": ("warm_up", "invoke"),
    "sns:Publish": ("notifier", "publish"),
}
MATRIX: list[tuple[str, str, str, str, str]] = []


@dataclass
class Outcome:
    result: ExecutionResult
    ctl: StaticController

    @property
    def notes(self) -> list[tuple[str, str]]:
        published: list[tuple[str, str]] = self.ctl.notifier.published  # type: ignore[attr-defined]
        return published


class Fault:
    """The port method `fault` (port, method) failing for `times` calls (every call: None) once `after` calls
    have gone through: throttled, as a Lambda step reports it (TransientAwsError), or, for the notifier, as the
    SNS integration reports it to Step Functions. `calls` counts the calls; `heal` puts the method back."""

    def __init__(self, ctl: StaticController, fault: tuple[str, str], times: int | None, after: int = 0):
        port, method = fault
        self.target, self.method = getattr(ctl, port), method
        self.original = getattr(self.target, method)
        self.calls = 0

        def fails(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls > after and (times is None or self.calls <= after + times):
                message = f"{method}: throttled (injected, call {self.calls})"
                raise (
                    TaskFailed("SNS.ThrottledException", message)
                    if port == "notifier"
                    else TransientAwsError(message)
                )
            return self.original(*args, **kwargs)

        setattr(self.target, method, fails)

    def heal(self) -> None:
        setattr(self.target, self.method, self.original)


def scale_out(
    actuation: Actuation, fault: tuple[str, str] | None, times: int | None, after: int = 0
) -> Outcome:
    """A scale-out from 2 to 4 (a count set, or a floor raised), run to its end with `fault` injected."""
    clock = SimClock(NOW)
    floor = (1, 8) if actuation is Actuation.RAISE_FLOOR else None
    ctl = memory_controller(
        {"targets": [POLICY.model_dump(mode="json")]}, {TARGET: observed(2, floor=floor)}, clock=clock.now
    )
    plan = Plan(
        action=Action.SCALE_OUT,
        target=POLICY.name,
        target_id=TARGET,
        kind="sagemaker_variant",
        reason="concurrency 12 (threshold 4)",
        decided_at=NOW,
        current_capacity=2,
        desired_capacity=4,
        actuation=actuation,
        observed_floor=1 if floor else None,
    )
    injected = Fault(ctl, fault, times, after) if fault is not None else None
    result = execute(
        SCALE_WORKFLOW, run_step, ctl, clock, ScaleRequest(plan=plan, policy=POLICY.model_dump(mode="json"))
    )
    if injected is not None:
        injected.heal()
    return Outcome(result, ctl)


def execute(
    definition: Path, steps: Any, ctl: StaticController, clock: SimClock, request: ScaleRequest
) -> ExecutionResult:
    """Run the state machine at `definition` to its end on simulated time: its Lambda steps `steps` on `ctl`,
    its SNS publishes to `ctl`'s notifier, the controller's own errors caught as Lambda reports them."""

    def publish(parameters: dict[str, Any], token: str) -> dict[str, str]:
        ctl.notifier.publish(parameters["Subject"], parameters["Message"])
        return {"MessageId": token}

    arn_key = "ScaleStepsFunctionArn" if definition == SCALE_WORKFLOW else "RoutingStepsFunctionArn"
    machine = StateMachine.from_file(
        definition,
        {arn_key: "steps", "NotificationTopicArn": "topic"},
        tasks={
            "steps": lambda payload: steps(ctl, payload["step"], payload["state"], clock.now()),
            "arn:aws:states:::sns:publish": publish,
        },
        catchable=(AutoscalerError,),
    )
    return run_to_end(machine, request.model_dump(mode="json"), "execution-1", clock_advance=clock.advance)


def left(outcome: Outcome) -> str:
    """What the execution left: the capacity, the floor, the lock and the team's notification."""
    seen = outcome.ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    floor = f", floor {seen.scalable_target.min_capacity}" if seen.scalable_target else ""
    state = outcome.ctl.state.states.get(TARGET)  # type: ignore[attr-defined]
    lock = "lock held" if state is not None and state.lock is not None else "lock free"
    told = outcome.notes[-1][0].removeprefix("GenAI Autoscaler: ") if outcome.notes else "no notification"
    return f"{seen.desired} instances{floor}; {lock}; {told}"


CASES = [
    (call, actuation, kind)
    for call in CALLS
    for actuation in (Actuation.SET_CAPACITY, Actuation.RAISE_FLOOR)
    for kind in ("transient", "lasting")
    if not (call.startswith("application-autoscaling") and actuation is Actuation.SET_CAPACITY)
    if not (call.startswith("sagemaker:Update") and actuation is Actuation.RAISE_FLOOR)
]


@pytest.fixture(scope="module", autouse=True)
def print_matrix() -> Iterator[None]:
    yield
    print(
        "\ncall                                           actuation      fault      ended on            left"
    )
    for row in MATRIX:
        print(f"{row[0]:<46} {row[1]:<14} {row[2]:<10} {row[3]:<19} {row[4]}")


@pytest.mark.parametrize(("call", "actuation", "kind"), CASES, ids=[f"{c} {a} {k}" for c, a, k in CASES])
def test_a_fault_in_any_call_converges_or_ends_in_a_safe_reported_state(
    call: str, actuation: Actuation, kind: str
) -> None:
    outcome = scale_out(actuation, CALLS[call], times=1 if kind == "transient" else None)
    result, ctl = outcome.result, outcome.ctl
    ended = "Done" if result.visited[-1] == "Done" else result.visited[-1]
    if "RestoreSafeState" in result.visited:
        ended = f"{ended} (restored)"
    MATRIX.append((call, actuation.value, kind, ended, left(outcome)))
    seen = ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    state = ctl.state.states.get(TARGET)  # type: ignore[attr-defined]

    if kind == "transient":
        # The workflow's Retry absorbs it: the scale completes and the team is told
        assert result.status == "SUCCEEDED", (result.error, result.cause, result.visited)
        assert "RestoreSafeState" not in result.visited
        assert seen.desired == 4
        assert state is not None
        assert state.lock is None
        assert outcome.notes[-1][0].endswith(("scaled out to 4 instances", "floor raised to 4"))
        return

    # A lasting fault: never beyond the plan, and a safe state
    assert seen.desired in (2, 4)
    if call == "sns:Publish":
        # The scale is done; only the notification is lost (a Notify that fails ends the execution at Done)
        assert (result.status, seen.desired, outcome.notes) == ("SUCCEEDED", 4, [])
        return
    if call == "sagemaker:InvokeEndpoint (warm-up)":
        # The capacity is serving and stays; the failed warm-up is said in the success notification
        assert result.status == "SUCCEEDED"
        assert seen.desired == 4
        assert "Warm-up" in outcome.notes[-1][1]
        return
    # Any other lasting fault ends at RestoreSafeState and the failure notification, or, where the state itself
    # cannot be read or written, fails with the lock left to expire or to be released at the next decision
    # (app/locks.py), never with a floor raised for capacity that did not serve
    assert result.status == "FAILED"
    if seen.scalable_target is not None and seen.desired < 4:
        assert seen.scalable_target.min_capacity <= 2
    if call.startswith("dynamodb"):
        return
    assert "RestoreSafeState" in result.visited
    assert "FAILED" in outcome.notes[-1][0]
    assert state is not None
    assert state.lock is None


def test_a_state_table_outage_at_record_success_keeps_the_served_floor_and_frees_the_target_soon() -> None:
    # Given a floor raised 1 -> 4 that served, and DynamoDB refusing every write from RecordSuccess on
    # (the writes before it: AcquireLock's and Apply's)
    outcome = scale_out(Actuation.RAISE_FLOOR, ("state", "update"), times=None, after=2)
    result, ctl = outcome.result, outcome.ctl
    # Then the execution fails through RestoreSafeState, which keeps the floor the capacity served at, and says
    # that the lock could not be released
    assert result.visited[-4:] == ["RecordSuccess", "RestoreSafeState", "NotifyFailure", "Failed"]
    seen = ctl.capacity.observed[TARGET]  # type: ignore[attr-defined]
    assert (seen.desired, seen.scalable_target.min_capacity) == (4, 4)
    assert ctl.capacity.changes == [(TARGET, "set_floor", 4)]  # type: ignore[attr-defined]
    message = outcome.notes[-1][1]
    assert "MinCapacity stays at 4: the capacity was serving" in message
    assert "the lock could NOT be released" in message
    # And once DynamoDB is back, the next decision finds the lock's execution ended and releases it, minutes
    # later rather than at the end of its hour
    ctl.state.update = type(ctl.state).update.__get__(ctl.state)  # type: ignore[method-assign]
    workflows = ctl.workflows
    workflows.started["execution-1"] = {}  # type: ignore[attr-defined]
    workflows.ended.add("execution-1")  # type: ignore[attr-defined]
    later = ctl.now() + timedelta(minutes=3)
    state = locks.release_if_ended(ctl, ctl.state.load(TARGET), later)
    assert state.lock is None
    assert ctl.state.history(TARGET)[0].outcome == "lock_released"


# ------------------------------------------------------------------------------------------ the routing workflow

ROUTING_WORKFLOW = SCALE_WORKFLOW.with_name("routing.asl.json")
ROUTING_CALLS = {
    "ssm:GetParameter (policy)": ("policies", "load"),
    "dynamodb:GetItem": ("state", "load"),
    "dynamodb:TransactWriteItems": ("state", "update"),
    "ssm:PutParameter (route)": ("routes", "publish"),
    "bedrock:CreateProvisionedModelThroughput": ("provisioned", "create"),
    "bedrock:GetProvisionedModelThroughput": ("provisioned", "describe"),
    "bedrock:DeleteProvisionedModelThroughput": ("provisioned", "delete"),
    "sns:Publish": ("notifier", "publish"),
}
ROUTING_MATRIX: list[tuple[str, str, str, str, str]] = []


def reroute(
    way: str, fault: tuple[str, str] | None, times: int | None
) -> tuple[ExecutionResult, Any, str | None, int]:
    """Callers sent to 5 units of Provisioned Throughput bought now (`to PT`), or taken off 5 units bought three
    hours ago back to on-demand (`back`), run to its end with `fault` injected; returns the result, the world
    and the PT bought or released."""
    clock = SimClock(NOW)
    bedrock = FakeBedrock(clock, provisioning_seconds=PROVISIONING)
    arn = None
    state = TargetState(
        target_id=ROUTED,
        route=BedrockRoute(kind=RouteKind.PROFILE, model=PROFILE, since=NOW - timedelta(hours=2)),
    )
    if way == "back":
        arn = bedrock.create_provisioned_model_throughput(
            modelUnits=5,
            provisionedModelName=f"{purchase_prefix('genai-autoscaler')}pt-1",
            modelId=MODEL,
            clientRequestToken="t-1",
        )["provisionedModelArn"]
        clock.advance(PROVISIONING)
        state = TargetState(
            target_id=ROUTED, route=bought(arn, clock.now() - timedelta(hours=3), 5, None, 200.0)
        )
    ctl = dataclasses.replace(
        memory_controller(
            {"targets": [routing_policy().model_dump(mode="json")]},
            states={ROUTED: state},
            settings=ControllerSettings(stack_name="genai-autoscaler"),
            clock=clock.now,
        ),
        routes=MemoryRoutes(),
        provisioned=BedrockProvisionedThroughputs(bedrock),
    )
    assert ctl.routes is not None
    assert state.route is not None
    ctl.routes.publish(MODEL, PublishedRoute.of(state.route, MODEL))  # where callers are sent now
    now = clock.now()
    if way == "back":
        calm = Evaluation((throttles(AlarmState.OK, 0, now - timedelta(hours=1)),))
        plan = decide(
            calm, routing_policy(), BedrockDemand(tokens_per_minute=100_000), ctl.state.load(ROUTED), now
        )
    else:
        plan = decide(
            AlarmTransition(throttles(AlarmState.ALARM)),
            routing_policy(),
            DEMAND,
            state,
            now,
        )
    injected = Fault(ctl, fault, times) if fault is not None else None
    request = ScaleRequest(plan=plan, policy=routing_policy().model_dump(mode="json"))
    result = execute(ROUTING_WORKFLOW, run_routing_step, ctl, clock, request)
    called = injected.calls if injected is not None else 0
    if injected is not None:
        injected.heal()
    if way == "to PT":
        summaries = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
        arn = summaries[0]["provisionedModelArn"] if summaries else None
    return result, ctl, arn, called


ROUTING_CASES = [
    (call, way, kind)
    for call in ROUTING_CALLS
    for way in ("to PT", "back")
    for kind in ("transient", "lasting")
]


@pytest.fixture(scope="module", autouse=True)
def print_routing_matrix() -> Iterator[None]:
    yield
    print("\ncall                                        way     fault      ended on            left")
    for row in ROUTING_MATRIX:
        print(f"{row[0]:<43} {row[1]:<7} {row[2]:<10} {row[3]:<19} {row[4]}")


@pytest.mark.parametrize(
    ("call", "way", "kind"), ROUTING_CASES, ids=[f"{c} {w} {k}" for c, w, k in ROUTING_CASES]
)
def test_a_fault_in_any_routing_call_converges_or_ends_with_callers_on_a_serving_route(
    call: str, way: str, kind: str
) -> None:
    result, ctl, arn, called = reroute(way, ROUTING_CALLS[call], 1 if kind == "transient" else None)
    routes: MemoryRoutes = ctl.routes  # type: ignore[assignment]
    published = routes.current(MODEL)
    callers = published.model_id if published else MODEL
    described = ctl.provisioned.describe(arn) if arn else None  # type: ignore[union-attr]
    state = ctl.state.states.get(ROUTED)  # type: ignore[attr-defined]
    notes: list[tuple[str, str]] = ctl.notifier.published  # type: ignore[attr-defined]
    ended = result.visited[-1] + (" (abandoned)" if "Abandon" in result.visited else "")
    where = {arn: "the PT", MODEL: "on-demand", PROFILE: "the profile"}.get(callers, callers)
    pt = "no PT" if described is None else f"PT {described.status.value}"
    lock = "lock held" if state is not None and state.lock is not None else "lock free"
    told = notes[-1][0].removeprefix("GenAI Autoscaler: ") if notes else "no notification"
    ROUTING_MATRIX.append((call, way, kind, ended, f"callers {where}; {pt}; {lock}; {told}"))

    # Callers are only ever sent to a route that serves: on-demand, the profile, or a PT that is InService
    assert callers in (MODEL, PROFILE) or (described is not None and described.status.value == "InService")
    if kind == "transient" or called == 0:  # retried, or a call this path does not make
        assert result.status == "SUCCEEDED", (result.error, result.cause, result.visited)
        assert callers == (arn if way == "to PT" else MODEL)
        assert described is None if way == "back" else described is not None
        assert state is not None
        assert state.lock is None
        assert notes
        return
    if call == "sns:Publish":  # the change is made; only the notification is lost
        assert result.status == "SUCCEEDED"
        assert notes == []
        return
    assert result.status == "FAILED", result.visited
    if described is not None and callers != arn and way == "to PT":
        # What was bought and not routed to is deleted, or, where Bedrock could not be asked, left to the sweeper
        assert "sweeper" in notes[-1][1]
    if not call.startswith("dynamodb"):
        assert notes
        assert "FAILED" in notes[-1][0]
