"""`genai-autoscaler simulate`: replay a trace against the policies and report, plot or sweep.

The simulator (numpy, and matplotlib for `--plot`) is imported only when a replay runs: the rest of the CLI, and
the Lambda layer that ships this package, do without it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyDocument, SageMakerVariantPolicy
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.errors import unknown_name, validation_problems
from pydantic import ValidationError

from genai_autoscaler_tools.cli.inputs import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CommandFailed,
    capacity_range,
    load_policies,
    policies_file,
    simulated_model,
)

if TYPE_CHECKING:
    from genai_autoscaler_tools.sim.compare import Demand
    from genai_autoscaler_tools.sim.endpoint import EndpointModel, RequestProfile
    from genai_autoscaler_tools.sim.replay import PolicyResult, ReplayConfig
    from genai_autoscaler_tools.sim.traces import Trace


ALL_POLICIES = "all"


@dataclass(frozen=True)
class SimulateOptions:
    """What `simulate` was asked for, as parsed from the command line."""

    trace: Path
    servegen_model: str | None = None
    target: str | None = None
    policies: tuple[str, ...] = ()  # --policy; empty means all
    policies_file: Path | None = None
    rate_scale: float | None = None
    time_scale: float | None = None
    seed: int = 0
    step_seconds: float = 10.0
    endpoint_params: tuple[tuple[str, str], ...] = ()
    json_output: bool = False
    plot: Path | None = None
    sweep: tuple[str, tuple[str, ...]] | None = None  # (dotted field, values as written)
    initial_capacity: int | None = None  # None: what the first cold start's worth of demand needs
    bedrock_params: tuple[tuple[str, str], ...] = ()  # --bedrock-param, for a bedrock_model target


class StatusLine:
    """One line on stderr, rewritten in place as a long run goes on; erased by `close`."""

    def __init__(self) -> None:
        self.width = 0

    def show(self, text: str) -> None:
        self.width = max(self.width, len(text))
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()

    def close(self) -> None:
        if self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


class _Progress(StatusLine):
    """`replaying controller (1/5)  42%`."""

    def __init__(self, total: int):
        super().__init__()
        self.total = total
        self.started: dict[str, int] = {}

    def __call__(self, label: str, share: float) -> None:
        index = self.started.setdefault(label, len(self.started) + 1)
        self.show(f"replaying {label} ({index}/{self.total}) {share:4.0%}")


def _progress(options: SimulateOptions, total: int) -> _Progress | None:
    # Only for a person watching: never in --json mode, nor into a file or a pipe.
    return None if options.json_output or not sys.stderr.isatty() else _Progress(total)


def simulated_target(document: PolicyDocument, name: str | None, path: Path) -> SageMakerVariantPolicy:
    """The target `--target` names (by name or target id), else the document's first SageMaker variant.

    Raises CommandFailed (exit 2) for an unknown name or a target the simulator does not model.
    """
    variants = [t for t in document.targets if isinstance(t, SageMakerVariantPolicy)]
    if name is None:
        if not variants:
            raise CommandFailed(
                EXIT_BAD_INPUT,
                [
                    f"{path}: no sagemaker_variant target, and the simulator models SageMaker endpoint "
                    "variants only: pass --policies with one"
                ],
            )
        return variants[0]
    target = document.by_name(name) or document.find(name)
    if target is None:
        names = ", ".join(t.name for t in variants) or "none"
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [f"--target {name}: no such target in {path}; its sagemaker_variant targets: {names}"],
        )
    if not isinstance(target, SageMakerVariantPolicy):
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"--target {name}: its type is {target.kind.value}; the simulator models SageMaker "
                "endpoint variants only (type sagemaker_variant)"
            ],
        )
    return target


SLO_FIELDS = ("slo_ttft_s", "slo_tpot_s")


def with_policy_slo(
    params: tuple[tuple[str, str], ...], target: SageMakerVariantPolicy
) -> tuple[tuple[str, str], ...]:
    """`--endpoint-param`, with the SLO the target's policy states, unless `--slo` or `--endpoint-param` sets
    one: a replay judges the controller by the SLO it was given."""
    if target.slo is None or any(key in SLO_FIELDS for key, _ in params):
        return params
    first, per_token = target.slo.deadline_s
    return (("slo_ttft_s", repr(first)), ("slo_tpot_s", repr(per_token)), *params)


def _deadline(model: EndpointModel) -> str:
    """`2 s + 0.04 s per output token`, or `20 s` for a deadline that does not grow with the answer."""
    per_token = f" + {model.slo_tpot_s:g} s per output token" if model.slo_tpot_s else ""
    return f"{model.slo_ttft_s:g} s{per_token}"


# A stated p95 answer length within this factor of the trace's own is taken as the same traffic.
LENGTH_TOLERANCE = 1.25


def traffic_p95_length(target: SageMakerVariantPolicy, trace: Trace, default: RequestProfile) -> int | None:
    """The trace's own p95 response length, for a target whose SLO is per response (None: it is not, or the
    trace has no token counts to tell)."""
    from genai_autoscaler_tools.sim.replay import request_profile

    profile = request_profile(trace, default)
    if target.slo is None or target.slo.p95_output_tokens is None or profile is default:
        return None
    return profile.p95_output_tokens()


def _slo_length_mismatch(target: SageMakerVariantPolicy, trace: Trace, default: RequestProfile) -> str | None:
    """What is wrong when the policy's p95 response length is far from the trace's own (None: nothing, or
    nothing to compare)."""
    measured = traffic_p95_length(target, trace, default)
    if measured is None or target.slo is None or target.slo.p95_output_tokens is None:
        return None
    stated = target.slo.p95_output_tokens
    if 1 / LENGTH_TOLERANCE <= stated / measured <= LENGTH_TOLERANCE:
        return None
    return (
        f"{target.name}'s slo.p95_output_tokens is {stated}, but the p95 response of {trace.source} is "
        f"{measured} tokens: its latency threshold ({target.slo.p95_latency_ms / 1000:g} s) is the deadline "
        f"of {'longer' if stated > measured else 'shorter'} responses than this traffic's "
        f"(set p95_output_tokens: {measured})"
    )


def endpoint_model(params: tuple[tuple[str, str], ...]) -> EndpointModel:
    """The simulated endpoint: EndpointModel's defaults with `--endpoint-param` overrides (the last one of a
    key wins). Raises CommandFailed (exit 2) naming each unknown field and each value the model refuses."""
    from genai_autoscaler_tools.sim.endpoint import EndpointModel

    return simulated_model(EndpointModel, params, "--endpoint-param", "endpoint model field")


def _load_trace(options: SimulateOptions) -> Trace:
    from genai_autoscaler_tools.sim.traces import TraceFormatError, rate_scale, read_trace, time_scale

    try:
        trace = read_trace(options.trace, options.servegen_model)
    except TraceFormatError as exc:
        raise CommandFailed(EXIT_BAD_INPUT, [str(exc)]) from None
    if options.time_scale is not None:
        trace = time_scale(trace, options.time_scale)
    if options.rate_scale is not None:
        trace = rate_scale(trace, options.rate_scale, options.seed)
    return trace


def _sweep_value(text: str) -> Any:
    # JSON where it parses (4, 0.5, null, true), else the text itself (a string field).
    try:
        return json.loads(text)
    except ValueError:
        return text


def sweep_targets(
    target: SageMakerVariantPolicy, field: str, texts: tuple[str, ...]
) -> list[tuple[Any, SageMakerVariantPolicy]]:
    """The target with `field` (a dotted path into its policy) set to each value, validated as a policy.

    Returns (value as validated, policy) pairs. Raises CommandFailed (exit 2) naming an unknown field, or
    every value the policy model refuses, with its reason.
    """
    from genai_autoscaler_tools.sim.tuning import field_value, with_changes

    raw = target.entry()
    parts = field.split(".")
    section: Any = raw
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the target's policy"
        if not isinstance(section, dict):
            raise CommandFailed(EXIT_BAD_INPUT, [f"--sweep {field}: {where} is a value, not a section"])
        if part not in section:
            raise CommandFailed(
                EXIT_BAD_INPUT,
                [f"--sweep {field}: {where}: {unknown_name('field', part, list(section))}"],
            )
        section = section[part]

    points, problems = [], []
    for text in texts:
        try:
            policy = with_changes(target, ((field, _sweep_value(text)),))
        except ValidationError as exc:
            problems += [
                f"--sweep {field}={text}: {where}: {message}"
                for where, message in validation_problems(exc, model=SageMakerVariantPolicy)
            ]
            continue
        points.append((field_value(policy.model_dump(mode="json"), field), policy))
    if problems:
        raise CommandFailed(EXIT_BAD_INPUT, problems)
    return points


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def simulation_header(
    trace: Trace,
    requests: int,
    target: SageMakerVariantPolicy,
    policies_path: Path,
    model: EndpointModel,
    default_tokens: str | None,
    config: ReplayConfig,
    extra: tuple[tuple[str, str], ...] = (),
    ceiling: float = 1.0,
) -> list[str]:
    """What was replayed, on what, judged how: the lines above the results. `default_tokens` is the source
    of the request sizes used for a trace without token counts (None: the trace has its own); `ceiling` the
    share of its requests that can meet the SLO at all."""
    from genai_autoscaler_tools.sim.traces import RateSeries

    kind = "a rate series drawn as Poisson arrivals" if isinstance(trace, RateSeries) else "a request log"
    trace_line = f"{trace.source}, {kind}: {_duration(trace.duration)}, {requests:,} requests"
    if isinstance(trace, RateSeries) and (gap := float(trace.widths[trace.gaps].sum())) > 0:
        trace_line += f"; {gap / trace.duration:.0%} of it is a gap in the data, replayed as idle"
    sizes = (
        "the trace's own token counts"
        if default_tokens is None
        else f"none in the trace, so RequestProfile.default(): {default_tokens}"
    )
    signals = ", ".join(spec.signal.value for spec in alarm_specs(target)) or "none"
    endpoint = (
        f"{model.instance_type} at ${model.hourly_price_usd:g}/h, cold start {model.cold_start_s:g} s "
        f"(provisioning {model.provisioning_s:g} s + model load {model.model_load_s:g} s), "
        f"{model.concurrency_per_instance} requests at once per instance, routing {model.routing}"
    )
    if changed := sorted(model.model_fields_set - {*SLO_FIELDS, "routing"}):
        endpoint += "; set: " + ", ".join(f"{k}={getattr(model, k)}" for k in changed)
    slo = f"whole response within {_deadline(model)}"
    if target.slo is not None and (model.slo_ttft_s, model.slo_tpot_s) == target.slo.deadline_s:
        slo += " (the policy's slo)"
    rows = [
        ("trace", trace_line),
        ("request sizes", sizes),
        ("target", f"{target.name} ({policies_path}): capacity {capacity_range(target)}, signals {signals}"),
        ("endpoint", endpoint),
        (
            "latency SLO",
            f"{slo}; a step where more than {1 - config.overloaded_below:.1%} of requests miss it "
            + ("(beyond those that always do) " if ceiling < 1 else "")
            + "is an overload",
        ),
        ("replay", f"steps of {config.step_seconds:g} s, seed {config.seed}"),
        *extra,
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {text}" for label, text in rows]


def _replay(
    trace: Trace,
    target: SageMakerVariantPolicy,
    model: EndpointModel,
    names: list[str],
    config: ReplayConfig,
    progress: Callable[[str, float], None] | None,
    initial_capacity: int,
) -> dict[str, PolicyResult]:
    from genai_autoscaler_tools.sim.compare import compare
    from genai_autoscaler_tools.sim.endpoint import RequestProfile

    try:
        return compare(
            trace, target, model, names, config, RequestProfile.default(), progress, initial_capacity
        )
    except ValueError as exc:  # e.g. a rate no number of instances keeps up with
        raise CommandFailed(
            EXIT_BAD_INPUT, [f"cannot replay {trace.source} on {target.name}: {exc}"]
        ) from None


def _demand_line(needs: Demand) -> str:
    at_peak = (
        "no number of instances serves it within the SLO"
        if needs.peak_instances is None
        else f"{needs.peak_instances} instances serve it within the SLO"
    )
    return f"peaks at {needs.peak_rps:.2f} requests/s (a minute's mean): {at_peak}"


def _demand_warnings(needs: Demand, target: SageMakerVariantPolicy) -> list[str]:
    """Demand that the target's max cannot serve: requests will be lost to max, not to the policies."""
    if needs.peak_instances is None or needs.peak_instances <= target.capacity.max:
        return []
    return [
        f"demand peaks at {needs.peak_rps:.2f} requests/s, which takes {needs.peak_instances} instances to serve "
        f"within the SLO; {target.name}'s max is {target.capacity.max}, so every policy loses requests at the "
        f"peak (raise capacity.max to {needs.peak_instances} to see what the policies do on their own)"
    ]


