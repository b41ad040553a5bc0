"""What a Bedrock model was asked for lately: its busiest recent minute, read from CloudWatch, with its quotas.

The alarm router and the evaluator decide a model's route by it (`app.dispatch`); the routing workflow re-reads it
while a Provisioned Throughput provisions, to grow a purchase the demand has outgrown (`app.routing_workflow`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from genai_autoscaler.app.ports import MetricReader
from genai_autoscaler.app.quotas import BedrockQuotas, QuotaPorts, bedrock_quotas
from genai_autoscaler.domain.bedrock import BedrockDemand, BedrockRoute, caller_model_ids, quota_tokens
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.quotas import QuotaFigure
from genai_autoscaler.domain.signals import BEDROCK_DEMAND_METRICS, MetricQuery, bedrock_demand_queries


class DemandPorts(QuotaPorts, Protocol):
    """What reading a Bedrock model's demand uses: CloudWatch, and its quotas' sources."""

    @property
    def metrics(self) -> MetricReader: ...


DEMAND_WINDOW = timedelta(minutes=15)


def bedrock_demand(
    ctl: DemandPorts,
    policy: BedrockModelPolicy,
    now: datetime,
    quotas: BedrockQuotas | None = None,
    route: BedrockRoute | None = None,
) -> BedrockDemand:
    """The model's busiest recent minute (GetMetricData over DEMAND_WINDOW): tokens, throttles, invocations;
    and its quotas (`quotas`, read here when not given): the on-demand tokens-per-minute quota from Service
    Quotas, else the policy's `tokens_per_minute_quota`, and the account's model units still available for the
    policy's kind of Provisioned Throughput (None: unknown, only the policy bounds a purchase).

    Each figure is its own peak, summed over every ID the callers may be calling (`caller_model_ids`: Bedrock
    publishes a call's metrics under the ID it was made with), so tokens per invocation and the total are on the
    high side: the side that buys enough and routes back late. Throttles count from a minute after the route's
    last change (those before it were the previous route's), in requests: InvocationThrottles counts each
    refused attempt, so it is divided by the callers' attempts.
    """
    if quotas is None:
        quotas = bedrock_quotas(ctl, policy)
    start = now - DEMAND_WINDOW
    throttles_from = max(start, route.since + timedelta(minutes=1)) if route is not None else start
    peak: dict[str, float | None] = dict.fromkeys(BEDROCK_DEMAND_METRICS)
    # With overflow, a call the route's destination refuses goes on to the next: only the refusals of the last
    # of the chain, the model itself, are demand not met (the others were served further down).
    final_refusals = {policy.model_id} if route is not None and route.overflow else None
    wanted: list[tuple[str, MetricQuery, datetime]] = []
    for model_id in caller_model_ids(policy, route):
        for name, query in bedrock_demand_queries(policy, model_id).items():
            if (
                name == "InvocationThrottles"
                and final_refusals is not None
                and model_id not in final_refusals
            ):
                continue
            since = throttles_from if name == "InvocationThrottles" else start
            if since < now:
                wanted.append((name, query, since))
    values = ctl.metrics.peak_of_each([(query, since) for _, query, since in wanted], now) if wanted else []
    for (name, _, _), value in zip(wanted, values, strict=True):
        if value is not None:
            peak[name] = (peak[name] or 0.0) + value
    tokens_in, tokens_out = peak["InputTokenCount"], peak["OutputTokenCount"]
    # In quota tokens: Bedrock's own figure where it publishes one; else output tokens counted as many times as
    # they burn the quota down, and at least at the callers' max_tokens (what the quota reserves).
    tokens = peak["EstimatedTPMQuotaUsage"]
    invocations = peak["Invocations"]
    if tokens is None and (tokens_in is not None or tokens_out is not None):
        tokens = quota_tokens(policy.bedrock, tokens_in or 0.0, tokens_out or 0.0, invocations or 0.0)
    return BedrockDemand(
        tokens_per_minute=tokens,
        throttled_per_minute=None
        if peak["InvocationThrottles"] is None
        else peak["InvocationThrottles"] / policy.bedrock.caller_max_attempts,
        tokens_per_invocation=tokens / invocations if tokens is not None and invocations else None,
        on_demand_quota_tpm=_figure_value(quotas.tokens_per_minute.figure),
        model_units_available=_figure_value(quotas.model_units_available.figure),
        invocations_per_minute=invocations,
    )


def _figure_value(figure: QuotaFigure | None) -> int | None:
    return figure.value if figure is not None else None
