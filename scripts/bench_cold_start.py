"""Cold start of every Lambda handler (functions/*/app.py) and warm decision time, measured on this machine in
one run.

`make bench` runs it. It prints a PASS/FAIL verdict per goal and exits 1 when one is FAIL (2 when a function has
no first client named in FIRST_CLIENT), so that `make bench` fails with it. A cold start on a loaded machine can
fail its goal: the table's `paired` column (the ratio within each round) says whether it was the load.

A. Cold start. Each sample is a fresh Python process that imports a handler the way Lambda does
   (sys.path = [function folder, layers/autoscaler, ...], `import app`) and creates the boto3 client its
   first invocation creates. The figure is the child's own perf_counter around that work, so interpreter
   startup is left out. The baseline is a fresh process doing `import boto3, pydantic, aws_lambda_powertools`.
   Variants run round-robin (baseline, h1..h8, floors, baseline, ...) so that a noisy neighbour slows all
   of them alike. Goal: every handler's median within 1.25x of the baseline median.
   The floor rows (informational) add to the baseline what no handler can avoid: pydantic's model machinery
   and the same first client; a handler's "x floor" is what its own code costs on top.
B. Warm decision time, in process: `decide(...)` over a mix of triggers built from the llm-prod target of
   config/policies.example.yaml, and the whole `dispatch_alarm(...)` on events/alarm_latency_alarm.json with
   in-memory ports. Goal: decide() p50 under 2 ms.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "autoscaler"
FUNCTIONS = ROOT / "functions"

# The boto3 client each handler creates first on its first invocation (see aws/wiring.py), for every function
# in functions/ (a function missing here stops the bench): the alarm router opens its idempotency store
# (DynamoDB) before it reads the event's target; the forecaster and the routing steps load the policies (SSM), the
# sweeper the published routes (SSM); the evaluator lists alarms; the reconciler lists endpoints; the scale steps
# and the approval load the target's state (DynamoDB).
FIRST_CLIENT = {
    "alarm_router": "dynamodb",
    "approval": "dynamodb",
    "evaluator": "cloudwatch",
    "forecaster": "ssm",
    "provisioned_sweeper": "ssm",
    "reconciler": "sagemaker",
    "routing_steps": "ssm",
    "scale_steps": "dynamodb",
}
BASELINE = "baseline"
FLOOR = "floor"  # floor variants are named "floor:<service>"
COLD_START_RATIO_GOAL = 1.25
DECISION_P50_GOAL_MS = 2.0
LLM_PROD = "variant/llm-prod/AllTraffic"

# The child's timed work. `-P` keeps the working directory off sys.path, so the path is exactly what
# Lambda builds: the function's folder, then the layer, then the runtime's own (here the venv's) paths.
_BASELINE_CODE = """
import json, sys, time
t0 = time.perf_counter()
import boto3, pydantic, aws_lambda_powertools
t1 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "client_ms": 0.0, "modules": len(sys.modules)}))
"""

_HANDLER_CODE = """
import json, sys, time
function_dir, layer_dir, service = sys.argv[1:4]
t0 = time.perf_counter()
sys.path[:0] = [function_dir, layer_dir]
import app
t1 = time.perf_counter()
from genai_autoscaler.aws.clients import client
client(service)
t2 = time.perf_counter()
import genai_autoscaler
assert app.__file__.startswith(function_dir), app.__file__
assert genai_autoscaler.__file__.startswith(layer_dir), genai_autoscaler.__file__
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "client_ms": (t2 - t1) * 1e3, "modules": len(sys.modules)}))
"""

# What any handler here pays at least: the baseline, pydantic's model machinery (`import pydantic` alone
# does not load it: pydantic resolves BaseModel lazily) and the same first client, created the same way.
_FLOOR_CODE = """
import json, sys, time
layer_dir, service = sys.argv[1:3]
t0 = time.perf_counter()
sys.path[:0] = [layer_dir]
import boto3, pydantic, aws_lambda_powertools
from pydantic import BaseModel
class Floor(BaseModel):
    value: int