def _start_reason(given: int | None, target: SageMakerVariantPolicy, needs: Demand) -> str:
    if given is not None:
        return "--initial-capacity"
    need = needs.first_instances
    if need is None or need > target.capacity.max:
        return f"the first cold start's need, {need if need is not None else 'beyond any count'}, within max"
    if need < target.capacity.min:
        return f"the first cold start's need, {need}, raised to min"
    return "the first cold start's need"


def _initial_capacity(given: int | None, target: SageMakerVariantPolicy, needs: Demand) -> int:
    from genai_autoscaler_tools.sim.compare import starting_capacity

    if given is None:
        return starting_capacity(target, needs)
    if not target.capacity.min <= given <= target.capacity.max:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"--initial-capacity {given} is outside {target.name}'s capacity "
                f"{capacity_range(target)}: a policy would move it before the first step"
            ],
        )
    return given


def _policy_names(chosen: tuple[str, ...], known: tuple[str, ...]) -> list[str]:
    if not chosen or ALL_POLICIES in chosen:
        return list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [f"--policy {name}: no such policy; choose from {', '.join(known)}, or all" for name in unknown],
        )
    return list(dict.fromkeys(chosen))


def _check_plot(path: Path) -> None:
    # Before a long replay, not after it.
    if path.suffix.lower() != ".png":
        raise CommandFailed(EXIT_BAD_INPUT, [f"--plot {path}: the plot is a PNG file; name it FILE.png"])
    if not path.parent.is_dir():
        raise CommandFailed(EXIT_BAD_INPUT, [f"--plot {path}: the directory {path.parent} does not exist"])
    if importlib.util.find_spec("matplotlib") is None:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                "--plot needs matplotlib, which is not installed: pip install -e '.[sim]' in the "
                "repository (or pip install 'matplotlib>=3.8')"
            ],
        )


