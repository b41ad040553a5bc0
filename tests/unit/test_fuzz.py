"""Every entry point fuzzed: the alarm router, `plan`, `validate-config`, the workflows' step handlers and the
trace readers, fed random and mutated input. Each answers with its own error (or a result) and never a crash,
and nothing malformed is acted on.

`make test` runs a fast profile; `make fuzz` runs each property on FUZZ_EXAMPLES inputs (10,000 there), and
prints, per entry point, the inputs tried, how they ended, and the time taken.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.policy import PolicyError, parse_policy_document
from genai_autoscaler.errors import AutoscalerError, InvalidEvent
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_local.lambda_runtime import FakeContext
from genai_autoscaler_tools.cli.main import main as cli
from genai_autoscaler_tools.memory import MemoryRoutes, StaticController, memory_controller
from genai_autoscaler_tools.sim.traces import TraceFormatError, read_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW, observed
from tests.unit.test_handlers import FUNCTIONS, RememberedRecords, handler_module

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES < 1000,  # the fast profile is the same every run; `make fuzz` explores
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
EVENTS = FUNCTIONS.parent / "events"
ALARM_EVENTS = [
    "alarm_concurrency_alarm.json",
    "alarm_latency_alarm.json",
    "alarm_metric_math.json",
    "alarm_composite.json",
    "alarm_bedrock_throttles.json",
    "alarm_ic_no_capacity.json",
]
POLICIES: dict[str, Any] = {
    "version": 1,
    "targets": [
        {"type": "sagemaker_variant", "endpoint_name": "llm-prod", "capacity": {"min": 1, "max": 8}},
        {"type": "bedrock_model", "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
    ],
}

# ------------------------------------------------------------------------------------------ what is tallied

TALLY: dict[str, Counter[str]] = {}
SECONDS: Counter[str] = Counter()


@contextlib.contextmanager
def tallied(entry_point: str, outcome: Callable[[], str]) -> Iterator[None]:
    """Counts one input of `entry_point` under the outcome `outcome()` names once the block has run."""
    started = time.perf_counter()
    try:
        yield
    finally:
        SECONDS[entry_point] += time.perf_counter() - started
        TALLY.setdefault(entry_point, Counter())[outcome()] += 1


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if EXAMPLES >= 1000:  # `make fuzz`: the figures for the closing note
        print("\nentry point                        inputs  crashes  acted on malformed  outcomes  time")
        for name, counts in TALLY.items():
            total = sum(counts.values())
            outcomes = ", ".join(f"{k} {v}" for k, v in counts.most_common() if k not in ("crash", "acted"))
            print(
                f"{name:<34} {total:>6}  {counts['crash']:>7}  {counts['acted']:>18}  {outcomes}  "
                f"{SECONDS[name]:.1f} s"
            )


# ------------------------------------------------------------------------------------------ strategies

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA", "", "\u202e\u0000", "2026-11-24T10:02:35Z"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def nested(depth: int) -> Any:
    value: Any = 0
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


DEEP = st.integers(min_value=200, max_value=5000).map(nested)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (mapping keys and list indices), down to 12 levels."""
    found = [prefix] if prefix else []
    if len(prefix) >= 12:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """`original` with one to three of its values replaced, removed, or given an extra sibling."""
    value = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        where = paths(value)
        if not where:
            return draw(JSON)
        path = draw(st.sampled_from(where))
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        how = draw(st.sampled_from(["replace", "replace", "deep", "remove", "extra"]))
        if how == "remove" and isinstance(parent, dict):
            del parent[last]
        elif how == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(JSON | DEEP)
        else:
            parent[last] = draw(DEEP) if how == "deep" else draw(JSON)
    return value


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def reason_data(value: Any) -> str:
    return json.dumps(value, allow_nan=True) if not isinstance(value, str) else value


MALFORMED_REASON = st.one_of(
    st.text(max_size=40).filter(lambda t: not t.strip().startswith("{")),
    JSON.filter(lambda v: not isinstance(v, dict)).map(reason_data),
    st.builds(
        lambda points: {"recentDatapoints": points, "threshold": 8.0},
        JSON.filter(lambda v: not isinstance(v, list)),
    ).map(reason_data),
    st.builds(
        lambda good, bad: {"recentDatapoints": [*good, bad], "threshold": 8.0},
        st.lists(st.floats(0, 100), max_size=3),
        st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**400, "19.0", None, [19.0], True]),
    ).map(reason_data),
    st.sampled_from([float("nan"), float("inf"), 10**400, "8", None]).map(
        lambda bad: reason_data({"recentDatapoints": [19.0], "threshold": bad})
    ),
    DEEP.map(json.dumps),
)

