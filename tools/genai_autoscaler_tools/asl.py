"""An interpreter of the Amazon States Language subset statemachines/*.asl.json use, for the simulator.

`StateMachine` parses a definition, fills its `${Name}` DefinitionSubstitutions and validates it up front: a
state type, field, JSONPath, Choice operator or intrinsic it does not follow raises UnsupportedDefinition
naming the state and field, so an ASL change it cannot follow fails loudly instead of silently differing.

An execution is a generator: it yields the seconds it waits (a Wait state, a Retry interval, a task that timed
out) and returns an ExecutionResult, so the replay drives it on simulated time. Task states call Python
callables bound by resource (see `StateMachine`); they answer at once, so only those waits take time.

Deterministic where AWS is random: a Retry's JitterStrategy is ignored (it waits the whole backoff). Not
modelled: Parallel, Map, Timestamp waits, JSONata, variables, heartbeats, the execution's own timeout.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"


class UnsupportedDefinition(ValueError):
    """The definition is invalid, or uses ASL this interpreter does not follow; the message says where."""


class TaskFailed(Exception):
    """A States error {Error, Cause}. A task callable raises it as SendTaskFailure would (e.g. "Rejected"),
    or with error "States.Timeout" for a task that got no answer in time; the interpreter raises it too."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error, self.cause = error, cause


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended: status SUCCEEDED (with its output) or FAILED (with error and cause)."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    visited: list[str] = field(default_factory=list)  # the states entered, in order


_NAME = r"[A-Za-z_][\w-]*"
_PATH = re.compile(rf"\$(?:\.{_NAME}|\[\d+\])*")  # $, $.a.b, $.a[0]
_CONTEXT = re.compile(r"\$\$\.(?:Execution(?:\.Id|\.Name)?|State\.(?:Name|RetryCount)|Task\.Token)")
_RESULT_PATH = re.compile(rf"\$(?:\.{_NAME})*")  # where a result goes: $ or $.a.b
_STEP = re.compile(rf"\.({_NAME})|\[(\d+)\]")
_ARG = r"\s*(?:'((?:[^'\\]|\\.)*)'|(\$[\w.\[\]$-]*)|(-?\d+(?:\.\d+)?|true|false|null))\s*"
_FORMAT = re.compile(rf"States\.Format\(((?:{_ARG},)*{_ARG})\)")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_MISSING: Any = object()