@dataclass(frozen=True)
class ReplaySetup:
    """A replay as the command line asked for it: the trace, the target, the endpoint, what the trace asks of
    it and what the fleet starts with, and the report's header."""

    trace: Trace
    target: SageMakerVariantPolicy
    policies_path: Path
    model: EndpointModel
    config: ReplayConfig
    demand: Demand
    initial_capacity: int
    header: Callable[..., list[str]]


def prepare_replay(options: SimulateOptions) -> ReplaySetup:
    """Read and check everything a replay needs (CommandFailed names what is wrong); warn on stderr of a target
    that is advisory or paused, and of demand its max cannot serve."""
    from genai_autoscaler_tools.sim.compare import demand
    from genai_autoscaler_tools.sim.endpoint import RequestProfile
    from genai_autoscaler_tools.sim.replay import ReplayConfig, request_profile

    policies_path = policies_file(options.policies_file)
    _, document = load_policies(policies_path)
    target = simulated_target(document, options.target, policies_path)
    model = endpoint_model(with_policy_slo(options.endpoint_params, target))
    for flag in ("advisory", "paused"):
        if getattr(target, flag):
            print(
                f"warning: {target.name} is {flag} in {policies_path}: "
                "the controller will not change its capacity",
                file=sys.stderr,
            )
    trace = _load_trace(options)
    config = ReplayConfig(step_seconds=options.step_seconds, seed=options.seed)
    default = RequestProfile.default()
    default_tokens = default.source if request_profile(trace, default) is default else None

    needs = demand(trace, model, config, default)
    if (mismatch := _slo_length_mismatch(target, trace, default)) is not None:
        print(f"warning: {mismatch}", file=sys.stderr)
    if needs.ceiling == 0:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"no request of {trace.source} can meet the latency SLO of {_deadline(model)}, even on an "
                "idle instance: check --slo" + (f" and {target.name}'s slo" if target.slo is not None else "")
            ],
        )
    initial = _initial_capacity(options.initial_capacity, target, needs)
    state: tuple[tuple[str, str], ...] = (
        ("demand", _demand_line(needs)),
        (
            "start",
            f"{initial} instances InService ({_start_reason(options.initial_capacity, target, needs)})",
        ),
    )
    if needs.ceiling < 1:
        state = (
            *state,
            (
                "SLO ceiling",
                f"{needs.ceiling:.1%} of the requests can meet the SLO at all (an idle instance serves the rest "
                "too slowly): replayed all the same, capacity sized to come near that share",
            ),
        )
    for warning in _demand_warnings(needs, target):
        print(f"warning: {warning}", file=sys.stderr)

    def header(requests: int, *extra: tuple[str, str]) -> list[str]:
        return simulation_header(
            trace,
            requests,
            target,
            policies_path,
            model,
            default_tokens,
            config,
            (*state, *extra),
            needs.ceiling,
        )

    return ReplaySetup(trace, target, policies_path, model, config, needs, initial, header)


