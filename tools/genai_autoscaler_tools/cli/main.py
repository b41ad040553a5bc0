"""`genai-autoscaler`: check and publish policy documents, see what the controller would decide, replay traffic.

    genai-autoscaler validate-config FILE
    genai-autoscaler plan --event EVENT.json [--policies FILE] [--state STATE.json] [--now ISO8601] [--stack NAME]
        [--workflow-input]
    genai-autoscaler schema [--output FILE]
    genai-autoscaler publish-config FILE --stack NAME [--region REGION]
    genai-autoscaler trace export --target NAME --start ISO8601 --end ISO8601 --output FILE [--policies FILE]
    genai-autoscaler simulate --trace FILE [--target NAME] [--policy NAME|all] [--policies FILE] [--json]
        [--model NAME] [--rate-scale X] [--time-scale X] [--seed N] [--step SECONDS]
        [--endpoint-param KEY=VALUE ...] [--slo TTFT+TPOT] [--initial-capacity N] [--plot FILE.png]
        [--sweep FIELD=V1,V2,...] [--bedrock-param KEY=VALUE ...]
    genai-autoscaler tune --trace FILE [--target NAME] [--policies FILE] [--slo-goal SHARE] [--json]
        [the trace options of simulate]

Against a deployed stack (`--stack`, default genai-autoscaler; `--region`; `--json`), in cli/operate.py:

    genai-autoscaler status [TARGET]
    genai-autoscaler history TARGET [--since ISO8601] [--limit N]
    genai-autoscaler pause TARGET --reason TEXT          genai-autoscaler resume TARGET
    genai-autoscaler approvals                           genai-autoscaler approve EXECUTION
    genai-autoscaler reject EXECUTION --reason TEXT
    genai-autoscaler event start TARGET --capacity N (--until ISO8601 | --for DURATION) --reason TEXT
    genai-autoscaler event list [--limit N]              genai-autoscaler event cancel TARGET

`plan` runs the alarm router (`dispatch_alarm`) on the in-memory ports of `genai_autoscaler_tools/memory.py`:
the same decision and dispatch code as the Lambda, without calling AWS. What AWS would report and what the
controller remembers come from the state file given with `--state`:

    {"targets": {"variant/llm-prod/AllTraffic": {
        "observed": {"desired": 2, "current": 2, "status": "InService", "scalable_target": null},
        "state": {"last_scale_out_at": "2026-11-24T10:01:35Z"}}}}

Keys are target ids (`variant/<endpoint>/<variant>`, `inference-component/<name>`, `bedrock/<model id>`).
`observed` is an ObservedCapacity, or null for a target that does not exist; a SageMaker target of the
document without an `observed` entry is taken to exist, InService, at its `capacity.min`. `state` holds
TargetState fields (its `target_id` is the key); times carry a time zone.

`simulate` replays a trace through the simulator (`genai_autoscaler_tools.sim`) against one SageMaker variant
target of the policies, or a bedrock_model target: the controller's own code and the policies it is compared
with, on simulated time.

Results go to stdout, problems to stderr. Every command's exit code means the same: 0 done; 1 the policy
document was read and is invalid; 2 bad usage, or an input that cannot be read or used (any missing or
unreadable file, the policy document's included; an event, state file, --now, trace, --endpoint-param or
--sweep value that is wrong); 3 AWS refused or could not be reached. A reader that closes stdout early
(`| head`) ends the command quietly, with 141, what a shell reports of `cat` ended by SIGPIPE.
PyYAML and boto3 are imported only by the commands that need them: the Lambda layer does not ship PyYAML.
Nor does it ship numpy or matplotlib: the simulator is imported by `simulate` alone, matplotlib by `--plot`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

from genai_autoscaler import __version__

from genai_autoscaler_tools.cli.commands import (
    plan,
    publish_config,
    trace_export,
    validate_config,
    write_schema,
)
from genai_autoscaler_tools.cli.inputs import (
    DEFAULT_STACK,
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    EXIT_UNEXPECTED,
    PROG,
    STACK_NAME,
    STATE_FORMAT,
    CommandFailed,
)

if TYPE_CHECKING:
    from genai_autoscaler_tools.cli.simulate import SimulateOptions


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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


_DURATION = r"(\d+(?:\.\d+)?)\s*(ms|s)"
_SLO = re.compile(rf"\s*{_DURATION}\s*(?:\+\s*{_DURATION}\s*(?:/\s*token)?\s*)?")


def _slo(text: str) -> tuple[float, float]:
    """`10s+40ms` (or `10s + 40ms/token`) -> (10.0, 0.04): seconds before the first token, and per token; `20s`
    alone -> (20.0, 0.0): one deadline for every response (a p95 SLO, judged per request)."""
    match = _SLO.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected TTFT+TPOT such as 10s+40ms (whole response within 10 s + 40 ms per output token), or one "
            f"deadline such as 20s, got {text!r}"
        )
    ttft, ttft_unit, tpot, tpot_unit = match.groups()
    first = float(ttft) / (1000 if ttft_unit == "ms" else 1)
    per_token = 0.0 if tpot is None else float(tpot) / (1000 if tpot_unit == "ms" else 1)
    if first <= 0 or (tpot is not None and per_token <= 0):
        raise argparse.ArgumentTypeError(f"every part of the SLO must be above zero, got {text!r}")
    return first, per_token


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share such as 0.995, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {value:g}")
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
  timestamp                                     a request log of arrival times only
  timestamp,rate_rps                            a rate series (what `trace export` writes; for a Bedrock
                                                model it adds input_tokens,output_tokens, not read)
  TIMESTAMP,ContextTokens,GeneratedTokens       the Azure LLM inference traces (2023, 2024; 2025's
                                                multimodal one with NumImages, images not modelled)
  model,timestamp,total_rate_rps,active_clients ServeGen's aggregate rates (with --model)
  Timestamp,Model,Request tokens,...,Log Type   BurstGPT's request logs, with or without Session ID and
                                                Elapsed time (with --model where it has several)
  {"timestamp": ms, "input_length": n, ...}     Mooncake's JSON lines
  Timestamps are seconds or ISO 8601. A rate series is drawn as Poisson arrivals from --seed, and, like
  any trace without token counts, gets the request sizes of RequestProfile.default().

policies: controller (GenAI Autoscaler's own code), target-tracking (Application Auto Scaling on
  InvocationsPerInstance), target-tracking-concurrency (on ConcurrentRequestsPerModel), static (the
  least count that meets the SLO at the trace's peak), oracle (perfect foresight).

--endpoint-param KEY=VALUE sets a field of the endpoint model (genai_autoscaler_tools/sim/endpoint.py,
  EndpointModel), e.g. hourly_price_usd=1.2 or model_load_s=300; an unknown KEY is answered with the list.
--sweep FIELD=V1,V2,... replays the controller once per value of a field of the target's policy, e.g.
  signals.concurrency_per_unit=4,6,8 or scale_in.stabilization_seconds=300,900, and prints the SLO/cost
  frontier. Values are JSON (null turns a signal off).

a bedrock_model target (--target): its requests meet simulated Bedrock quotas, retries, latency and Provisioned
  Throughput (genai_autoscaler_tools/sim/bedrock_service.py, BedrockModel); policies controller, on_demand_only,
  static_pt (Provisioned Throughput for the busiest minute, all along), oracle (the cheapest mix that throttles
  nothing). --bedrock-param KEY=VALUE sets a field of BedrockModel, e.g. on_demand_rpm=200 or
  retry_mode=legacy; --endpoint-param, --slo, --sweep, --plot and --initial-capacity do not apply.
"""