t1 = time.perf_counter()
from genai_autoscaler.aws.clients import client
client(service)
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "client_ms": (t2 - t1) * 1e3, "modules": len(sys.modules)}))
"""


def child_environment(workdir: Path) -> dict[str, str]:
    """The environment of a measured process: fake credentials, no profile files, no IMDS, no network.

    POWERTOOLS_* are the values template.yaml's Globals give every function.
    """
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    return keep | {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_CONFIG_FILE": str(workdir / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "genai-autoscaler",
        "POWERTOOLS_METRICS_NAMESPACE": "GenAIAutoscaler",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def child_command(variant: str, *interpreter_flags: str) -> list[str]:
    if variant == BASELINE:
        return [sys.executable, "-P", *interpreter_flags, "-c", _BASELINE_CODE]
    if variant.startswith(f"{FLOOR}:"):
        service = variant.split(":", 1)[1]
        return [sys.executable, "-P", *interpreter_flags, "-c", _FLOOR_CODE, str(LAYER), service]
    return [
        sys.executable,
        "-P",
        *interpreter_flags,
        "-c",
        _HANDLER_CODE,
        str(FUNCTIONS / variant),
        str(LAYER),
        FIRST_CLIENT[variant],
    ]


@dataclass
class ColdStartSamples:
    variant: str
    kind: str  # baseline, handler or floor
    first_client: str | None
    import_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    modules: int = 0
    error: str | None = None


def percentile(values: list[float], pct: int) -> float:
    """The pct-th percentile, interpolated between the closest ranks."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def run_child(variant: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        child_command(variant), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_cold_starts(rounds: int, progress: Callable[[str], None]) -> list[ColdStartSamples]:
    samples = {BASELINE: ColdStartSamples(BASELINE, BASELINE, None)}
    samples |= {name: ColdStartSamples(name, "handler", service) for name, service in FIRST_CLIENT.items()}
    samples |= {
        f"{FLOOR}:{service}": ColdStartSamples(f"{FLOOR}:{service}", FLOOR, service)
        for service in dict.fromkeys(FIRST_CLIENT.values())
    }
    variants = list(samples)
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        workdir = Path(tmp)
        env = child_environment(workdir)
        # One untimed round first: it writes the .pyc files of functions/ and the layer (the first-ever
        # import compiles), so every timed round starts with warm bytecode caches.
        for round_number in range(rounds + 1):
            progress(
                f"cold start: {'warm-up round' if round_number == 0 else f'round {round_number}/{rounds}'}"
            )
            for variant in variants:
                entry = samples[variant]
                if entry.error is not None:
                    continue
                try:
                    figures = run_child(variant, env, workdir)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    message = str(exc)
                    entry.error = message if len(message) <= 160 else f"{message[:157]}..."
                    continue
                if round_number == 0:
                    continue
                entry.import_ms.append(figures["import_ms"])
                entry.client_ms.append(figures["client_ms"])
                entry.total_ms.append(figures["import_ms"] + figures["client_ms"])
                entry.modules = figures["modules"]
    return [samples[v] for v in variants]


@dataclass(frozen=True)
class ImportTime:
    module: str
    depth: int
    self_ms: float
    cumulative_ms: float


