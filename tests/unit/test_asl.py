"""The States Language interpreter the simulator runs the workflows with (genai_autoscaler_tools.asl).

Both state machines load and validate; every path of scale.asl.json and routing.asl.json runs on fake steps
(the interpreter reads only an exception's class name, so the fakes raise look-alikes of the controller's
errors); the semantics it follows (paths, Retry, Catch, Choice, States.Format, the context object) are AWS's;
and what it cannot follow is refused when the definition loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from genai_autoscaler_tools.asl import (
    FAILED,
    SUCCEEDED,
    ExecutionResult,
    StateMachine,
    TaskFailed,
    UnsupportedDefinition,
    run_to_end,
)
from hypothesis import given, settings
from hypothesis import strategies as st

STATEMACHINES = Path(__file__).resolve().parents[2] / "statemachines"
SCALE, ROUTING = STATEMACHINES / "scale.asl.json", STATEMACHINES / "routing.asl.json"
TOPIC = "arn:aws:sns:us-east-1:123456789012:genai-autoscaler"
SUBSTITUTIONS = {
    "ScaleStepsFunctionArn": "scale-fn",
    "RoutingStepsFunctionArn": "routing-fn",
    "NotificationTopicArn": TOPIC,
}
PUBLISH, PUBLISH_AND_WAIT = "arn:aws:states:::sns:publish", "arn:aws:states:::sns:publish.waitForTaskToken"


class LockHeld(Exception):
    pass


class StalePlan(Exception):
    pass


class TransientAwsError(Exception):
    pass


class InvalidEvent(Exception):
    pass


class Boom(Exception):
    pass


Outcome = dict[str, Any] | Exception


@dataclass
class Steps:
    """A fake steps Lambda: a step returns the state document with its result merged in (as run_step does).
    `script[step]` gives the outcomes of its next calls, a result or an exception; then `results[step]`."""

    results: dict[str, dict[str, Any]]
    script: dict[str, list[Outcome]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.script = {step: list(outcomes) for step, outcomes in self.script.items()}  # the table's stay

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        step, state = payload["step"], payload["state"]
        self.calls.append((step, state))
        queue = self.script.get(step, [])
        outcome = queue.pop(0) if queue else self.results[step]
        if isinstance(outcome, Exception):
            raise outcome
        return {**state, **outcome}

    def called(self, step: str) -> list[dict[str, Any]]:
        return [state for name, state in self.calls if name == step]


@dataclass
class Service:
    """A fake service integration (SNS): answers `script` in order (a result or an exception), then
    `answer`."""

    answer: Any = field(default_factory=lambda: {"MessageId": "m-1"})
    script: list[Any] = field(default_factory=list)
    calls: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.script = list(self.script)

    def __call__(self, parameters: dict[str, Any], token: str) -> Any:
        self.calls.append((parameters, token))
        outcome = self.script.pop(0) if self.script else self.answer
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@dataclass
class Run:
    result: ExecutionResult
    steps: Steps
    waits: list[float]
    notify: Service
    approval: Service


def run(
    path: Path,
    request: dict[str, Any],
    steps: Steps,
    notify: Service | None = None,
    approval: Service | None = None,
) -> Run:
    """Runs one execution of `path` to its end on the fakes; the waits it yielded are kept."""
    notify, approval = notify or Service(), approval or Service({"approved": True})
    tasks = {"scale-fn": steps, "routing-fn": steps, PUBLISH: notify, PUBLISH_AND_WAIT: approval}
    machine = StateMachine.from_file(path, SUBSTITUTIONS, tasks=tasks)
    waits: list[float] = []
    return Run(run_to_end(machine, request, "exec-1", waits.append), steps, waits, notify, approval)


def lambda_error(exc: Exception) -> dict[str, str]:
    """What Lambda's integration puts under a Catch's ResultPath for an exception."""
    kind = type(exc).__name__
    return {"Error": kind, "Cause": json.dumps({"errorMessage": str(exc), "errorType": kind})}


@pytest.mark.parametrize(
    ("path", "function"),
    [pytest.param(SCALE, "scale-fn", id="scale"), pytest.param(ROUTING, "routing-fn", id="routing")],
)
def test_both_state_machines_load_and_every_task_resource_is_bound_here(path: Path, function: str) -> None:
    # Given the deployed definition, When it loads with the template's substitutions
    machine = StateMachine.from_file(path, SUBSTITUTIONS)
    # Then it validates, and its tasks call only what these tests bind
    resources = {
        s["Parameters"]["FunctionName"] if s["Resource"].endswith("lambda:invoke") else s["Resource"]
        for s in machine.states.values()
        if s["Type"] == "Task"
    }
    assert resources <= {function, PUBLISH, PUBLISH_AND_WAIT}
    assert function in resources


# ------------------------------------------------------------------------------------------ scale.asl.json

PLANNED = {"plan": {"action": "scale_out", "to": 3}, "policy": {"workflow": {"poll_interval_seconds": 30}}}
OPERATOR = {"target": "llm-prod", "desired_capacity": 3, "reason": "launch", "hold_minutes": 60}
NOT_READY: Outcome = {"capacity": {"ready": False, "poll_seconds": 30}}
SCALE_RESULTS: dict[str, dict[str, Any]] = {
    "plan_requested": {"request": PLANNED},  # as app.scale_workflow.plan_requested returns
    "acquire_lock": {"lock": {"owner": "exec-1"}},
    "apply": {"applied": {"from": 1, "to": 3}},
    "check_capacity": {"capacity": {"ready": True}},
    "warm_up": {"warm_up": {"requests": 3}},
    "record_success": {"notification": {"subject": "llm-prod scaled out", "message": "1 -> 3"}},
    "restore_safe_state": {"notification": {"subject": "llm-prod: scale failed", "message": "restored 1"}},
    "release_superseded": {},
}
HEAD = ["Prepare", "IsPlanned", "AcquireLock", "Apply", "CheckCapacity", "IsServing"]
SUCCESS = ["WarmUp", "RecordSuccess", "Notify", "Done"]
FAILURE = ["RestoreSafeState", "NotifyFailure", "Failed"]
POLL = ["WaitForCapacity", "CheckCapacity", "IsServing"]


@pytest.mark.parametrize(
    ("request_", "script", "visited", "status"),
    [
        pytest.param(PLANNED, {}, [*HEAD, *SUCCESS], SUCCEEDED, id="happy path"),
        pytest.param(
            OPERATOR,
            {},
            ["Prepare", "IsPlanned", "PlanRequested", *HEAD[2:], *SUCCESS],
            SUCCEEDED,
            id="operator",
        ),
        pytest.param(
            OPERATOR,
            {"plan_requested": [InvalidEvent("hold_minutes: too long")]},
            ["Prepare", "IsPlanned", "PlanRequested", "RequestRefused"],
            FAILED,
            id="request refused",
        ),
        pytest.param(
            PLANNED,
            {"acquire_lock": [LockHeld("exec-0")]},
            [*HEAD[:3], "LockContended"],
            SUCCEEDED,
            id="lock held",
        ),
        pytest.param(
            PLANNED,
            {"apply": [StalePlan("capacity changed")]},
            [*HEAD[:4], "ReleaseSuperseded", "Superseded"],
            SUCCEEDED,
            id="stale plan",
        ),
        pytest.param(
            PLANNED,
            {"apply": [StalePlan("capacity changed")], "release_superseded": [Boom("table gone")]},
            [*HEAD[:4], "ReleaseSuperseded", *FAILURE],
            FAILED,
            id="release fails",
        ),
        pytest.param(
            PLANNED, {"acquire_lock": [Boom("no table")]}, [*HEAD[:3], *FAILURE], FAILED, id="lock fails"
        ),
        pytest.param(PLANNED, {"apply": [Boom("refused")]}, [*HEAD[:4], *FAILURE], FAILED, id="apply fails"),
        pytest.param(
            PLANNED, {"check_capacity": [Boom("Failed")]}, [*HEAD[:5], *FAILURE], FAILED, id="update fails"
        ),
        pytest.param(PLANNED, {"warm_up": [Boom("4xx")]}, [*HEAD, *SUCCESS], SUCCEEDED, id="warm-up fails"),
        pytest.param(
            PLANNED,
            {"record_success": [Boom("x")]},
            [*HEAD, *SUCCESS[:2], *FAILURE],
            FAILED,
            id="record fails",
        ),
        pytest.param(
            PLANNED,
            {"apply": [Boom("refused")], "restore_safe_state": [Boom("also")]},
            [*HEAD[:4], "RestoreSafeState", "Failed"],
            FAILED,
            id="restore fails",
        ),
        pytest.param(
            PLANNED,
            {"check_capacity": [NOT_READY, NOT_READY]},
            [*HEAD, *POLL, *POLL, *SUCCESS],
            SUCCEEDED,
            id="polls",
        ),
    ],
)
def test_the_scale_workflow_takes_the_path_of_its_catch_clauses(
    request_: dict[str, Any], script: dict[str, list[Outcome]], visited: list[str], status: str
) -> None:
    # Given the steps' outcomes, When an execution runs
    done = run(SCALE, request_, Steps(SCALE_RESULTS, script))
    # Then it goes through the states the definition says and ends as it says
    assert (done.result.visited, done.result.status) == (visited, status)
    if visited[-1] == "Failed":
        assert (done.result.error, done.result.output) == ("ScaleFailed", None)


def test_the_steps_receive_the_caught_error_as_lambda_reports_it() -> None:
    # Given an Apply that raises, When the execution runs
    failure = Boom("SageMaker refused the update")
    done = run(SCALE, PLANNED, Steps(SCALE_RESULTS, {"apply": [failure]}))
    # Then RestoreSafeState receives the document so far with Lambda's {Error, Cause} under $.error
    (state,) = done.steps.called("restore_safe_state")
    assert state["error"] == lambda_error(failure)
    assert state["lock"] == {"owner": "exec-1"}
    assert (state["execution"], state["request"]) == ("exec-1", PLANNED)
    # And the failure notification is published from what RestoreSafeState wrote
    ((parameters, _),) = done.notify.calls
    assert parameters == {"TopicArn": TOPIC, "Subject": "llm-prod: scale failed", "Message": "restored 1"}


def test_a_warm_up_error_is_kept_for_record_success() -> None:
    failure = Boom("the endpoint answered 424")
    done = run(SCALE, PLANNED, Steps(SCALE_RESULTS, {"warm_up": [failure]}))
    (state,) = done.steps.called("record_success")
    assert state["warm_up_error"] == lambda_error(failure)
    assert "warm_up" not in state
    assert "error" not in state


def test_a_refused_request_fails_the_execution_with_the_steps_error() -> None:
    failure = InvalidEvent("hold_minutes: at most 1440")
    done = run(SCALE, OPERATOR, Steps(SCALE_RESULTS, {"plan_requested": [failure]}))
    assert (done.result.error, done.result.cause) == (
        lambda_error(failure)["Error"],
        lambda_error(failure)["Cause"],
    )


def test_the_capacity_poll_waits_the_interval_the_check_reads_from_the_published_policy() -> None:
    # Given an input that asks for polls every 5 s, checks that say 45 s (the published policy's), and capacity
    # that serves on the third check
    request = {**PLANNED, "policy": {"workflow": {"poll_interval_seconds": 5}}}
    later: Outcome = {"capacity": {"ready": False, "poll_seconds": 45}}
    done = run(SCALE, request, Steps(SCALE_RESULTS, {"check_capacity": [later, later]}))
    # Then the execution waited the published interval twice, not the input's, and checked three times
    assert done.waits == [45.0, 45.0]
    assert len(done.steps.called("check_capacity")) == 3


@pytest.mark.parametrize(
    ("failures", "calls", "waits", "then"),
    [
        pytest.param(
            [TransientAwsError("throttled")] * 2, 3, [2.0, 4.0], "Apply", id="retried then succeeds"
        ),
        pytest.param(
            [TaskFailed("Lambda.TooManyRequestsException")], 2, [2.0], "Apply", id="lambda throttled"
        ),
        pytest.param(
            [TransientAwsError("throttled")] * 5, 5, [2.0, 4.0, 8.0, 16.0], "RestoreSafeState", id="exhausted"
        ),
        pytest.param([Boom("not transient")], 1, [], "RestoreSafeState", id="not retried"),
    ],
)
def test_a_transient_error_is_retried_with_backoff_then_caught(
    failures: list[Outcome], calls: int, waits: list[float], then: str
) -> None:
    # Given AcquireLock failing as `failures` say, When the execution runs
    done = run(SCALE, PLANNED, Steps(SCALE_RESULTS, {"acquire_lock": list(failures)}))
    # Then it was attempted `calls` times, waiting the backoff between (no jitter), then went on to `then`
    assert len(done.steps.called("acquire_lock")) == calls
    assert done.waits == waits
    visited = done.result.visited
    assert visited.count("AcquireLock") == 1
    assert visited[visited.index("AcquireLock") + 1] == then
    # And a caught error reaches RestoreSafeState as the last attempt raised it
    for state in done.steps.called("restore_safe_state"):
        assert state["error"]["Error"] == (
            getattr(failures[-1], "error", None) or type(failures[-1]).__name__
        )


@pytest.mark.parametrize(
    ("failures", "waits", "notify_error"),
    [
        pytest.param([TaskFailed("SNS.ThrottledException")] * 2, [2.0, 4.0], None, id="throttled, then sent"),
        pytest.param(
            [TaskFailed("SNS.AuthorizationErrorException", "denied")],
            [],
            {"Error": "SNS.AuthorizationErrorException", "Cause": "denied"},
            id="not sent",
        ),
    ],
)
def test_a_notification_that_cannot_be_sent_does_not_fail_the_scale(
    failures: list[Any], waits: list[float], notify_error: dict[str, str] | None
) -> None:
    # Given SNS failing as `failures` say, When a scale succeeds
    done = run(SCALE, PLANNED, Steps(SCALE_RESULTS), notify=Service(script=failures))
    # Then the execution still succeeds; Notify's ResultPath null kept its input, and a failure is kept aside
    assert (done.result.visited[-2:], done.result.status, done.waits) == (
        ["Notify", "Done"],
        SUCCEEDED,
        waits,
    )
    assert done.result.output["notification"]["subject"] == "llm-prod scaled out"
    assert done.result.output.get("notify_error") == notify_error


def test_a_change_to_the_definition_changes_the_path() -> None:
    # Given scale.asl.json with WarmUp's Catch sent to RestoreSafeState instead of RecordSuccess
    definition = json.loads(SCALE.read_text())
    definition["States"]["WarmUp"]["Catch"][0]["Next"] = "RestoreSafeState"
    changed = StateMachine(
        definition,
        SUBSTITUTIONS,
        tasks={"scale-fn": Steps(SCALE_RESULTS, {"warm_up": [Boom("x")]}), PUBLISH: Service()},
    )
    # When a warm-up fails, Then the execution follows the changed definition
    assert run_to_end(changed, PLANNED).visited == [*HEAD, "WarmUp", *FAILURE]


def test_an_execution_is_a_generator_of_waits() -> None:
    # Given a machine and a capacity that needs one poll
    steps = Steps(SCALE_RESULTS, {"check_capacity": [NOT_READY]})
    machine = StateMachine.from_file(SCALE, SUBSTITUTIONS, tasks={"scale-fn": steps, PUBLISH: Service()})
    execution = machine.run(PLANNED, name="exec-7")
    # When it is driven by hand, Then it yields the wait, and its end carries the result
    assert next(execution) == 30.0
    with pytest.raises(StopIteration) as done:
        next(execution)
    result = done.value.value
    assert isinstance(result, ExecutionResult)
    assert result.status == SUCCEEDED
    assert result.output["execution"] == "exec-7"


# ------------------------------------------------------------------------------------------ routing.asl.json


def routing_request(action: str = "shift_to_provisioned", needs_approval: bool = True) -> dict[str, Any]:
    provisioned = {"approval_timeout_seconds": 3600, "poll_interval_seconds": 60}
    return {
        "plan": {"action": action, "needs_approval": needs_approval},
        "policy": {"bedrock": {"provisioned_throughput": provisioned}},
    }


NOTE = {"notification": {"subject": "claude: routing", "message": "done"}}
ROUTING_RESULTS: dict[str, dict[str, Any]] = {
    "acquire_lock": {"lock": {"owner": "exec-1"}},
    "request_approval": {
        "approval_request": {
            "subject": "Approve?",
            "message": "Answer with the token ",
            "timeout_seconds": 3600,
        }
    },
    "not_approved": NOTE,
    "buy_provisioned": {"provisioned": {"arn": "pt-1", "ready": False}},
    "check_provisioned": {"provisioned": {"arn": "pt-1", "ready": True}},
    "publish_route": {"releasing": False, **NOTE},
    "release_provisioned": NOTE,
    "abandon_provisioned": NOTE,
}
LOCKED = ["Prepare", "AcquireLock", "Route"]
APPROVAL = ["NeedsApproval", "RequestApproval", "AwaitApproval", "IsApproved"]
BOUGHT = [
    "BuyProvisioned",
    "CheckProvisioned",
    "IsInService",
    "PublishRoute",
    "IsReleasing",
    "Notify",
    "Done",
]
REFUSED = ["NotApproved", "Notify", "Done"]


@pytest.mark.parametrize(
    ("request_", "script", "answer", "visited", "waits"),
    [
        pytest.param(
            routing_request(), {}, {"approved": True}, [*LOCKED, *APPROVAL, *BOUGHT], [], id="approved"
        ),
        pytest.param(
            routing_request(), {}, {"approved": "yes"}, [*LOCKED, *APPROVAL, *REFUSED], [], id="not a bool"
        ),
        pytest.param(routing_request(), {}, {}, [*LOCKED, *APPROVAL, *REFUSED], [], id="no approved field"),
        pytest.param(
            routing_request(),
            {},
            TaskFailed("Rejected", "too expensive"),
            [*LOCKED, *APPROVAL[:3], *REFUSED],
            [],
            id="rejected",
        ),
        pytest.param(
            routing_request(),
            {},
            TaskFailed("States.Timeout"),
            [*LOCKED, *APPROVAL[:3], *REFUSED],
            [3600.0],
            id="timeout",
        ),
        pytest.param(
            routing_request(needs_approval=False),
            {},
            None,
            [*LOCKED, "NeedsApproval", *BOUGHT],
            [],
            id="no approval",
        ),
        pytest.param(
            routing_request(),
            {"check_provisioned": [{"provisioned": {"ready": False, "poll_seconds": 60}}]},
            {"approved": True},
            [*LOCKED, *APPROVAL, *BOUGHT[:3], "WaitForProvisioning", *BOUGHT[1:]],
            [60.0],
            id="polls until InService",
        ),
        pytest.param(
            routing_request("shift_to_profile"), {}, None, [*LOCKED, *BOUGHT[3:]], [], id="to a profile"
        ),
        pytest.param(
            routing_request("revert_routing"),
            {"publish_route": [{"releasing": True, "release": {"drain_seconds": 90}}]},
            None,
            [*LOCKED, *BOUGHT[3:5], "Drain", "ReleaseProvisioned", "Notify", "Done"],
            [90.0],
            id="drain and release",
        ),
        pytest.param(
            routing_request(),
            {"acquire_lock": [LockHeld("x")]},
            None,
            [*LOCKED[:2], "LockContended"],
            [],
            id="locked",
        ),
        pytest.param(
            routing_request(),
            {"acquire_lock": [StalePlan("x")]},
            None,
            [*LOCKED[:2], "Superseded"],
            [],
            id="stale",
        ),
        pytest.param(
            routing_request(),
            {"buy_provisioned": [Boom("quota")]},
            {"approved": True},
            [*LOCKED, *APPROVAL, "BuyProvisioned", "Abandon", "NotifyFailure", "Failed"],
            [],
            id="purchase fails",
        ),
    ],
)
def test_the_routing_workflow_takes_the_path_of_its_answers(
    request_: dict[str, Any],
    script: dict[str, list[Outcome]],
    answer: Any,
    visited: list[str],
    waits: list[float],
) -> None:
    # Given the steps' outcomes and the person's answer (SendTaskSuccess's output, or SendTaskFailure)
    done = run(ROUTING, request_, Steps(ROUTING_RESULTS, script), approval=Service(script=[answer]))
    # Then the execution goes through the states the definition says, waiting as it says
    assert done.result.visited == visited
    assert done.waits == waits
    assert done.result.status == (FAILED if visited[-1] == "Failed" else SUCCEEDED)
    assert len(done.approval.calls) == visited.count("AwaitApproval")


def test_the_approval_request_carries_the_task_token_and_its_answer_reaches_the_steps() -> None:
    # Given a person who rejects the purchase
    approval = Service(script=[TaskFailed("Rejected", "not this month")])
    done = run(ROUTING, routing_request(), Steps(ROUTING_RESULTS), approval=approval)
    # Then SNS was given the request with the task token appended (States.Format), and the token to wait on
    ((parameters, token),) = done.approval.calls
    assert parameters == {
        "TopicArn": TOPIC,
        "Subject": "Approve?",
        "Message": f"Answer with the token {token}",
    }
    assert token == "exec-1/AwaitApproval/0"
    # And NotApproved sees SendTaskFailure's error and cause
    (state,) = done.steps.called("not_approved")
    assert state["error"] == {"Error": "Rejected", "Cause": "not this month"}


def test_a_throttled_approval_request_is_published_again_not_taken_for_a_rejection() -> None:
    # Given SNS throttling the first publish of the approval request, and the person then approving
    approval = Service(script=[TaskFailed("SNS.ThrottledException", "Rate exceeded"), {"approved": True}])
    done = run(ROUTING, routing_request(), Steps(ROUTING_RESULTS), approval=approval)
    # Then the request is published again after a backoff, and the purchase goes ahead
    assert done.result.visited == [*LOCKED, *APPROVAL, *BOUGHT]
    assert len(done.approval.calls) == 2
    assert len(done.waits) == 1
    assert done.steps.called("not_approved") == []


def test_an_approval_is_kept_under_its_result_path() -> None:
    done = run(
        ROUTING, routing_request(), Steps(ROUTING_RESULTS), approval=Service(script=[{"approved": True}])
    )
    (state,) = done.steps.called("buy_provisioned")
    assert state["approval"] == {"approved": True}
    assert state["approval_request"]["subject"] == "Approve?"


# ------------------------------------------------------------------------------------------ semantics


def machine(states: dict[str, Any], **kw: Any) -> StateMachine:
    return StateMachine({"StartAt": next(iter(states)), "States": states}, **kw)


def one_task(**fields: Any) -> dict[str, Any]:
    """A machine of one Lambda task `T` (function "fn") whose fields are `fields`, with a Caught end."""
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    task["Parameters"] = {"FunctionName": "fn", "Payload.$": "$"}
    return {"T": {**task, **fields}, "Caught": {"Type": "Succeed"}}


def test_parameters_fill_paths_the_context_object_and_states_format() -> None:
    # Given a Pass state whose Parameters read the input, the context object and States.Format
    parameters = {
        "who.$": "$.user.name",
        "first.$": "$.items[0]",
        "run.$": "$$.Execution.Name",
        "state.$": "$$.State.Name",
        "line.$": r"States.Format('Hi {}, {} items, \{literal\}, it\'s {}', $.user.name, $.count, true)",
        "nested": {"count.$": "$.count", "fixed": [1, "two"]},
    }
    pass_ = machine({"P": {"Type": "Pass", "Parameters": parameters, "End": True}})
    # When it runs
    result = run_to_end(pass_, {"user": {"name": "ada"}, "items": ["a", "b"], "count": 2}, "exec-9")
    # Then each .$ field holds what its path or intrinsic gives; other fields are kept as written
    assert result.output == {
        "who": "ada",
        "first": "a",
        "run": "exec-9",
        "state": "P",
        "line": "Hi ada, 2 items, {literal}, it's true",
        "nested": {"count": 2, "fixed": [1, "two"]},
    }


INPUT = {"a": {"b": 1}, "c": 2}
R = {"Result": {"r": 1}}


@pytest.mark.parametrize(
    ("fields", "output"),
    [
        pytest.param(R, {"r": 1}, id="no ResultPath: the result replaces the input"),
        pytest.param({**R, "ResultPath": "$"}, {"r": 1}, id="ResultPath $ replaces the input"),
        pytest.param(
            {**R, "ResultPath": "$.out"}, {**INPUT, "out": {"r": 1}}, id="ResultPath adds to the input"
        ),
        pytest.param(
            {**R, "ResultPath": "$.a.d.e"}, {"a": {"b": 1, "d": {"e": {"r": 1}}}, "c": 2}, id="nested"
        ),
        pytest.param({**R, "ResultPath": None}, INPUT, id="ResultPath null keeps the input"),
        pytest.param({**R, "ResultPath": "$.out", "OutputPath": "$.out.r"}, 1, id="OutputPath selects"),
        pytest.param({**R, "OutputPath": None}, {}, id="OutputPath null"),
        pytest.param({"InputPath": "$.a"}, {"b": 1}, id="no Result: the input passes"),
        pytest.param(
            {"InputPath": "$.a", "Parameters": {"x.$": "$.b"}, "ResultPath": "$.p"},
            {**INPUT, "p": {"x": 1}},
            id="InputPath narrows what Parameters read, ResultPath writes into the raw input",
        ),
        pytest.param({**R, "ResultPath": "$.c.d"}, "States.Runtime", id="ResultPath through a number fails"),
    ],
)
def test_result_path_output_path_and_input_path(fields: dict[str, Any], output: Any) -> None:
    # Given a Pass state with these fields, When it runs on INPUT
    result = run_to_end(machine({"P": {"Type": "Pass", "End": True, **fields}}), INPUT)
    # Then its output is as AWS documents (and INPUT, shared by the cases, was not changed)
    assert (result.output if result.status == SUCCEEDED else result.error) == output
    assert INPUT == {"a": {"b": 1}, "c": 2}


def test_a_lambda_result_is_wrapped_as_the_integration_does_and_result_selector_reads_it() -> None:
    # Given a Lambda task whose ResultSelector reads the integration's output
    fields = {"ResultSelector": {"value.$": "$.Payload.v", "code.$": "$.StatusCode"}, "ResultPath": "$.res"}
    received: list[Any] = []

    def fn(payload: Any) -> Any:
        received.append(payload)
        payload["mutated"] = True  # a callable changing what it got changes nothing of the execution's
        return {"v": 7}

    # When it runs, Then the function got the Payload and its result is {Payload, StatusCode} selected
    result = run_to_end(machine(one_task(**fields), tasks={"fn": fn}), {"in": 1})
    assert received == [{"in": 1, "mutated": True}]
    assert result.output == {"in": 1, "res": {"value": 7, "code": 200}}


@pytest.mark.parametrize(
    ("retry", "failures", "waits", "visited"),
    [
        pytest.param({}, 5, [1.0, 2.0, 4.0], ["T", "Caught"], id="defaults: 1 s, x2, 3 attempts"),
        pytest.param(
            {"IntervalSeconds": 10, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 40},
            2,
            [10.0, 30.0],
            ["T"],
            id="succeeds on the third attempt",
        ),
        pytest.param(
            {"IntervalSeconds": 10, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 40},
            9,
            [10.0, 30.0, 40.0, 40.0],
            ["T", "Caught"],
            id="MaxDelaySeconds caps",
        ),
        pytest.param({"MaxAttempts": 0}, 1, [], ["T", "Caught"], id="MaxAttempts 0 never retries"),
        pytest.param({"JitterStrategy": "FULL"}, 1, [1.0], ["T"], id="jitter ignored: deterministic"),
    ],
)
def test_retry_backoff(retry: dict[str, Any], failures: int, waits: list[float], visited: list[str]) -> None:
    # Given a task failing `failures` times and a Retry on its error
    script: list[Outcome] = [Boom("again")] * failures
    fn = Steps({"x": {}}, {"x": script})
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    states = one_task(Retry=[{"ErrorEquals": ["Boom"], **retry}], Catch=catch)
    states["T"]["Parameters"]["Payload.$"] = "$.call"
    out: list[float] = []
    # When it runs, Then it waited the backoff before each retry, and went to the Catch once they were used
    result = run_to_end(
        machine(states, tasks={"fn": fn}), {"call": {"step": "x", "state": {}}}, "e", out.append
    )
    assert (out, result.visited) == (waits, visited)


@pytest.mark.parametrize(
    ("retriers", "error", "waits"),
    [
        pytest.param(
            [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}],
            TaskFailed("Boom"),
            [1.0],
            id="the first matching Retrier decides",
        ),
        pytest.param(
            [{"ErrorEquals": ["States.TaskFailed"]}], TaskFailed("States.Timeout"), [30.0], id="no timeout"
        ),
        pytest.param(
            [{"ErrorEquals": ["States.TaskFailed"]}], TaskFailed("X"), [1.0, 2.0, 4.0], id="TaskFailed"
        ),
        pytest.param(
            [{"ErrorEquals": ["States.Timeout"]}],
            TaskFailed("States.Timeout"),
            [30.0, 1.0, 30.0, 2.0, 30.0, 4.0, 30.0],
            id="a timeout takes its TimeoutSeconds",
        ),
    ],
)
def test_which_retrier_applies(retriers: list[dict[str, Any]], error: TaskFailed, waits: list[float]) -> None:
    fn = Service(script=[error] * 10)
    states = one_task(Resource="arn:aws:states:::sqs:sendMessage.waitForTaskToken", Parameters={"Body": "x"})
    states["T"].update(
        Retry=retriers, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], TimeoutSeconds=30
    )
    out: list[float] = []
    result = run_to_end(machine(states, tasks={states["T"]["Resource"]: fn}), {}, "e", out.append)
    assert out == waits
    assert result.visited == ["T", "Caught"]


def test_a_missing_parameters_path_fails_the_execution_even_under_a_catch_of_states_all() -> None:
    # Given a task reading a path its input lacks, with a Catch of States.ALL
    states = one_task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}])
    states["T"]["Parameters"]["Payload.$"] = "$.missing"
    # When it runs, Then it fails with States.Runtime, as AWS does (no Retry or Catch handles it)
    result = run_to_end(machine(states, tasks={"fn": lambda p: p}), {"present": 1})
    assert (result.status, result.error, result.visited) == (FAILED, "States.Runtime", ["T"])
    assert "'$.missing'" in (result.cause or "")


CHOICE_INPUT = {"n": 5, "limit": 10, "s": "x", "flag": True, "none": None}


@pytest.mark.parametrize(
    ("rule", "ends"),
    [
        pytest.param({"Variable": "$.n", "NumericLessThanPath": "$.limit"}, "Yes", id="NumericLessThanPath"),
        pytest.param(
            {"Variable": "$.n", "NumericGreaterThanEquals": 5}, "Yes", id="NumericGreaterThanEquals"
        ),
        pytest.param({"Variable": "$.s", "StringEquals": "x"}, "Yes", id="StringEquals"),
        pytest.param({"Variable": "$.flag", "BooleanEquals": False}, "No", id="BooleanEquals false"),
        pytest.param({"Variable": "$.s", "NumericEquals": 5}, "No", id="another type does not match"),
        pytest.param({"Variable": "$.none", "IsNull": True}, "Yes", id="IsNull"),
        pytest.param({"Not": {"Variable": "$.n", "IsString": True}}, "Yes", id="Not"),
        pytest.param(
            {"Or": [{"Variable": "$.s", "IsNumeric": True}, {"Variable": "$.flag", "IsBoolean": True}]},
            "Yes",
            id="Or",
        ),
        pytest.param(
            {
                "And": [
                    {"Variable": "$.gone", "IsPresent": True},
                    {"Variable": "$.gone", "BooleanEquals": True},
                ]
            },
            "No",
            id="IsPresent guards the rest of an And",
        ),
        pytest.param(
            {"Variable": "$.gone", "BooleanEquals": True}, "States.Runtime", id="missing Variable fails"
        ),
        pytest.param(
            {"Variable": "$.n", "NumericEqualsPath": "$.gone"}, "States.Runtime", id="missing Path fails"
        ),
    ],
)
def test_choice_rules(rule: dict[str, Any], ends: str) -> None:
    # Given a Choice of one rule (Yes) and a Default (No)
    choice = {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"}
    states = {"C": choice, "Yes": {"Type": "Succeed"}, "No": {"Type": "Succeed"}}
    # When it runs, Then it goes where the rule says; a missing Variable fails it (moto takes the Default)
    result = run_to_end(machine(states), CHOICE_INPUT)
    assert (result.visited[-1] if result.status == SUCCEEDED else result.error) == ends


def test_a_choice_that_matches_nothing_without_a_default_fails() -> None:
    states = {"C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "D"}]}}
    result = run_to_end(machine({**states, "D": {"Type": "Succeed"}}), {"n": 2})
    assert (result.status, result.error) == (FAILED, "States.NoChoiceMatched")


@pytest.mark.parametrize(
    ("fail", "error", "cause"),
    [
        pytest.param({"Error": "E", "Cause": "why"}, "E", "why", id="static"),
        pytest.param({"ErrorPath": "$.e.Error", "CausePath": "$.e.Cause"}, "Rejected", "no", id="paths"),
        pytest.param({}, None, None, id="neither"),
        pytest.param(
            {"ErrorPath": "$.n"}, "States.Runtime", "ErrorPath '$.n' is 3, not a string", id="not a string"
        ),
    ],
)
def test_a_fail_state(fail: dict[str, Any], error: str | None, cause: str | None) -> None:
    result = run_to_end(
        machine({"F": {"Type": "Fail", **fail}}), {"e": {"Error": "Rejected", "Cause": "no"}, "n": 3}
    )
    assert (result.status, result.error, result.cause) == (FAILED, error, cause)


@pytest.mark.parametrize(
    ("wait", "waits", "error"),
    [
        pytest.param({"Seconds": 5}, [5.0], None, id="Seconds"),
        pytest.param({"SecondsPath": "$.s"}, [7.0], None, id="SecondsPath"),
        pytest.param({"SecondsPath": "$.half"}, [], "States.Runtime", id="not whole seconds"),
        pytest.param({"SecondsPath": "$.gone"}, [], "States.Runtime", id="missing"),
    ],
)
def test_a_wait_state(wait: dict[str, Any], waits: list[float], error: str | None) -> None:
    out: list[float] = []
    result = run_to_end(
        machine({"W": {"Type": "Wait", "End": True, **wait}}), {"s": 7, "half": 1.5}, "e", out.append
    )
    assert (out, result.error) == (waits, error)


def test_an_unbound_resource_raises_naming_the_state() -> None:
    with pytest.raises(LookupError, match=r"state 'T': no callable bound for 'fn'"):
        run_to_end(machine(one_task()), {})


def test_an_exception_outside_catchable_stops_the_execution_instead_of_being_caught() -> None:
    # Given a harness that catches only the controller's errors (here: Boom)
    def broken(_: Any) -> Any:
        raise KeyError("a bug in the fake")

    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    states = one_task(Catch=catch)
    # Then a bug is raised out of the execution, and a Boom is caught as the definition says
    with pytest.raises(KeyError, match="a bug"):
        run_to_end(machine(states, tasks={"fn": broken}, catchable=(Boom,)), {})

    def boom(_: Any) -> Any:
        raise Boom("expected")

    assert run_to_end(machine(states, tasks={"fn": boom}, catchable=(Boom,)), {}).visited == ["T", "Caught"]


def test_a_result_that_is_not_json_raises() -> None:
    with pytest.raises(TypeError):
        run_to_end(machine(one_task(), tasks={"fn": lambda _: {"at": object()}}), {})


def test_an_execution_that_never_ends_fails_at_max_states() -> None:
    loop = machine({"W": {"Type": "Wait", "Seconds": 1, "Next": "W"}})
    result = run_to_end(loop, {}, max_states=50)
    assert (result.status, result.error, len(result.visited)) == (FAILED, "States.Runtime", 50)


PASS_END: dict[str, Any] = {"Type": "Pass", "End": True}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        pytest.param(
            {"StartAt": "Nowhere", "States": {"A": PASS_END}}, "StartAt 'Nowhere' names no state", id="start"
        ),
        pytest.param(
            {"StartAt": "A", "States": {"A": PASS_END}, "QueryLanguage": "JSONata"}, "QueryLanguage", id="top"
        ),
        pytest.param(
            {"A": {"Type": "Pass", "Next": "Nowhere"}}, "'A', field Next: 'Nowhere' names no state", id="Next"
        ),
        pytest.param({"A": {**PASS_END, "Next": "A"}}, "'A', field Next/End", id="Next and End"),
        pytest.param(
            {"A": {"Type": "Parallel", "Branches": [], "End": True}}, "'A', field Type", id="Parallel"
        ),
        pytest.param(
            {"A": {**PASS_END, "Assign": {}}}, "'A', field Assign: not supported in a Pass", id="field"
        ),
        pytest.param(
            {"A": {"Type": "Wait", "Timestamp": "2025-01-01T00:00:00Z", "End": True}}, "Timestamp", id="ts"
        ),
        pytest.param(
            {"A": {**PASS_END, "Parameters": {"x.$": "$..deep"}}}, "Parameters.x.$: unsupported", id="..path"
        ),
        pytest.param({"A": {**PASS_END, "Parameters": {"x.$": "$.a[*]"}}}, "'$.a[*]'", id="wildcard"),
        pytest.param(
            {"A": {**PASS_END, "Parameters": {"x.$": "$$.Execution.StartTime"}}}, "StartTime", id="context"
        ),
        pytest.param(
            {"A": {**PASS_END, "Parameters": {"x.$": "States.Array($.a)"}}}, "States.Array", id="intrinsic"
        ),
        pytest.param(
            {"A": {**PASS_END, "Parameters": {"x.$": "States.Format('{}{}', $.a)"}}},
            "one {} per argument",
            id="holes",
        ),
        pytest.param({"A": {**PASS_END, "ResultPath": "$.a[0]"}}, "'A', field ResultPath", id="ResultPath"),
        pytest.param(
            {"A": {**PASS_END, "OutputPath": "$$.Task.Token"}}, "'A', field OutputPath", id="OutputPath $$"
        ),
        pytest.param(
            {"A": {"Type": "Choice", "Choices": [{"Variable": "$.s", "StringMatches": "a*", "Next": "A"}]}},
            "Choices[0].StringMatches: Choice operator not supported",
            id="StringMatches",
        ),
        pytest.param(
            {
                "A": {
                    "Type": "Choice",
                    "Choices": [{"Not": {"Variable": "$.b", "IsNull": True, "Next": "A"}, "Next": "A"}],
                }
            },
            "Choices[0].Not.Next: in a top-level rule only",
            id="nested Next",
        ),
        pytest.param(
            {"A": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": "1", "Next": "A"}]}},
            "'1' is not Numeric",
            id="comparison value",
        ),
        pytest.param(
            {"A": {**one_task()["T"], "Parameters": {"FunctionName": "fn", "InvocationType": "Event"}}},
            "field Parameters: lambda:invoke takes FunctionName and Payload only",
            id="lambda parameters",
        ),
        pytest.param(
            {"A": {**one_task()["T"], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]}},
            "'A', field Catch[0].Next: 'Gone' names no state",
            id="Catch Next",
        ),
        pytest.param(
            {"A": {**one_task()["T"], "Retry": [{"ErrorEquals": ["X"], "MaxAttemps": 2}]}},
            "Retry[0]",
            id="typo",
        ),
        pytest.param(
            {"A": {"Type": "Choice", "Default": "A"}}, "'A', field Choices: a Choice", id="no Choices"
        ),
        pytest.param(
            {"A": {**PASS_END, "Result": "${Unknown}"}}, "no substitution given for ${Unknown}", id="subst"
        ),
    ],
)
def test_what_the_interpreter_cannot_follow_is_refused_when_it_loads(
    definition: dict[str, Any], message: str
) -> None:
    # Given a definition using something unsupported or wrong, When it loads, Then the error names it
    if "States" not in definition:
        definition = {"StartAt": next(iter(definition)), "States": definition}
    with pytest.raises(UnsupportedDefinition, match=re.escape(message)):
        StateMachine(definition, {"Known": "x"})


# ------------------------------------------------------------------------------------------ property

STEP_OUTCOMES = ["ok", "not ready", "LockHeld", "StalePlan", "TransientAwsError", "Boom"]
RELEASES = {"record_success", "restore_safe_state", "release_superseded"}
RELEASING = {"RecordSuccess", "RestoreSafeState", "ReleaseSuperseded"}  # the states of RELEASES
TERMINAL = {"Succeed", "Fail"}


@dataclass
class LockedTarget:
    """The scale steps on a target with a lock: each call takes the next scripted outcome (then "ok")."""

    script: list[str]
    held: bool = False
    last_release_failed: bool = False

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        step, state = payload["step"], payload["state"]
        outcome = self.script.pop(0) if self.script else "ok"
        errors: dict[str, Callable[[str], Exception]] = {
            "LockHeld": LockHeld,
            "StalePlan": StalePlan,
            "TransientAwsError": TransientAwsError,
            "Boom": Boom,
        }
        if outcome in errors:
            self.last_release_failed = step in RELEASES
            raise errors[outcome](f"{step}: {outcome}")
        if step == "acquire_lock":
            self.held = True
        if step in RELEASES:
            self.held = False
        result = {**SCALE_RESULTS[step]}
        if step == "check_capacity":
            result = {"capacity": {"ready": outcome != "not ready", "poll_seconds": 30}}
        return {**state, **result}


@settings(max_examples=300, deadline=None)
@given(
    script=st.lists(st.sampled_from(STEP_OUTCOMES), max_size=40),
    planned=st.booleans(),
    notify_fails=st.booleans(),
)
def test_any_step_outcomes_end_in_a_terminal_state_and_release_the_lock(
    script: list[str], planned: bool, notify_fails: bool
) -> None:
    # Given steps failing, contending or polling in any order
    target = LockedTarget(list(script))
    notify = Service(script=[TaskFailed("SNS.InternalErrorException")] * 5 if notify_fails else [])
    scale = StateMachine.from_file(SCALE, SUBSTITUTIONS, tasks={"scale-fn": target, PUBLISH: notify})
    # When an execution runs
    result = run_to_end(scale, PLANNED if planned else OPERATOR, "exec-1")
    # Then it ends in a Succeed or Fail state, SUCCEEDED exactly when that is a Succeed
    last = scale.states[result.visited[-1]]["Type"]
    assert last in TERMINAL
    assert result.status == (SUCCEEDED if last == "Succeed" else FAILED)
    assert result.error != "States.Runtime"  # no path the definition reads was missing
    # And a lock it took was released, unless the release itself failed (the lock then expires on its own)
    if "Apply" in result.visited:
        assert set(result.visited[result.visited.index("Apply") :]) & RELEASING
    assert not target.held or target.last_release_failed
