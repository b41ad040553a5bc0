"""`make demo`, the Bedrock part: a model throttles, the controller buys Provisioned Throughput and moves its
callers there once it is InService; when calm returns it routes them back, waits for the drain and deletes what
it bought. The real alarm router, routing workflow (moto's Step Functions interpreter) and evaluator run on
simulated time; Provisioned Throughput is the fake Bedrock client (moto has none); callers resolve their model
with the helper applications copy (clients/python/genai_autoscaler_route.py), reading the route from moto's SSM.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import boto3

from genai_autoscaler_local.harness import REGION, REPO_ROOT, LocalAws
from genai_autoscaler_local.lambda_runtime import Invocation
from genai_autoscaler_local.timeline import Narration, Timeline, section

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TARGET_ID = f"bedrock/{MODEL}"
UNIT_PRICE = 40.0
POLICY: dict[str, Any] = {
    "type": "bedrock_model",
    "model_id": MODEL,
    "bedrock": {
        "throttles_per_minute": 5,
        "tokens_per_minute_quota": 400_000,
        "provisioned_throughput": {
            "tokens_per_minute_per_unit": 100_000,  # illustrative; take the model's figure from the console
            "hourly_price_per_unit_usd": UNIT_PRICE,
            "in_service_timeout_seconds": 1800,
            "poll_interval_seconds": 60,
            "drain_seconds": 300,
        },
        "max_model_units": 8,
        "hourly_budget_usd": 400,
        "hold_seconds": 1800,
        "cooldown_seconds": 600,
    },
}
BUSY = {"input_tokens": 300_000, "output_tokens": 80_000, "invocations": 250}  # per minute, 37 more throttled
# Busy minutes before the alarms change: the token-quota alarm needs 2 of its 3 minutes above its threshold.
BUSY_MINUTES = 2
CALM = {"input_tokens": 90_000, "output_tokens": 24_000, "invocations": 75}


def _caller_route(stack: str) -> Any:
    """The caller's helper, imported as an application would import its copy."""
    sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
    module = importlib.import_module("genai_autoscaler_route")
    ssm = boto3.client("ssm", region_name=REGION)
    return module.ModelRoute(MODEL, stack=stack, ttl_seconds=0, ssm_client=ssm)


def _step_lines(timeline: Timeline, invocations: list[Invocation]) -> None:
    """One line per routing step; the InService polls folded into one."""
    polls = [i for i in invocations if i.event.get("step") == "check_provisioned" and not i.error_type]
    for invocation in invocations:
        step, result = invocation.event.get("step"), invocation.result or {}
        if invocation.error_type:
            timeline.line(invocation.at, "workflow", f"{step} failed: {invocation.error_message}")
        elif step == "acquire_lock":
            timeline.line(invocation.at, "workflow", f"lock acquired by {result['lock']['owner']}")
        elif step == "buy_provisioned":
            timeline.line(invocation.at, "workflow", f"bought {result['provisioned_arn']}")
        elif step == "check_provisioned" and invocation is polls[-1]:
            timeline.line(
                polls[0].at,
                "workflow",
                f"{polls[0].result['provisioned']['status']}: polled {len(polls)} times until "
                f"{result['provisioned']['status']} at {timeline.at(invocation.at)}",
            )
        elif step == "publish_route":
            timeline.line(
                invocation.at, "workflow", f"route published: callers use {result['route']['model']}"
            )
        elif step == "release_provisioned":
            timeline.line(invocation.at, "workflow", f"after the drain: {result['released']}")


