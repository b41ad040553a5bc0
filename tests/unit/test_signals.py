"""Alarm specifications and their inverse: a metric identifies its target and signal again."""

from __future__ import annotations

import pytest
from genai_autoscaler.domain.signals import Signal, alarm_specs, identify_metric
from genai_autoscaler.domain.targets import TargetKind

from tests.unit.builders import component, variant


def test_sagemaker_latency_thresholds_are_in_microseconds() -> None:
    spec = next(
        s for s in alarm_specs(variant(signals={"latency_p95_ms": 2500})) if s.signal is Signal.LATENCY_P95
    )
    assert (spec.metric_name, spec.extended_statistic, spec.unit) == ("ModelLatency", "p95", "Microseconds")
    assert spec.threshold == 2_500_000
    request = spec.put_request("x")
    assert request["ExtendedStatistic"] == "p95"
    assert "Statistic" not in request
    assert "Unit" not in request  # a unit would filter out datapoints published under another one


def test_concurrency_is_high_resolution_maximum_and_treats_missing_data_as_missing() -> None:
    spec = next(s for s in alarm_specs(variant()) if s.signal is Signal.CONCURRENCY)
    assert (spec.metric_name, spec.statistic, spec.period, spec.treat_missing_data) == (
        "ConcurrentRequestsPerModel",
        "Maximum",
        10,
        "missing",
    )


def test_inference_components_watch_copies_and_refused_requests() -> None:
    specs = {s.signal: s for s in alarm_specs(component(signals={"concurrency_per_unit": 2}))}
    assert specs[Signal.CONCURRENCY].metric_name == "ConcurrentRequestsPerCopy"
    assert specs[Signal.NO_CAPACITY].dimensions == (("InferenceComponentName", "llama3-8b-ic"),)
    assert (specs[Signal.NO_CAPACITY].statistic, specs[Signal.NO_CAPACITY].threshold) == ("Sum", 0)


@pytest.mark.parametrize(
    "policy",
    [variant(), variant(multi_model=True, signals={"model_loading_wait_ms": 2000}), component()],
    ids=["variant", "multi-model variant", "inference component"],
)
def test_every_alarm_identifies_its_own_target_and_signal(policy: object) -> None:
    # Given the alarms the reconciler creates for a target
    for spec in alarm_specs(policy):  # type: ignore[arg-type]
        # When a state-change event names their metric
        identity = identify_metric(spec.namespace, spec.metric_name, dict(spec.dimensions))
        # Then the router finds the same target and signal, without reading the alarm's name
        assert identity is not None
        assert (identity.target_id, identity.signal) == (spec.target_id, spec.signal)


@pytest.mark.parametrize(
    ("namespace", "metric", "dimensions"),
    [
        ("AWS/SageMaker", "CPUUtilization", {"EndpointName": "a", "VariantName": "b"}),
        ("AWS/EC2", "ModelLatency", {"EndpointName": "a", "VariantName": "b"}),
        ("AWS/SageMaker", "ModelLatency", {"EndpointName": "a"}),
        ("AWS/Bedrock", "InvocationThrottles", {}),
    ],
    ids=["not a signal", "another namespace", "endpoint without variant", "account-wide Bedrock"],
)
def test_metrics_that_are_not_signals_are_not_identified(
    namespace: str, metric: str, dimensions: dict[str, str]
) -> None:
    assert identify_metric(namespace, metric, dimensions) is None


def test_alarm_names_are_readable_and_valid() -> None:
    spec = alarm_specs(variant())[0]
    assert spec.alarm_name("stack.") == "stack.variant-llm-prod-AllTraffic-latency_p95"
    assert (
        identify_metric("AWS/Bedrock", "InvocationThrottles", {"ModelId": "m.x:0"}).kind
        is TargetKind.BEDROCK_MODEL
    )  # type: ignore[union-attr]


def test_a_token_quota_alarm_weighs_output_tokens_by_their_burndown() -> None:
    from genai_autoscaler.domain.policy import parse_policy_document
    from genai_autoscaler.domain.quotas import QuotaFigure

    model = parse_policy_document(
        {
            "targets": [
                {
                    "type": "bedrock_model",
                    "model_id": "anthropic.claude-x",
                    "bedrock": {"output_token_burndown": 5},
                }
            ]
        }
    ).targets[0]
    (quota,) = [
        s for s in alarm_specs(model, QuotaFigure(100_000, "policy")) if s.signal is Signal.TOKEN_QUOTA
    ]
    assert quota.expression() == "m0 + 5 * m1"
    assert "input + 5 x output tokens per minute above 80%" in quota.description
    plain = model.model_copy(
        update={"bedrock": model.bedrock.model_copy(update={"output_token_burndown": 1})}
    )
    (quota,) = [
        s for s in alarm_specs(plain, QuotaFigure(100_000, "policy")) if s.signal is Signal.TOKEN_QUOTA
    ]
    assert quota.expression() == "m0 + m1"


def test_with_the_callers_max_tokens_the_token_quota_alarm_counts_what_the_quota_reserves() -> None:
    from botocore.session import get_session
    from botocore.validate import ParamValidator
    from genai_autoscaler.domain.policy import parse_policy_document
    from genai_autoscaler.domain.quotas import QuotaFigure

    model = parse_policy_document(
        {
            "targets": [
                {
                    "type": "bedrock_model",
                    "model_id": "anthropic.claude-x",
                    "bedrock": {"output_token_burndown": 5, "max_tokens": 4096},
                }
            ]
        }
    ).targets[0]
    (quota,) = [
        s for s in alarm_specs(model, QuotaFigure(1_000_000, "policy")) if s.signal is Signal.TOKEN_QUOTA
    ]
    assert quota.expression() == "m0 + 5 * MAX([m1, r])"
    assert quota.summed_metrics == ("InputTokenCount", "OutputTokenCount", "Invocations")
    assert "input + 5 x max(output, 4,096 x invocations) tokens per minute" in quota.description
    # A minute of 10 short answers (300 tokens each) is judged at what their starts reserved
    assert quota.value_of({"InputTokenCount": 20_000, "OutputTokenCount": 3_000, "Invocations": 10}) == (
        20_000 + 5 * 40_960
    )
    # and a minute whose output passed the reservation (no max_tokens on some calls) at what it used
    assert quota.value_of({"InputTokenCount": 20_000, "OutputTokenCount": 50_000, "Invocations": 10}) == (
        20_000 + 5 * 50_000
    )
    request = quota.put_request("genai-autoscaler.m-token_quota")
    reserved = next(m for m in request["Metrics"] if m["Id"] == "r")
    assert (reserved["Expression"], reserved["ReturnData"]) == ("4096 * m2", False)
    operation = get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm")
    assert not ParamValidator().validate(request, operation.input_shape).has_errors()
