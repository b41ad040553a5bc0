"""`genai-autoscaler`: check and publish policy documents, see what the controller would decide, replay traffic.

    genai-autoscaler validate-config FILE
    genai-autoscaler plan --event EVENT.json [--policies FILE] [--state STATE.json] [--now ISO8601] [--stack NAME]
    genai-autoscaler schema [--output FILE]
    genai-autoscaler publish-config FILE --stack NAME [--region REGION]
    genai-autoscaler trace export --target NAME --start ISO8601 --end ISO8601 --output FILE [--policies FILE]
    genai-autoscaler simulate --trace FILE [--target NAME] [--policy NAME|all] [--policies FILE] [--json]
        [--model NAME] [--rate-scale X] [--time-scale X] [--seed N] [--step SECONDS]
        [--endpoint-param KEY=VALUE ...] [--plot FILE.png] [--sweep FIELD=V1,V2,...]

`plan` runs the alarm router (`route_alarm`) on the in-memory ports of `app/memory.py`: the same decision and
dispatch code as the Lambda, without calling AWS. What AWS would report and what the controller remembers
come from the state file given with `--state`:

    {"targets": {"variant/llm-prod/AllTraffic": {
        "observed": {"desired": 2, "current": 2, "status": "InService", "scalable_target": null},
        "state": {"last_scale_out_at": "2026-11-24T10:01:35Z"}}}}

Keys are target ids (`variant/<endpoint>/<variant>`, `inference-component/<name>`, `bedrock/<model id>`).
`observed` is an ObservedCapacity, or null for a target that does not exist; a SageMaker target of the
document without an `observed` entry is taken to exist, InService, at its `capacity.min`. `state` holds
TargetState fields (its `target_id` is the key); times carry a time zone.

`simulate` replays a trace through the simulator (`genai_autoscaler.sim`) against one SageMaker variant
target of the policies: the controller's own code and the policies it is compared with, on simulated time.

Results go to stdout, problems to stderr. Exit codes: 0 done; 1 the policy document is unreadable or invalid;
2 bad usage, or another input (event, state file, --now, trace, --endpoint-param, --sweep value) is unusable;
3 AWS refused or could not be reached.
PyYAML and boto3 are imported only by the commands that need them: the Lambda layer does not ship PyYAML.
Nor does it ship numpy or matplotlib: the simulator is imported by `simulate` alone, matplotlib by `--plot`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genai_autoscaler import __version__
from genai_autoscaler.app.memory import (
    MemoryMetrics,
    RecordingNotifier,
    RecordingWorkflows,
    memory_controller,
)
from genai_autoscaler.app.routing import RoutingOutcome, route_alarm
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import AlarmStateChangeEvent
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    PolicyDocument,
    PolicyError,
    TargetPolicy,
    error_path,
    parse_policy_document,
)
from genai_autoscaler.domain.signals import BEDROCK_DEMAND_METRICS, alarm_specs
from genai_autoscaler.domain.state import Lock, ObservedCapacity, TargetState

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


# ---------------------------------------------------------------------------------------------- input files


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


def _yaml_value(path: Path, text: str) -> Any:
    import yaml  # not in the Lambda layer: only the CLI reads YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}: "
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
        raise CommandFailed(EXIT_INVALID_POLICIES, [f"{path}: not valid YAML: {where}{problem}"]) from None


def load_policy_file(path: Path) -> Any:
    """The decoded document in a YAML (or .json) file, as the Lambdas will read it back from JSON.

    Raises CommandFailed (exit 1) naming the file when it cannot be read or decoded.
    """
    text = _read_text(path, EXIT_INVALID_POLICIES)
    raw = (
        _json_value(path, text, EXIT_INVALID_POLICIES)
        if path.suffix.lower() == ".json"
        else _yaml_value(path, text)
    )
    # The document is published as JSON: validate exactly what the Lambdas will see (YAML dates or
    # non-string keys would otherwise pass here and fail, or read differently, there).
    try:
        return json.loads(json.dumps(raw))
    except (TypeError, ValueError) as exc:
        raise CommandFailed(
            EXIT_INVALID_POLICIES,
            [f"{path}: holds a value JSON cannot represent ({exc}); quote dates and times in YAML"],
        ) from None


def load_policies(path: Path) -> tuple[dict[str, Any], PolicyDocument]:
    """The document as written (what is published) and validated; CommandFailed (exit 1) lists every problem."""
    raw = load_policy_file(path)
    try:
        document = parse_policy_document(raw)
    except PolicyError as exc:
        raise CommandFailed(
            EXIT_INVALID_POLICIES, [f"{path}: {where}: {message}" for where, message in exc.problems]
        ) from None
    return raw, document  # a document that validates is a mapping


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(where, message) of each error: its dotted path, and pydantic's message with the value it got."""
    problems = []
    for error in exc.errors():
        where = error_path(tuple(error["loc"])) if error["loc"] else "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "missing" and not isinstance(error.get("input"), dict | list):
            message += f" (got {error['input']!r})"
        problems.append((where, message))
    return problems


