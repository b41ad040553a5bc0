"""Signals: which CloudWatch metric each one is, the alarm that watches it, and how to recognise it again.

The alarm specification is the single source for both directions: the reconciler creates alarms from it,
and the alarm router identifies (target, signal) from an alarm event's metric by matching it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from genai_autoscaler.domain.families import by_kind
from genai_autoscaler.domain.policy import (
    AlarmEvaluation,
    BedrockModelPolicy,
    InferenceComponentPolicy,
    SageMakerPolicy,
    SageMakerVariantPolicy,
    TargetPolicy,
)
from genai_autoscaler.domain.quotas import QuotaFigure, policy_token_quota
from genai_autoscaler.domain.targets import (
    TargetKind,
    bedrock_target_id,
    inference_component_target_id,
    variant_target_id,
)

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
BEDROCK_NAMESPACE = "AWS/Bedrock"

# Tags the reconciler puts on every alarm it owns (and that alarm tag propagation copies into events).
TAG_MANAGED_BY = "genai-autoscaler:managed-by"
TAG_TARGET = "genai-autoscaler:target"
TAG_SIGNAL = "genai-autoscaler:signal"


class Signal(StrEnum):
    LATENCY_P95 = "latency_p95"
    CONCURRENCY = "concurrency"
    MODEL_LOADING_WAIT = "model_loading_wait"
    NO_CAPACITY = "no_capacity"
    THROTTLES = "throttles"
    TOKEN_QUOTA = "token_quota"  # Bedrock: input + output tokens per minute against the model's quota
    TTFT_P95 = "ttft_p95"  # Bedrock: p95 time to the first token of streamed responses


# Signals whose ALARM asks for more capacity; how far above threshold says how much more.
PROPORTIONAL_SIGNALS = frozenset({Signal.CONCURRENCY, Signal.MODEL_LOADING_WAIT})


@dataclass(frozen=True)
class SignalMetric:
    """A CloudWatch metric the controller alarms on, and the signal it is: written once, for the alarm the
    reconciler creates and for recognising that alarm's events."""

    namespace: str
    name: str
    signal: Signal


MODEL_LATENCY = SignalMetric(SAGEMAKER_NAMESPACE, "ModelLatency", Signal.LATENCY_P95)
CONCURRENCY_PER_MODEL = SignalMetric(SAGEMAKER_NAMESPACE, "ConcurrentRequestsPerModel", Signal.CONCURRENCY)
CONCURRENCY_PER_COPY = SignalMetric(SAGEMAKER_NAMESPACE, "ConcurrentRequestsPerCopy", Signal.CONCURRENCY)
MODEL_LOADING_WAIT = SignalMetric(SAGEMAKER_NAMESPACE, "ModelLoadingWaitTime", Signal.MODEL_LOADING_WAIT)
NO_CAPACITY = SignalMetric(SAGEMAKER_NAMESPACE, "NoCapacityInvocationFailures", Signal.NO_CAPACITY)
INVOCATION_THROTTLES = SignalMetric(BEDROCK_NAMESPACE, "InvocationThrottles", Signal.THROTTLES)
INVOCATION_LATENCY = SignalMetric(BEDROCK_NAMESPACE, "InvocationLatency", Signal.LATENCY_P95)
# Since March 2026, per minute, in milliseconds, for the streaming APIs (ConverseStream,
# InvokeModelWithResponseStream) and successful requests only: no datapoint where nothing streams.
TIME_TO_FIRST_TOKEN = SignalMetric(BEDROCK_NAMESPACE, "TimeToFirstToken", Signal.TTFT_P95)
# A metric-math alarm's label, not a metric Bedrock publishes: its events are recognised by the alarm's tags.
TOKENS_PER_MINUTE = SignalMetric(BEDROCK_NAMESPACE, "TokensPerMinute", Signal.TOKEN_QUOTA)
# Since March 2026, per minute, successful requests only: the tokens-per-minute quota used, burndown and cache
# writes included. Where Bedrock publishes it for a model, the token-quota alarm watches it.
ESTIMATED_TPM_QUOTA_USAGE = SignalMetric(BEDROCK_NAMESPACE, "EstimatedTPMQuotaUsage", Signal.TOKEN_QUOTA)

