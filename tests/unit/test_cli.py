"""The `genai-autoscaler` CLI, run in-process: what each command prints and the exit code it returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from genai_autoscaler import __version__
from genai_autoscaler.app.dispatch import ScaleRequest
from genai_autoscaler_tools.cli import inputs
from genai_autoscaler_tools.cli.commands import schema_text
from genai_autoscaler_tools.cli.main import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "policies.example.yaml"
SCHEMA = REPO / "config" / "policies.schema.json"
EVENTS = REPO / "events"
LLM_PROD = "variant/llm-prod/AllTraffic"
EVENT_TIME = "2026-11-24T10:02:35Z"  # the `time` of every sample alarm event

PLAN_KEYS = {
    "action",
    "target",
    "target_id",
    "desired_capacity",
    "current_capacity",
    "reason",
    "dispatch",
    "advisory",
    "signal",
    "observed_value",
    "threshold",
    "unit",
    "workflow",
    "notification",
}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def decision(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.out)
        return value


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Run:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def write(tmp_path: Path, name: str, content: str | dict[str, Any] | list[Any]) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def state_file(tmp_path: Path, targets: dict[str, Any]) -> Path:
    return write(tmp_path, "state.json", {"targets": targets})


def llm_prod_at(count: int, **state: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"observed": {"desired": count, "current": count, "status": "InService"}}
    if state:
        entry["state"] = state
    return {LLM_PROD: entry}


# -------------------------------------------------------------------------------------------- validate-config


@pytest.mark.parametrize(
    ("name", "kind", "capacity", "signals"),
    [
        ("llm-prod/AllTraffic", "sagemaker_variant", "capacity 2..12", "signals latency_p95, concurrency"),
        (
            "mme-prod/AllTraffic",
            "sagemaker_variant",
            "capacity 1..4",
            "signals latency_p95, concurrency, model_loading_wait",
        ),
        (
            "llama3-8b-ic",
            "inference_component",
            "capacity 0..4",
            "signals latency_p95, concurrency, no_capacity",
        ),
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "bedrock_model",
            "capacity -",
            "signals throttles, token_quota, latency_p95, ttft_p95",
        ),
        ("meta.llama3-1-70b-instruct-v1:0", "bedrock_model", "capacity -", "signals throttles"),
        ("amazon.nova-pro-v1:0", "bedrock_model", "capacity -", "signals throttles"),
    ],
    ids=["llm-prod", "mme-prod", "inference-component", "claude", "llama", "nova-advisory"],
)
def test_validate_config_lists_every_target_of_the_example(
    capsys: pytest.CaptureFixture[str], name: str, kind: str, capacity: str, signals: str
) -> None:
    # Given the shipped example document
    # When it is validated
    result = run(capsys, "validate-config", EXAMPLE)

    # Then it is valid, with six targets (and the Provisioned Throughput warnings after them), and this one's line
    # shows its type, capacity and signals
    assert result.code == 0, result.err
    assert result.err == ""
    lines = [line for line in result.out.splitlines() if not line.startswith("  warning: ")]
    assert lines[0] == f"{EXAMPLE}: valid, 6 targets"
    assert len(lines) == 7
    line = next(line for line in lines[1:] if line.split()[0] == name)
    assert line.split()[1] == kind
    assert capacity in line
    assert signals in line


def test_validate_config_marks_advisory_targets(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the example, where only the Nova model is advisory
    # When it is validated
    result = run(capsys, "validate-config", EXAMPLE)

    # Then only its line says so
    flagged = [line.split()[0] for line in result.out.splitlines() if "[advisory]" in line]
    assert flagged == ["amazon.nova-pro-v1:0"]


def test_validate_config_reads_json_documents(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given the example document written as JSON
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    path = write(tmp_path, "policies.json", document)

    # When it is validated
    result = run(capsys, "validate-config", path)

    # Then it is valid, like its YAML original
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"{path}: valid, 6 targets"


INVALID_DOCUMENT = """\
version: 1
defaults:
  scale_out: {max_step: 0}
  colour: blue