# ------------------------------------------------------------------------------------------ the alarm router


def router() -> Any:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    return handler_module("alarm_router")


def controller(**ports: Any) -> StaticController:
    """The stack the sample events belong to, with llm-prod at 2 instances, and routes and Provisioned
    Throughput for the Bedrock model: a well-formed event or step is acted on."""
    settings = ControllerSettings(stack_name="genai-autoscaler")
    observed_now = {"variant/llm-prod/AllTraffic": observed(2)}
    ctl = memory_controller(POLICIES, observed=observed_now, settings=settings, **ports)
    bedrock = FakeBedrock(SimClock(NOW), provisioning_seconds=0)
    return dataclasses.replace(ctl, routes=MemoryRoutes(), provisioned=BedrockProvisionedThroughputs(bedrock))


def spent(ctl: StaticController) -> bool:
    """Whether anything was changed, bought, routed or sent."""
    routes: MemoryRoutes = ctl.routes  # type: ignore[assignment]
    bedrock: FakeBedrock = ctl.provisioned._bedrock  # type: ignore[union-attr]
    return bool(
        ctl.capacity.changes  # type: ignore[attr-defined]
        or routes.published
        or bedrock.provisioned_model_arns()
        or ctl.notifier.published  # type: ignore[attr-defined]
    )


def routed(module: Any, event: Any) -> tuple[str, StaticController]:
    """Runs the router on `event`; returns how it ended and the controller, to see what it did."""
    ctl = controller(clock=lambda: NOW)
    try:
        module.handler(
            event, FakeContext("AlarmRouter", "arn"), controller=ctl, persistence=RememberedRecords()
        )
    except InvalidEvent:
        return "refused", ctl
    except AutoscalerError as exc:
        return type(exc).__name__, ctl
    return "answered", ctl


def acted(ctl: StaticController) -> bool:
    return bool(ctl.workflows.started or ctl.notifier.published)  # type: ignore[attr-defined]


ROUTER = router()


@FUZZ
@given(st.sampled_from(ALARM_EVENTS).flatmap(lambda name: mutated(sample(name))) | JSON | DEEP)
def test_the_router_answers_any_event_with_an_outcome_or_its_own_error(event: Any) -> None:
    outcome = "crash"
    with tallied("alarm router: whole event", lambda: outcome):
        outcome, ctl = routed(ROUTER, event)
        if outcome == "refused" and acted(ctl):
            outcome = "acted"
    assert outcome != "acted", "a refused event was acted on"


@FUZZ
@given(st.sampled_from(ALARM_EVENTS[:2] + ALARM_EVENTS[4:]), MALFORMED_REASON)
def test_an_alarm_whose_reason_data_is_not_as_cloudwatch_writes_it_is_refused_and_not_acted_on(
    name: str, reason: str
) -> None:
    event = sample(name)
    event["detail"]["state"]["reasonData"] = reason
    outcome = "crash"
    with tallied("alarm router: reasonData", lambda: outcome):
        outcome, ctl = routed(ROUTER, event)
        if acted(ctl):
            outcome = "acted"
    assert outcome == "refused"


def test_a_concurrency_alarm_whose_reason_data_is_not_json_is_refused_by_name() -> None:
    event = sample("alarm_concurrency_alarm.json")
    event["detail"]["state"]["reasonData"] = "Threshold Crossed: 3 datapoints"
    ctl = controller()
    with pytest.raises(InvalidEvent, match=r"detail.state.reasonData: is not JSON"):
        ROUTER.handler(
            event, FakeContext("AlarmRouter", "arn"), controller=ctl, persistence=RememberedRecords()
        )
    assert not acted(ctl)


def test_an_alarm_event_with_no_metrics_and_no_rule_is_refused_by_name() -> None:
    event = sample("alarm_concurrency_alarm.json")
    event["detail"]["configuration"]["metrics"] = []
    with pytest.raises(InvalidEvent, match=r"detail.configuration: names no metrics and no alarmRule"):
        routed_strict(event)


def routed_strict(event: Any) -> Any:
    ctl = controller(clock=lambda: NOW)  # when the sample events were sent
    return ROUTER.handler(
        event, FakeContext("AlarmRouter", "arn"), controller=ctl, persistence=RememberedRecords()
    )