_SIGNAL_OF_METRIC = {
    (metric.namespace, metric.name): metric.signal
    for metric in (
        MODEL_LATENCY,
        CONCURRENCY_PER_MODEL,
        CONCURRENCY_PER_COPY,
        MODEL_LOADING_WAIT,
        NO_CAPACITY,
        INVOCATION_THROTTLES,
        INVOCATION_LATENCY,
        TIME_TO_FIRST_TOKEN,
        ESTIMATED_TPM_QUOTA_USAGE,
    )
}


@dataclass(frozen=True)
class MetricQuery:
    """One metric and statistic of a target, as GetMetricData reads it. `label` names it in memory ports."""

    target_id: str
    label: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    period: int
    stat: str


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm, in the terms of PutMetricAlarm."""

    target_id: str
    signal: Signal
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    unit: str
    treat_missing_data: str
    statistic: str | None = None
    extended_statistic: str | None = None
    comparison: str = "GreaterThanThreshold"
    description: str = ""
    # A metric-math alarm: the sum of these metrics (each Sum per period, same dimensions) is what is judged.
    summed_metrics: tuple[str, ...] = ()
    # Each summed metric's factor (1 where not given): a model's output tokens burn its quota down faster.
    weights: tuple[float, ...] = ()
    # A Bedrock token-quota alarm whose callers' max_tokens is known: the second summed metric (output tokens)
    # counts at least this many per invocation (the third, Invocations), as the quota reserves them.
    reserved_per_invocation: int | None = None

    @property
    def stat(self) -> str:
        return self.extended_statistic or self.statistic or ""

    @property
    def query(self) -> MetricQuery:
        """The alarm's metric, to read its recent figures."""
        return MetricQuery(
            self.target_id,
            self.signal.value,
            self.namespace,
            self.metric_name,
            self.dimensions,
            self.period,
            self.stat,
        )

    def put_request(self, name: str) -> dict[str, Any]:
        """The PutMetricAlarm parameters of this alarm, minus tags.

        `Unit` is deliberately not sent: an alarm with a unit only sees datapoints published in that exact
        unit, and a mismatch would leave it in INSUFFICIENT_DATA for ever. `unit` says how to read the
        threshold (SageMaker latency thresholds are in microseconds).
        """
        request: dict[str, Any] = {
            "AlarmName": name,
            "AlarmDescription": self.description,
            "ActionsEnabled": False,  # state changes reach EventBridge without alarm actions
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(self.dimensions)],
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": float(self.threshold),
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
        }
        if self.summed_metrics:
            # Metric math: no Namespace/MetricName/Period/Statistic of its own (PutMetricAlarm forbids them).
            for key in ("Namespace", "MetricName", "Dimensions", "Period"):
                del request[key]
            request["Metrics"] = self.math_metrics()
            return request
        if self.extended_statistic:
            request["ExtendedStatistic"] = self.extended_statistic
            request["EvaluateLowSampleCountPercentile"] = "evaluate"
        else:
            request["Statistic"] = self.statistic
        return request

    def math_metrics(self) -> list[dict[str, Any]]:
        """PutMetricAlarm `Metrics` of a metric-math alarm: the summed metrics, and their sum (returned)."""
        ids = [f"m{i}" for i in range(len(self.summed_metrics))]
        dimensions = [{"Name": k, "Value": v} for k, v in sorted(self.dimensions)]
        terms: list[dict[str, Any]] = [
            {
                "Id": term_id,
                "MetricStat": {
                    "Metric": {"Namespace": self.namespace, "MetricName": metric, "Dimensions": dimensions},
                    "Period": self.period,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            }
            for term_id, metric in zip(ids, self.summed_metrics, strict=True)
        ]
        total = {
            "Id": "total",
            "Expression": self.expression(),
            "Label": self.metric_name,
            "ReturnData": True,
        }
        if self.reserved_per_invocation is not None:
            reserved = {
                "Id": "r",
                "Expression": f"{self.reserved_per_invocation} * m2",
                "Label": "max_tokens reserved",
                "ReturnData": False,
            }
            return [total, *terms, reserved]
        return [total, *terms]

    def expression(self) -> str:
        """The metric-math sum of the summed metrics `m0`, `m1`, ... with their weights: `m0 + 5 * m1`; with a
        reservation, `m0 + 5 * MAX([m1, r])`, `r` being `4096 * m2` (max_tokens times invocations)."""
        weights = self.weights or (1.0,) * len(self.summed_metrics)
        terms = [f"m{i}" for i in range(len(self.summed_metrics))]
        if self.reserved_per_invocation is not None:
            terms = [terms[0], "MAX([m1, r])"]
        return " + ".join(
            term if weight == 1 else f"{weight:g} * {term}"
            for term, weight in zip(terms, weights, strict=False)
        )

    def value_of(self, figures: dict[str, float]) -> float:
        """What the metric-math alarm judges, from one period's figure of each summed metric (by name)."""
        values = [figures.get(name, 0.0) for name in self.summed_metrics]
        weights = self.weights or (1.0,) * len(values)
        if self.reserved_per_invocation is not None:
            values = [values[0], max(values[1], self.reserved_per_invocation * values[2])]
        return sum(weight * value for weight, value in zip(weights, values, strict=False))

    def alarm_name(self, prefix: str) -> str:
        # The name is for people and for listing; nothing reads a target back out of it.
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.target_id)
        return f"{prefix}{slug}-{self.signal}"[:255]


