"""The commands that need no simulator: validate-config, plan, schema, publish-config, trace export."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genai_autoscaler.app.dispatch import DispatchOutcome, dispatch_alarm
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.policy import (
    PolicyDocument,
    PolicyError,
    SageMakerVariantPolicy,
)
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.errors import AutoscalerError

from genai_autoscaler_tools.cli.inputs import (
    EXIT_AWS,
    EXIT_BAD_INPUT,
    EXIT_OK,
    SCHEMA_DIALECT,
    SCHEMA_TITLE,
    CommandFailed,
    StateFile,
    capacity_range,
    load_event,
    load_policies,
    load_state,
    policies_file,
)
from genai_autoscaler_tools.memory import (
    MemoryMetrics,
    RecordingNotifier,
    RecordingWorkflows,
    memory_controller,
)
from genai_autoscaler_tools.provisioned_offers import eligibility_warnings


def _summary_rows(document: PolicyDocument) -> list[str]:
    rows = []
    for policy in document.targets:
        signals = ", ".join(spec.signal.value for spec in alarm_specs(policy)) or "none"
        if policy.adopted_alarms:
            signals += "; adopted " + ", ".join(f"{a.alarm_name} ({a.signal})" for a in policy.adopted_alarms)
        flags = [flag for flag in ("advisory", "paused") if getattr(policy, flag)]
        rows.append(
            (
                policy.name,
                policy.kind.value,
                f"capacity {capacity_range(policy)}",
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
    # What a policy asks to buy that AWS does not sell: worth knowing before publishing, not an error.
    for warning in eligibility_warnings(document):
        print(f"  warning: {warning}")
    return EXIT_OK


def decision_report(
    outcome: DispatchOutcome,
    notifier: RecordingNotifier,
    workflows: RecordingWorkflows,
    workflow_input: bool = False,
) -> dict[str, Any]:
    """The outcome as one JSON object: every Plan field (null without a plan), the dispatch, the workflow started
    (`scale`, `routing` or null) and its execution name, and the notification; with `workflow_input`, also the
    input the workflow is started with (the plan again, with the target's policy)."""
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
    report |= {
        "dispatch": outcome.dispatch.value,
        "workflow": None if execution_name is None else workflows.kinds[execution_name].value,
        "execution_name": execution_name,
        "notification": None
        if notification is None
        else {"subject": notification[0], "message": notification[1]},
    }
    if workflow_input:
        report["workflow_input"] = request
    return report


def plan(
    event_path: Path,
    policies_path: Path | None,
    state_path: Path | None,
    now: datetime | None,
    stack: str,
    workflow_input: bool = False,
) -> int:
    event = load_event(event_path)
    raw, _ = load_policies(policies_file(policies_path))
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
        outcome = dispatch_alarm(event, ctl, now)
    except PolicyError as exc:
        # A variant picked up by its management tag gets the default policy; its names must still be valid.
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"{event_path}: no valid policy for the alarm's target: {exc}"]
        ) from None

    # memory_controller's recording ports: what the Lambda would have sent.
    assert isinstance(ctl.notifier, RecordingNotifier)
    assert isinstance(ctl.workflows, RecordingWorkflows)
    print(json.dumps(decision_report(outcome, ctl.notifier, ctl.workflows, workflow_input), indent=2))
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
    _, document = load_policies(policies_file(policies_path))
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

    from genai_autoscaler_tools.sim.export import export_trace

    try:
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        rows = export_trace(cloudwatch, target, start, end, output)
    except NoRegionError:
        raise CommandFailed(
            EXIT_AWS, ["reading CloudWatch: no AWS region: pass --region or set AWS_REGION"]
        ) from None
    except (ClientError, BotoCoreError, AutoscalerError) as exc:
        raise CommandFailed(EXIT_AWS, [f"reading CloudWatch for {target.name}: {exc}"]) from None
    except OSError as exc:
        raise CommandFailed(EXIT_BAD_INPUT, [f"{output}: cannot write the trace: {exc.strerror}"]) from None
    print(f"wrote {rows} minutes of {target.name} to {output}")
    if isinstance(target, SageMakerVariantPolicy):
        if (said := _routing_said(target, region)) is not None:
            print(said)
        print(_peak_said(cloudwatch, target, start, end))
    return EXIT_OK


def _peak_said(cloudwatch: Any, target: SageMakerVariantPolicy, start: datetime, end: datetime) -> str:
    """How the variant's concurrency Maximum reads against its load, and how `simulate` replays it so; or why it
    could not be measured (the trace is written all the same)."""
    from botocore.exceptions import BotoCoreError

    from genai_autoscaler_tools.metric_reads import (
        MIN_MEAN_IN_FLIGHT,
        MIN_PEAK_MINUTES,
        equivalent_threshold,
        high_resolution_window,
        measure_concurrency_peak,
    )
    from genai_autoscaler_tools.sim.endpoint import PEAK_SIGMAS

    now = datetime.now(UTC)
    try:
        peak = measure_concurrency_peak(cloudwatch, target, start, end, now)
    except (AutoscalerError, BotoCoreError) as exc:
        return f"how {target.name}'s ConcurrentRequestsPerModel reads could not be measured: {exc}"
    if peak is not None:
        said = peak.describe(target.name, PEAK_SIGMAS)
        threshold = target.signals.concurrency_per_unit
        if peak.usable and threshold is not None:
            held = equivalent_threshold(threshold, PEAK_SIGMAS, peak.sigmas)
            said += (
                f"; the load its threshold of {threshold:g} stands for in replays reads {held:.1f} on this "
                f"endpoint (signals.concurrency_per_unit: {held:.1f} holds it)"
            )
        return said
    since, until = high_resolution_window(start, end, now)
    within = (
        f"between {since:%Y-%m-%d %H:%M} and {until:%H:%M} UTC"
        if since < until
        else "and the window holds none of them"
    )
    return (
        f"how {target.name}'s ConcurrentRequestsPerModel reads was not measured: it takes {MIN_PEAK_MINUTES} "
        f"minutes with {MIN_MEAN_IN_FLIGHT:g} or more requests in flight per instance, read at 10 s, which "
        f"CloudWatch keeps three hours ({within}): export a window that takes in a busy stretch of the last "
        "three hours"
    )


def _routing_said(target: SageMakerVariantPolicy, region: str | None) -> str | None:
    """How the exported variant routes requests, and how `simulate` replays it so; None when it cannot be read
    (the trace is written all the same)."""
    import boto3
    from botocore.exceptions import BotoCoreError
    from genai_autoscaler.aws.sagemaker_capacity import SageMakerCapacity

    from genai_autoscaler_tools.sim.endpoint import ROUTINGS, EndpointModel

    try:
        strategy = SageMakerCapacity(boto3.client("sagemaker", region_name=region), None).routing(target)
    except BotoCoreError:
        return None
    if strategy is None:
        return None
    modelled = strategy.lower()
    if modelled not in ROUTINGS:
        return (
            f"{target.name} routes {strategy}, which the simulator does not model: it replays "
            f"{' or '.join(ROUTINGS)}"
        )
    if modelled == EndpointModel().routing:
        return f"{target.name} routes {strategy}, as simulate assumes"
    return f"{target.name} routes {strategy}: replay it with --endpoint-param routing={modelled}"