def _validation_lines(path: Path, exc: ValidationError) -> list[str]:
    return [f"{path}: {where}: {message}" for where, message in _problems(exc)]


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
        raise CommandFailed(EXIT_BAD_INPUT, [heading, *_validation_lines(path, exc)]) from None


def _naive_time(value: Any) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is None
    if isinstance(value, Lock):
        return value.acquired_at.tzinfo is None or value.expires_at.tzinfo is None
    return False


class _ObservedFixture(ObservedCapacity):
    # A mistyped key would otherwise be dropped without a word and the decision made on defaults.
    model_config = ConfigDict(extra="forbid")


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
        raise CommandFailed(EXIT_BAD_INPUT, _validation_lines(path, exc)) from None


# ------------------------------------------------------------------------------------------------ commands


def _capacity_range(policy: TargetPolicy) -> str:
    if isinstance(policy, BedrockModelPolicy):
        return "-"
    return f"{policy.capacity.min}..{policy.capacity.max}"


def _summary_rows(document: PolicyDocument) -> list[str]:
    rows = []
    for policy in document.targets:
        signals = ", ".join(spec.signal.value for spec in alarm_specs(policy)) or "none"
        flags = [flag for flag in ("advisory", "paused") if getattr(policy, flag)]
        rows.append(
            (
                policy.name,
                policy.kind.value,
                f"capacity {_capacity_range(policy)}",
                f"signals {signals}",
                flags,
            )
        )
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + f"  {row[3]}"
        + (f"  [{', '.join(row[4])}]" if row[4] else "")
        for row in rows
    ]


def validate_config(path: Path) -> int:
    _, document = load_policies(path)
    count = len(document.targets)
    print(f"{path}: valid, {count} target{'' if count == 1 else 's'}")
    for row in _summary_rows(document):
        print(f"  {row}")
    return EXIT_OK


def _policies_path(given: Path | None) -> Path:
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


def decision_report(
    outcome: RoutingOutcome, notifier: RecordingNotifier, workflows: RecordingWorkflows
) -> dict[str, Any]:
    """The outcome as one JSON object: every Plan field (null without a plan), dispatch, workflow, notification."""
    if outcome.plan is not None:
        report = outcome.plan.model_dump(mode="json")
    else:
        report = dict.fromkeys(Plan.model_fields) | {
            "action": Action.IGNORE.value,
            "reason": outcome.note,
            "advisory": False,
        }
    execution_name, request = next(iter(workflows.started.items()), (None, None))
    notification = notifier.published[-1] if notifier.published else None
    return report | {
        "dispatch": outcome.dispatch.value,
        "execution_name": execution_name,
        "workflow": request,
        "notification": None
        if notification is None
        else {"subject": notification[0], "message": notification[1]},
    }