POLICIES_HELP = "policy document (default: the repository's config/policies.example.yaml)"


def _replay_arguments(sim: argparse.ArgumentParser) -> None:
    """What simulate and tune both take: the trace, the target, how the trace is shaped, the endpoint."""
    sim.add_argument("--trace", type=Path, required=True, metavar="FILE", help="the trace to replay (below)")
    sim.add_argument("--model", metavar="NAME", help="the model to replay from a ServeGen or BurstGPT trace")
    sim.add_argument(
        "--target",
        metavar="NAME",
        help="a sagemaker_variant target of the policies, by name or target id (default: the first one); "
        "simulate also takes a bedrock_model target",
    )
    sim.add_argument("--policies", type=Path, metavar="FILE", help=POLICIES_HELP)
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
        "--initial-capacity",
        type=_positive_int,
        metavar="N",
        help="instances InService when the trace begins (default: what its first cold start's worth needs)",
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
        "--slo",
        type=_slo,
        metavar="TTFT+TPOT",
        help="the latency SLO: whole response within TTFT + TPOT per output token, e.g. 10s+40ms, or within "
        "one deadline, e.g. 20s (default: the target's slo, else 2s+40ms)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check and publish GenAI Autoscaler policy documents; see what the controller would decide; "
        "replay traffic against it.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate-config",
        help="validate a policy document and summarise its targets",
        description="Validate a policy document (YAML, or JSON for a .json file). Every problem is listed "
        "as FILE: path: message.",
        epilog=EXIT_CODES,
    )
    validate.add_argument("file", type=Path, metavar="FILE")

    plan_ = commands.add_parser(
        "plan",
        help="decide on an alarm event locally, without calling AWS",
        description="Run the alarm router on an alarm state-change event, with AWS kept in memory, and print\n"
        "the decision as one JSON object: the plan's fields, the dispatch, the workflow it would start (its\n"
        "input with --workflow-input) or the notification the Lambda would send.",
        epilog=f"{STATE_FORMAT}\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan_.add_argument(
        "--event",
        type=Path,
        required=True,
        metavar="EVENT.json",
        help="a CloudWatch Alarm State Change event",
    )
    plan_.add_argument("--policies", type=Path, metavar="FILE", help=POLICIES_HELP)
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
    plan_.add_argument(
        "--workflow-input",
        action="store_true",
        help="also print the input the workflow would be started with (the plan again, with the target's policy)",
    )

    schema = commands.add_parser(
        "schema",
        help="print the policy document's JSON Schema",
        description="Print (or write) the JSON Schema of the policy document, generated from its models.",
        epilog=EXIT_CODES,
    )
    schema.add_argument("--output", type=Path, metavar="FILE", help="write it to FILE instead of stdout")

    publish = commands.add_parser(
        "publish-config",
        help="validate a policy document and store it in the stack's SSM parameter",
        description="Validate a policy document and, only if it is valid, store it as JSON in the SSM "
        "parameter /genai-autoscaler/<stack>/policies that the stack's Lambdas read.",
        epilog=EXIT_CODES,
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
        epilog=EXIT_CODES,
    )
    export.add_argument("--target", required=True, metavar="NAME", help="a target of the policy document")
    export.add_argument("--policies", type=Path, metavar="FILE", help=POLICIES_HELP)
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
        epilog=f"{SIMULATE_EPILOG}\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _replay_arguments(sim)
    sim.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME",
        help="controller, target-tracking, target-tracking-concurrency, static, oracle or all (default: "
        "all); for a bedrock_model target controller, on_demand_only, static_pt, oracle; repeatable",
    )
    sim.add_argument(
        "--bedrock-param",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a field of the simulated Bedrock model, for a bedrock_model target (below); repeatable",
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
    tuner = commands.add_parser(
        "tune",
        help="search the policy fields that decide SLO and cost, on a team's own traffic",
        description="Replay the controller on a trace for each candidate of a search over its policy's\n"
        "concurrency threshold, latency alarm, scale-out step and scale-in stabilization and target; print\n"
        "the frontier of SLO attainment against cost it found, and the cheapest policy that keeps the SLO\n"
        "goal as a fragment to paste into the target's entry of the policy document.",
        epilog=SIMULATE_EPILOG.split("\n\npolicies:")[0] + "\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _replay_arguments(tuner)
    tuner.add_argument(
        "--slo-goal",
        type=_share,
        default=0.995,
        metavar="SHARE",
        help="the share of requests to serve within the latency SLO (default: 0.995)",
    )
    tuner.add_argument(
        "--json", action="store_true", help="print one JSON object (the best policy and the frontier)"
    )
    _operator_commands(commands)
    return parser


def _operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """status, history, pause, resume, approvals, approve, reject, event: against a deployed stack
    (cli/operate.py), each with --stack, --region and --json."""

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
    ) -> argparse.ArgumentParser:
        made = parent.add_parser(
            name, help=help_, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        made.add_argument(
            "--stack", type=_stack_name, default=DEFAULT_STACK, help=f"the stack (default: {DEFAULT_STACK})"
        )
        made.add_argument("--region", help="its region (default: your AWS configuration's)")
        made.add_argument("--json", action="store_true", help="print one JSON object")
        return made

    def target(made: argparse.ArgumentParser, what: str = "the target, by name or target id") -> None:
        made.add_argument("target", metavar="TARGET", help=what)

    status = command(
        commands,
        "status",
        "every managed target: capacity or route, alarms, workflow in flight, cooldowns, last action, mode",
    )
    status.add_argument("target", nargs="?", metavar="TARGET", help="one target, by name or target id")
    history = command(commands, "history", "what the controller did to a target and why, newest first")
    target(history)
    history.add_argument("--since", type=_aware_time, metavar="ISO8601", help="records at this time or later")
    history.add_argument(
        "--limit", type=_positive_int, default=50, metavar="N", help="at most N (default: 50)"
    )
    pause = command(
        commands, "pause", "leave a target alone until it is resumed (recorded, with who you are, and told)"
    )
    target(pause)
    pause.add_argument("--reason", required=True, metavar="TEXT", help="why; the team is told")
    target(command(commands, "resume", "let the controller act on a paused target again"))
    command(
        commands, "approvals", "the Provisioned Throughput commitments waiting for a person, and their cost"
    )
    approve = command(commands, "approve", "approve a commitment (you are recorded as the approver)")
    approve.add_argument("execution", metavar="EXECUTION", help="the routing workflow's execution name")
    reject = command(commands, "reject", "reject a commitment: nothing is bought")
    reject.add_argument("execution", metavar="EXECUTION", help="the routing workflow's execution name")
    reject.add_argument("--reason", required=True, metavar="TEXT", help="why; the team is told")
    event = commands.add_parser(
        "event", help="planned scale events: a launch, a batch window", epilog=EXIT_CODES
    )
    events = event.add_subparsers(dest="event_command", required=True, metavar="COMMAND")
    start = command(
        events,
        "start",
        "scale a target for a window through the scale workflow, held as a floor until its end; then the "
        "controller brings it back to what the load needs",
    )
    target(start, "a SageMaker target, by name or target id")
    start.add_argument(
        "--capacity", type=_positive_int, required=True, metavar="N", help="instances or copies"
    )
    window = start.add_mutually_exclusive_group(required=True)
    window.add_argument("--until", type=_aware_time, metavar="ISO8601", help="the end of the window")
    window.add_argument("--for", dest="duration", type=_duration, metavar="DURATION", help="e.g. 3h, 90m, 2d")
    start.add_argument(
        "--reason", required=True, metavar="TEXT", help="said in the notification and the history"
    )
    listing = command(events, "list", "the newest planned events and the holds running now")
    listing.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="at most N (default: 20)"
    )
    target(command(events, "cancel", "end a target's hold now: the controller decides for it again"))


def _endpoint_params(
    given: list[tuple[str, str]], slo: tuple[float, float] | None
) -> tuple[tuple[str, str], ...]:
    """--endpoint-param, and --slo as the two endpoint fields it sets; CommandFailed when both set one."""
    if slo is None:
        return tuple(given)
    both = sorted({key for key, _ in given} & {"slo_ttft_s", "slo_tpot_s"})
    if both:
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"--slo and --endpoint-param {both[0]} both set the SLO: keep one"]
        )
    return (*given, ("slo_ttft_s", repr(slo[0])), ("slo_tpot_s", repr(slo[1])))


