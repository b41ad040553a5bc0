"""`genai-autoscaler simulate --target <a bedrock_model target>`: replay a trace's requests against a Bedrock model
under the controller's ladder and the policies it is compared with (`genai_autoscaler_tools.sim.bedrock_compare`).

The simulator is imported only when a replay runs, as for SageMaker targets.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.signals import alarm_specs

from genai_autoscaler_tools.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, CommandFailed, simulated_model

if TYPE_CHECKING:
    from genai_autoscaler_tools.sim.bedrock_compare import BedrockDemand
    from genai_autoscaler_tools.sim.bedrock_replay import BedrockRequests
    from genai_autoscaler_tools.sim.bedrock_service import BedrockModel
    from genai_autoscaler_tools.sim.traces import Trace


class BedrockOptions(Protocol):
    """What simulate's options (cli/simulate.py, SimulateOptions) give a Bedrock replay."""

    @property
    def target(self) -> str | None: ...
    @property
    def policies(self) -> tuple[str, ...]: ...
    @property
    def endpoint_params(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def bedrock_params(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def sweep(self) -> object | None: ...
    @property
    def plot(self) -> Path | None: ...
    @property
    def initial_capacity(self) -> int | None: ...
    @property
    def step_seconds(self) -> float: ...
    @property
    def seed(self) -> int: ...
    @property
    def json_output(self) -> bool: ...


Options = TypeVar("Options", bound=BedrockOptions)


class Progress(Protocol):
    """simulate's status line: `replaying controller (1/4)  42%`."""

    def __call__(self, label: str, share: float) -> None: ...

    def close(self) -> None: ...


def bedrock_model(params: tuple[tuple[str, str], ...]) -> BedrockModel:
    """BedrockModel's defaults with `--bedrock-param` overrides (the last one of a name wins). Raises
    CommandFailed (exit 2) naming each unknown field and each value the model refuses."""
    from genai_autoscaler_tools.sim.bedrock_service import BedrockModel

    return simulated_model(BedrockModel, params, "--bedrock-param", "Bedrock model field")


def _sagemaker_only(options: BedrockOptions) -> list[str]:
    """The options that apply to SageMaker targets only, as given."""
    given = []
    if options.endpoint_params:
        given.append("--endpoint-param (and --slo)")
    if options.sweep is not None:
        given.append("--sweep")
    if options.plot is not None:
        given.append("--plot")
    if options.initial_capacity is not None:
        given.append("--initial-capacity")
    return given


def _policy_names(options: BedrockOptions, target: BedrockModelPolicy) -> list[str]:
    from genai_autoscaler_tools.sim.bedrock_compare import NEEDS_PROVISIONED, POLICIES

    chosen = options.policies
    has_pt = target.bedrock.provisioned_throughput is not None
    if not chosen or "all" in chosen:
        names = [name for name in POLICIES if has_pt or name not in NEEDS_PROVISIONED]
        if not has_pt:
            print(
                f"warning: {target.name} has no bedrock.provisioned_throughput settings: static_pt and oracle "
                "are left out (they buy Provisioned Throughput at its tokens per unit and price)",
                file=sys.stderr,
            )
        return names
    unknown = [name for name in chosen if name not in POLICIES]
    if unknown:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"--policy {name}: no such policy; choose from {', '.join(POLICIES)}, or all"
                for name in unknown
            ],
        )
    refused = [name for name in chosen if name in NEEDS_PROVISIONED and not has_pt]
    if refused:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"--policy {name}: {target.name} has no bedrock.provisioned_throughput settings (tokens per "
                "minute per unit, hourly price) to buy it with"
                for name in refused
            ],
        )
    return list(dict.fromkeys(chosen))


