"""`make demo`, the Bedrock part: the chat team's own alarm on the model's time to first token (adopted by the
policy) fires, and the controller sends the model's callers to Bedrock's Priority tier; then the model throttles
(its token-quota alarm on EstimatedTPMQuotaUsage), and the controller buys Provisioned Throughput and moves its
callers there once it is InService; when calm returns it routes them back to the model at the Standard tier,
waits for the drain and deletes what it bought. The real alarm router, routing workflow (moto's Step Functions
interpreter) and evaluator run on simulated time; Provisioned Throughput is the fake Bedrock client (moto has
none); callers resolve their model with the helper applications copy (clients/python/genai_autoscaler_route.py),
reading the route from moto's SSM.
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
TEAM_ALARM = "team-claude-chat-ttft"  # the chat team's own alarm, adopted by the policy as the TTFT signal
SLOW_FIRST_TOKENS = [1_850.0, 1_920.0, 2_010.0]  # p95 TimeToFirstToken, ms, against the team's 1,200
POLICY: dict[str, Any] = {
    "type": "bedrock_model",
    "model_id": MODEL,
    "adopted_alarms": [{"alarm_name": TEAM_ALARM, "signal": "ttft_p95"}],
    "bedrock": {
        "throttles_per_minute": 5,
        "tokens_per_minute_quota": 400_000,
        # Latency first answered by the Priority tier (the same quota, served sooner, at a premium per token);
        # throttling by Provisioned Throughput.
        "priority_tier": {"price_premium": 0.75, "standard_usd_per_million_tokens": 6.0},
        "ladder": ["priority_tier", "provisioned_throughput"],
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


def prepare(aws: LocalAws) -> None:
    """Before the policy is published: the chat team's own TTFT alarm (OK), and Bedrock publishing the model's
    EstimatedTPMQuotaUsage, so the reconciler's token-quota alarm watches it."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName=TEAM_ALARM,
        AlarmDescription="The chat team's p95 time to first token on Claude",
        Namespace="AWS/Bedrock",
        MetricName="TimeToFirstToken",
        Dimensions=[{"Name": "ModelId", "Value": MODEL}],
        ExtendedStatistic="p95",
        Period=60,
        EvaluationPeriods=3,
        Threshold=1_200,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    cloudwatch.set_alarm_state(
        AlarmName=TEAM_ALARM, StateValue="OK", StateReason="first tokens within 1,200 ms"
    )
    aws.bedrock_traffic(MODEL, **CALM, quota_usage=True)


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
            route = result["route"]
            tier = " at the Priority tier" if route.get("service_tier") == "priority" else ""
            timeline.line(invocation.at, "workflow", f"route published: callers use {route['model']}{tier}")
        elif step == "release_provisioned":
            timeline.line(invocation.at, "workflow", f"after the drain: {result['released']}")