targets:
  - type: sagemaker_variant
    endpoint_name: llm-prod
    capacity: {min: 5, max: 2}
  - type: inference_component
    endpoint_name: shared-gpu-endpoint
  - type: bedrock_model
    model_id: Not A Model
  - type: lambda_function
"""


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("defaults.scale_out.max_step", "greater than or equal to 1 (got 0)"),
        ("defaults.colour", "unknown field 'colour'; allowed: advisory"),
        ("targets[0].capacity", "min (5) is above max (2)"),
        ("targets[1].inference_component_name", "Field required"),
        ("targets[2].model_id", "should match pattern"),
        (
            "targets[3].type",
            "unknown type 'lambda_function'; allowed: sagemaker_variant, inference_component",
        ),
    ],
    ids=["bad-default", "unknown-default", "min-above-max", "missing-name", "bad-model-id", "unknown-type"],
)
def test_validate_config_reports_every_problem_with_its_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str, message: str
) -> None:
    # Given a document with six problems
    path = write(tmp_path, "policies.yaml", INVALID_DOCUMENT)

    # When it is validated
    result = run(capsys, "validate-config", path)

    # Then it fails, and stderr has a `FILE: path: message` line for this problem
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any(line.startswith(f"{path}: {where}: ") and message in line for line in lines), result.err


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("policies.yaml", "targets: [\n  - a", "not valid YAML: line 2, column 3"),
        ("policies.json", '{"targets": [}', "not valid JSON: line 1, column 14"),
        ("policies.yaml", "targets:\n  - type: bedrock_model\n    name: 2024-01-01\n", "quote dates"),
        ("policies.yaml", "", "(document): Input should be a valid dictionary"),
        ("policies.yaml", "targets: []\n", "targets: the document names no target, so it manages nothing"),
        ("policies.yaml", "version: 1\n", "targets: the document names no target, so it manages nothing"),
    ],
    ids=["yaml-syntax", "json-syntax", "yaml-date", "empty", "no-targets", "version-only"],
)
def test_validate_config_names_the_file_that_is_no_valid_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str, expected: str
) -> None:
    # Given a file that was read, and is not a valid document
    path = write(tmp_path, name, content)

    # When it is validated
    result = run(capsys, "validate-config", path)

    # Then it fails with one message that names the file
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"{path}: ")
    assert expected in result.err


TRACE = "timestamp,rate_rps\n0,1\n60,1\n"
# Every command that reads a policy document, with {policies} for it: none gets as far as a trace or AWS.
POLICY_COMMANDS = {
    "validate-config": ["validate-config", "{policies}"],
    "plan": ["plan", "--event", str(EVENTS / "alarm_latency_alarm.json"), "--policies", "{policies}"],
    "publish-config": ["publish-config", "{policies}", "--stack", "prod-ai", "--region", "us-east-1"],
    "trace-export": [
        *("trace", "export", "--target", "llm-prod/AllTraffic", "--policies", "{policies}"),
        *("--start", "2026-11-24T00:00:00Z", "--end", "2026-11-24T01:00:00Z", "--output", "{tmp}/out.csv"),
    ],
    "simulate": ["simulate", "--trace", "{tmp}/trace.csv", "--policies", "{policies}"],
    "tune": ["tune", "--trace", "{tmp}/trace.csv", "--policies", "{policies}"],
}
UNUSABLE_POLICIES = [
    ("missing.yaml", None, 2, "cannot read the file: No such file or directory"),
    ("a-directory", "", 2, "cannot read the file: Is a directory"),
    ("latin-1.yaml", b"targets: []  # caf\xe9\n", 2, "cannot read the file"),
    ("policies.yaml", "targets: [\n  - a", 1, "not valid YAML"),
    ("policies.yaml", INVALID_DOCUMENT, 1, "targets[0].capacity: min (5) is above max (2)"),
]


@pytest.mark.parametrize(
    ("name", "content", "code", "expected"),
    UNUSABLE_POLICIES,
    ids=["missing", "directory", "not-utf-8", "yaml-syntax", "invalid"],
)
@pytest.mark.parametrize("command", list(POLICY_COMMANDS))
def test_every_command_gives_an_unusable_policy_document_the_same_exit_code(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    name: str,
    content: str | bytes | None,
    code: int,
    expected: str,
) -> None:
    # Given a policy file that cannot be read (exit 2), or is read and is invalid (exit 1)
    policies = tmp_path / name
    if isinstance(content, bytes):
        policies.write_bytes(content)
    elif name == "a-directory":
        policies.mkdir()
    elif content is not None:
        policies.write_text(content, encoding="utf-8")
    write(tmp_path, "trace.csv", TRACE)

    # When a command is given it
    argv = [arg.format(policies=policies, tmp=tmp_path) for arg in POLICY_COMMANDS[command]]
    result = run(capsys, *argv)

    # Then every command answers with the same exit code, naming the file
    assert result.code == code, result.err
    assert result.out == ""
    assert f"{policies}: " in result.err
    assert expected in result.err


# ------------------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class SampleEvent:
    file: str
    action: str
    target: str | None
    desired: int | None
    dispatch: str
    reason: str = ""


SAMPLE_EVENTS = [
    SampleEvent(
        "alarm_latency_alarm.json",
        "scale_out",
        "llm-prod/AllTraffic",
        3,
        "workflow_started",
        "to 3 instances",
    ),
    # 19 in flight per instance against 8, sized to the scale-in target (0.8): 2 x 19 / (8 x 0.8) -> 6, at once.
    SampleEvent(
        "alarm_concurrency_alarm.json",
        "scale_out",
        "llm-prod/AllTraffic",
        6,
        "workflow_started",
        "to 6 instances",
    ),
    SampleEvent("alarm_latency_ok.json", "ignore", "llm-prod/AllTraffic", None, "nothing", "is OK"),
    SampleEvent(
        "alarm_concurrency_insufficient_data.json",
        "ignore",
        "llm-prod/AllTraffic",
        None,
        "nothing",
        "No data",
    ),
    SampleEvent("alarm_mme_loading_wait.json", "scale_out", "mme-prod/AllTraffic", 4, "workflow_started"),
    SampleEvent("alarm_ic_no_capacity.json", "scale_out", "llama3-8b-ic", 1, "workflow_started"),
    SampleEvent(
        "alarm_bedrock_throttles.json",
        "shift_to_profile",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "workflow_started",
        "no added spend, a larger quota",
    ),
    SampleEvent("alarm_foreign_latency_average.json", "ignore", None, None, "nothing", "not one of ours"),
    SampleEvent("alarm_composite.json", "ignore", None, None, "nothing", "composite"),
    SampleEvent(
        "alarm_bedrock_ttft.json",
        "shift_to_priority_tier",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "workflow_started",
        "p95 time to first token 1,880 ms (threshold 1,500 ms)",
    ),
    SampleEvent(
        "alarm_bedrock_quota_usage.json",
        "shift_to_profile",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "workflow_started",
        "tokens per minute 371,000 (threshold 320,000)",
    ),
    SampleEvent(
        "alarm_adopted_latency.json",
        "shift_to_priority_tier",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "workflow_started",
        "p95 latency (alarm team-claude-prod-p95) 24,110 ms (threshold 18,000 ms)",
    ),
    SampleEvent(
        "alarm_adopted_composite.json",
        "shift_to_priority_tier",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        None,
        "workflow_started",
        "p95 time to first token (alarm team-claude-chat-degraded): ALARM (threshold 1,500 ms)",
    ),
    SampleEvent("alarm_metric_math.json", "ignore", None, None, "nothing", "metric math"),
]


def test_every_sample_alarm_event_has_a_plan_case() -> None:
    # Given the sample alarm events, When compared with the table, Then each has exactly one row
    assert sorted(case.file for case in SAMPLE_EVENTS) == sorted(p.name for p in EVENTS.glob("alarm_*.json"))


@pytest.mark.parametrize(
    "case", SAMPLE_EVENTS, ids=[case.file.removesuffix(".json") for case in SAMPLE_EVENTS]
)
def test_plan_decides_each_sample_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: SampleEvent
) -> None:
    # Given the example policies and llm-prod observed at 2 instances
    state = state_file(tmp_path, llm_prod_at(2))

    # When the sample event is planned, with the workflow's input
    result = run(capsys, "plan", "--event", EVENTS / case.file, "--state", state, "--workflow-input")

    # Then one JSON object says what the Lambda would decide and do
    assert result.code == 0, result.err
    decision = result.decision
    assert decision.keys() >= PLAN_KEYS
    assert (decision["action"], decision["target"], decision["desired_capacity"], decision["dispatch"]) == (
        case.action,
        case.target,
        case.desired,
        case.dispatch,
    )
    assert case.reason in decision["reason"]
    # The workflow input is exactly the plan, and a notification goes out only for a notify-only plan.
    if case.dispatch == "workflow_started":
        assert decision["workflow"] == ("routing" if case.action.startswith("shift_to") else "scale")
        request = ScaleRequest.model_validate(decision["workflow_input"])
        assert request.plan.model_dump(mode="json").items() <= decision.items()
        assert request.target_policy.name == case.target
    else:
        assert decision["workflow"] is None
        assert decision["workflow_input"] is None
    assert (decision["notification"] is not None) == (case.dispatch == "notified")


def test_plan_prints_the_plan_once_and_the_workflow_input_only_on_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an alarm that starts the scale workflow
    event = EVENTS / "alarm_latency_alarm.json"

    # When it is planned, without and with --workflow-input
    plain = run(capsys, "plan", "--event", event)
    full = run(capsys, "plan", "--event", event, "--workflow-input")

    # Then the plan's fields are printed once, with which workflow starts; its input (the plan again, and the
    # target's policy) is added only on request
    assert (plain.code, full.code) == (0, 0), plain.err + full.err
    assert plain.decision["workflow"] == "scale"
    assert not any(isinstance(value, dict) for value in plain.decision.values())
    assert len(plain.out.splitlines()) < 40
    assert full.decision == {**plain.decision, "workflow_input": full.decision["workflow_input"]}
    assert full.decision["workflow_input"]["plan"]["action"] == "scale_out"


def test_plan_reports_the_notification_it_would_send(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a Bedrock throttling alarm on a model the example policies keep advisory
    claude, nova = "anthropic.claude-3-5-sonnet-20240620-v1:0", "amazon.nova-pro-v1:0"
    event = tmp_path / "nova.json"
    named = (EVENTS / "alarm_bedrock_throttles.json").read_text().replace(claude, nova)
    event.write_text(named.replace(claude.replace(":", "-"), nova.replace(":", "-")))  # the alarm's name too
    # When it is planned
    result = run(capsys, "plan", "--event", event)

    # Then the notification for the team is in the output, with its figures
    notification = result.decision["notification"]
    assert notification["subject"].startswith(
        f"GenAI Autoscaler [advisory]: {nova} would shift to its cross-region profile"
    )
    assert "Observed: 37 (threshold 5)" in notification["message"]
    assert f"Route to: us.{nova}" in notification["message"]
    assert "Cost: billed per token, at on-demand prices (no hourly charge)" in notification["message"]


@dataclass(frozen=True)
class PlanCase:
    id: str
    targets: dict[str, Any] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    action: str = "scale_out"
    desired: int | None = None
    reason: str = ""
    dispatch: str = "workflow_started"


PLAN_CASES = [
    PlanCase("no state: llm-prod at its capacity.min of 2", desired=3, reason="from 2 instances to 3"),
    PlanCase(
        "cooldown: scaled out 60 s before the event",
        llm_prod_at(2, last_scale_out_at="2026-11-24T10:01:35Z"),
        action="ignore",
        reason="scale-out cooldown has 240 s left",
        dispatch="nothing",
    ),
    PlanCase(
        "--now after the cooldown",
        llm_prod_at(2, last_scale_out_at="2026-11-24T10:01:35Z"),
        ("--now", "2026-11-24T10:07:00+00:00"),
        desired=3,
    ),
    # Latency says the fleet is slow, not how much load it has: one more instance, and at the policy max of
    # 12 there is nothing more to add.
    PlanCase(
        "at the maximum: nothing more to add",
        llm_prod_at(12),
        action="notify_only",
        reason="policy max",
        dispatch="notified",
    ),
    PlanCase(
        "observed null: the endpoint does not exist",
        {LLM_PROD: {"observed": None}},
        action="notify_only",
        reason="was not found in SageMaker",
        dispatch="notified",
    ),
    PlanCase(
        "updating: waits for InService",
        {LLM_PROD: {"observed": {"desired": 2, "current": 2, "status": "Updating"}}},
        action="ignore",
        reason="is Updating",
        dispatch="nothing",
    ),
    PlanCase(
        "another stack's alarm",
        extra=("--stack", "other-stack"),
        action="ignore",
        reason="managed by genai-autoscaler, not other-stack",
        dispatch="nothing",
    ),
]


@pytest.mark.parametrize("case", PLAN_CASES, ids=[case.id for case in PLAN_CASES])
def test_plan_uses_the_state_time_and_stack_it_is_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: PlanCase
) -> None:
    # Given the latency alarm on llm-prod, and what AWS reports and the controller remembers
    state = state_file(tmp_path, case.targets)

    # When it is planned
    result = run(
        capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json", "--state", state, *case.extra
    )

    # Then the decision follows from them
    assert result.code == 0, result.err
    decision = result.decision
    assert (decision["action"], decision["desired_capacity"], decision["dispatch"]) == (
        case.action,
        case.desired,
        case.dispatch,
    )
    assert case.reason in decision["reason"]


def test_plan_decides_at_the_event_time_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a sample event, When it is planned without --now
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json")

    # Then the decision is dated at the event's time
    assert result.decision["decided_at"] == EVENT_TIME


VALID_EVENT: dict[str, Any] = json.loads((EVENTS / "alarm_latency_alarm.json").read_text(encoding="utf-8"))
# An alarm tagged as ours, on a variant the document does not name and whose endpoint name is no SageMaker name.
TAGGED_BAD_ENDPOINT: dict[str, Any] = {
    **VALID_EVENT,
    "detail": {
        **VALID_EVENT["detail"],
        "alarmTags": {"genai-autoscaler:managed-by": "genai-autoscaler"},
        "configuration": {
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "AWS/SageMaker",
                            "name": "ModelLatency",
                            "dimensions": {"EndpointName": "chat_prod!", "VariantName": "AllTraffic"},
                        },
                        "period": 60,
                        "stat": "p95",
                    },
                }
            ]
        },
    },
}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is not JSON", "not valid JSON: line 1, column 1"),
        ([VALID_EVENT], "the event must be a JSON object, not list"),
        ({k: v for k, v in VALID_EVENT.items() if k != "detail"}, "detail: Field required"),
        ({**VALID_EVENT, "detail-type": "Scheduled Event"}, "detail-type: Input should be 'CloudWatch Alarm"),
        (
            {**VALID_EVENT, "detail": {**VALID_EVENT["detail"], "state": {"value": "ALARM"}}},
            "detail.state.timestamp: Field required",
        ),
        (None, "cannot read the file"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-detail",
        "wrong-detail-type",
        "no-state-timestamp",
        "missing-file",
    ],
)
def test_plan_rejects_a_malformed_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | dict[str, Any] | None, expected: str
) -> None:
    # Given an event file that is not a CloudWatch alarm state change
    path = write(tmp_path, "event.json", content) if content is not None else tmp_path / "event.json"

    # When it is planned
    result = run(capsys, "plan", "--event", path)

    # Then nothing is decided, and stderr names the file and what is wrong
    assert result.code == 2
    assert result.out == ""
    assert f"{path}: " in result.err
    assert expected in result.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{", "not valid JSON"),
        (
            {"targets": {LLM_PROD: {"observed": {"desired": 2}}}},
            f"targets.{LLM_PROD}.observed.current: Field required",
        ),
        (
            {"targets": {LLM_PROD: {"state": {"last_scale_out_at": "2026-11-24T10:01:35"}}}},
            f"targets.{LLM_PROD}.state.last_scale_out_at: times must carry a time zone",
        ),
        (
            {"targets": {LLM_PROD: {"state": {"last_scale_out": "2026-11-24T10:01:35Z"}}}},
            f"targets.{LLM_PROD}.state.last_scale_out: unknown field 'last_scale_out'; "
            "did you mean 'last_scale_out_at'?",
        ),
        (
            {"targets": {LLM_PROD: {"observed": {"desired": -3, "current": 2, "status": "InService"}}}},
            f"targets.{LLM_PROD}.observed.desired: Input should be greater than or equal to 0 (got -3)",
        ),
        (
            {"targets": {LLM_PROD: {"observed": {"desired": 2, "current": 2, "status": "Sleeping"}}}},
            f"targets.{LLM_PROD}.observed.status: Input should be 'OutOfService', 'Creating',",
        ),
        (
            {"targets": {LLM_PROD: {"observed": {"desired": 2, "current": 2, "status": "Inservice"}}}},
            "(got 'Inservice'); did you mean 'InService'?",
        ),
        (
            {
                "targets": {
                    LLM_PROD: {
                        "observed": {
                            "desired": 2,
                            "current": 2,
                            "status": "InService",
                            "scalable_target": {"min_capacity": -1, "max_capacity": 4},
                        }
                    }
                }
            },
            f"targets.{LLM_PROD}.observed.scalable_target.min_capacity: Input should be greater than or equal to 0",
        ),
        (
            {"targets": {LLM_PROD: {"state": {"target_id": "variant/other/AllTraffic"}}}},
            "state.target_id is 'variant/other/AllTraffic', not its key",
        ),
        ({"target": {}}, "target: unknown field 'target'; did you mean 'targets'?"),
    ],
    ids=[
        "not-json",
        "observed-incomplete",
        "naive-time",
        "unknown-state-field",
        "negative-count",
        "unknown-status",
        "mistyped-status",
        "negative-floor",
        "other-target-id",
        "no-targets",
    ],
)
def test_plan_rejects_a_bad_state_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | dict[str, Any], expected: str
) -> None:
    # Given a state file that does not describe targets as documented
    path = write(tmp_path, "state.json", content)

    # When a sample event is planned with it
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json", "--state", path)

    # Then nothing is decided, and stderr names the file and the field
    assert result.code == 2
    assert result.out == ""
    assert f"{path}: " in result.err
    assert expected in result.err


def test_plan_warns_of_state_for_an_unknown_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a state file keyed by an endpoint name instead of a target id
    state = state_file(tmp_path, {"llm-prod": {"observed": None}})

    # When a sample event is planned with it
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json", "--state", state)

    # Then the plan is made on the defaults, with a warning that names the key
    assert result.code == 0
    assert result.decision["desired_capacity"] == 3
    assert "warning:" in result.err
    assert "targets.llm-prod: not a target id of the policy document" in result.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--now", "2026-11-24T10:07:00"), "has no time zone"),
        (("--now", "yesterday"), "not an ISO 8601 time"),
        (("--stack", "bad_stack!"), "not a CloudFormation stack name"),
    ],
    ids=["naive-now", "bad-now", "bad-stack"],
)
def test_plan_rejects_bad_options(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str
) -> None:
    # Given an option argparse cannot accept, When planned
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json", *argv)

    # Then it is a usage error
    assert result.code == 2
    assert expected in result.err


def test_plan_reports_invalid_policies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given an invalid policy document
    policies = write(tmp_path, "policies.yaml", INVALID_DOCUMENT)

    # When a sample event is planned with it
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json", "--policies", policies)

    # Then it fails as validate-config does
    assert result.code == 1
    assert f"{policies}: targets[0].capacity: min (5) is above max (2)" in result.err.splitlines()


def test_plan_says_when_the_default_policies_are_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an installation without the repository's example document
    missing = tmp_path / "policies.example.yaml"
    monkeypatch.setattr(inputs, "DEFAULT_POLICIES", missing)

    # When an event is planned without --policies
    result = run(capsys, "plan", "--event", EVENTS / "alarm_latency_alarm.json")

    # Then it says which file is missing and what to pass instead
    assert result.code == 2
    assert str(missing) in result.err
    assert "--policies FILE" in result.err


# ---------------------------------------------------------------------------------------------------- schema


def test_committed_schema_is_the_generated_one() -> None:
    # Given the committed schema, When compared with a freshly generated one, Then they are the same
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "config/policies.schema.json is stale: run `genai-autoscaler schema --output config/policies.schema.json`"
    )


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "output-file"])
def test_schema_command_prints_or_writes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, to_file: bool
) -> None:
    # Given a destination
    output = tmp_path / "schema.json"

    # When the schema is generated
    extra: list[str | Path] = ["--output", output] if to_file else []
    result = run(capsys, "schema", *extra)

    # Then it is the JSON Schema of the policy document
    assert result.code == 0
    text = output.read_text(encoding="utf-8") if to_file else result.out
    schema = json.loads(text)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "GenAI Autoscaler policy document"
    assert {"version", "defaults", "targets"} <= schema["properties"].keys()


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        (yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), True),
        ({"targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod", "colour": "blue"}]}, False),
        ({"targets": [{"type": "lambda_function"}]}, False),
    ],
    ids=["example", "unknown-field", "unknown-type"],
)
def test_schema_agrees_with_the_models(document: dict[str, Any], valid: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # Given the committed schema, When a document is checked against it, Then it agrees with the models
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert validator.is_valid(document) is valid


# -------------------------------------------------------------------------------------------- publish-config


@pytest.fixture
def aws(mocked_aws: None) -> Any:
    return boto3.client("ssm", region_name="us-east-1")


def test_publish_config_stores_the_document_as_json(capsys: pytest.CaptureFixture[str], aws: Any) -> None:
    # Given the example document and a stack
    # When it is published twice
    first = run(capsys, "publish-config", EXAMPLE, "--stack", "prod-ai")
    second = run(capsys, "publish-config", EXAMPLE, "--stack", "prod-ai", "--region", "us-east-1")

    # Then the stack's parameter holds the document as written, and each publication is a new version
    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert (
        first.out.strip()
        == f"published {EXAMPLE} to SSM parameter /genai-autoscaler/prod-ai/policies, version 1"
    )
    assert second.out.strip().endswith("version 2")
    stored = aws.get_parameter(Name="/genai-autoscaler/prod-ai/policies")["Parameter"]["Value"]
    assert json.loads(stored) == yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_publish_config_writes_nothing_when_invalid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, aws: Any
) -> None:
    # Given an invalid document
    path = write(tmp_path, "policies.yaml", INVALID_DOCUMENT)

    # When it is published
    result = run(capsys, "publish-config", path, "--stack", "prod-ai")

    # Then every problem is reported and no parameter is written
    assert result.code == 1
    assert f"{path}: defaults.scale_out.max_step: " in result.err
    assert aws.describe_parameters()["Parameters"] == []


def test_publish_config_says_when_no_region_is_configured(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no region anywhere in the AWS configuration
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    # When a valid document is published without --region
    result = run(capsys, "publish-config", EXAMPLE, "--stack", "prod-ai")

    # Then it fails as an AWS error and says how to give a region
    assert result.code == 3
    assert "pass --region" in result.err


# ----------------------------------------------------------------------------------------------- the program


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["validate-config", str(EXAMPLE)], 141),
        (["plan", "--event", str(EVENTS / "alarm_latency_alarm.json"), "--workflow-input"], 141),
        (["schema"], 141),
        (["--help"], 0),  # argparse writes help itself, and lets a closed stdout pass
    ],
    ids=["validate-config", "plan", "schema", "help"],
)
def test_a_reader_that_closes_stdout_early_ends_the_command_quietly(argv: list[str], code: int) -> None:
    # Given stdout a pipe whose reader has gone (`| head -1` that has its line)
    read_end, write_end = os.pipe()
    os.close(read_end)

    # When a command writes its output there
    try:
        ended = subprocess.run(
            [sys.executable, "-m", "genai_autoscaler_tools.cli.main", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)

    # Then it ends quietly, with the exit code a shell reports of a program ended by SIGPIPE
    assert ended.stderr.decode() == ""
    assert ended.returncode == code


@pytest.mark.parametrize(
    ("argv", "code", "expected_out", "expected_err"),
    [
        (["--version"], 0, f"genai-autoscaler {__version__}", ""),
        ([], 2, "", "the following arguments are required: COMMAND"),
        (["publish-config", "policies.yaml"], 2, "", "the following arguments are required: --stack"),
    ],
    ids=["version", "no-command", "publish-without-stack"],
)
def test_program(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, expected_out: str, expected_err: str
) -> None:
    # Given arguments, When the program runs, Then it returns the exit code instead of exiting
    result = run(capsys, *argv)
    assert result.code == code
    assert expected_out in result.out
    assert expected_err in result.err


def test_plan_ignores_an_alarm_tagged_ours_for_an_impossible_endpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given an alarm that claims to be this stack's, on an endpoint name SageMaker could not have given
    path = write(tmp_path, "event.json", TAGGED_BAD_ENDPOINT)
    # When it is planned
    result = run(capsys, "plan", "--event", path)
    # Then it is not the controller's business (the Lambda would not fail and retry on it)
    assert result.code == 0
    output = json.loads(result.out)
    assert (output["action"], output["target"], output["dispatch"]) == ("ignore", None, "nothing")


CLAUDE_ID = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"
BUSIEST_MINUTE = {
    "InputTokenCount": 300_000,
    "OutputTokenCount": 80_000,
    "Invocations": 250,
    "InvocationThrottles": 37,
}


def test_plan_sizes_provisioned_throughput_from_the_metrics_it_is_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given Claude already on its cross-region profile, and its busiest recent minute
    route = {
        "kind": "profile",
        "model": "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "since": "2024-06-26T09:00:00Z",
    }
    state = state_file(tmp_path, {CLAUDE_ID: {"state": {"route": route}, "metrics": BUSIEST_MINUTE}})
    # When its throttle alarm is planned
    result = run(capsys, "plan", "--event", EVENTS / "alarm_bedrock_throttles.json", "--state", state)
    # Then the next rung is Provisioned Throughput, sized for what the free quotas cannot carry (the example's
    # callers overflow to the profile, then the model): 380k + 37 / 3 attempts x 1,520 tokens is within 80% of
    # the model's 400k and the profile's 800k, so the least purchase, 1 unit at $88
    decision = result.decision
    assert (decision["action"], decision["model_units"], decision["hourly_cost_usd"]) == (
        "shift_to_provisioned",
        1,
        88.0,
    )
    assert "demand needs 1; 1 model unit" in decision["reason"]
    assert (decision["commitment"], decision["needs_approval"], decision["advisory"]) == (
        "none",
        False,
        False,
    )


def test_plan_refuses_a_metric_it_does_not_know(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = state_file(tmp_path, {CLAUDE_ID: {"metrics": {"TokensPerMinute": 1}}})
    result = run(capsys, "plan", "--event", EVENTS / "alarm_bedrock_throttles.json", "--state", state)
    assert result.code == 2
    assert "unknown metrics ['TokensPerMinute']" in result.err