def _bedrock_target(options: SimulateOptions) -> tuple[BedrockModelPolicy, Path] | None:
    """The bedrock_model target `--target` names, with the document's path; None for any other (or none)."""
    if options.target is None:
        return None
    path = policies_file(options.policies_file)
    _, document = load_policies(path)
    target = document.by_name(options.target) or document.find(options.target)
    return (target, path) if isinstance(target, BedrockModelPolicy) else None


def simulate(options: SimulateOptions) -> int:
    bedrock = _bedrock_target(options)
    if bedrock is not None:
        from genai_autoscaler_tools.cli.bedrock_simulate import simulate_bedrock

        return simulate_bedrock(options, *bedrock, _load_trace, lambda total: _progress(options, total))
    if options.bedrock_params:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            ["--bedrock-param: applies to bedrock_model targets; name one with --target"],
        )
    if options.sweep is not None and options.policies:
        raise CommandFailed(EXIT_BAD_INPUT, ["--sweep replays the controller only: leave out --policy"])
    if options.sweep is not None and options.plot is not None:
        raise CommandFailed(
            EXIT_BAD_INPUT, ["--plot draws the policies compared; it does not go with --sweep"]
        )
    if options.plot is not None:
        _check_plot(options.plot)
    from genai_autoscaler_tools.sim.compare import POLICIES

    names = _policy_names(options.policies, POLICIES)
    setup = prepare_replay(options)
    if options.sweep is not None:
        field, texts = options.sweep
        return _simulate_sweep(options, field, sweep_targets(setup.target, field, texts), setup)

    progress = _progress(options, len(names))
    try:
        results = _replay(
            setup.trace, setup.target, setup.model, names, setup.config, progress, setup.initial_capacity
        )
    finally:
        if progress is not None:
            progress.close()

    from genai_autoscaler_tools.sim.report import plot_results, policy_table

    if options.json_output:
        print(json.dumps({name: result.summary() for name, result in results.items()}, indent=2))
    else:
        requests = round(next(iter(results.values())).requests)  # the same arrivals for every policy
        print("\n".join([*setup.header(requests), "", *policy_table(results)]))
    if options.plot is not None:
        try:
            notes = plot_results(results, setup.config.step_seconds, options.plot)
        except OSError as exc:
            raise CommandFailed(
                EXIT_BAD_INPUT, [f"{options.plot}: cannot write the plot: {exc.strerror or exc}"]
            ) from None
        for note in notes:
            print(f"warning: {options.plot}: {note}", file=sys.stderr)
        print(f"wrote {options.plot}", file=sys.stderr if options.json_output else sys.stdout)
    return EXIT_OK


