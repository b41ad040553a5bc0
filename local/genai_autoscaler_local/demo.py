"""`make demo`: the controller's main job, locally, with no AWS account.

The stack is created from template.yaml in moto; a SageMaker endpoint takes a surge of requests; the real alarm
router, the real scale workflow (run by moto's Step Functions interpreter) and the real evaluator respond on
simulated time: scale-out sized to the surge -> InService -> warm-up -> notification -> OK -> stabilization ->
scale-in to what the load needs.
Then a Bedrock model throttles (demo_bedrock.py): Provisioned Throughput -> InService -> route -> notification ->
OK -> hold -> route back -> drain -> deleted. It ends by checking what happened, and exits 1 if any check fails.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
from genai_autoscaler.domain.alarm_event import format_figure

from genai_autoscaler_local.demo_bedrock import MODEL, TEAM_ALARM, BedrockDemo
from genai_autoscaler_local.demo_bedrock import POLICY as BEDROCK_POLICY
from genai_autoscaler_local.demo_bedrock import prepare as prepare_bedrock
from genai_autoscaler_local.harness import REGION, LocalAws
from genai_autoscaler_local.lambda_runtime import Invocation
from genai_autoscaler_local.timeline import Narration, Timeline, section

ENDPOINT = "llm-prod"
TARGET = f"{ENDPOINT}/AllTraffic"
TARGET_ID = f"variant/{TARGET}"
POLICIES: dict[str, Any] = {
    "version": 1,
    "targets": [
        {
            "type": "sagemaker_variant",
            "endpoint_name": ENDPOINT,
            "variant_name": "AllTraffic",
            "capacity": {"min": 1, "max": 6},
            "signals": {"latency_p95_ms": 4000, "concurrency_per_unit": 8},
            "scale_out": {"cooldown_seconds": 300},
            "scale_in": {"cooldown_seconds": 600, "stabilization_seconds": 900},
            "warm_up": {"count": 4, "concurrency": 2, "max_latency_ms": 6000},
            "workflow": {"in_service_timeout_seconds": 1200, "poll_interval_seconds": 30},
        },
        BEDROCK_POLICY,
    ],
}


def _workflow_lines(timeline: Timeline, invocations: list[Invocation]) -> None:
    """One line per step; the InService polls are folded into one line."""
    polls: list[Invocation] = []

    def flush() -> None:
        if not polls:
            return
        first, last = polls[0].result["capacity"], polls[-1].result["capacity"]
        if len(polls) > 1:
            timeline.line(
                polls[0].at,
                "workflow",
                f"{first['status']}: {first['current']} serving, {first['desired']} requested; "
                f"polled {len(polls)} times",
            )
        timeline.line(
            polls[-1].at,
            "workflow",
            f"{last['status']}: {last['current']} serving, {last['desired']} requested",
        )
        polls.clear()

    for invocation in invocations:
        step = invocation.event.get("step")
        result = invocation.result or {}
        if invocation.error_type:
            flush()
            timeline.line(
                invocation.at,
                "workflow",
                f"{step} failed: {invocation.error_type}: {invocation.error_message}",
            )
            continue
        if step == "check_capacity":
            polls.append(invocation)
            continue
        flush()
        if step == "acquire_lock":
            timeline.line(invocation.at, "workflow", f"lock acquired by {result['lock']['owner']}")
        elif step == "apply":
            applied = result.get("applied")
            if applied:
                timeline.line(
                    invocation.at,
                    "workflow",
                    f"{applied['actuation']}: {applied['previous']} -> {applied['new']}",
                )
        elif step == "warm_up" and result.get("warm_up"):
            report = result["warm_up"]
            timeline.line(
                invocation.at,
                "workflow",
                f"warm-up: {report['invocations'] - report['failures']}/"
                f"{report['invocations']} invocations answered, p95 {report['p95_ms']:.0f} ms",
            )
        elif step == "record_success":
            timeline.line(invocation.at, "workflow", "recorded; cooldown started; lock released")
        elif step == "restore_safe_state":
            timeline.line(invocation.at, "workflow", "safe state restored; lock released")
    flush()


class Demo(Narration):
    STEPS_FUNCTION = "ScaleStepsFunction"

    def __init__(self, aws: LocalAws):
        super().__init__(aws, Timeline(aws.clock.now()))

    def step_lines(self, steps: list[Invocation]) -> None:
        _workflow_lines(self.timeline, steps)

    def alarm(self, signal: str, state: str, datapoints: list[float], target: str = TARGET) -> None:
        unit = "Microseconds" if signal == "latency_p95" else None
        self.move_alarm(
            target, signal, state, datapoints, ", ".join(format_figure(v, unit) for v in datapoints)
        )

    def play(self) -> None:
        aws = self.aws
        section("1. The stack, created from template.yaml in a local AWS (moto)")
        kinds = Counter(r["Type"].split("::", 1)[1] for r in aws.stack.template["Resources"].values())
        print("  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        print(
            f"  IAM enforced by action: each of the {len(aws.role_credentials)} functions and workflows signs as its"
            " own role, and moto refuses an action that role lacks"
        )
        aws.create_endpoint(ENDPOINT, instances=1)
        print(f"  SageMaker endpoint {ENDPOINT} (variant AllTraffic): 1 x ml.g4dn.xlarge, InService")

        prepare_bedrock(aws)
        print(
            f"  CloudWatch alarm {TEAM_ALARM}: the chat team's own, on {MODEL}'s TimeToFirstToken p95 > 1,200 ms"
        )

        section("2. Deploy: the policy is published and the reconciler creates the alarms")
        # Two events run the reconciler: the policy's publication and the deploy's stack-status event. Each run
        # makes the alarms what the policy says, so the second finds them made and changes nothing.
        for event, deliveries in (
            ("policy published (Parameter Store event)", aws.publish_policies(POLICIES)),
            ("stack deployed (CloudFormation event)", aws.deployed()),
        ):
            for delivery in deliveries:
                report = delivery.result
                changed = report["created"] or report["updated"] or report["deleted"]
                self.timeline.line(
                    aws.clock.now(),
                    "reconciler",
                    f"{event}: created {len(report['created'])}, updated {len(report['updated'])}, "
                    f"deleted {len(report['deleted'])}, unchanged {report['unchanged']}"
                    + ("" if changed else "; nothing to change: each event runs it, and the first made them"),
                )
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{aws.stack_name}.")["MetricAlarms"]
        for alarm in alarms:
            stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
            metric = (
                f"{alarm['MetricName']} {stat} over {alarm['Period']} s"
                if "MetricName" in alarm
                else " + ".join(m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"][1:])
                + " (metric math) per minute"
            )
            print(
                f"    {alarm['AlarmName']}: {metric} > "
                f"{alarm['Threshold']:,.0f} ({alarm['DatapointsToAlarm']} of {alarm['EvaluationPeriods']})"
            )
        for rule in report.get("adopted_rules", []):
            print(f"    EventBridge rule {rule}: brings {TEAM_ALARM}'s state changes to the router (adopted)")
        self.alarms = [a for a in alarms if a.get("Namespace") == "AWS/SageMaker"]
        self.alarm("latency_p95", "OK", [1_200_000.0])
        self.alarm("concurrency", "OK", [0.8])
        self.alarm("throttles", "OK", [0.0], MODEL)
        self.alarm("token_quota", "OK", [], MODEL)

        section("3. A launch: requests in flight jump to 20 per instance")
        aws.clock.advance(120)
        self.events["spike"] = aws.clock.now()
        self.alarm("concurrency", "ALARM", [14.0, 18.0, 20.0])
        self.run_workflows()
        self.events["scaled_out"] = aws.clock.now()

        section("4. The load passes")
        aws.clock.advance(240)
        self.alarm("concurrency", "OK", [1.0])
        self.events["ok"] = aws.clock.now()

        section(
            "5. Every minute the evaluator looks again: stabilization, then a scale-in to what the load needs"
        )
        for _ in range(60):
            aws.clock.advance(60)
            result = aws.evaluate()
            for outcome in result.get("outcomes", []):
                reason = outcome["plan"]["reason"]
                self.timeline.line(aws.clock.now(), "evaluator", f"{outcome['plan']['action']}: {reason}")
                if outcome["dispatch"] == "workflow_started":
                    self.events.setdefault("first_scale_in", aws.clock.now())
                    self.run_workflows()
            if aws.instance_count(ENDPOINT) == 1 and "first_scale_in" in self.events:
                break
        self.events["end"] = aws.clock.now()
        self.bedrock = BedrockDemo(aws, self.timeline)
        self.bedrock.play()

    def verify(self) -> bool:
        section("8. What the demo verified")
        aws = self.aws
        history = list(reversed(aws.history(TARGET_ID)))
        state = aws.target_state(TARGET_ID)
        scales = [r for r in history if r.action in ("scale_out", "scale_in")]
        latency = next(a for a in self.alarms if a["MetricName"] == "ModelLatency")
        concurrency = next(a for a in self.alarms if a["MetricName"] == "ConcurrentRequestsPerModel")
        steps = [(r.from_capacity, r.to_capacity) for r in scales]
        polls = sum(1 for i in aws.lambdas.invocations if i.event.get("step") == "check_capacity")
        stable_for = (
            self.events.get("first_scale_in", self.events["end"]) - self.events["ok"]
        ).total_seconds()
        checks = [
            ("the reconciler created the endpoint's latency and concurrency alarms", len(self.alarms) == 2),
            (
                "the latency threshold is in microseconds (4,000 ms = 4,000,000 us), p95, 60 s",
                latency["Threshold"] == 4_000_000
                and latency.get("ExtendedStatistic") == "p95"
                and latency["Period"] == 60,
            ),
            (
                "concurrency is high-resolution (10 s) on its Maximum",
                concurrency["Period"] == 10 and concurrency.get("Statistic") == "Maximum",
            ),
            (
                "the surge scaled out 1 -> 4 in one step (20 in flight, 8 x 0.7 per instance)",
                bool(steps) and steps[0] == (1, 4),
            ),
            (
                "the workflow waited for InService through the provisioning time",
                polls >= 10 and self.events["scaled_out"] - self.events["spike"] >= timedelta(minutes=6),
            ),
            (
                "warm-up invocations were sent and answered",
                any("Warm-up passed: 4/4" in n["message"] for n in self.notifications),
            ),
            ("scale-in waited for the 900 s stabilization window", stable_for >= 900),
            (
                "scale-in went straight to what the load needs, min (1): 4 in flight at the peak",
                steps[1:] == [(4, 1)] and aws.instance_count(ENDPOINT) == 1,
            ),
            (
                "every workflow succeeded and released its lock",
                len(self.runs) == 2
                and all(r.status == "SUCCEEDED" for r in self.runs)
                and state.lock is None,
            ),
            ("the owning team got one notification per action", len(self.notifications) == 2),
            (
                "the history records two successful actions",
                [r.outcome for r in scales] == ["succeeded"] * 2,
            ),
        ]
        checks += self.bedrock.checks()
        for text, passed in checks:
            print(f"  {'ok  ' if passed else 'FAIL'} {text}")
        return all(passed for _, passed in checks)


def main() -> int:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    print(
        "GenAI Autoscaler: local demo (moto stands in for AWS; time is simulated, so minutes pass in seconds)"
    )
    with LocalAws(
        parameters={"ManagedEndpoints": ENDPOINT}, stack_name="genai-demo", quiet=True, enforce_iam=True
    ) as aws:
        demo = Demo(aws)
        demo.play()
        passed = demo.verify()
    print("\nAll checks passed." if passed else "\nSome checks FAILED.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