def test_a_deeply_nested_field_the_router_ignores_does_not_crash_it() -> None:
    event = sample("alarm_concurrency_alarm.json")
    event["detail"]["extra"] = nested(5000)
    assert routed_strict(event)["dispatch"] == "workflow_started"


# ------------------------------------------------------------------------------------------ plan and validate-config


def run_cli(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli(args)


EXIT_MEANING = {0: "answered", 1: "invalid policies", 2: "bad input"}


@FUZZ
@given(st.sampled_from(ALARM_EVENTS).flatmap(lambda name: mutated(sample(name))) | JSON)
def test_plan_answers_any_event_file_with_an_exit_code(tmp_path: Path, event: Any) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event, allow_nan=True))
    policies = tmp_path / "policies.json"
    policies.write_text(json.dumps(POLICIES))
    outcome = "crash"
    with tallied("plan", lambda: outcome):
        outcome = EXIT_MEANING[run_cli(["plan", "--event", str(path), "--policies", str(policies)])]


EXAMPLE_POLICIES = json.loads(
    json.dumps(yaml.safe_load((FUNCTIONS.parent / "config" / "policies.example.yaml").read_text()))
)


@FUZZ
@given(
    mutated(EXAMPLE_POLICIES)
    | JSON
    | DEEP
    | st.builds(lambda kind: {"targets": [{"type": kind, "endpoint_name": "x"}]}, JSON)
    | st.text(max_size=200)
)
def test_validate_config_answers_any_document_with_exit_0_1_or_2(tmp_path: Path, document: Any) -> None:
    path = tmp_path / ("policies.yaml" if isinstance(document, str) else "policies.json")
    text = document if isinstance(document, str) else json.dumps(document, allow_nan=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # a lone surrogate: a file that is not UTF-8
    outcome = "crash"
    with tallied("validate-config", lambda: outcome):
        outcome = {0: "valid", 1: "invalid", 2: "unreadable"}[run_cli(["validate-config", str(path)])]


def test_a_target_whose_type_is_a_list_is_named_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "policies.json"
    path.write_text(
        json.dumps({"defaults": {"capacity": {"max": 4}}, "targets": [{"type": ["sagemaker_variant"]}]})
    )
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        assert cli(["validate-config", str(path)]) == 1
    assert "targets[0]" in stderr.getvalue()


# ------------------------------------------------------------------------------------------ the step handlers

SCALE_STEPS = handler_module("scale_steps")
ROUTING_STEPS = handler_module("routing_steps")


def scale_document() -> dict[str, Any]:
    from tests.unit.builders import variant
    from tests.unit.test_scale_workflow_steps import scale_out_plan, workflow

    return workflow(scale_out_plan(), variant()) | {"error": {"Error": "InServiceTimeout", "Cause": ""}}


def routing_document() -> dict[str, Any]:
    from tests.unit.test_routing_workflow import PROFILE, TARGET_ID, policy

    plan = {
        "action": "shift_to_profile",
        "target": TARGET_ID.removeprefix("bedrock/"),
        "target_id": TARGET_ID,
        "kind": "bedrock_model",
        "reason": "throttling",
        "decided_at": NOW.isoformat(),
        "route_to": PROFILE,
    }
    return {
        "request": {"plan": plan, "policy": policy().model_dump(mode="json")},
        "execution": "shift-1",
        "error": {"Error": "ActuationRejected", "Cause": ""},
    }


SCALE_DOCUMENT, ROUTING_DOCUMENT = scale_document(), routing_document()
FAILURE_STEPS = {"scale": "restore_safe_state", "routing": "abandon_provisioned"}


def stepped(workflow: str, step: Any, state: Any) -> tuple[str, StaticController]:
    module = SCALE_STEPS if workflow == "scale" else ROUTING_STEPS
    ctl = controller(clock=lambda: NOW)
    try:
        result = module.handler({"step": step, "state": state}, FakeContext("Steps", "arn"), controller=ctl)
    except InvalidEvent:
        return "refused", ctl
    except AutoscalerError as exc:
        return type(exc).__name__, ctl
    if step == FAILURE_STEPS[workflow]:
        assert isinstance(result["notification"]["subject"], str)
        assert isinstance(result["notification"]["message"], str)
    return "answered", ctl


STEP_NAMES = (
    st.sampled_from(
        [
            "acquire_lock",
            "apply",
            "check_capacity",
            "warm_up",
            "record_success",
            "restore_safe_state",
            "release_superseded",
            "plan_requested",
            "request_approval",
            "buy_provisioned",
            "check_provisioned",
            "publish_route",
            "release_provisioned",
            "abandon_provisioned",
            "not_approved",
        ]
    )
    | JSON
)


@FUZZ
@given(
    st.sampled_from(["scale", "routing"]),
    STEP_NAMES,
    st.sampled_from(["scale", "routing"]).flatmap(
        lambda w: mutated(SCALE_DOCUMENT if w == "scale" else ROUTING_DOCUMENT)
    )
    | JSON,
)
def test_a_step_handler_answers_any_payload_with_a_result_or_its_own_error(
    workflow: str, step: Any, state: Any
) -> None:
    outcome = "crash"
    with tallied(f"{workflow} steps", lambda: outcome):
        outcome, ctl = stepped(workflow, step, state)
        if outcome == "refused" and spent(ctl):
            outcome = "acted"
    assert outcome != "acted"


@FUZZ
@given(
    st.sampled_from(["scale", "routing"]).flatmap(
        lambda w: st.tuples(st.just(w), mutated(SCALE_DOCUMENT if w == "scale" else ROUTING_DOCUMENT) | JSON)
    )
)
def test_the_failure_step_never_fails_on_its_input(case: tuple[str, Any]) -> None:
    workflow, state = case
    outcome = "crash"
    with tallied(f"{FAILURE_STEPS[workflow]}", lambda: outcome):
        outcome, _ = stepped(workflow, FAILURE_STEPS[workflow], state)
        if not isinstance(state, dict):
            outcome = "not a mapping"  # the Task's payload is the state machine's, always a mapping
    assert outcome in ("answered", "not a mapping")


# ------------------------------------------------------------------------------------------ the trace readers

HEADERS = [
    "timestamp,input_tokens,output_tokens",
    "timestamp",
    "timestamp,rate_rps",
    "TIMESTAMP,ContextTokens,GeneratedTokens",
    "TIMESTAMP,NumImages,ContextTokens,GeneratedTokens",
    "model,timestamp,total_rate_rps,active_clients",
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
    "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type",
]
CELLS = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters=',"\r\n'), max_size=12),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "1e309",
            "1e30",
            "-5",
            "0",
            "12.5",
            "2026-11-24T10:02:35Z",
            "9999-12-31T23:59:59-23:59",
            "1" * 40,
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@FUZZ
@given(st.sampled_from(HEADERS), st.lists(st.lists(CELLS, min_size=0, max_size=5), min_size=0, max_size=8))
def test_a_trace_reader_answers_any_file_with_a_trace_or_a_named_error(
    tmp_path: Path, header: str, rows: list[list[str]]
) -> None:
    path = tmp_path / "trace.csv"
    text = "\n".join([header, *(",".join(row) for row in rows)]) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    outcome = "crash"
    with tallied("trace readers", lambda: outcome):
        try:
            read_trace(path, model=rows[0][0] if rows and rows[0] else None)
            outcome = "read"
        except TraceFormatError:
            outcome = "refused"