def import_times(variant: str, runs: int = 3) -> list[ImportTime]:
    """`python -X importtime` of the variant's timed work, each module's median over `runs` runs."""
    by_module: dict[str, list[tuple[int, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-importtime-") as tmp:
        env = child_environment(Path(tmp))
        for _ in range(runs):
            done = subprocess.run(
                child_command(variant, "-X", "importtime"),
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            for line in done.stderr.splitlines():
                # import time:   self [us] | cumulative | imported package
                if not line.startswith("import time:") or "[us]" in line:
                    continue
                self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
                depth = (len(name) - len(name.lstrip()) - 1) // 2
                by_module.setdefault(name.strip(), []).append(
                    (depth, float(self_us) / 1e3, float(cumulative_us) / 1e3)
                )
    return [
        ImportTime(
            module,
            entries[0][0],
            statistics.median(e[1] for e in entries),
            statistics.median(e[2] for e in entries),
        )
        for module, entries in by_module.items()
    ]


# --- B. warm decision time --------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    samples_ns: list[int]
    note: str = ""
    part_of_mix: bool = False

    def ms(self, pct: int) -> float:
        return percentile([float(s) for s in self.samples_ns], pct) / 1e6


def measure_decisions(iterations: int, warmup: int) -> tuple[list[Timing], dict[str, str]]:
    sys.path.insert(0, str(LAYER))
    import yaml
    from genai_autoscaler.app.dispatch import dispatch_alarm
    from genai_autoscaler.app.settings import ControllerSettings
    from genai_autoscaler.domain.alarm_event import AlarmState, AlarmStateChangeEvent, reading_from_state
    from genai_autoscaler.domain.decision import AlarmTransition, Evaluation, Trigger, decide
    from genai_autoscaler.domain.forecast import DemandForecast
    from genai_autoscaler.domain.policy import SageMakerVariantPolicy
    from genai_autoscaler.domain.signals import Signal, alarm_specs
    from genai_autoscaler.domain.state import ObservedCapacity, TargetState
    from genai_autoscaler_tools.memory import memory_controller

    document = yaml.safe_load((ROOT / "config" / "policies.example.yaml").read_text())
    settings = ControllerSettings(stack_name="genai-autoscaler")
    policy = settings.effective_policies(document).find(LLM_PROD)
    assert isinstance(policy, SageMakerVariantPolicy), f"{LLM_PROD} is not in the example policies"
    unit = {spec.signal: spec.unit for spec in alarm_specs(policy)}

    def event(name: str) -> AlarmStateChangeEvent:
        return AlarmStateChangeEvent.model_validate_json((ROOT / "events" / name).read_text())

    alarm_event, ok_event = event("alarm_latency_alarm.json"), event("alarm_latency_ok.json")
    now = alarm_event.time + timedelta(seconds=5)
    long_ago = now - timedelta(hours=2)

    def transition(e: AlarmStateChangeEvent) -> AlarmTransition:
        state = e.detail.state
        reading = reading_from_state(
            Signal.LATENCY_P95, state.value, state.timestamp, state.reason_data, unit[Signal.LATENCY_P95]
        )
        return AlarmTransition(reading, e.detail.previous_state.value if e.detail.previous_state else None)

    def ok(signal: Signal, value: float, threshold: float) -> Any:
        return reading_from_state(
            signal,
            AlarmState.OK,
            long_ago,
            json.dumps({"recentDatapoints": [value], "threshold": threshold}),
            unit[signal],
        )

    firing = reading_from_state(
        Signal.LATENCY_P95,
        AlarmState.ALARM,
        now - timedelta(minutes=3),
        json.dumps({"recentDatapoints": [7_500_000.0], "threshold": 4_000_000.0}),
        unit[Signal.LATENCY_P95],
    )
    fresh = TargetState(target_id=LLM_PROD)
    # (label, trigger, observed instances, state, action the engine is expected to take)
    mix: list[tuple[str, Trigger, int, TargetState, str]] = [
        ("ALARM transition -> scale_out", transition(alarm_event), 2, fresh, "scale_out"),
        ("OK transition", transition(ok_event), 2, fresh, "ignore"),
        (
            "evaluation, all OK past stabilization -> scale_in",
            Evaluation((ok(Signal.LATENCY_P95, 1_500_000.0, 4_000_000.0), ok(Signal.CONCURRENCY, 1.0, 8.0))),
            3,
            fresh,
            "scale_in",
        ),
        (
            "evaluation, still ALARM in scale-out cooldown",
            Evaluation((firing, ok(Signal.CONCURRENCY, 6.0, 8.0))),
            4,
            fresh.model_copy(
                update={"last_scale_out_at": now - timedelta(seconds=60), "last_known_capacity": 4}
            ),
            "ignore",
        ),
    ]
    # With the forecast in: the hourly forecaster's 90 minutes, a ramp from 20 to 400 a minute in 10.
    forecasting = fresh.model_copy(
        update={
            "forecast": DemandForecast(
                made_at=now - timedelta(minutes=20),
                method="daily",
                error=0.05,
                per_minute=[20.0] * 30 + [400.0] * 60,
                inflight_per_invocation=0.2,
            ),
            "cold_start_seconds": 360.0,
        }
    )
    mix += [
        (
            "evaluation, all OK, the forecast expects a ramp -> scale_out",
            Evaluation((ok(Signal.LATENCY_P95, 1_500_000.0, 4_000_000.0), ok(Signal.CONCURRENCY, 1.0, 8.0))),
            3,
            forecasting,
            "scale_out",
        ),
        (
            "ALARM transition, with the forecast -> scale_out",
            transition(alarm_event),
            2,
            forecasting,
            "scale_out",
        ),
    ]
    cases = [
        (label, trigger, ObservedCapacity(desired=n, current=n, status="InService"), state, expected)
        for label, trigger, n, state, expected in mix
    ]
    paths: dict[str, str] = {}
    for label, trigger, observed, state, expected in cases:
        plan = decide(trigger, policy, observed, state, now)
        paths[label] = plan.action.value
        if plan.action.value != expected:
            paths[label] += f" (expected {expected}: {plan.reason})"

    per_case: list[list[int]] = [[] for _ in cases]
    mixed: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup + iterations):
        index = i % len(cases)
        _, trigger, observed, state, _ = cases[index]
        started = clock()
        decide(trigger, policy, observed, state, now)
        elapsed = clock() - started
        if i >= warmup:
            mixed.append(elapsed)
            per_case[index].append(elapsed)

    observed_llm_prod = {LLM_PROD: ObservedCapacity(desired=2, current=2, status="InService")}
    routed: list[int] = []
    parsed: list[int] = []
    raw_event = (ROOT / "events" / "alarm_latency_alarm.json").read_text()
    for i in range(warmup + iterations):
        # A fresh controller each time, outside the timed region: no cooldown or remembered state from the
        # previous iteration changes the path.
        ctl = memory_controller(
            document=copy.deepcopy(document),
            observed=dict(observed_llm_prod),
            settings=settings,
            clock=lambda: now,
        )
        started = clock()
        outcome = dispatch_alarm(alarm_event, ctl, now)
        elapsed = clock() - started
        started = clock()
        AlarmStateChangeEvent.model_validate_json(raw_event)
        parse_elapsed = clock() - started
        if i >= warmup:
            routed.append(elapsed)
            parsed.append(parse_elapsed)
    plan_action = outcome.plan.action.value if outcome.plan else "none"
    paths["dispatch_alarm(alarm_latency_alarm.json)"] = f"{outcome.dispatch.value} ({plan_action})"

    timings = [
        Timing("decide(): the mix", mixed, "each call timed; triggers in turn"),
        *(
            Timing(label, samples, part_of_mix=True)
            for (label, *_), samples in zip(cases, per_case, strict=True)
        ),
        Timing("dispatch_alarm(): latency ALARM event", routed, "memory ports, fresh per iteration"),
        Timing("event parse (model_validate_json)", parsed, "not in dispatch_alarm; for reference"),
    ]
    return timings, paths


# --- report -------------------------------------------------------------------------------------------


def extras_not_in_layer() -> list[str]:
    """Packages of this venv (dev and SAM CLI dependencies) that boto3 and botocore import when present.

    layers/autoscaler/requirements.txt does not pull them in, so in Lambda nobody pays for them; here every
    variant, the baseline included, does.
    """
    return [name for name in ("awscrt", "OpenSSL") if importlib.util.find_spec(name) is not None]


def versions() -> dict[str, str]:
    found = {}
    for dist in ("boto3", "botocore", "pydantic", "pydantic_core", "aws-lambda-powertools"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "missing"
    return found


def summarize(
    cold: list[ColdStartSamples],
    top_imports: tuple[str, list[ImportTime]] | None,
    timings: list[Timing],
    paths: dict[str, str],
    rounds: int,
    iterations: int,
) -> dict[str, Any]:
    baseline = next(c for c in cold if c.variant == BASELINE)
    base_median = statistics.median(baseline.total_ms) if baseline.total_ms else None
    floors = {c.first_client: statistics.median(c.total_ms) for c in cold if c.kind == FLOOR and c.total_ms}
    variants = []
    for entry in cold:
        median = statistics.median(entry.total_ms) if entry.total_ms else None
        ratio = median / base_median if median is not None and base_median else None
        floor = floors.get(entry.first_client) if entry.kind == "handler" else None
        # The same ratio within each round (each handler runs right after that round's baseline): less
        # sensitive to load that comes and goes over the run.
        paired = [t / b for t, b in zip(entry.total_ms, baseline.total_ms, strict=False) if b > 0]
        variants.append(
            {
                "variant": entry.variant,
                "kind": entry.kind,
                "first_client": entry.first_client,
                "median_ms": median,
                "p90_ms": percentile(entry.total_ms, 90) if entry.total_ms else None,
                "import_median_ms": statistics.median(entry.import_ms) if entry.import_ms else None,
                "client_median_ms": statistics.median(entry.client_ms) if entry.client_ms else None,
                "ratio_to_baseline": ratio,
                "paired_ratio_median": statistics.median(paired) if paired else None,
                "ratio_to_floor": median / floor if median is not None and floor else None,
                "modules_loaded": entry.modules,
                "samples": len(entry.total_ms),
                "error": entry.error,
                # Judged on the ratio as printed (2 decimals): a verdict the table's figure does not explain is none.
                "passes": ratio is not None and round(ratio, 2) <= COLD_START_RATIO_GOAL
                if entry.kind == "handler"
                else None,
            }
        )
    handlers = [v for v in variants if v["kind"] == "handler"]
    decision = timings[0]
    return {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "versions": versions(),
            "imported_here_not_in_layer": extras_not_in_layer(),
        },
        "cold_start": {
            "rounds": rounds,
            "pyc": "warm (one untimed warm-up round first)",
            "figure": "in-process perf_counter in a fresh interpreter; interpreter startup excluded",
            "baseline": "import boto3, pydantic, aws_lambda_powertools",
            "floor": "baseline + `from pydantic import BaseModel` and one model + the handler's first client "
            "(informational, not a goal)",
            "variants": variants,
            "slowest_handler_imports": None
            if top_imports is None
            else {
                "handler": top_imports[0],
                "top_cumulative": [
                    {"module": t.module, "cumulative_ms": t.cumulative_ms, "self_ms": t.self_ms}
                    for t in top_imports[1]
                ],
            },
        },
        "decision": {
            "iterations": iterations,
            "timings": [
                {
                    "name": t.name,
                    "part_of_mix": t.part_of_mix,
                    "p50_ms": t.ms(50),
                    "p99_ms": t.ms(99),
                    "samples": len(t.samples_ns),
                    "note": t.note,
                }
                for t in timings
            ],
            "paths": paths,
        },
        "goals": {
            "cold_start_within_1_25x": bool(handlers) and all(v["passes"] for v in handlers),
            "decision_p50_under_2ms": round(decision.ms(50), 3) < DECISION_P50_GOAL_MS,
        },
    }


def _f(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(summary: dict[str, Any]) -> None:
    machine = summary["machine"]
    cold = summary["cold_start"]
    print(
        f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs, load "
        f"{' '.join(f'{x:.2f}' for x in machine['load_average'])}"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    if machine["imported_here_not_in_layer"]:
        print(
            f"  note: this venv has {', '.join(machine['imported_here_not_in_layer'])}, which boto3/botocore "
            "import when present and the Lambda layer does not ship: every variant here, baseline included, "
            "pays for them"
        )
    print()
    print(f"A. Cold start: {cold['rounds']} interleaved rounds, .pyc files {cold['pyc']}")
    print(f"   figure: {cold['figure']}")
    print(f"   baseline: {cold['baseline']}")
    print(f"   floor: {cold['floor']}")
    wide = max(18, *(len(v["variant"]) + 2 for v in cold["variants"]))
    header = (
        f"   {'variant':<{wide}}{'1st client':<12}{'import':>9}{'client':>9}{'median':>9}{'p90':>9}"
        f"{'x base':>8}{'paired':>8}{'x floor':>8}{'modules':>9}  verdict"
    )
    print(header)
    print("   " + "-" * (len(header) - 3))
    for v in cold["variants"]:
        if v["kind"] == FLOOR and v["variant"] == f"{FLOOR}:{next(iter(FIRST_CLIENT.values()))}":
            print("   " + "-" * (len(header) - 3))
        verdict = "" if v["passes"] is None else ("PASS" if v["passes"] else "FAIL")
        if v["error"]:
            verdict = f"ERROR: {v['error']}"
        print(
            f"   {v['variant']:<{wide}}{v['first_client'] or '-':<12}{_f(v['import_median_ms']):>9}"
            f"{_f(v['client_median_ms']):>9}{_f(v['median_ms']):>9}{_f(v['p90_ms']):>9}"
            f"{_f(v['ratio_to_baseline'], '.2f'):>8}{_f(v['paired_ratio_median'], '.2f'):>8}"
            f"{_f(v['ratio_to_floor'], '.2f'):>8}{v['modules_loaded']:>9}  {verdict}"
        )
    print(
        "   (ms; import = `import app` (floor: up to the model), client = the first client; median and p90\n"
        "    are of their sum; x base = median / baseline median, the goal's figure; paired = median of the\n"
        "    per-round ratios; x floor = handler median / the floor median with the same client)\n"
        "   Warm .pyc as deployed: `sam build` (layers/autoscaler/Makefile) compiles the layer's bytecode ahead\n"
        "   of time, since /opt is read-only and Lambda would otherwise compile it on every cold start."
    )
    top = cold["slowest_handler_imports"]
    if top is not None:
        print()
        print(
            f"   Slowest handler, {top['handler']}: top 10 modules by cumulative import time (-X importtime)"
        )
        print(f"   {'cumulative':>10}{'self':>9}  module")
        for t in top["top_cumulative"]:
            print(f"   {t['cumulative_ms']:>10.1f}{t['self_ms']:>9.1f}  {t['module']}")
    print()
    decision = summary["decision"]
    print(f"B. Warm decision time, in process: {decision['iterations']} iterations after warm-up")
    print(f"   {'':<52}{'p50 ms':>9}{'p99 ms':>9}")
    for t in decision["timings"]:
        note = f"  ({t['note']})" if t["note"] else ""
        name = f"  {t['name']}" if t["part_of_mix"] else t["name"]
        print(f"   {name:<52}{t['p50_ms']:>9.3f}{t['p99_ms']:>9.3f}{note}")
    print("   paths taken:")
    for label, action in decision["paths"].items():
        print(f"     {label}: {action}")
    print()
    goals = summary["goals"]
    worst = max(
        (v for v in cold["variants"] if v["passes"] is not None and v["ratio_to_baseline"] is not None),
        key=lambda v: v["ratio_to_baseline"],
        default=None,
    )
    worst_text = "" if worst is None else f" (worst: {worst['variant']} {worst['ratio_to_baseline']:.2f}x)"
    print(
        f"VERDICT cold start (every handler median <= {COLD_START_RATIO_GOAL}x baseline): "
        f"{'PASS' if goals['cold_start_within_1_25x'] else 'FAIL'}{worst_text}"
    )
    print(
        f"VERDICT decision (decide() p50 < {DECISION_P50_GOAL_MS:g} ms): "
        f"{'PASS' if goals['decision_p50_under_2ms'] else 'FAIL'} "
        f"(p50 {decision['timings'][0]['p50_ms']:.3f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved cold-start rounds (default 15)")
    parser.add_argument("--iterations", type=int, default=2000, help="timed decisions (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed decisions first (default 200)")
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object")
    args = parser.parse_args(argv)
    rounds = max(1, args.rounds)
    iterations = max(1, args.iterations)
    unnamed = sorted({path.parent.name for path in FUNCTIONS.glob("*/app.py")} - set(FIRST_CLIENT))
    if unnamed:
        print(
            f"no first client named for {', '.join(unnamed)}: add each to FIRST_CLIENT (the boto3 client its "
            "handler creates first) so that its cold start is timed",
            file=sys.stderr,
        )
        return 2

    def progress(message: str) -> None:
        print(f"... {message}", file=sys.stderr, flush=True)

    cold = measure_cold_starts(rounds, progress)
    handlers = [c for c in cold if c.kind == "handler" and c.total_ms]
    top_imports = None
    if handlers:
        slowest = max(handlers, key=lambda c: statistics.median(c.total_ms))
        progress(f"-X importtime of {slowest.variant}")
        try:
            ranked = sorted(import_times(slowest.variant), key=lambda t: t.cumulative_ms, reverse=True)
            top_imports = (slowest.variant, ranked[:10])
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            progress(f"-X importtime failed: {exc}")
    progress("warm decision time")
    timings, paths = measure_decisions(iterations, max(0, args.warmup))
    summary = summarize(cold, top_imports, timings, paths, rounds, iterations)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_report(summary)
    return 0 if all(summary["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