def _ms_to_us(milliseconds: float) -> float:
    return milliseconds * 1000.0


def _spec(
    target: TargetPolicy,
    metric: SignalMetric,
    dimensions: tuple[tuple[str, str], ...],
    evaluation: AlarmEvaluation,
    threshold: float,
    unit: str,
    treat_missing_data: str,
    description: str,
    *,
    statistic: str | None = None,
    extended_statistic: str | None = None,
    comparison: str = "GreaterThanThreshold",
) -> AlarmSpec:
    return AlarmSpec(
        target_id=target.target_id,
        signal=metric.signal,
        namespace=metric.namespace,
        metric_name=metric.name,
        dimensions=dimensions,
        period=evaluation.period_seconds,
        evaluation_periods=evaluation.evaluation_periods,
        datapoints_to_alarm=evaluation.datapoints_to_alarm,
        threshold=threshold,
        unit=unit,
        treat_missing_data=treat_missing_data,
        statistic=statistic,
        extended_statistic=extended_statistic,
        comparison=comparison,
        description=f"GenAI Autoscaler: {description} on {target.name}",
    )


def alarm_specs(
    target: TargetPolicy, token_quota: QuotaFigure | None = None, quota_usage: bool = False
) -> list[AlarmSpec]:
    """The alarms that watch a target, as its policy turns its signals on.

    `token_quota` is a Bedrock model's tokens-per-minute quota as the controller found it (Service Quotas, see
    app/quotas.py); without it, the policy's `tokens_per_minute_quota`. `quota_usage`: Bedrock publishes
    EstimatedTPMQuotaUsage for the model, which its token-quota alarm then watches (else metric math over the
    token counts). Other targets ignore both.
    """
    return by_kind(
        target,
        variant=_variant_specs,
        component=_component_specs,
        bedrock=lambda model: _bedrock_specs(model, token_quota or policy_token_quota(model), quota_usage),
    )


def _dimensions(target: SageMakerPolicy) -> tuple[tuple[str, str], ...]:
    """The CloudWatch dimensions of a SageMaker target's metrics: its endpoint and variant, or its component."""
    if isinstance(target, SageMakerVariantPolicy):
        return (("EndpointName", target.endpoint_name), ("VariantName", target.variant_name))
    return (("InferenceComponentName", target.inference_component_name),)


def _variant_specs(target: SageMakerVariantPolicy) -> list[AlarmSpec]:
    dims = _dimensions(target)
    specs = _sagemaker_specs(target, dims, CONCURRENCY_PER_MODEL, "instance")
    signals = target.signals
    if target.multi_model and signals.model_loading_wait_ms:
        specs.append(
            _spec(
                target,
                MODEL_LOADING_WAIT,
                dims,
                signals.latency_evaluation,
                _ms_to_us(signals.model_loading_wait_ms),
                "Microseconds",
                "notBreaching",
                f"p95 ModelLoadingWaitTime above {signals.model_loading_wait_ms:g} ms",
                extended_statistic="p95",
            )
        )
    return specs


def _component_specs(target: InferenceComponentPolicy) -> list[AlarmSpec]:
    dims = _dimensions(target)
    specs = _sagemaker_specs(target, dims, CONCURRENCY_PER_COPY, "copy")
    if target.scale_to_zero:
        # One refused request is enough to wake a component that sits at zero.
        specs.append(
            _spec(
                target,
                NO_CAPACITY,
                dims,
                AlarmEvaluation(period_seconds=60, evaluation_periods=1, datapoints_to_alarm=1),
                0,
                "Count",
                "notBreaching",
                "requests refused for lack of copies",
                statistic="Sum",
            )
        )
    return specs


