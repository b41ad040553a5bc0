"""The Bedrock benchmark: the shipped Azure trace and the synthetic shapes replayed against a Bedrock model under
the controller's ladder, on-demand only, a static Provisioned Throughput and the oracle.

The model is the example policies' Claude target (config/policies.example.yaml: 400,000 tokens per minute on
demand, the geographic profile, Provisioned Throughput at 100,000 tokens per minute per unit and $88 per unit-hour,
the example's hold, cooldown and thresholds), with one change per trace: its `max_model_units` is 1.25 times the
units the trace's busiest minute needs (what static_pt buys), rounded up, and its hourly budget pays for them; the
example's 4 units and $300 would cap every purchase below the peak. The simulated Bedrock is `BedrockModel()`'s,
with the quotas the example policy states (400,000 tokens and 400 requests per minute on demand, the profile's
800,000 tokens); its callers overflow (the route client), as the example says.

Each trace is scaled so that its busiest minute asks for LOAD_OF_QUOTA times the on-demand token quota (the Azure
trace by superposing shifted copies; each shape by its peak rate), so that even the oracle, which uses the
on-demand and the profile quota at once, needs Provisioned Throughput at the peak.

Goals, for the controller, per trace (PASS or MISS):
- the oracle throttles nothing (the reference holds);
- the controller loses at most THROTTLED_GOAL of the requests to throttling (after the SDK's retries);
- it loses fewer than on_demand_only;
- it costs no more than static_pt (Provisioned Throughput for the busiest minute, all along);
- it costs at most ORACLE_RATIO_GOAL times the oracle, which buys by the hour, with foresight, exactly what the
  free quotas leave; the controller buys from what it measured, replaces a purchase that falls short (both bill
  while the new one provisions) and keeps its units through the hold.

Then findings (no verdict): the step shape at half that load (its base fits the on-demand token quota) under the
controller, with the bench's model; with an account of 50 requests per minute on demand, stated in the policy, and
not stated; with metrics counted under the ID callers call (`metrics_model_id=called`); and with callers that
do not overflow (each route one modelId). With `--check` (as `make bench` runs it) it exits 1
when a goal is missed.

    python scripts/bench_bedrock.py [--check]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from genai_autoscaler.domain.policy import BedrockModelPolicy, parse_policy_document
from genai_autoscaler_tools.sim.bedrock_compare import POLICIES, BedrockDemand, bedrock_demand, compare
from genai_autoscaler_tools.sim.bedrock_replay import (
    BedrockConfig,
    BedrockRequests,
    BedrockResult,
    bedrock_requests,
)
from genai_autoscaler_tools.sim.bedrock_report import bedrock_table
from genai_autoscaler_tools.sim.bedrock_service import BedrockModel, units_for
from genai_autoscaler_tools.sim.endpoint import RequestProfile
from genai_autoscaler_tools.sim.shapes import shape
from genai_autoscaler_tools.sim.traces import RateSeries, rate_scale, read_trace

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "data" / "traces" / "azure_llm_2023_conv.csv"
POLICY_FILE = ROOT / "config" / "policies.example.yaml"
MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SEED = 0
SHAPES = ("step", "bursts", "diurnal")

LOAD_OF_QUOTA = 6.0  # the busiest minute asks for this many times the on-demand tokens-per-minute quota
BENCH_MODEL = BedrockModel()  # the quotas the example policy states
MAX_UNITS_OF_PEAK = 1.25  # the bench policy's max_model_units, against what the busiest minute needs

FINDINGS_LOAD = 3.0  # the step shape of the findings: its base (a fifth of its peak) fits the token quota

THROTTLED_GOAL = 0.05
ORACLE_RATIO_GOAL = 4.0

Check = tuple[str, bool, str]


def example_target() -> BedrockModelPolicy:
    document = parse_policy_document(yaml.safe_load(POLICY_FILE.read_text()))
    target = document.find(f"bedrock/{MODEL_ID}")
    assert isinstance(target, BedrockModelPolicy), f"{POLICY_FILE} has no {MODEL_ID} target"
    return target


def bench_target(target: BedrockModelPolicy, requests: BedrockRequests) -> BedrockModelPolicy:
    """The example target, its max_model_units 1.25x what the busiest minute needs, its budget paying for them."""
    pt = target.bedrock.provisioned_throughput
    assert pt is not None
    peak, _ = requests.busiest_minute(target.bedrock.output_token_burndown)
    units = math.ceil(MAX_UNITS_OF_PEAK * units_for(peak, pt.tokens_per_minute_per_unit))
    raw = target.model_dump(mode="json")
    raw["bedrock"] |= {"max_model_units": units, "hourly_budget_usd": units * pt.hourly_price_per_unit_usd}
    return BedrockModelPolicy.model_validate(raw)


def azure(target: BedrockModelPolicy) -> tuple[str, BedrockRequests]:
    trace = read_trace(TRACE)
    busiest, _ = bedrock_requests(trace, SEED).busiest_minute(target.bedrock.output_token_burndown)
    quota = float(target.bedrock.tokens_per_minute_quota or 0)
    factor = LOAD_OF_QUOTA * quota / busiest
    scaled = rate_scale(trace, factor, SEED)
    return f"Azure LLM conversation trace x{factor:.2f} (1 hour, its own token counts)", bedrock_requests(
        scaled, SEED
    )


def synthetic(
    name: str, target: BedrockModelPolicy, load: float = LOAD_OF_QUOTA
) -> tuple[str, BedrockRequests]:
    """The shape at the peak rate whose busiest minute (its rate, noise included) asks for LOAD_OF_QUOTA times the
    quota, at the mean request of the Azure trace's sizes (the shapes have no token counts of their own)."""
    unit = shape(name, 1.0, SEED).trace
    assert isinstance(unit, RateSeries)
    profile = RequestProfile.default()
    burndown = target.bedrock.output_token_burndown
    mean_tokens = float(np.mean(profile.input_tokens + burndown * profile.output_tokens))
    quota = float(target.bedrock.tokens_per_minute_quota or 0)
    peak_rps = load * quota / (float(np.nanmax(unit.rates)) * 60.0 * mean_tokens)
    generated = shape(name, peak_rps, SEED)
    hours = generated.trace.duration / 3600
    return f"Shape {name} (seed {SEED}, {hours:.0f} h, peak {peak_rps:.1f} requests/s)", bedrock_requests(
        generated.trace, SEED
    )