def plan(
    event_path: Path, policies_path: Path | None, state_path: Path | None, now: datetime | None, stack: str
) -> int:
    event = load_event(event_path)
    raw, _ = load_policies(_policies_path(policies_path))
    state = load_state(state_path) if state_path is not None else StateFile()
    if now is None:
        if event.time.tzinfo is None:
            raise CommandFailed(EXIT_BAD_INPUT, [f"{event_path}: time: must carry a time zone"])
        now = event.time.astimezone(UTC)

    settings = ControllerSettings(stack_name=stack)
    # What routing will decide on: the document as the Lambda sees it, under the stack's defaults.
    document = settings.effective_policies(raw)
    known = {policy.target_id for policy in document.targets}
    for target_id in sorted(set(state.targets) - known):
        print(
            f"warning: {state_path}: targets.{target_id}: not a target id of the policy document, so used "
            f"only if an alarm's management tag brings that target in (the document's: {', '.join(sorted(known))})",
            file=sys.stderr,
        )
    decided_at = now
    ctl = memory_controller(
        raw, state.observed_capacity(document), state.remembered(), settings, clock=lambda: decided_at
    )
    assert isinstance(ctl.metrics, MemoryMetrics)
    ctl.metrics.peaks.update(state.metric_peaks())
    try:
        outcome = route_alarm(event, ctl, now)
    except PolicyError as exc:
        # A variant picked up by its management tag gets the default policy; its names must still be valid.
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"{event_path}: no valid policy for the alarm's target: {exc}"]
        ) from None

    # memory_controller's recording ports: what the Lambda would have sent.
    assert isinstance(ctl.notifier, RecordingNotifier)
    assert isinstance(ctl.workflows, RecordingWorkflows)
    print(json.dumps(decision_report(outcome, ctl.notifier, ctl.workflows), indent=2))
    return EXIT_OK


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy document, as published in config/policies.schema.json."""
    schema = PolicyDocument.model_json_schema()
    schema.pop("title", None)
    return {"$schema": SCHEMA_DIALECT, "title": SCHEMA_TITLE, **schema}


def schema_text() -> str:
    return json.dumps(policy_schema(), indent=2) + "\n"


def write_schema(output: Path | None) -> int:
    text = schema_text()
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(EXIT_BAD_INPUT, [f"{output}: cannot write the schema: {exc.strerror}"]) from None
    print(f"wrote {output}")
    return EXIT_OK


def policy_parameter_name(stack: str) -> str:
    """The SSM parameter the stack's Lambdas read (template.yaml's POLICY_PARAMETER_NAME)."""
    return f"/genai-autoscaler/{stack}/policies"


def publish_config(path: Path, stack: str, region: str | None) -> int:
    raw, _ = load_policies(path)  # nothing is written unless the whole document is valid
    import boto3
    from botocore.exceptions import BotoCoreError, NoRegionError

    from genai_autoscaler.aws.ssm_policies import SsmPolicySource
    from genai_autoscaler.errors import AutoscalerError

    name = policy_parameter_name(stack)
    try:
        version = SsmPolicySource(boto3.client("ssm", region_name=region), name).publish(raw)
    except NoRegionError:
        raise CommandFailed(
            EXIT_AWS, [f"publishing {path} to {name}: no AWS region: pass --region or set AWS_REGION"]
        ) from None
    except (AutoscalerError, BotoCoreError) as exc:
        raise CommandFailed(EXIT_AWS, [f"publishing {path} to {name}: {exc}"]) from None
    print(f"published {path} to SSM parameter {name}, version {version}")
    return EXIT_OK


def trace_export(
    target_name: str,
    policies_path: Path | None,
    start: datetime,
    end: datetime,
    output: Path,
    region: str | None,
) -> int:
    _, document = load_policies(_policies_path(policies_path))
    target = document.by_name(target_name) or document.find(target_name)
    if target is None:
        names = ", ".join(t.name for t in document.targets)
        raise CommandFailed(EXIT_BAD_INPUT, [f"no target {target_name!r} in the policies; targets: {names}"])
    if end <= start:
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"--end {end.isoformat()} is not after --start {start.isoformat()}"]
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    from genai_autoscaler.sim.export import export_trace

    try:
        rows = export_trace(boto3.client("cloudwatch", region_name=region), target, start, end, output)
    except NoRegionError:
        raise CommandFailed(
            EXIT_AWS, ["reading CloudWatch: no AWS region: pass --region or set AWS_REGION"]
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise CommandFailed(EXIT_AWS, [f"reading CloudWatch for {target.name}: {exc}"]) from None
    except OSError as exc:
        raise CommandFailed(EXIT_BAD_INPUT, [f"{output}: cannot write the trace: {exc.strerror}"]) from None
    print(f"wrote {rows} minutes of {target.name} to {output}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ simulate


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add one, e.g. {text}Z or {text}+00:00")
    return value.astimezone(UTC)


def _stack_name(text: str) -> str:
    if not re.fullmatch(STACK_NAME, text):
        raise argparse.ArgumentTypeError(
            f"not a CloudFormation stack name: {text!r} (a letter, then letters, digits and hyphens)"
        )
    return text


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def _step_seconds(text: str) -> float:
    value = _positive_number(text)
    if 60 % value:
        # The simulated CloudWatch closes a minute's datapoints on a step boundary.
        raise argparse.ArgumentTypeError(f"must divide a minute (e.g. 5, 10, 30, 60), got {text!r}")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _sweep_spec(text: str) -> tuple[str, tuple[str, ...]]:
    field, equals, listed = text.partition("=")
    values = tuple(value.strip() for value in listed.split(","))
    if not equals or not field.strip() or not all(values):
        raise argparse.ArgumentTypeError(
            f"expected FIELD=V1,V2,... (e.g. signals.concurrency_per_unit=4,6,8), got {text!r}"
        )
    return field.strip(), values


SIMULATE_EPILOG = """\
traces (told apart by their header; every one is moved to start at 0):
  timestamp,input_tokens,output_tokens          a request log, one request a row
  timestamp,rate_rps                            a rate series (what `trace export` writes)
  TIMESTAMP,ContextTokens,GeneratedTokens       the Azure LLM inference trace
  model,timestamp,total_rate_rps,active_clients ServeGen's aggregate rates (with --model)
  Timestamps are seconds or ISO 8601. A rate series is drawn as Poisson arrivals from --seed, and, like
  any trace without token counts, gets the request sizes of RequestProfile.default().