def _sagemaker_specs(
    target: SageMakerPolicy, dims: tuple[tuple[str, str], ...], concurrency_metric: SignalMetric, unit: str
) -> list[AlarmSpec]:
    """The latency and concurrency alarms of a variant or a component (concurrency per `unit` of it)."""
    signals = target.signals
    specs: list[AlarmSpec] = []
    if signals.latency_p95_ms is not None:
        # No requests means no latency datapoints, which is not a latency problem.
        specs.append(
            _spec(
                target,
                MODEL_LATENCY,
                dims,
                signals.latency_evaluation,
                _ms_to_us(signals.latency_p95_ms),
                "Microseconds",
                "notBreaching",
                f"p95 ModelLatency above {signals.latency_p95_ms:g} ms",
                extended_statistic="p95",
            )
        )
    if signals.concurrency_per_unit is not None:
        # Concurrency is the utilisation signal that scale-in relies on: missing data must surface as
        # INSUFFICIENT_DATA (capacity held), not pass for idle.
        specs.append(
            _spec(
                target,
                concurrency_metric,
                dims,
                signals.concurrency_evaluation,
                signals.concurrency_per_unit,
                "Count",
                "missing",
                f"concurrent requests per {unit} above {signals.concurrency_per_unit:g}",
                statistic="Maximum",  # the concurrency metrics publish Minimum and Maximum only
            )
        )
    return specs


def _burned(burndown: float) -> str:
    return "" if burndown == 1 else f"{burndown:g} x "


def _bedrock_specs(
    target: BedrockModelPolicy, quota: QuotaFigure | None, quota_usage: bool
) -> list[AlarmSpec]:
    dims = (("ModelId", target.model_id),)
    minute = AlarmEvaluation(period_seconds=60, evaluation_periods=1, datapoints_to_alarm=1)
    specs = [
        _spec(
            target,
            INVOCATION_THROTTLES,
            dims,
            minute,
            target.bedrock.throttles_per_minute,
            "Count",
            "notBreaching",
            f"InvocationThrottles at or above {target.bedrock.throttles_per_minute}/min",
            statistic="Sum",
            comparison="GreaterThanOrEqualToThreshold",
        )
    ]
    if quota is not None and quota_usage:
        share = target.bedrock.token_quota_alarm_share
        specs.append(
            _spec(
                target,
                ESTIMATED_TPM_QUOTA_USAGE,
                dims,
                AlarmEvaluation(period_seconds=60, evaluation_periods=3, datapoints_to_alarm=2),
                quota.value * share,
                "Count",
                "notBreaching",
                f"tokens-per-minute quota used (EstimatedTPMQuotaUsage: burndown and cache writes included) "
                f"above {share:.0%} of the {quota.value:,} quota ({quota.source})",
                statistic="Sum",
            )
        )
    elif quota is not None:
        share = target.bedrock.token_quota_alarm_share
        burndown = target.bedrock.output_token_burndown
        reserve = target.bedrock.max_tokens
        specs.append(
            replace(
                _spec(
                    target,
                    TOKENS_PER_MINUTE,
                    dims,
                    AlarmEvaluation(period_seconds=60, evaluation_periods=3, datapoints_to_alarm=2),
                    quota.value * share,
                    "Count",
                    "notBreaching",
                    f"input + {_burned(burndown)}"
                    + (f"max(output, {reserve:,} x invocations)" if reserve else "output")
                    + f" tokens per minute above {share:.0%} of the {quota.value:,} quota ({quota.source})",
                    statistic="Sum",
                ),
                summed_metrics=(
                    "InputTokenCount",
                    "OutputTokenCount",
                    *(("Invocations",) if reserve else ()),
                ),
                weights=(1.0, burndown),
                reserved_per_invocation=reserve,
            )
        )
    if target.bedrock.latency_p95_ms is not None:
        specs.append(
            _spec(
                target,
                INVOCATION_LATENCY,
                dims,
                AlarmEvaluation(),
                target.bedrock.latency_p95_ms,
                "Milliseconds",
                "notBreaching",
                f"p95 InvocationLatency above {target.bedrock.latency_p95_ms:g} ms",
                extended_statistic="p95",
            )
        )
    if target.bedrock.ttft_p95_ms is not None:
        specs.append(
            _spec(
                target,
                TIME_TO_FIRST_TOKEN,
                dims,
                AlarmEvaluation(),
                target.bedrock.ttft_p95_ms,
                "Milliseconds",
                "notBreaching",  # no streamed request in a minute is no news of a slow first token
                f"p95 TimeToFirstToken above {target.bedrock.ttft_p95_ms:g} ms",
                extended_statistic="p95",
            )
        )
    return specs