def goals(title: str, results: dict[str, BedrockResult]) -> list[Check]:
    ctl, oracle = results["controller"], results["oracle"]
    on_demand, static = results["on_demand_only"], results["static_pt"]
    ratio = ctl.cost_usd / oracle.cost_usd if oracle.cost_usd > 0 else math.inf
    return [
        (f"{title}: the oracle throttles nothing", oracle.throttled == 0, f"{oracle.throttled:,} throttled"),
        (
            f"{title}: controller throttles <= {THROTTLED_GOAL:.0%} of requests",
            ctl.throttled_share <= THROTTLED_GOAL,
            f"{ctl.throttled_share:.2%} ({ctl.throttled:,})",
        ),
        (
            f"{title}: controller throttles fewer than on_demand_only",
            ctl.throttled < on_demand.throttled,
            f"{ctl.throttled:,} vs {on_demand.throttled:,}",
        ),
        (
            f"{title}: controller costs <= static_pt",
            round(ctl.cost_usd, 2) <= round(static.cost_usd, 2),
            f"${ctl.cost_usd:,.0f} vs ${static.cost_usd:,.0f}",
        ),
        (
            f"{title}: controller costs <= {ORACLE_RATIO_GOAL:g}x the oracle",
            ratio <= ORACLE_RATIO_GOAL,
            f"${ctl.cost_usd:,.0f} vs ${oracle.cost_usd:,.0f} ({ratio:.2f}x)",
        ),
    ]