policies: controller (GenAI Autoscaler's own code), target-tracking (Application Auto Scaling on
  InvocationsPerInstance), target-tracking-concurrency (on ConcurrentRequestsPerModel), static (the
  least count that meets the SLO at the trace's peak), oracle (perfect foresight).

--endpoint-param KEY=VALUE sets a field of the endpoint model (genai_autoscaler/sim/endpoint.py,
  EndpointModel), e.g. hourly_price_usd=1.2 or model_load_s=300; an unknown KEY is answered with the list.
--sweep FIELD=V1,V2,... replays the controller once per value of a field of the target's policy, e.g.
  signals.concurrency_per_unit=4,6,8 or scale_in.stabilization_seconds=300,900, and prints the SLO/cost
  frontier. Values are JSON (null turns a signal off).

exit codes: 0 done, 1 invalid policy document, 2 bad usage or input.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check and publish GenAI Autoscaler policy documents; see what the controller would decide; "
        "replay traffic against it.",
        epilog="Exit codes: 0 done, 1 invalid policy document, 2 bad usage or input, 3 AWS error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate-config",
        help="validate a policy document and summarise its targets",
        description="Validate a policy document (YAML, or JSON for a .json file). Every problem is listed "
        "as FILE: path: message.",
    )
    validate.add_argument("file", type=Path, metavar="FILE")

    plan_ = commands.add_parser(
        "plan",
        help="decide on an alarm event locally, without calling AWS",
        description="Run the alarm router on an alarm state-change event, with AWS kept in memory, and print\n"
        "the decision as one JSON object: the plan's fields, the dispatch, and the workflow input or the\n"
        "notification the Lambda would send.",
        epilog=STATE_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan_.add_argument(
        "--event",
        type=Path,
        required=True,
        metavar="EVENT.json",
        help="a CloudWatch Alarm State Change event",
    )
    plan_.add_argument(
        "--policies",
        type=Path,
        metavar="FILE",
        help="policy document (default: the repository's config/policies.example.yaml)",
    )
    plan_.add_argument(
        "--state",
        type=Path,
        metavar="STATE.json",
        help="observed capacity and remembered state per target (format below); without it every "
        "SageMaker target is InService at its capacity.min and nothing is remembered",
    )
    plan_.add_argument(
        "--now",
        type=_aware_time,
        metavar="ISO8601",
        help="decision time, with a zone (default: the event's time)",
    )
    plan_.add_argument(
        "--stack",
        type=_stack_name,
        default=DEFAULT_STACK,
        metavar="NAME",
        help=f"the controller's stack name; alarms tagged for another stack are ignored (default: {DEFAULT_STACK})",
    )

    schema = commands.add_parser(
        "schema",
        help="print the policy document's JSON Schema",
        description="Print (or write) the JSON Schema of the policy document, generated from its models.",
    )
    schema.add_argument("--output", type=Path, metavar="FILE", help="write it to FILE instead of stdout")

    publish = commands.add_parser(
        "publish-config",
        help="validate a policy document and store it in the stack's SSM parameter",
        description="Validate a policy document and, only if it is valid, store it as JSON in the SSM "
        "parameter /genai-autoscaler/<stack>/policies that the stack's Lambdas read.",
    )
    publish.add_argument("file", type=Path, metavar="FILE")
    publish.add_argument("--stack", type=_stack_name, required=True, metavar="NAME")
    publish.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")

    trace = commands.add_parser("trace", help="traffic traces for the simulator")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="COMMAND")
    export = trace_commands.add_parser(
        "export",
        help="write a deployed target's traffic as a trace",
        description="Read a deployed target's per-minute invocations (and, for a Bedrock model, its input and "
        "output tokens) from CloudWatch, and write them as the canonical rate series "
        "timestamp,rate_rps[,input_tokens,output_tokens], tokens as means per request.",
    )
    export.add_argument("--target", required=True, metavar="NAME", help="a target of the policy document")
    export.add_argument("--policies", type=Path, metavar="FILE", help="default: config/policies.example.yaml")
    export.add_argument("--start", type=_aware_time, required=True, metavar="ISO8601")
    export.add_argument("--end", type=_aware_time, required=True, metavar="ISO8601")
    export.add_argument("--output", type=Path, required=True, metavar="FILE")
    export.add_argument("--region", metavar="REGION", help="AWS region (default: the AWS configuration's)")

    sim = commands.add_parser(
        "simulate",
        help="replay a traffic trace against the controller and other scaling policies, locally",
        description="Replay a trace against one SageMaker variant target of the policies: the controller's own\n"
        "code, and the policies it is compared with, on a simulated endpoint and CloudWatch. Prints, per\n"
        "policy, requests served within the latency SLO, throttled and failed, latency percentiles,\n"
        "capacity-hours, cost, actions, and how long overloads waited for added capacity.",
        epilog=SIMULATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("--trace", type=Path, required=True, metavar="FILE", help="the trace to replay (below)")
    sim.add_argument("--model", metavar="NAME", help="the model to replay from a ServeGen trace")
    sim.add_argument(
        "--target",
        metavar="NAME",
        help="a sagemaker_variant target of the policies, by name or target id (default: the first one)",
    )
    sim.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME",
        help="controller, target-tracking, target-tracking-concurrency, static, oracle or all (default: "
        "all); repeatable",
    )
    sim.add_argument(
        "--policies",
        type=Path,
        metavar="FILE",
        help="policy document (default: config/policies.example.yaml in the current directory)",
    )
    sim.add_argument(
        "--rate-scale", type=_positive_number, metavar="X", help="replay X times the trace's load"
    )
    sim.add_argument(
        "--time-scale",
        type=_positive_number,
        metavar="X",
        help="spread the same requests over X times the time",
    )
    sim.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of Poisson arrivals and rate scaling (default: 0)",
    )
    sim.add_argument(
        "--step",
        type=_step_seconds,
        default=10.0,
        metavar="SECONDS",
        help="simulation step; divides a minute (default: 10)",
    )
    sim.add_argument(
        "--endpoint-param",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a field of the endpoint model (below); repeatable",
    )
    sim.add_argument(
        "--json", action="store_true", help="print one JSON object, a key per policy, and nothing else"
    )
    sim.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw demand, capacity, actions and p95 latency, a panel per policy (needs matplotlib)",
    )
    sim.add_argument(
        "--sweep",
        type=_sweep_spec,
        metavar="FIELD=V1,V2,...",
        help="replay the controller once per value of a field of the target's policy (below)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 done, 1 invalid policies, 2 bad input, 3 AWS error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or EXIT_OK
        return EXIT_BAD_INPUT
    try:
        match args.command:
            case "validate-config":
                return validate_config(args.file)
            case "plan":
                return plan(args.event, args.policies, args.state, args.now, args.stack)
            case "schema":
                return write_schema(args.output)
            case "publish-config":
                return publish_config(args.file, args.stack, args.region)
            case "trace":
                return trace_export(
                    args.target, args.policies, args.start, args.end, args.output, args.region
                )
            case "simulate":
                from genai_autoscaler.sim.command import SimulateOptions, simulate

                return simulate(
                    SimulateOptions(
                        trace=args.trace,
                        servegen_model=args.model,
                        target=args.target,
                        policies=tuple(args.policy),
                        policies_file=args.policies,
                        rate_scale=args.rate_scale,
                        time_scale=args.time_scale,
                        seed=args.seed,
                        step_seconds=args.step,
                        endpoint_params=tuple(args.endpoint_param),
                        json_output=args.json,
                        plot=args.plot,
                        sweep=args.sweep,
                    )
                )
    except CommandFailed as failure:
        for line in failure.lines:
            print(line, file=sys.stderr)
        return failure.exit_code
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())