@dataclass(frozen=True)
class MetricIdentity:
    target_id: str
    kind: TargetKind
    signal: Signal


def identify_metric(namespace: str, metric_name: str, dimensions: dict[str, str]) -> MetricIdentity | None:
    """The (target, signal) a metric belongs to, or None if it is no signal the controller watches."""
    signal = _SIGNAL_OF_METRIC.get((namespace, metric_name))
    if signal is None:
        return None
    if namespace == BEDROCK_NAMESPACE:
        if set(dimensions) != {"ModelId"}:
            return None
        return MetricIdentity(bedrock_target_id(dimensions["ModelId"]), TargetKind.BEDROCK_MODEL, signal)
    if set(dimensions) == {"EndpointName", "VariantName"}:
        target_id = variant_target_id(dimensions["EndpointName"], dimensions["VariantName"])
        return MetricIdentity(target_id, TargetKind.SAGEMAKER_VARIANT, signal)
    if "InferenceComponentName" in dimensions and set(dimensions) <= {
        "InferenceComponentName",
        "EndpointName",
    }:
        target_id = inference_component_target_id(dimensions["InferenceComponentName"])
        return MetricIdentity(target_id, TargetKind.INFERENCE_COMPONENT, signal)
    return None


# Bedrock's per-model invocation metrics that size Provisioned Throughput and decide the way back (the quota used,
# where Bedrock publishes it; else the token counts, output weighed by its burndown).
BEDROCK_DEMAND_METRICS = (
    "InputTokenCount",
    "OutputTokenCount",
    "InvocationThrottles",
    "Invocations",
    "EstimatedTPMQuotaUsage",
)


def bedrock_demand_queries(target: BedrockModelPolicy, model_id: str | None = None) -> dict[str, MetricQuery]:
    """Per-minute sums of the model's token, throttle and invocation counts, by metric name: under the model's
    own ID, or under `model_id`, another ID its callers are sent to (a profile, a Provisioned Throughput ARN;
    Bedrock publishes a call's metrics under the ID it was made with), labelled `<metric>@<id>`."""
    called = model_id or target.model_id
    dims = (("ModelId", called),)
    suffix = "" if called == target.model_id else f"@{called}"
    return {
        name: MetricQuery(target.target_id, f"{name}{suffix}", BEDROCK_NAMESPACE, name, dims, 60, "Sum")
        for name in BEDROCK_DEMAND_METRICS
    }


def model_latency_query(target: SageMakerPolicy, stat: str = "Average") -> MetricQuery:
    """A SageMaker target's ModelLatency per minute (microseconds), by `stat`."""
    return MetricQuery(
        target.target_id,
        "latency",
        MODEL_LATENCY.namespace,
        MODEL_LATENCY.name,
        _dimensions(target),
        60,
        stat,
    )


def concurrency_query(target: SageMakerVariantPolicy, period: int = 10) -> MetricQuery:
    """A variant's ConcurrentRequestsPerModel Maximum over `period` (10 s: its high resolution)."""
    metric = CONCURRENCY_PER_MODEL
    return MetricQuery(
        target.target_id, "concurrency", metric.namespace, metric.name, _dimensions(target), period, "Maximum"
    )


def invocations_query(target: SageMakerPolicy, per_unit: bool = False) -> MetricQuery:
    """A SageMaker target's requests per minute (Invocations, Sum): its demand, which the queue does not swell;
    `per_unit`: per instance (InvocationsPerInstance) or per copy (InvocationsPerCopy)."""
    name = "Invocations"
    if per_unit:
        name = (
            "InvocationsPerInstance" if isinstance(target, SageMakerVariantPolicy) else "InvocationsPerCopy"
        )
    return MetricQuery(target.target_id, name, SAGEMAKER_NAMESPACE, name, _dimensions(target), 60, "Sum")