def run(title: str, requests: BedrockRequests, target: BedrockModelPolicy) -> tuple[list[Check], float]:
    began = time.perf_counter()
    policy = bench_target(target, requests)
    needs: BedrockDemand = bedrock_demand(requests, policy, BENCH_MODEL)
    results = compare(requests, policy, BENCH_MODEL, POLICIES, BedrockConfig(seed=SEED), needs=needs)
    took = time.perf_counter() - began
    print(
        f"\n{title}: {len(requests):,} requests; busiest minute {needs.peak_tokens_per_minute:,.0f} quota tokens "
        f"({needs.peak_tokens_per_minute / needs.quotas.on_demand.tokens_per_minute:.1f}x the on-demand quota), "
        f"{needs.peak_requests_per_minute:,} requests; max_model_units {policy.bedrock.max_model_units}; "
        f"replayed in {took:.1f} s"
    )
    print("\n".join(f"  {line}" for line in bedrock_table(results)))
    checks = goals(title, results)
    for what, passed, figure in checks:
        print(f"  goal  {'pass' if passed else 'MISS'}  {what.split(': ', 1)[1]}: {figure}")
    return checks, took


def findings(target: BedrockModelPolicy) -> float:
    """The step shape under the controller alone, with the simulator's defaults where the bench departs from
    them: what the goals' conditions hide."""
    began = time.perf_counter()
    title, requests = synthetic("step", target, FINDINGS_LOAD)
    policy = bench_target(target, requests)
    print(
        f"\nFindings (no verdict): {title}, its busiest minute at {FINDINGS_LOAD:g}x the on-demand token quota "
        "(its base fits the token quota with margin), the controller alone"
    )
    fifty = policy.model_copy(
        update={"bedrock": policy.bedrock.model_copy(update={"requests_per_minute_quota": 50})}
    )
    unstated = policy.model_copy(
        update={"bedrock": policy.bedrock.model_copy(update={"requests_per_minute_quota": None})}
    )
    single = policy.model_copy(update={"bedrock": policy.bedrock.model_copy(update={"overflow": False})})
    variants = {
        "the bench's model": (policy, BENCH_MODEL),
        "50 requests per minute on demand, stated in the policy": (fifty, BENCH_MODEL),
        "50 requests per minute on demand, not stated": (unstated, BedrockModel(on_demand_rpm=50)),
        "metrics_model_id=called": (policy, BENCH_MODEL.model_copy(update={"metrics_model_id": "called"})),
        "callers that do not overflow": (single, BENCH_MODEL),
    }
    for label, (variant, model) in variants.items():
        result = compare(requests, variant, model, ["controller"], BedrockConfig(seed=SEED))["controller"]
        shifts = sum(1 for action in result.actions if action.action != "revert_routing")
        reverts = len(result.actions) - shifts
        print(
            f"  {label}: throttled {result.throttled_share:.2%}, ${result.cost_usd:,.0f}, {shifts} shifts and "
            f"{reverts} reverts: "
            + "; ".join(action.describe() for action in result.actions[:8])
            + (" ..." if len(result.actions) > 8 else "")
        )
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    began = time.perf_counter()
    target = example_target()
    print(
        f"model: {target.name} from {POLICY_FILE.relative_to(ROOT)}; simulated Bedrock: "
        "BedrockModel() with the quotas the policy states, the rest at its defaults; each trace's "
        f"busiest minute at {LOAD_OF_QUOTA:g}x the on-demand token quota"
    )
    checks: list[Check] = []
    for title, requests in [azure(target), *(synthetic(name, target) for name in SHAPES)]:
        found, _ = run(title, requests, target)
        checks += found
    findings(target)
    print(f"\nGoals ({time.perf_counter() - began:.0f} s in all)")
    for what, passed, figure in checks:
        print(f"  {'pass' if passed else 'MISS'}  {what}: {figure}")
    return 1 if args.check and not all(passed for _, passed, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