class BedrockDemo(Narration):
    STEPS_FUNCTION = "RoutingStepsFunction"

    def __init__(self, aws: LocalAws, timeline: Timeline):
        super().__init__(aws, timeline)
        self.resolved: dict[str, Any] = {}
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
        args = self.caller.converse_args()
        self.resolved[when] = args
        self.timeline.line(self.aws.clock.now(), "caller", f"ModelRoute.converse_args() -> {args}")

    def _team_alarm(self, state: str, first_tokens: list[float]) -> None:
        """The chat team's own alarm moves; its event reaches the router through the reconciler's rule."""
        figure = ", ".join(f"{ms:,.0f} ms" for ms in first_tokens)
        self.timeline.line(self.aws.clock.now(), "CloudWatch", f"{TEAM_ALARM} -> {state} [{figure}]")
        for delivery in self.aws.cloudwatch.set_state(TEAM_ALARM, state, first_tokens, self.aws.clock.now()):
            result = delivery.result or {}
            plan = result.get("plan") or {}
            what = (
                delivery.error
                or f"{plan.get('action', 'ignore')}: {plan.get('reason') or result.get('note')}"
            )
            self.timeline.line(self.aws.clock.now(), "router", f"(rule {delivery.rule}) {what}")
            if plan.get("action") == "shift_to_priority_tier":
                self.tier_plan = plan

    def play(self) -> None:
        aws = self.aws
        section(f"6. Bedrock: {MODEL} answers slowly (the chat team's alarm), then throttles")
        self._caller_resolves("before")
        self.tier_plan: dict[str, Any] = {}
        self._team_alarm("ALARM", SLOW_FIRST_TOKENS)
        self.run_workflows()
        self._caller_resolves("priority")
        aws.clock.advance(POLICY["bedrock"]["cooldown_seconds"])  # the routing cooldown, before the next rung
        busy = BUSY["input_tokens"] + BUSY["output_tokens"]
        aws.bedrock_traffic(MODEL, **BUSY, minutes=BUSY_MINUTES, quota_usage=True)
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
        aws.bedrock_traffic(MODEL, **CALM, quota_usage=True)
        self.timeline.line(
            aws.clock.now(), "Bedrock", f"{calm:,} tokens/min over {CALM['invocations']} invocations"
        )
        self._alarm("OK", 0.0)
        self._team_alarm("OK", [640.0, 610.0, 590.0])
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
        shifted = self.resolved["shifted"]
        return [
            (
                "the reconciler created the model's throttle alarm and its token-quota alarm on "
                "EstimatedTPMQuotaUsage (Bedrock publishes it for the model), and adopted the team's TTFT alarm",
                {a.get("MetricName") for a in alarms} == {"InvocationThrottles", "EstimatedTPMQuotaUsage"}
                and boto3.client("events", region_name=REGION).describe_rule(
                    Name=f"{aws.stack_name}-adopted-1"
                )["State"]
                == "ENABLED",
            ),
            (
                "the team's TTFT alarm sent callers to the Priority tier of the same model, priced in the "
                "notification (Standard's price + 75%, per hour at the recent demand), and the caller asked for it",
                self.tier_plan.get("service_tier") == "priority"
                and self.resolved["priority"] == {"modelId": MODEL, "serviceTier": {"type": "priority"}}
                and any("Standard's token price + 75%" in message for message in spend),
            ),
            (
                "Provisioned Throughput was sized from demand, throttled requests included: "
                "(380k + 37 x 1,520) / 100k -> 5 units, $200/h",
                units == 5 and self.plan.get("hourly_cost_usd") == 5 * UNIT_PRICE,
            ),
            (
                "callers were sent to it only once it was InService (10 minutes after the purchase), at the "
                "Standard tier (Provisioned Throughput has no tiers)",
                bought_at is not None
                and published_at is not None
                and (published_at - bought_at).total_seconds() >= 600
                and len(self.pt) == 1
                and shifted == {"modelId": self.pt[0]["provisionedModelArn"]},
            ),
            (
                "the caller's helper resolved the model, its Priority tier, the PT, then the model again",
                self.resolved["before"] == {"modelId": MODEL}
                and self.resolved["reverted"] == {"modelId": MODEL},
            ),
            ("the way back waited for the 1,800 s hold with every signal OK", held >= 1800),
            (
                "the Provisioned Throughput was deleted after the drain",
                "revert" in self.events and self.left == [],
            ),
            (
                "the three routing workflows succeeded and released the model's lock",
                [r.status for r in self.runs] == ["SUCCEEDED"] * 3
                and aws.target_state(TARGET_ID).lock is None,
            ),
            (
                "each routing notification gave the route's cost (Priority's premium, the PT's per hour, "
                "on-demand's per token), the last what the PT was billed from its purchase to its deletion",
                len(spend) == 3
                and "Cost: $200.00 per hour" in spend[1]
                and "Cost: billed per token" in spend[-1]
                and billed is not None
                and f"Provisioned Throughput billed: ${billed:,.2f}: 5 model units" in spend[-1],
            ),
        ]