BURSTGPT_HEADERS = {
    6: "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
    8: "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type",
}


@FUZZ
@given(st.sampled_from(sorted(BURSTGPT_HEADERS)), st.data())
def test_a_burstgpt_trace_is_read_or_refused_by_name(
    tmp_path: Path, columns: int, data: st.DataObject
) -> None:
    # Rows of the header's width, so that they reach the cells' parsing; models from a few (one may be empty)
    model = st.sampled_from(["ChatGPT", "GPT-4", " ChatGPT", ""])
    row = st.lists(CELLS, min_size=columns, max_size=columns).flatmap(
        lambda cells: model.map(lambda m: [*cells[: columns - 5], m, *cells[columns - 4 :]])
    )
    rows = data.draw(st.lists(row, max_size=6))
    chosen = data.draw(st.sampled_from([None, "ChatGPT", "GPT-4"]))
    path = tmp_path / "BurstGPT.csv"
    text = "\n".join([BURSTGPT_HEADERS[columns], *(",".join(r) for r in rows)]) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    outcome = "crash"
    with tallied("trace readers (BurstGPT)", lambda: outcome):
        try:
            read_trace(path, model=chosen)
            outcome = "read"
        except TraceFormatError:
            outcome = "refused"


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
MOONCAKE_KEYS = st.sampled_from(["timestamp", "input_length", "output_length", "hash_ids", "user"])
JSON_NUMBERS = st.one_of(
    st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans()
)
MOONCAKE_RECORDS = st.fixed_dictionaries(
    {"timestamp": JSON_NUMBERS, "input_length": JSON_NUMBERS, "output_length": JSON_NUMBERS},
    optional={"hash_ids": st.lists(st.integers(0, 10**6), max_size=4)},
)