_COMMON = {"Type", "Comment", "InputPath", "OutputPath"}
_TASK = {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "Next", "End"}
_FIELDS = {
    "Task": _COMMON | _TASK | {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds"},
    "Pass": _COMMON | {"Parameters", "Result", "ResultPath", "Next", "End"},
    "Wait": _COMMON | {"Seconds", "SecondsPath", "Next", "End"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
_RETRY = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
_CATCH = {"ErrorEquals", "ResultPath", "Next"}

_KINDS: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str),
    "Numeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}
_TESTS = {f"Is{kind}": test for kind, test in _KINDS.items()} | {"IsNull": lambda v: v is None}
_ORDER = {"Equals": operator.eq, "LessThan": operator.lt, "GreaterThan": operator.gt}
_ORDER |= {"LessThanEquals": operator.le, "GreaterThanEquals": operator.ge}
_COMPARISONS = {kind + name: (kind, test) for kind in ("String", "Numeric") for name, test in _ORDER.items()}
_COMPARISONS["BooleanEquals"] = ("Boolean", operator.eq)


def _path_ok(path: Any, context: bool = True) -> bool:
    return isinstance(path, str) and bool(_PATH.fullmatch(path) or (context and _CONTEXT.fullmatch(path)))


def _whole(value: Any) -> bool:
    return type(value) is int and value >= 0


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {  # what a field must hold where it is present
    "InputPath": (lambda v: v is None or _path_ok(v, False), "a $ path or null"),
    "OutputPath": (lambda v: v is None or _path_ok(v, False), "a $ path or null"),
    "ResultPath": (lambda v: v is None or bool(_RESULT_PATH.fullmatch(str(v))), "$, $.a.b or null"),
    **dict.fromkeys(("SecondsPath", "TimeoutSecondsPath", "ErrorPath", "CausePath"), (_path_ok, "a path")),
    **dict.fromkeys(("Seconds", "HeartbeatSeconds", "IntervalSeconds", "MaxAttempts"), (_whole, "whole")),
    **dict.fromkeys(("TimeoutSeconds", "MaxDelaySeconds"), (lambda v: _whole(v) and v > 0, "positive")),
    "BackoffRate": (lambda v: _KINDS["Numeric"](v) and v >= 1, "a number, at least 1"),
    "JitterStrategy": (lambda v: v in ("FULL", "NONE"), "FULL or NONE"),
    **dict.fromkeys(("Comment", "Error", "Cause", "Resource"), (_KINDS["String"], "a string")),
    "End": (lambda v: v is True, "true"),
    **dict.fromkeys(("Parameters", "ResultSelector"), (lambda v: isinstance(v, dict), "an object")),
    **dict.fromkeys(("Retry", "Catch", "Choices"), (lambda v: isinstance(v, list) and bool(v), "a list")),
    "ErrorEquals": (lambda v: isinstance(v, list) and bool(v) and all(map(_KINDS["String"], v)), "names"),
}


def _runtime(cause: str) -> TaskFailed:
    # AWS: "A retry or catch on States.ALL won't catch States.Runtime errors": it always fails the execution.
    return TaskFailed("States.Runtime", cause)


def _json(value: Any) -> Any:
    """A copy of `value` as it crosses a service boundary; raises TypeError for what is not JSON."""
    return json.loads(json.dumps(value))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@cache
def _parse_format(text: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """States.Format('template', args...) as (template, ((kind, value), ...)); raises ValueError otherwise."""
    call = _FORMAT.fullmatch(text)
    if not call:
        raise ValueError(f"only States.Format('...', paths or literals) is supported, not {text!r}")
    args = [a.groups() for a in re.finditer(rf"{_ARG}(?:,|$)", call.group(1)) if a.group(0)]
    if bad := [path for _, path, _ in args if path and not _path_ok(path)]:
        raise ValueError(f"unsupported JSONPath {bad[0]!r} in {text!r}")
    parsed = [("str", s) if s is not None else ("path", p) if p else ("json", lit) for s, p, lit in args]
    holes = re.split(r"(\\.|\{\})", parsed[0][1]).count("{}") if parsed[0][0] == "str" else -1
    if holes != len(parsed) - 1:
        raise ValueError(f"{text!r} needs a string template with one {{}} per argument")
    return parsed[0][1], tuple(parsed[1:])


def _lookup(path: str, data: Any, ctx: Mapping[str, Any]) -> Any:
    """The value at `path` ($ in data, $$ in the context object), or _MISSING."""
    node: Any = ctx if path.startswith("$$") else data
    for key, index in _STEP.findall(path):
        if key and isinstance(node, dict) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return _MISSING
    return node


def _get(path: str, data: Any, ctx: Mapping[str, Any], what: str) -> Any:
    """The value at `path`; raises States.Runtime when it is not there, as AWS does for every path but
    IsPresent's: a missing Parameters path fails the execution even under a Catch of States.ALL."""
    value = _lookup(path, data, ctx)
    if value is _MISSING:
        raise _runtime(f"The JSONPath {path!r} specified for {what} could not be found in the input")
    return value


def _select(data: Any, path: str | None, ctx: Mapping[str, Any], what: str) -> Any:
    return {} if path is None else _get(path, data, ctx, what)  # InputPath/OutputPath null: {}


def _put(data: Any, path: str | None, value: Any) -> Any:
    """`data` with `value` at ResultPath `path`: "$" replaces the input, null keeps it, $.a.b sets it in
    a copy."""
    if path is None or path == "$":
        return data if path is None else value

    def copy(node: Any) -> dict[str, Any]:  # the objects on the way are copied: no earlier document changes
        if not isinstance(node, dict):
            raise _runtime(f"Unable to apply ResultPath {path!r} to the input {json.dumps(data)}")
        return dict(node)

    *parents, last = path[2:].split(".")
    root = node = copy(data)
    for key in parents:
        node[key] = node = copy(node.get(key, {}))
    node[last] = value
    return root


def _format(text: str, data: Any, ctx: Mapping[str, Any], what: str) -> str:
    """States.Format: each {} takes the next argument, a string as it is, a number, boolean or null as
    JSON; raises States.Runtime for an object or array."""
    template, args = _parse_format(text)
    values = iter(
        _get(v, data, ctx, what) if kind == "path" else json.loads(v) if kind == "json" else _unescape(v)
        for kind, v in args
    )
    out = []
    for piece in re.split(r"(\\.|\{\})", template):
        value = next(values) if piece == "{}" else _unescape(piece)
        if isinstance(value, dict | list):
            raise _runtime(f"{what}: States.Format takes no object or array ({json.dumps(value)})")
        out.append(value if isinstance(value, str) else json.dumps(value))
    return "".join(out)


def _template(node: Any, data: Any, ctx: Mapping[str, Any]) -> Any:
    """Parameters or ResultSelector filled: a "key.$" takes the value of its path or intrinsic."""
    if isinstance(node, list):
        return [_template(v, data, ctx) for v in node]
    if not isinstance(node, dict):
        return node

    def expression(key: str, value: str) -> Any:
        return (_format if value.startswith("States.") else _get)(value, data, ctx, f"the field {key!r}")

    return {
        k.removesuffix(".$"): expression(k, v) if k.endswith(".$") else _template(v, data, ctx)
        for k, v in node.items()
    }


def _holds(rule: Mapping[str, Any], data: Any, ctx: Mapping[str, Any]) -> bool:
    """Whether a Choice rule holds. A Variable that is not there raises States.Runtime, as in AWS, unless
    IsPresent tests it (moto's interpreter takes the Default instead); And/Or stop at the first answer, so an
    IsPresent first guards the rest. A value of another type does not match: no error (AWS, localstack)."""
    if "And" in rule or "Or" in rule:
        combine = all if "And" in rule else any
        return combine(_holds(r, data, ctx) for r in rule.get("And", rule.get("Or", [])))
    if "Not" in rule:
        return not _holds(rule["Not"], data, ctx)
    op = next(k for k in rule if k not in ("Variable", "Next", "Comment"))
    expected = rule[op]
    if op == "IsPresent":
        return bool((_lookup(rule["Variable"], data, ctx) is not _MISSING) == expected)
    value = _get(rule["Variable"], data, ctx, f"the Choice rule's Variable ({op})")
    if op in _TESTS:
        return bool(_TESTS[op](value) == expected)
    kind, compare = _COMPARISONS[op.removesuffix("Path")]
    if op.endswith("Path"):
        expected = _get(expected, data, ctx, op)
    return _KINDS[kind](value) and _KINDS[kind](expected) and bool(compare(value, expected))


def _matches(names: list[str], error: str) -> bool:
    # States.ALL matches every error (but States.Runtime, never handled); States.TaskFailed all but a timeout.
    return (
        error in names
        or "States.ALL" in names
        or ("States.TaskFailed" in names and error != "States.Timeout")
    )


def _retry_delay(retriers: list[dict[str, Any]], retried: list[int], error: str) -> float | None:
    """Seconds before the next attempt, or None: the first Retrier matching the error decides, and once it has
    used its MaxAttempts the error goes to the Catch (a later Retrier matching it too is not consulted)."""
    for i, retrier in enumerate(retriers):
        if _matches(retrier["ErrorEquals"], error):
            if retried[i] >= retrier.get("MaxAttempts", 3):
                return None
            delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** retried[i]
            retried[i] += 1
            return float(min(delay, retrier.get("MaxDelaySeconds", math.inf)))
    return None


class StateMachine:
    """A validated definition and the callables its Task states call, by resource.

    For `arn:aws:states:::lambda:invoke`, `tasks[FunctionName]` (after substitution) is called with the
    resolved Payload and its return value becomes {"Payload": value, "StatusCode": 200}, as the integration
    gives. For any other resource, `tasks[resource]` is called with the resolved Parameters and the task token
    ($$.Task.Token in a .waitForTaskToken task) and returns the task's result. A callable raising TaskFailed
    fails the task with that error; raising an exception of `catchable` fails it as Lambda reports one: the
    Error is the class name, the Cause json.dumps({"errorMessage": str(exc), "errorType": class name}). Other
    exceptions propagate out of the execution (a bug in a fake is not caught by States.ALL). A callable
    raising TaskFailed("States.Timeout") takes the task's TimeoutSeconds (or TimeoutSecondsPath) first.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        substitutions: Mapping[str, str] | None = None,
        tasks: Mapping[str, Callable[..., Any]] | None = None,
        catchable: tuple[type[Exception], ...] = (Exception,),
    ) -> None:
        """Raises UnsupportedDefinition for what the interpreter does not follow, naming state and field."""
        # As Step Functions does, substitutions replace ${Name} in the definition's text.
        text = json.dumps(definition)
        if missing := sorted(set(_PLACEHOLDER.findall(text)) - set(substitutions or {})):
            raise UnsupportedDefinition(f"no substitution given for ${{{missing[0]}}}")
        filled = json.loads(_PLACEHOLDER.sub(lambda m: json.dumps((substitutions or {})[m[1]])[1:-1], text))
        extra = sorted(set(filled) - {"Comment", "StartAt", "States", "Version"})
        if extra or not isinstance(filled.get("States"), dict) or not filled["States"]:
            raise UnsupportedDefinition(f"top level: unsupported fields {extra}, or no States")
        self.states: dict[str, dict[str, Any]] = filled["States"]
        self.start_at: str = filled.get("StartAt", "")
        if self.start_at not in self.states:
            raise UnsupportedDefinition(f"top level: StartAt {self.start_at!r} names no state")
        for name, state in self.states.items():
            self._validate(name, state)
        self.tasks = dict(tasks or {})
        self.catchable = catchable

    @classmethod
    def from_file(
        cls, path: str | Path, substitutions: Mapping[str, str] | None = None, **kw: Any
    ) -> StateMachine:
        """The state machine of an .asl.json file; raises UnsupportedDefinition as the constructor does."""
        return cls(json.loads(Path(path).read_text()), substitutions, **kw)

    def _validate(self, name: str, state: Any) -> None:
        def need(ok: Any, where: str, problem: str) -> None:
            if not ok:
                raise UnsupportedDefinition(f"state {name!r}, field {where}: {problem}")

        def fields(node: Any, where: str, allowed: set[str]) -> None:
            need(isinstance(node, dict), where or "Type", "an object")
            extra = ", ".join(where + key for key in sorted(set(node) - allowed))
            need(not extra, extra, f"not supported in a {state.get('Type')} state")
            for key, value in node.items():
                check, problem = _CHECKS.get(key, (lambda _: True, ""))
                need(check(value), where + key, problem)
            target = node.get("Next", name)
            need(target in self.states, where + "Next", f"{target!r} names no state")

        def template(node: Any, where: str) -> None:
            for key, value in node.items() if isinstance(node, dict) else enumerate(node or []):
                if not str(key).endswith(".$"):
                    template(value if isinstance(value, dict | list) else None, f"{where}.{key}")
                elif not isinstance(value, str) or not value.startswith("States."):
                    need(_path_ok(value), f"{where}.{key}", f"unsupported JSONPath {value!r}")
                else:
                    try:
                        _parse_format(value)
                    except ValueError as exc:
                        need(False, f"{where}.{key}", str(exc))

        def rule(node: Any, where: str, top: bool) -> None:
            fields(node, where, set(node) if isinstance(node, dict) else set())
            need(top == ("Next" in node), where + "Next", "in a top-level rule only, and there required")
            ops = sorted(set(node) - {"Next", "Comment", "Variable"})
            need(len(ops) == 1, where[:-1], f"one operator per rule, not {ops}")
            op, value, variable = ops[0], node[ops[0]], node.get("Variable")
            if op in ("And", "Or", "Not"):
                subs = [value] if op == "Not" else value if isinstance(value, list) else []
                need(subs and variable is None, where + op, "rules, and no Variable")
                for i, sub in enumerate(subs):
                    rule(sub, f"{where}{op}." if op == "Not" else f"{where}{op}[{i}].", False)
                return
            need(_path_ok(variable), where + "Variable", f"unsupported JSONPath {variable!r}")
            base = op.removesuffix("Path")
            kind = "Boolean" if op in _TESTS or op == "IsPresent" else _COMPARISONS.get(base, ("",))[0]
            need(kind, where + op, "Choice operator not supported")
            expects = "a JSONPath" if op != base else kind
            need(
                _path_ok(value) if op != base else _KINDS[kind](value),
                where + op,
                f"{value!r} is not {expects}",
            )

        need(isinstance(state, dict) and state.get("Type") in _FIELDS, "Type", f"one of {sorted(_FIELDS)}")
        kind = state["Type"]
        fields(state, "", _FIELDS[kind])
        pairs = [("Next", "End")] if kind in ("Task", "Pass", "Wait") else []
        for one, other in pairs + ([("Seconds", "SecondsPath")] if kind == "Wait" else []):
            need((one in state) != (other in state), f"{one}/{other}", "exactly one of them")
        for key in ("TimeoutSeconds", "Error", "Cause"):
            need(key not in state or f"{key}Path" not in state, f"{key}Path", f"not with {key}")
        for required in {"Task": ["Resource"], "Choice": ["Choices"]}.get(kind, []):
            need(required in state, required, f"a {kind} state needs one")
        need(state.get("Default", name) in self.states, "Default", f"{state.get('Default')!r} names no state")
        for key in ("Parameters", "ResultSelector"):
            template(state.get(key), key)
        if state.get("Resource") == LAMBDA_INVOKE:
            keys = set(state.get("Parameters", {}))
            payloads = ({"FunctionName", "Payload"}, {"FunctionName", "Payload.$"})
            need(keys in payloads, "Parameters", "lambda:invoke takes FunctionName and Payload only")
        for key, allowed in (("Retry", _RETRY), ("Catch", _CATCH)):
            for i, item in enumerate(state.get(key, [])):
                fields(item, f"{key}[{i}].", allowed | {"Comment"})
                for required in ("ErrorEquals", "Next") if key == "Catch" else ("ErrorEquals",):
                    need(required in item, f"{key}[{i}].{required}", "required")
        for i, choice in enumerate(state.get("Choices", [])):
            rule(choice, f"Choices[{i}].", True)

    def run(
        self, input: Any, name: str = "execution", max_states: int = 10_000
    ) -> Generator[float, None, ExecutionResult]:
        """Starts an execution named `name`: yields the seconds it waits and returns its ExecutionResult.

        An error no Catch handles ends it FAILED, as in Step Functions, not as an exception; so does running
        more than `max_states` states (AWS fails an execution whose history outgrows 25,000 events). Raises
        LookupError for a Task whose resource or function has no callable, TypeError for a result not JSON.
        """
        data = _json(input)
        ctx: dict[str, Any] = {"Execution": {"Id": f"arn:aws:states:::execution:{name}", "Name": name}}
        visited: list[str] = []
        current = self.start_at
        try:
            while len(visited) < max_states:
                visited.append(current)
                state = self.states[current]
                ctx["State"] = {"Name": current, "RetryCount": 0}
                if state["Type"] == "Fail":
                    error, cause = (self._field(state, key, data, ctx) for key in ("Error", "Cause"))
                    return ExecutionResult(FAILED, None, error, cause, visited)
                following, data = yield from self._state(current, state, data, ctx)
                if following is None:
                    return ExecutionResult(SUCCEEDED, _json(data), visited=visited)  # shares nothing
                current = following
        except TaskFailed as failure:
            return ExecutionResult(FAILED, None, failure.error, failure.cause, visited)
        return ExecutionResult(FAILED, None, "States.Runtime", f"more than {max_states} states ran", visited)

    @staticmethod
    def _field(state: Mapping[str, Any], key: str, data: Any, ctx: Mapping[str, Any]) -> Any:
        """state[key], or the value at state[keyPath]; raises States.Runtime if that is not what key holds."""
        if f"{key}Path" not in state:
            return state.get(key)
        value = _get(state[f"{key}Path"], data, ctx, f"{key}Path")
        check, problem = _CHECKS[key]
        if not check(value):
            raise _runtime(f"{key}Path {state[f'{key}Path']!r} is {json.dumps(value)}, not {problem}")
        return value

    def _state(
        self, name: str, state: Mapping[str, Any], raw: Any, ctx: dict[str, Any]
    ) -> Generator[float, None, tuple[str | None, Any]]:
        """Runs one state on its raw input; returns (the next state, or None to end, its output)."""
        data = _select(raw, state.get("InputPath", "$"), ctx, "InputPath")
        kind, following, out = state["Type"], state.get("Next"), data
        if kind == "Task":
            return (yield from self._task(name, state, raw, data, ctx))
        if kind == "Pass":
            result = (
                _template(state["Parameters"], data, ctx)
                if "Parameters" in state
                else state.get("Result", data)
            )
            out = _put(raw, state.get("ResultPath", "$"), result)
        elif kind == "Wait":
            yield float(self._field(state, "Seconds", data, ctx))
        elif kind == "Choice":
            following = next(
                (r["Next"] for r in state["Choices"] if _holds(r, data, ctx)), state.get("Default")
            )
            if following is None:
                raise TaskFailed(
                    "States.NoChoiceMatched", f"no rule of {name!r} matched and it has no Default"
                )
        return following, _select(out, state.get("OutputPath", "$"), ctx, "OutputPath")

    def _task(
        self, name: str, state: Mapping[str, Any], raw: Any, data: Any, ctx: dict[str, Any]
    ) -> Generator[float, None, tuple[str | None, Any]]:
        """Runs a Task with its Retry and Catch; returns (the next state, its output) as _state does."""
        timeout = self._field(state, "TimeoutSeconds", data, ctx)
        retried = [0] * len(state.get("Retry", []))
        while True:
            try:
                result = self._call(name, state, data, ctx)
                if "ResultSelector" in state:
                    result = _template(state["ResultSelector"], result, ctx)
                out = _put(raw, state.get("ResultPath", "$"), result)
                return state.get("Next"), _select(out, state.get("OutputPath", "$"), ctx, "OutputPath")
            except TaskFailed as failure:
                if failure.error == "States.Runtime":
                    raise
                if failure.error == "States.Timeout" and timeout:
                    yield float(timeout)  # the task waited its whole timeout for an answer
                delay = _retry_delay(state.get("Retry", []), retried, failure.error)
                if delay is not None:
                    yield delay
                    ctx["State"]["RetryCount"] += 1
                    continue
                catcher = next(
                    (c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], failure.error)), None
                )
                if catcher is None:
                    raise
                # A Catch's ResultPath applies to the raw input (before InputPath); no OutputPath follows.
                error = {"Error": failure.error, "Cause": failure.cause}
                return catcher["Next"], _put(raw, catcher.get("ResultPath", "$"), error)

    def _call(self, name: str, state: Mapping[str, Any], data: Any, ctx: dict[str, Any]) -> Any:
        """One attempt of a Task: the bound callable's result; raises TaskFailed for what it raised."""
        resource = state["Resource"]
        token = f"{ctx['Execution']['Name']}/{name}/{ctx['State']['RetryCount']}"
        if resource.endswith(".waitForTaskToken"):
            ctx = {**ctx, "Task": {"Token": token}}
        params = _template(state["Parameters"], data, ctx) if "Parameters" in state else data
        key = params["FunctionName"] if resource == LAMBDA_INVOKE else resource
        if key not in self.tasks:
            raise LookupError(f"state {name!r}: no callable bound for {key!r} (resource {resource})")
        try:
            if resource == LAMBDA_INVOKE:
                value = {"Payload": self.tasks[key](_json(params.get("Payload"))), "StatusCode": 200}
            else:
                value = self.tasks[key](_json(params), token)
        except TaskFailed:
            raise
        except self.catchable as exc:
            kind = type(exc).__name__
            raise TaskFailed(kind, json.dumps({"errorMessage": str(exc), "errorType": kind})) from exc
        return _json(value)


def run_to_end(
    machine: StateMachine,
    input: Any,
    name: str = "execution",
    clock_advance: Callable[[float], None] | None = None,
    max_states: int = 10_000,
) -> ExecutionResult:
    """Runs an execution to its end, passing each wait to `clock_advance`; returns its ExecutionResult."""
    execution = machine.run(input, name, max_states)
    while True:
        try:
            seconds = next(execution)
        except StopIteration as done:
            result: ExecutionResult = done.value
            return result
        if clock_advance is not None:
            clock_advance(seconds)