def _simulate_options(args: argparse.Namespace) -> SimulateOptions:
    from genai_autoscaler_tools.cli.simulate import SimulateOptions

    return SimulateOptions(
        trace=args.trace,
        servegen_model=args.model,
        target=args.target,
        policies=tuple(getattr(args, "policy", ())),
        policies_file=args.policies,
        rate_scale=args.rate_scale,
        time_scale=args.time_scale,
        seed=args.seed,
        step_seconds=args.step,
        endpoint_params=_endpoint_params(args.endpoint_param, args.slo),
        json_output=args.json,
        plot=getattr(args, "plot", None),
        sweep=getattr(args, "sweep", None),
        initial_capacity=args.initial_capacity,
        bedrock_params=tuple(getattr(args, "bedrock_param", ())),
    )


def _operate(args: argparse.Namespace) -> int:
    from genai_autoscaler_tools.cli import operate

    match args.command:
        case "status":
            return operate.status(args.stack, args.region, args.target, args.json)
        case "history":
            return operate.history(args.stack, args.region, args.target, args.since, args.limit, args.json)
        case "pause":
            return operate.pause_target(args.stack, args.region, args.target, args.reason, args.json)
        case "resume":
            return operate.resume_target(args.stack, args.region, args.target, args.json)
        case "approvals":
            return operate.approvals(args.stack, args.region, args.json)
        case "event":
            return _event(args)
        case _:
            approved = args.command == "approve"
            reason = None if approved else args.reason
            return operate.answer_approval(
                args.stack, args.region, args.execution, approved, reason, args.json
            )