class BedrockDemo(Narration):
    STEPS_FUNCTION = "RoutingStepsFunction"

    def __init__(self, aws: LocalAws, timeline: Timeline):
        super().__init__(aws, timeline)
        self.resolved: dict[str, str] = {}
        self.caller = _caller_route(aws.stack_name)
        self.plan: dict[str, Any] = {}  # what the router decided when the model throttled

    def step_lines(self, steps: list[Invocation]) -> None:
        _step_lines(self.timeline, steps)

    def _alarm(self, state: str, throttles: float) -> None:
        plans = self.move_alarm(MODEL, "throttles", state, [throttles], f"{throttles:.0f}/min")
        if state == "ALARM":
            (self.plan,) = plans

    def _token_alarm(self, state: str, per_minute: list[float]) -> None:
        """The token-quota alarm as CloudWatch moves it (2 of its last 3 minutes above the threshold to alarm), with
        the minutes' input + output tokens that decided it."""
        figure = ", ".join(f"{tokens:,.0f}" for tokens in per_minute) + " tokens/min"
        self.move_alarm(MODEL, "token_quota", state, per_minute, figure)

    def _caller_resolves(self, when: str) -> None:
        self.resolved[when] = self.caller.model_id()
        self.timeline.line(self.aws.clock.now(), "caller", f"ModelRoute.model_id() -> {self.resolved[when]}")

    def play(self) -> None:
        aws = self.aws
        section(f"6. Bedrock: {MODEL} throttles")
        self._caller_resolves("before")
        busy = BUSY["input_tokens"] + BUSY["output_tokens"]
        aws.bedrock_traffic(MODEL, **BUSY, minutes=BUSY_MINUTES)
        self.timeline.line(
            aws.clock.now(),
            "Bedrock",
            f"{busy:,} tokens/min over {BUSY['invocations']} invocations for the last {BUSY_MINUTES} minutes "
            "(the quota is 400,000), 37 more requests throttled in the last one",
        )
        self.events["throttling"] = aws.clock.now()
        # One evaluation moves both alarms, and both events reach the router before the workflow the first
        # starts has taken a step: the second finds the model's lock taken.
        with aws.workflows_held():
            self._alarm("ALARM", 37.0)
            self._token_alarm("ALARM", [busy] * BUSY_MINUTES)
        self.run_workflows()
        self.events["routed"] = aws.clock.now()
        self._caller_resolves("shifted")
        self.pt = aws.bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]

        section("7. The peak passes: throttling stops, demand falls back within the on-demand quota")
        aws.clock.advance(300)
        calm = CALM["input_tokens"] + CALM["output_tokens"]
        aws.bedrock_traffic(MODEL, **CALM)
        self.timeline.line(
            aws.clock.now(), "Bedrock", f"{calm:,} tokens/min over {CALM['invocations']} invocations"
        )
        self._alarm("OK", 0.0)
        # One calm minute leaves 2 of the token-quota alarm's 3 above its threshold: it is OK a minute later,
        # on two calm minutes out of three.
        aws.clock.advance(60)
        self._token_alarm("OK", [calm, calm])
        self.events["ok"] = aws.clock.now()
        for _ in range(60):
            aws.clock.advance(60)
            for outcome in aws.evaluate().get("outcomes", []):
                if outcome["plan"]["target_id"] != TARGET_ID:
                    continue
                plan = outcome["plan"]
                self.timeline.line(aws.clock.now(), "evaluator", f"{plan['action']}: {plan['reason']}")
                if outcome["dispatch"] == "workflow_started":
                    self.events["revert"] = aws.clock.now()
                    self.run_workflows()
            if "revert" in self.events:
                break
        self._caller_resolves("reverted")
        self.left = aws.bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]

    def checks(self) -> list[tuple[str, bool]]:
        aws = self.aws
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"{aws.stack_name}.bedrock-")["MetricAlarms"]
        units = self.plan.get("model_units")
        bought_at = next(
            (i.at for i in aws.lambdas.invocations if i.event.get("step") == "buy_provisioned"), None
        )
        published_at = next(
            (
                i.at
                for i in aws.lambdas.invocations
                if i.event.get("step") == "publish_route"
                and i.result
                and i.result["route"]["kind"] == "provisioned"
            ),
            None,
        )
        held = (self.events["revert"] - self.events["ok"]).total_seconds() if "revert" in self.events else 0
        deleted_at = next(
            (i.at for i in aws.lambdas.invocations if i.event.get("step") == "release_provisioned"), None
        )
        billed = (
            5 * UNIT_PRICE * (deleted_at - bought_at).total_seconds() / 3600
            if bought_at is not None and deleted_at is not None
            else None
        )
        spend = [n["message"] for n in self.notifications if "Cost: " in n["message"]]
        return [
            (
                "the reconciler created the model's throttle alarm and its token-quota alarm (metric math)",
                {a.get("MetricName", "math") for a in alarms} == {"InvocationThrottles", "math"},
            ),
            (
                "Provisioned Throughput was sized from demand, throttled requests included: "
                "(380k + 37 x 1,520) / 100k -> 5 units, $200/h",
                units == 5 and self.plan.get("hourly_cost_usd") == 5 * UNIT_PRICE,
            ),
            (
                "callers were sent to it only once it was InService (10 minutes after the purchase)",
                bought_at is not None
                and published_at is not None
                and (published_at - bought_at).total_seconds() >= 600
                and len(self.pt) == 1
                and self.resolved["shifted"] == self.pt[0]["provisionedModelArn"],
            ),
            (
                "the caller's helper resolved the model, then the PT, then the model again",
                self.resolved["before"] == MODEL and self.resolved["reverted"] == MODEL,
            ),
            ("the way back waited for the 1,800 s hold with every signal OK", held >= 1800),
            (
                "the Provisioned Throughput was deleted after the drain",
                "revert" in self.events and self.left == [],
            ),
            (
                "both routing workflows succeeded and released the model's lock",
                [r.status for r in self.runs] == ["SUCCEEDED", "SUCCEEDED"]
                and aws.target_state(TARGET_ID).lock is None,
            ),
            (
                "each routing notification gave the route's cost (the PT's per hour, on-demand's per token), the "
                "last what the PT was billed from its purchase to its deletion",
                len(spend) == 2
                and "Cost: $200.00 per hour" in spend[0]
                and "Cost: billed per token" in spend[-1]
                and billed is not None
                and f"Provisioned Throughput billed: ${billed:,.2f}: 5 model units" in spend[-1],
            ),
        ]
