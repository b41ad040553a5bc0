"""Small builders for unit tests: a policy, readings and state with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from genai_autoscaler.domain.alarm_event import AlarmState, SignalReading
from genai_autoscaler.domain.policy import (
    InferenceComponentPolicy,
    SageMakerVariantPolicy,
    parse_policy_document,
)
from genai_autoscaler.domain.returns import ReturnWindow
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import ObservedCapacity, ScalableTargetFloor

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
US = "Microseconds"


def variant(**overrides: Any) -> SageMakerVariantPolicy:
    raw: dict[str, Any] = {
        "type": "sagemaker_variant",
        "endpoint_name": "llm-prod",
        "capacity": {"min": 1, "max": 8},
        "scale_out": {"max_step": 2, "cooldown_seconds": 300},
        "scale_in": {"max_step": 1, "cooldown_seconds": 600, "stabilization_seconds": 900},
        "signals": {"latency_p95_ms": 4000, "concurrency_per_unit": 8},
        **overrides,
    }
    policy = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(policy, SageMakerVariantPolicy)
    return policy


def component(**overrides: Any) -> InferenceComponentPolicy:
    raw: dict[str, Any] = {
        "type": "inference_component",
        "inference_component_name": "llama3-8b-ic",
        "endpoint_name": "shared-gpu-endpoint",
        "scale_to_zero": True,
        "capacity": {"min": 0, "max": 4},
        **overrides,
    }
    policy = parse_policy_document({"targets": [raw]}).targets[0]
    assert isinstance(policy, InferenceComponentPolicy)
    return policy


def latency(
    state: AlarmState, ms: float | None = None, since: datetime = NOW, threshold_ms: float = 4000
) -> SignalReading:
    return SignalReading(
        Signal.LATENCY_P95,
        state,
        since,
        None if ms is None else ms * 1000,
        threshold_ms * 1000,
        US,
    )


def concurrency(
    state: AlarmState, value: float | None, since: datetime = NOW, threshold: float = 8
) -> SignalReading:
    return SignalReading(Signal.CONCURRENCY, state, since, value, threshold, "Count")


def observed(count: int, status: str = "InService", floor: tuple[int, int] | None = None) -> ObservedCapacity:
    scalable = None if floor is None else ScalableTargetFloor(min_capacity=floor[0], max_capacity=floor[1])
    return ObservedCapacity(desired=count, current=count, status=status, scalable_target=scalable)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def measured_window(
    seconds: int,
    policy_window_seconds: int,
    measured_ago: float = 60.0,
    target_utilization: float = 0.7,
    cooldown_seconds: int = 600,
) -> ReturnWindow:
    """The forecaster's measure of the scale-in window a target's lulls ask for, against the scale-in settings
    given (those of `variant()`'s policies by default, but the window)."""
    return ReturnWindow(
        measured_at=ago(measured_ago),
        seconds=seconds,
        policy_window_seconds=policy_window_seconds,
        cooldown_seconds=cooldown_seconds,
        target_utilization=target_utilization,
        why="measured",
    )