def _header(
    trace: Trace,
    requests: BedrockRequests,
    target: BedrockModelPolicy,
    path: Path,
    model: BedrockModel,
    needs: BedrockDemand,
    options: BedrockOptions,
) -> list[str]:
    from genai_autoscaler_tools.sim.bedrock_replay import slo_of
    from genai_autoscaler_tools.sim.bedrock_service import callers_max_tokens
    from genai_autoscaler_tools.sim.traces import RateSeries

    settings = target.bedrock
    limits = needs.quotas
    kind = "a rate series drawn as Poisson arrivals" if isinstance(trace, RateSeries) else "a request log"
    hours = requests.duration / 3600
    sizes = (
        "the trace's own token counts"
        if requests.sizes_source is None
        else f"none in the trace, so drawn from {requests.sizes_source}"
    )

    def quota(figure: object, label: str) -> str:
        from genai_autoscaler_tools.sim.bedrock_service import Quota

        if not isinstance(figure, Quota):
            return f"{label}: not named by the policy"
        rpm = figure.requests_per_minute or 0
        return f"{label} {figure.tokens_per_minute:,.0f} tokens/min and {rpm:,.0f} requests/min"

    pt = settings.provisioned_throughput
    provisioned = (
        "none (no provisioned_throughput settings)"
        if pt is None
        else f"{pt.tokens_per_minute_per_unit:,} tokens/min per unit at ${pt.hourly_price_per_unit_usd:g}/unit-hour, "
        f"InService {model.pt_provisioning_s:g} s after purchase; the controller buys at most "
        f"{settings.max_model_units} units and ${settings.hourly_budget_usd:g}/h"
    )
    asked = (
        f"{model.max_tokens_factor:g} x each request's output"
        if model.max_tokens_factor > 0
        else f"{callers_max_tokens(model, target):,} (at least the request's output)"
    )
    demand = (
        f"busiest minute {needs.peak_tokens_per_minute:,.0f} quota tokens "
        f"({needs.peak_tokens_per_minute / limits.on_demand.tokens_per_minute:.2f}x the on-demand quota) and "
        f"{needs.peak_requests_per_minute:,} requests"
    )
    if needs.static_units is not None:
        demand += f"; static_pt buys {needs.static_units} units"
    if needs.oracle_units is not None:
        demand += f"; the oracle {max(needs.oracle_units, default=0)} at most in an hour"
    counted = (
        "every call of the model, through a profile or PT too, counted under its own ModelId"
        if model.metrics_model_id == "model"
        else "only calls of the model's own ID counted under it (a profile's and a PT's under theirs)"
    )
    changed = sorted(model.model_fields_set)
    rows = [
        ("trace", f"{trace.source}, {kind}: {hours:.2f} h, {len(requests):,} requests"),
        ("request sizes", sizes),
        (
            "target",
            f"{target.name} ({path}): signals "
            + (", ".join(spec.signal.value for spec in alarm_specs(target)) or "none")
            + f"; ladder {', '.join(settings.ladder)}",
        ),
        (
            "quotas",
            "; ".join(
                [
                    quota(limits.on_demand, "on-demand"),
                    quota(limits.profile, "geographic profile"),
                    quota(limits.global_profile, "global profile"),
                ]
            ),
        ),
        ("Provisioned Thr.", provisioned),
        (
            "requests",
            f"max_tokens {asked}; output burns the quota {settings.output_token_burndown:g}x; "
            f"{model.retry_mode.value} retries, {model.attempts} attempts",
        ),
        (
            "latency",
            f"first token {model.ttft_s:g} s + {model.prefill_s_per_1k_tokens:g} s per 1k input tokens; "
            f"{model.output_tokens_per_s:g} output tokens/s (Priority +{model.priority_speedup:.0%})",
        ),
        ("SLO", slo_of(target)[0]),
        ("CloudWatch", f"{counted}; visible {model.visibility_delay_s:g} s after the minute"),
        ("demand", demand),
        ("replay", f"steps of {options.step_seconds:g} s, seed {options.seed}"),
    ]
    if changed:
        rows.append(("set", ", ".join(f"{key}={getattr(model, key)}" for key in changed)))
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {text}" for label, text in rows]


def simulate_bedrock(
    options: Options,
    target: BedrockModelPolicy,
    path: Path,
    load_trace: Callable[[Options], Trace],
    progress: Callable[[int], Progress | None],
) -> int:
    """The Bedrock replay of `simulate` (see the module's doc). `load_trace` and `progress` are simulate's."""
    if given := _sagemaker_only(options):
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [f"{option}: applies to SageMaker targets; {target.name} is a bedrock_model" for option in given],
        )
    model = bedrock_model(options.bedrock_params)
    from genai_autoscaler_tools.sim.bedrock_service import quotas

    try:
        quotas(model, target)
    except ValueError:
        raise CommandFailed(
            EXIT_BAD_INPUT,
            [
                f"--target {options.target}: its type is bedrock_model, and the simulator needs its on-demand "
                f"tokens-per-minute quota: set bedrock.tokens_per_minute_quota in {path}, or --bedrock-param "
                "on_demand_tpm=N"
            ],
        ) from None
    names = _policy_names(options, target)
    for flag in ("advisory", "paused"):
        if getattr(target, flag):
            print(
                f"warning: {target.name} is {flag} in {path}: the controller will not move its callers",
                file=sys.stderr,
            )
    trace = load_trace(options)

    from genai_autoscaler_tools.sim.bedrock_compare import bedrock_demand, compare
    from genai_autoscaler_tools.sim.bedrock_replay import BedrockConfig, bedrock_requests
    from genai_autoscaler_tools.sim.bedrock_report import bedrock_table

    requests = bedrock_requests(trace, options.seed)
    if not len(requests):
        raise CommandFailed(EXIT_BAD_INPUT, [f"{trace.source}: no requests to replay"])
    config = BedrockConfig(step_seconds=options.step_seconds, seed=options.seed)
    needs = bedrock_demand(requests, target, model, oracle="oracle" in names)
    report = progress(len(names))
    try:
        results = compare(requests, target, model, names, config, report, needs)
    finally:
        if report is not None:
            report.close()
    if options.json_output:
        print(json.dumps({name: result.summary() for name, result in results.items()}, indent=2))
    else:
        header = _header(trace, requests, target, path, model, needs, options)
        print("\n".join([*header, "", *bedrock_table(results)]))
    return EXIT_OK
