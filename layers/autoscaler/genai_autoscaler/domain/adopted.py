"""A team's own CloudWatch alarms, adopted by a target's policy as one of its signals (`adopted_alarms`).

The controller creates none of them and changes none: it reads their state changes as the signal the policy
names, and makes sure their events reach the router through EventBridge rules of its own, whose patterns
match the adopted alarms by name (`rule_patterns`). Alarms neither created nor adopted stay none of its
business.

The figures come from the alarm where it gives them: a metric or metric-math alarm's `reasonData` holds its
recent datapoints and threshold, an anomaly-detection alarm's its datapoints (its threshold is a band, not a
figure). A composite alarm gives only its state; its threshold is then the policy's for that signal, where the
policy sets one. Figures are read in the unit of the signal's metric (SageMaker's latencies in microseconds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading, reading_from_state
from genai_autoscaler.domain.policy import AdoptedAlarm, TargetPolicy
from genai_autoscaler.domain.signals import AlarmSpec, Signal
from genai_autoscaler.domain.targets import TargetKind

# EventBridge's default quota on an event pattern's size, in characters (adjustable; EventBridge quotas).
MAX_PATTERN_CHARS = 2048
# The rules the reconciler keeps for adopted alarms; names beyond them are reported, not routed.
MAX_ADOPTED_RULES = 5

_DEFAULT_UNITS = {
    Signal.TTFT_P95: "Milliseconds",
    Signal.CONCURRENCY: "Count",
    Signal.NO_CAPACITY: "Count",
    Signal.THROTTLES: "Count",
    Signal.TOKEN_QUOTA: "Count",
    Signal.MODEL_LOADING_WAIT: "Microseconds",
}


def signal_unit(policy: TargetPolicy, signal: Signal, spec: AlarmSpec | None) -> str:
    """The unit of the signal's metric for this target: its own alarm's where it has one, else the metric's
    (SageMaker's ModelLatency in microseconds, Bedrock's InvocationLatency in milliseconds)."""
    if spec is not None:
        return spec.unit
    if signal is Signal.LATENCY_P95:
        return "Milliseconds" if policy.kind is TargetKind.BEDROCK_MODEL else "Microseconds"
    return _DEFAULT_UNITS[signal]


def adopted_reading(
    adopted: AdoptedAlarm,
    policy: TargetPolicy,
    spec: AlarmSpec | None,
    state: AlarmState,
    since: datetime,
    reason_data: str | None,
    composite: bool,
) -> SignalReading:
    """The signal reading an adopted alarm's state stands for. `spec`: the controller's own alarm for the
    same signal of the target, where the policy sets its threshold (the figures a composite alarm lacks)."""
    signal = Signal(adopted.signal)
    reading = reading_from_state(signal, state, since, reason_data, signal_unit(policy, signal, spec))
    reading = replace(reading, adopted_from=adopted.alarm_name)
    if composite and spec is not None:
        reading = replace(reading, threshold=spec.threshold)
    return reading


def rule_prefix(stack_name: str) -> str:
    """`<stack>-adopted-`: the names of the stack's rules for adopted alarms (`<prefix><n>`)."""
    return f"{stack_name}-adopted-"


# EventBridge rule names: at most 64 characters (botocore's events model, RuleName).
MAX_RULE_NAME = 64


def rule_patterns(alarm_names: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """EventBridge patterns matching the state changes of `alarm_names`, each within the pattern size quota,
    at most MAX_ADOPTED_RULES of them; and the names that did not fit."""
    patterns: list[dict[str, Any]] = []
    names = sorted(set(alarm_names))
    left: list[str] = []
    chunk: list[str] = []
    for name in names:
        if len(patterns) == MAX_ADOPTED_RULES:
            left.append(name)
            continue
        if chunk and len(json.dumps(_pattern([*chunk, name]))) > MAX_PATTERN_CHARS:
            patterns.append(_pattern(chunk))
            chunk = []
            if len(patterns) == MAX_ADOPTED_RULES:
                left.append(name)
                continue
        chunk.append(name)
    if chunk:
        patterns.append(_pattern(chunk))
    return patterns, left


def _pattern(names: list[str]) -> dict[str, Any]:
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": names},
    }