def _simulate_sweep(
    options: SimulateOptions,
    field: str,
    sweep: list[tuple[Any, SageMakerVariantPolicy]],
    setup: ReplaySetup,
) -> int:
    def start(policy: SageMakerVariantPolicy) -> int:
        # A swept field may move the limits: the start is checked, or made, against each policy's own.
        return _initial_capacity(options.initial_capacity, policy, setup.demand)

    from genai_autoscaler_tools.sim.report import pareto_optimal, sweep_table

    progress = _progress(options, len(sweep))
    points = []
    try:
        for value, policy in sweep:
            label = f"controller, {field}={json.dumps(value)}"
            report = None if progress is None else (lambda _, share, label=label: progress(label, share))
            points.append(
                (
                    value,
                    _replay(
                        setup.trace, policy, setup.model, ["controller"], setup.config, report, start(policy)
                    )["controller"],
                )
            )
    finally:
        if progress is not None:
            progress.close()

    if options.json_output:
        optimal = pareto_optimal([(result.slo_attainment, result.cost_usd) for _, result in points])
        body = [
            {"value": value, **result.summary(), "pareto_optimal": best}
            for (value, result), best in zip(points, optimal, strict=True)
        ]
        print(json.dumps({"field": field, "points": body}, indent=2))
        return EXIT_OK
    values = ", ".join(json.dumps(value) for value, _ in points)
    lines = [
        *setup.header(round(points[0][1].requests), ("sweep", f"{field} = {values}, the controller only")),
        "",
        *sweep_table(field, points),
    ]
    print("\n".join(lines))
    return EXIT_OK


# ------------------------------------------------------------------------------------------------- parsing
