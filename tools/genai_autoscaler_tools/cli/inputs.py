"""What the commands read: policy documents, alarm events and state files, each checked, with the exit code and
the lines a problem is reported with."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from genai_autoscaler.domain.alarm_event import AlarmStateChangeEvent
from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    PolicyDocument,
    PolicyError,
    TargetPolicy,
    parse_written_document,
)
from genai_autoscaler.domain.signals import BEDROCK_DEMAND_METRICS
from genai_autoscaler.domain.state import Lock, ObservedCapacity, ScalableTargetFloor, TargetState
from genai_autoscaler.errors import unknown_name, validation_problems
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROG = "genai-autoscaler"


DEFAULT_STACK = "genai-autoscaler"  # samconfig.toml's stack name; the sample events' alarms carry it


DEFAULT_POLICIES = Path(__file__).resolve().parents[3] / "config" / "policies.example.yaml"


SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


SCHEMA_TITLE = "GenAI Autoscaler policy document"


# CloudFormation stack names; the stack name is also part of the SSM parameter's name.
STACK_NAME = r"[A-Za-z][A-Za-z0-9-]{0,127}"


EXIT_OK = 0


EXIT_INVALID_POLICIES = 1


EXIT_BAD_INPUT = 2


EXIT_AWS = 3


EXIT_UNEXPECTED = 4  # a failure the command did not foresee (a defect): its traceback goes to stderr


EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE: what a shell reports of `cat` or `grep` when their reader goes away


EXIT_CODES = """\
exit codes: 0 done; 1 the policy document was read and is invalid; 2 bad usage, or an input that cannot be
  read or used (a missing or unreadable file, the policy document's included); 3 AWS refused or could not be
  reached; 4 an unexpected failure (a defect: its traceback is on stderr); 141 stdout was closed by its reader
  (e.g. `| head`) before everything was written.
"""


STATE_FORMAT = """\
state file (--state):
  {"targets": {"<target_id>": {
      "observed": {"desired": 2, "current": 2, "status": "InService", "scalable_target": null},
      "state": {"last_scale_out_at": "2026-11-24T10:01:35Z"}}}}
  Target ids: variant/<endpoint>/<variant>, inference-component/<name>, bedrock/<model id>.
  A Bedrock model may also have "metrics": its busiest recent minute, e.g. {"InputTokenCount": 300000,
  "OutputTokenCount": 80000, "Invocations": 250, "InvocationThrottles": 37}, which size Provisioned Throughput;
  its "state" may hold "route": {"kind": "profile", "model": "us.<model id>", "since": "..."}.
  "observed" is what AWS reports (an ObservedCapacity); "observed": null means the target does not exist.
  A SageMaker target of the policy document with no "observed" entry is assumed to exist, InService,
  with desired = current = its capacity.min (a variant brought in only by an alarm's management tag is
  not: give it an "observed" entry). "state" holds TargetState fields (what the controller remembers);
  times need a zone.
"""


class CommandFailed(Exception):
    """A command cannot go on; `lines` go to stderr and `exit_code` is the process's exit status."""

    def __init__(self, exit_code: int, lines: list[str]):
        self.exit_code = exit_code
        self.lines = lines
        super().__init__("\n".join(lines))


def _read_text(path: Path, exit_code: int) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CommandFailed(exit_code, [f"{path}: cannot read the file: {reason}"]) from None


def _json_value(path: Path, text: str, exit_code: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandFailed(
            exit_code, [f"{path}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    except RecursionError:
        raise CommandFailed(exit_code, [f"{path}: nested too deeply to read"]) from None


def _yaml_value(path: Path, text: str) -> Any:
    import yaml  # not in the Lambda layer: only the CLI reads YAML

    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise CommandFailed(EXIT_INVALID_POLICIES, [f"{path}: nested too deeply to read"]) from None
    except yaml.YAMLError as exc:
        where = ""
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}: "
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
        raise CommandFailed(EXIT_INVALID_POLICIES, [f"{path}: not valid YAML: {where}{problem}"]) from None


def load_policy_file(path: Path) -> Any:
    """The decoded document in a YAML (or .json) file, as the Lambdas will read it back from JSON.

    Raises CommandFailed naming the file: exit 2 when it cannot be read, 1 when it is not a document.
    """
    text = _read_text(path, EXIT_BAD_INPUT)
    raw = (
        _json_value(path, text, EXIT_INVALID_POLICIES)
        if path.suffix.lower() == ".json"
        else _yaml_value(path, text)
    )
    # The document is published as JSON: validate exactly what the Lambdas will see (YAML dates or
    # non-string keys would otherwise pass here and fail, or read differently, there).
    try:
        return json.loads(json.dumps(raw))
    except RecursionError:
        raise CommandFailed(EXIT_INVALID_POLICIES, [f"{path}: nested too deeply to read"]) from None
    except (TypeError, ValueError) as exc:
        raise CommandFailed(
            EXIT_INVALID_POLICIES,
            [f"{path}: holds a value JSON cannot represent ({exc}); quote dates and times in YAML"],
        ) from None


def load_policies(path: Path) -> tuple[dict[str, Any], PolicyDocument]:
    """The document as written (what is published) and validated; CommandFailed (exit 1) lists every problem,
    exit 2 when the file cannot be read."""
    raw = load_policy_file(path)
    try:
        document = parse_written_document(raw)
    except PolicyError as exc:
        raise CommandFailed(
            EXIT_INVALID_POLICIES, [f"{path}: {where}: {message}" for where, message in exc.problems]
        ) from None
    return raw, document  # a document that validates is a mapping


def validation_lines(path: Path, exc: ValidationError, model: type[BaseModel]) -> list[str]:
    return [f"{path}: {where}: {message}" for where, message in validation_problems(exc, model=model)]


def _json_object(path: Path, what: str) -> dict[str, Any]:
    raw = _json_value(path, _read_text(path, EXIT_BAD_INPUT), EXIT_BAD_INPUT)
    if not isinstance(raw, dict):
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"{path}: {what} must be a JSON object, not {type(raw).__name__}"]
        )
    return raw


def load_event(path: Path) -> AlarmStateChangeEvent:
    """The alarm event in a JSON file; CommandFailed (exit 2) names the file and every bad field."""
    raw = _json_object(path, "the event")
    try:
        return AlarmStateChangeEvent.model_validate(raw)
    except ValidationError as exc:
        heading = f"{path}: not a CloudWatch Alarm State Change event:"
        raise CommandFailed(
            EXIT_BAD_INPUT, [heading, *validation_lines(path, exc, AlarmStateChangeEvent)]
        ) from None


def _naive_time(value: Any) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is None
    if isinstance(value, Lock):
        return value.acquired_at.tzinfo is None or value.expires_at.tzinfo is None
    return False


# SageMaker's EndpointStatus (botocore's sagemaker service model); an inference component's
# InferenceComponentStatus is one of them too.
SageMakerStatus = Literal[
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
]


class _ScalableTargetFixture(ScalableTargetFloor):
    model_config = ConfigDict(extra="forbid")

    min_capacity: int = Field(ge=0)
    max_capacity: int = Field(ge=0)


class _ObservedFixture(ObservedCapacity):
    # A mistyped key would otherwise be dropped without a word and the decision made on defaults; a count or a
    # status AWS never reports, decided on as if it could.
    model_config = ConfigDict(extra="forbid")

    desired: int = Field(ge=0)
    current: int = Field(ge=0)
    status: SageMakerStatus
    scalable_target: _ScalableTargetFixture | None = None


class _StateFixture(TargetState):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _zoned(cls, value: Any) -> Any:
        # The decision compares these times with an aware `now`; a naive one would fail there, not here.
        if _naive_time(value):
            raise ValueError("times must carry a time zone, e.g. 2026-11-24T10:00:00Z")
        return value


class _TargetFixture(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    observed: _ObservedFixture | None = None
    state: _StateFixture | None = None
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="A Bedrock model's busiest recent minute, by metric name (what GetMetricData would give).",
    )

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(BEDROCK_DEMAND_METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(BEDROCK_DEMAND_METRICS)}")
        return value


class StateFile(BaseModel):
    """What `plan --state` is given: per target id, what AWS reports and what the controller remembers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: dict[str, _TargetFixture] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _target_id_from_key(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
            return data
        targets = {}
        for target_id, entry in data["targets"].items():
            if isinstance(entry, dict) and isinstance(entry.get("state"), dict):
                entry = {**entry, "state": {"target_id": target_id, **entry["state"]}}
            targets[target_id] = entry
        return {**data, "targets": targets}

    @model_validator(mode="after")
    def _state_of_its_target(self) -> StateFile:
        for target_id, entry in self.targets.items():
            if entry.state is not None and entry.state.target_id != target_id:
                raise ValueError(
                    f"targets.{target_id}.state.target_id is {entry.state.target_id!r}, not its key"
                )
        return self

    def observed_capacity(self, document: PolicyDocument) -> dict[str, ObservedCapacity]:
        """What AWS would report: the file's `observed` entries, else each SageMaker target at its minimum."""
        observed: dict[str, ObservedCapacity] = {}
        for policy in document.targets:
            if not isinstance(policy, BedrockModelPolicy):
                count = policy.capacity.min
                observed[policy.target_id] = ObservedCapacity(
                    desired=count, current=count, status="InService"
                )
        for target_id, entry in self.targets.items():
            if "observed" in entry.model_fields_set:
                if entry.observed is None:
                    observed.pop(target_id, None)  # stated not to exist
                else:
                    observed[target_id] = entry.observed
        return observed

    def remembered(self) -> dict[str, TargetState]:
        return {target_id: e.state for target_id, e in self.targets.items() if e.state is not None}

    def metric_peaks(self) -> dict[tuple[str, str], float]:
        """(target id, metric name) -> the figure, as the in-memory MetricReader takes them."""
        return {
            (target_id, name): v for target_id, e in self.targets.items() for name, v in e.metrics.items()
        }


def load_state(path: Path) -> StateFile:
    """The state file of `plan --state`; CommandFailed (exit 2) names the file and every bad field."""
    raw = _json_object(path, "the state file")
    try:
        return StateFile.model_validate(raw)
    except ValidationError as exc:
        raise CommandFailed(EXIT_BAD_INPUT, validation_lines(path, exc, StateFile)) from None


def capacity_range(policy: TargetPolicy) -> str:
    if isinstance(policy, BedrockModelPolicy):
        return "-"
    return f"{policy.capacity.min}..{policy.capacity.max}"


def policies_file(given: Path | None) -> Path:
    if given is not None:
        return given
    if not DEFAULT_POLICIES.is_file():
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"no --policies given, and the example document {DEFAULT_POLICIES} does not exist "
                "(it ships with the repository, not with the package): pass --policies FILE"
            ],
        )
    return DEFAULT_POLICIES


Simulated = TypeVar("Simulated", bound=BaseModel)


def simulated_model(
    model: type[Simulated], params: tuple[tuple[str, str], ...], option: str, what: str
) -> Simulated:
    """`model`'s defaults with the `option NAME=VALUE` overrides (the last one of a name wins). Raises
    CommandFailed (exit 2) naming each unknown field (`what` says whose) and each value the model refuses."""
    fields = model.model_fields
    unknown = [key for key, _ in params if key not in fields]
    if unknown:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [f"{option} {key}: {unknown_name(what, key, list(fields), True)}" for key in unknown],
        )
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        lines = [f"{option} {where}: {message}" for where, message in validation_problems(exc, model=model)]
        raise CommandFailed(EXIT_BAD_INPUT, lines) from None
