"""A team's own alarms adopted by a policy (`adopted_alarms`): the policy's rules, the figures each kind of alarm
gives (metric, metric math, anomaly detection, composite), the router and the evaluation treating them as the
target's signal, and the reconciler keeping the rules that bring their events and naming the missing ones."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from genai_autoscaler.app.dispatch import Dispatch, dispatch_alarm, evaluate_targets
from genai_autoscaler.app.ports import AdoptedAlarmRules
from genai_autoscaler.app.reconciler import reconcile
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.adopted import MAX_ADOPTED_RULES, MAX_PATTERN_CHARS, rule_patterns
from genai_autoscaler.domain.alarm_event import AlarmStanding, AlarmState, AlarmStateChangeEvent
from genai_autoscaler.domain.plan import Action
from genai_autoscaler.domain.policy import PolicyError, parse_policy_document
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler_tools.memory import MemoryAlarms, MemoryMetrics, memory_controller
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW, ago, observed
from tests.unit.test_dispatch import EXAMPLE, ROOT

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SETTINGS = ControllerSettings(
    stack_name="genai-autoscaler", alarm_router_arn="arn:aws:lambda:us-east-1:1:function:r"
)


def raw_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return loaded


def parsed(raw: dict[str, Any]) -> AlarmStateChangeEvent:
    return AlarmStateChangeEvent.model_validate(raw)


def controller(document: dict[str, Any] | None = None) -> Any:
    return memory_controller(
        document or EXAMPLE, {"variant/llm-prod/AllTraffic": observed(2)}, settings=SETTINGS
    )


# --- the policy -----------------------------------------------------------------------------------------------


def bedrock(*adopted: dict[str, str], model: str = CLAUDE) -> dict[str, Any]:
    return {"type": "bedrock_model", "model_id": model, "adopted_alarms": list(adopted)}


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        (
            [bedrock({"alarm_name": "a", "signal": "concurrency"})],
            "concurrency is no signal of a bedrock_model",
        ),
        (
            [
                {
                    "type": "sagemaker_variant",
                    "endpoint_name": "e",
                    "adopted_alarms": [{"alarm_name": "a", "signal": "throttles"}],
                }
            ],
            "throttles is no signal of a sagemaker_variant",
        ),
        (
            [
                {
                    "type": "sagemaker_variant",
                    "endpoint_name": "e",
                    "adopted_alarms": [{"alarm_name": "a", "signal": "model_loading_wait"}],
                }
            ],
            "only to multi_model endpoints",
        ),
        (
            [bedrock({"alarm_name": "a", "signal": "throttles"}, {"alarm_name": "a", "signal": "ttft_p95"})],
            "names an alarm twice",
        ),
        (
            [
                bedrock({"alarm_name": "a", "signal": "throttles"}),
                bedrock({"alarm_name": "a", "signal": "throttles"}, model="amazon.nova-pro-v1:0"),
            ],
            "adopted by both",
        ),
        ([bedrock({"alarm_name": "", "signal": "throttles"})], "alarm_name"),
        ([bedrock({"alarm_name": "a\nb", "signal": "throttles"})], "alarm_name"),
        ([bedrock({"alarm_name": "a", "signal": "errors"})], "signal"),
    ],
)
def test_an_adoption_that_cannot_be_meant_is_refused_naming_it(
    targets: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(PolicyError, match=problem):
        parse_policy_document({"targets": targets})


# --- the rules' patterns ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=255),
        max_size=80,
    )
)
def test_the_patterns_match_every_name_once_within_the_quota(names: list[str]) -> None:
    patterns, left = rule_patterns(names)
    assert len(patterns) <= MAX_ADOPTED_RULES
    matched = [name for pattern in patterns for name in pattern["detail"]["alarmName"]]
    assert sorted(matched + left) == sorted(set(names))  # each name in one rule, or said to be left out
    for pattern in patterns:
        assert len(json.dumps(pattern)) <= MAX_PATTERN_CHARS
        assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    if left:  # only once every rule is full
        assert len(patterns) == MAX_ADOPTED_RULES


# --- the router -------------------------------------------------------------------------------------------------


def test_a_teams_metric_alarm_is_the_signal_it_was_adopted_as_with_its_own_figures() -> None:
    outcome = dispatch_alarm(parsed(raw_event("alarm_adopted_latency")), controller(), NOW)
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.signal) == (Action.SHIFT_TO_PRIORITY_TIER, Signal.LATENCY_P95)
    assert (outcome.plan.observed_value, outcome.plan.threshold) == (24_110.0, 18_000.0)
    assert "alarm team-claude-prod-p95" in outcome.plan.reason


def test_a_composite_alarm_brings_its_state_and_the_policys_threshold() -> None:
    outcome = dispatch_alarm(parsed(raw_event("alarm_adopted_composite")), controller(), NOW)
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.signal) == (Action.SHIFT_TO_PRIORITY_TIER, Signal.TTFT_P95)
    assert (outcome.plan.observed_value, outcome.plan.threshold) == (None, 1500.0)


def as_math(raw: dict[str, Any], expression: str) -> dict[str, Any]:
    """The adopted alarm as a metric-math (or anomaly-detection) alarm, its event as CloudWatch shapes it."""
    raw = copy.deepcopy(raw)
    stat = raw["detail"]["configuration"]["metrics"][0]
    stat["returnData"] = False
    stat["id"] = "m1"
    raw["detail"]["configuration"]["metrics"] = [
        stat,
        {"id": "e1", "expression": expression, "returnData": True},
    ]
    return raw


def test_metric_math_and_anomaly_detection_alarms_give_what_they_have() -> None:
    math = dispatch_alarm(parsed(as_math(raw_event("alarm_adopted_latency"), "m1 * 1")), controller(), NOW)
    assert math.plan is not None
    assert (math.plan.observed_value, math.plan.threshold) == (24_110.0, 18_000.0)
    band = as_math(raw_event("alarm_adopted_latency"), "ANOMALY_DETECTION_BAND(m1, 2)")
    data = json.loads(band["detail"]["state"]["reasonData"])
    del data["threshold"]  # a band is no single figure
    band["detail"]["state"]["reasonData"] = json.dumps(data)
    outcome = dispatch_alarm(parsed(band), controller(), NOW)
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.observed_value, outcome.plan.threshold) == (
        Action.SHIFT_TO_PRIORITY_TIER,
        24_110.0,
        None,
    )


def test_a_metric_alarm_without_its_threshold_is_still_refused() -> None:
    raw = raw_event("alarm_adopted_latency")
    data = json.loads(raw["detail"]["state"]["reasonData"])
    del data["threshold"]
    raw["detail"]["state"]["reasonData"] = json.dumps(data)
    with pytest.raises(ValueError, match="threshold"):
        parsed(raw)


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"alarmName": "team-claude-staging-p95"}, "nor adopted by a policy"),  # a team alarm nobody adopted
        ({"alarmTags": {"genai-autoscaler:managed-by": "genai-other"}}, "managed by genai-other"),
    ],
)
def test_alarms_neither_created_nor_adopted_are_none_of_its_business(
    change: dict[str, Any], note: str
) -> None:
    raw = raw_event("alarm_adopted_latency")
    raw["detail"]["configuration"]["metrics"][0]["metricStat"]["stat"] = "p95"
    raw["detail"].update(change)
    outcome = dispatch_alarm(parsed(raw), controller(), NOW)
    assert outcome.dispatch is Dispatch.NOTHING
    assert outcome.plan is None
    assert note in (outcome.note or "")


def test_a_composite_concurrency_alarm_is_sized_by_the_metric_now() -> None:
    # Given llm-prod adopting a composite as its concurrency signal, its concurrency now 20 per instance
    document = copy.deepcopy(EXAMPLE)
    llm = next(t for t in document["targets"] if t.get("endpoint_name") == "llm-prod")
    llm["adopted_alarms"] = [{"alarm_name": "team-claude-chat-degraded", "signal": "concurrency"}]
    for target in document["targets"]:
        if target.get("model_id") == CLAUDE:
            target.pop("adopted_alarms", None)
    ctl = controller(document)
    metrics: MemoryMetrics = ctl.metrics
    metrics.peaks[("variant/llm-prod/AllTraffic", "concurrency")] = 20.0
    # When the composite goes to ALARM
    outcome = dispatch_alarm(parsed(raw_event("alarm_adopted_composite")), ctl, NOW)
    # Then it scales out in proportion to the figure of now against the policy's threshold
    assert outcome.plan is not None
    assert outcome.plan.action is Action.SCALE_OUT
    assert outcome.plan.observed_value == 20.0
    assert outcome.plan.desired_capacity is not None
    assert outcome.plan.desired_capacity > 3


def test_the_evaluation_reads_adopted_alarms_as_they_stand() -> None:
    ctl = controller()
    alarms: MemoryAlarms = ctl.alarms
    alarms.others["team-claude-prod-p95"] = AlarmStanding(
        AlarmState.ALARM,
        ago(120),
        json.dumps({"recentDatapoints": [25_000.0], "threshold": 18_000.0}),
    )
    outcomes = evaluate_targets(ctl, NOW)
    claude = next(o for o in outcomes if o.plan is not None and o.plan.target == CLAUDE)
    assert claude.plan is not None
    assert "alarm team-claude-prod-p95" in claude.plan.reason


# --- the reconciler ---------------------------------------------------------------------------------------------


@dataclass
class RecordingRules(AdoptedAlarmRules):
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def owned(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {name: rule for name, rule in self.rules.items() if name.startswith(prefix)}

    def put(self, name: str, pattern: dict[str, Any]) -> None:
        self.calls.append(f"put {name}")
        self.rules[name] = pattern

    def delete(self, name: str) -> None:
        self.calls.append(f"delete {name}")
        del self.rules[name]


def reconciled(document: dict[str, Any], present: Sequence[str]) -> tuple[Any, RecordingRules]:
    rules = RecordingRules()
    ctl = dataclasses.replace(controller(document), adopted_rules=rules)
    alarms: MemoryAlarms = ctl.alarms
    for name in present:
        alarms.others[name] = AlarmStanding(AlarmState.OK, ago(600))
    return ctl, rules


def test_the_reconciler_routes_adopted_alarms_and_names_the_missing_ones() -> None:
    # Given the example, whose Claude target adopts two alarms, of which only one exists
    ctl, rules = reconciled(EXAMPLE, ["team-claude-prod-p95"])
    report = reconcile(ctl)
    # Then one rule brings both alarms' events to the router, and the missing one is said
    assert report.adopted_rules == ["genai-autoscaler-adopted-1"]
    assert rules.rules["genai-autoscaler-adopted-1"]["detail"]["alarmName"] == [
        "team-claude-chat-degraded",
        "team-claude-prod-p95",
    ]
    assert report.adopted_missing == ["team-claude-chat-degraded"]
    assert any("team-claude-chat-degraded" in w and "does not exist" in w for w in report.warnings)
    # A second run changes nothing; once nothing is adopted, the rule goes
    reconcile(ctl)
    assert rules.calls == ["put genai-autoscaler-adopted-1"]
    bare = copy.deepcopy(EXAMPLE)
    for target in bare["targets"]:
        target.pop("adopted_alarms", None)
    ctl.policies.document = bare
    report = reconcile(ctl)
    assert (report.adopted_rules, rules.rules) == ([], {})
    assert rules.calls[-1] == "delete genai-autoscaler-adopted-1"


def test_a_stack_name_too_long_for_the_rules_is_said() -> None:
    long = "s" * 60
    ctl, rules = reconciled(EXAMPLE, ["team-claude-prod-p95", "team-claude-chat-degraded"])
    ctl = dataclasses.replace(ctl, settings=SETTINGS.model_copy(update={"stack_name": long}))
    report = reconcile(ctl)
    assert rules.rules == {}
    assert any("at most 54 characters" in w for w in report.warnings)


# --- what the review found -----------------------------------------------------------------------------------


def test_an_adopted_alarm_without_data_is_no_news_and_does_not_hold_the_way_back() -> None:
    # Given the team's alarm gone to INSUFFICIENT_DATA (CloudWatch's default for missing data: no traffic)
    raw = raw_event("alarm_adopted_latency")
    raw["detail"]["state"] = {"value": "INSUFFICIENT_DATA", "reason": "no data", "timestamp": raw["time"]}
    outcome = dispatch_alarm(parsed(raw), controller(), NOW)
    assert outcome.dispatch is Dispatch.NOTHING
    assert "has no data" in (outcome.note or "")
    # And in the evaluation it is left out, rather than holding the target as a signal without data would
    ctl = controller()
    alarms: MemoryAlarms = ctl.alarms
    alarms.others["team-claude-prod-p95"] = AlarmStanding(AlarmState.INSUFFICIENT_DATA, ago(3600))
    claude = next(o for o in evaluate_targets(ctl, NOW) if o.plan is not None and o.plan.target == CLAUDE)
    assert claude.plan is not None
    assert "alarm team-claude-prod-p95" not in claude.plan.reason


def test_an_adopted_metric_alarm_on_another_targets_metric_is_refused() -> None:
    # Given the team's alarm watching Llama's latency, adopted as Claude's latency signal (a copy-paste error)
    raw = raw_event("alarm_adopted_latency")
    dims = raw["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
    dims["ModelId"] = "meta.llama3-1-70b-instruct-v1:0"
    outcome = dispatch_alarm(parsed(raw), controller(), NOW)
    assert outcome.dispatch is Dispatch.NOTHING
    assert "watches InvocationLatency of bedrock/meta.llama3-1-70b-instruct-v1:0" in (outcome.note or "")


def test_the_evaluation_keeps_an_adopted_alarms_own_figures() -> None:
    # Given llm-prod adopting a team's concurrency alarm (Average > 3, in ALARM at 4), the controller's own
    # Maximum peak at 8
    document = copy.deepcopy(EXAMPLE)
    llm = next(t for t in document["targets"] if t.get("endpoint_name") == "llm-prod")
    llm["adopted_alarms"] = [{"alarm_name": "team-llm-concurrency", "signal": "concurrency"}]
    ctl = controller(document)
    ctl.metrics.peaks[("variant/llm-prod/AllTraffic", "concurrency")] = 8.0
    alarms: MemoryAlarms = ctl.alarms
    alarms.others["team-llm-concurrency"] = AlarmStanding(
        AlarmState.ALARM, ago(120), json.dumps({"recentDatapoints": [4.0], "threshold": 3.0})
    )
    outcomes = evaluate_targets(ctl, NOW)
    llm_outcome = next(o for o in outcomes if o.plan is not None and o.plan.target == "llm-prod/AllTraffic")
    assert llm_outcome.plan is not None
    # Then it is sized from the team alarm's figures against its own threshold, not the controller's peak
    assert "concurrency per unit (alarm team-llm-concurrency) 4 (threshold 3)" in llm_outcome.plan.reason
    assert llm_outcome.plan.desired_capacity == 3  # 2 x 4 / (3 x 0.9), not 2 x 8 / (3 x 0.9)


def test_a_target_eventbridge_refuses_is_not_reported_as_kept() -> None:
    import boto3
    from botocore.stub import Stubber
    from genai_autoscaler.aws.eventbridge_rules import EventBridgeAdoptedRules
    from genai_autoscaler.errors import ActuationRejected

    events = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    rules = EventBridgeAdoptedRules(events, "arn:aws:lambda:us-east-1:123456789012:function:router", "")
    with Stubber(events) as stub:
        stub.add_response("put_rule", {"RuleArn": "arn:aws:events:us-east-1:123456789012:rule/s-adopted-1"})
        stub.add_response(
            "put_targets",
            {
                "FailedEntryCount": 1,
                "FailedEntries": [
                    {"TargetId": "alarm-router", "ErrorCode": "AccessDenied", "ErrorMessage": "no"}
                ],
            },
        )
        with pytest.raises(ActuationRejected, match="EventBridge refused the alarm router as the target"):
            rules.put("s-adopted-1", rule_patterns(["a"])[0][0])