@FUZZ
@given(
    st.lists(
        st.one_of(
            MOONCAKE_RECORDS.map(json.dumps),
            MOONCAKE_RECORDS.map(json.dumps),
            st.dictionaries(MOONCAKE_KEYS, JSON_VALUES, max_size=5).map(json.dumps),
            st.text(max_size=20).map(lambda text: "{" + text),
        ),
        max_size=6,
    )
)
def test_a_json_lines_trace_is_read_or_refused_by_name(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(
        ("{}\n" if not lines else "").encode() + "\n".join(lines).encode("utf-8", "surrogatepass")
    )
    outcome = "crash"
    with tallied("trace readers (JSON lines)", lambda: outcome):
        try:
            read_trace(path)
            outcome = "read"
        except TraceFormatError:
            outcome = "refused"


@pytest.mark.parametrize(
    ("header", "row", "named"),
    [
        ("timestamp,rate_rps", "60", "expected 2 columns (timestamp,rate_rps), found 1"),
        ("model,timestamp,total_rate_rps,active_clients", "m,0,1.5", "expected 4 columns"),
        (
            "model,timestamp,total_rate_rps,active_clients",
            "m,0,1.5,many",
            "active_clients 'many' is not a number",
        ),
        ("timestamp,input_tokens,output_tokens", "0,1e30,10", "input_tokens '1e30' is more than 100,000,000"),
        ("timestamp", "nan", "timestamp 'nan' must be a finite number of seconds"),
        ("timestamp", "inf", "timestamp 'inf' must be a finite number of seconds"),
        ("timestamp", "1e300", "timestamp '1e300' must be a finite number of seconds within"),
    ],
    ids=[
        "short rate row",
        "short ServeGen row",
        "ServeGen clients not a number",
        "huge token count",
        "NaN time",
        "infinite time",
        "a time past any trace",
    ],
)
def test_a_broken_trace_row_is_named_with_its_line(tmp_path: Path, header: str, row: str, named: str) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(TraceFormatError, match=re.escape(f"{path}:2: ") + ".*" + re.escape(named)):
        read_trace(path, model="m" if header.startswith("model,") else None)


@pytest.mark.parametrize("step", [["apply"], {"apply": 1}, None, 3])
def test_a_step_that_is_not_a_name_is_refused(step: Any) -> None:
    with pytest.raises(InvalidEvent, match="a workflow step needs"):
        SCALE_STEPS.handler(
            {"step": step, "state": SCALE_DOCUMENT}, FakeContext("Steps", "arn"), controller=controller()
        )


def test_a_scale_workflow_given_a_routing_plan_refuses_it_and_its_failure_step_still_reports() -> None:
    with pytest.raises(
        InvalidEvent, match="a shift_to_profile plan is not carried out by the scale workflow"
    ):
        stepped_strict("scale", "record_success", ROUTING_DOCUMENT)
    result = stepped_strict("scale", "restore_safe_state", ROUTING_DOCUMENT)
    assert "could not read its input, so nothing was changed" in result["notification"]["message"]


def stepped_strict(workflow: str, step: str, state: dict[str, Any]) -> Any:
    module = SCALE_STEPS if workflow == "scale" else ROUTING_STEPS
    return module.handler(
        {"step": step, "state": state}, FakeContext("Steps", "arn"), controller=controller()
    )


@pytest.mark.parametrize(
    ("figure", "named"),
    [
        (
            {"bedrock": {"tokens_per_minute_quota": 10**400}},
            "bedrock.tokens_per_minute_quota: an integer of 1329 bits",
        ),
        (
            {"bedrock": {"hourly_budget_usd": float("inf")}},
            "bedrock.hourly_budget_usd: inf is not a finite number",
        ),
    ],
    ids=["a 400-digit quota", "an infinite budget"],
)
def test_a_figure_no_policy_can_hold_is_named_not_a_crash(figure: dict[str, Any], named: str) -> None:
    # (both crashed `validate-config` in a `make fuzz` run: float() of the quota, and an infinite budget passed)
    target = {"type": "bedrock_model", "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0", **figure}
    with pytest.raises(PolicyError, match=re.escape(f"targets[0].{named}")):
        parse_policy_document({"targets": [target]})