_Arguments = ParamSpec("_Arguments")


def _quiet_when_stdout_closes(run: Callable[_Arguments, int]) -> Callable[_Arguments, int]:
    """`run`, ending with EXIT_OUTPUT_CLOSED and no traceback when the reader of stdout goes away (`| head`):
    the pattern of the Python documentation's note on SIGPIPE, stdout pointed at devnull so that the
    interpreter's own flush at exit does not fail again."""

    @functools.wraps(run)
    def quiet(*args: _Arguments.args, **kwargs: _Arguments.kwargs) -> int:
        try:
            code = run(*args, **kwargs)
            sys.stdout.flush()
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            with contextlib.suppress(OSError):
                os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OUTPUT_CLOSED
        return code

    return quiet


def _event(args: argparse.Namespace) -> int:
    from genai_autoscaler_tools.cli import operate

    match args.event_command:
        case "start":
            return operate.event_start(
                args.stack,
                args.region,
                args.target,
                args.capacity,
                args.until,
                args.duration,
                args.reason,
                args.json,
            )
        case "list":
            return operate.event_list(args.stack, args.region, args.limit, args.json)
        case _:
            return operate.event_cancel(args.stack, args.region, args.target, args.json)


_DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> timedelta:
    """`90m`, `3h`, `2d` -> the timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd])\s*", text)
    if match is None or float(match[1]) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90m, 3h or 2d, got {text!r}")
    return timedelta(seconds=float(match[1]) * _DURATION_UNITS[match[2]])


@_quiet_when_stdout_closes
def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (EXIT_CODES)."""
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
                return plan(args.event, args.policies, args.state, args.now, args.stack, args.workflow_input)
            case "schema":
                return write_schema(args.output)
            case "publish-config":
                return publish_config(args.file, args.stack, args.region)
            case "trace":
                return trace_export(
                    args.target, args.policies, args.start, args.end, args.output, args.region
                )
            case "tune":
                from genai_autoscaler_tools.cli.tune import tune_policy

                return tune_policy(_simulate_options(args), args.slo_goal)
            case "simulate":
                from genai_autoscaler_tools.cli.simulate import simulate

                return simulate(_simulate_options(args))
            case "status" | "history" | "pause" | "resume" | "approvals" | "approve" | "reject" | "event":
                return _operate(args)
    except CommandFailed as failure:
        for line in failure.lines:
            print(line, file=sys.stderr)
        return failure.exit_code
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception:  # a defect: said as one, with its own exit code (1 means an invalid policy document)
        traceback.print_exc()
        print(
            f"{PROG}: unexpected failure (a defect; please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())
