"""What the operator's tools read of a variant's CloudWatch metrics: the window a 10 s Maximum can be read in, and
a reading that is no figure to replay with."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from genai_autoscaler.domain.policy import SageMakerVariantPolicy, parse_policy_document
from genai_autoscaler_tools.metric_reads import (
    ConcurrencyPeak,
    equivalent_threshold,
    high_resolution_window,
    measure_concurrency_peak,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 12, 7, 15, 42, 37, 400_000, tzinfo=UTC)


def test_the_window_starts_within_cloudwatchs_three_hours_of_now_not_of_the_windows_end() -> None:
    # Given a window of ten hours that ended an hour ago
    since, until = high_resolution_window(NOW - timedelta(hours=10), NOW - timedelta(hours=1), NOW)
    # Then its 10 s datapoints are read from the first whole minute within three hours of now (with the margin a
    # request needs to arrive before its StartTime falls out of them), up to the window's end
    assert since == datetime(2026, 12, 7, 12, 48, tzinfo=UTC)
    assert since > NOW - timedelta(hours=3)
    assert until == NOW - timedelta(hours=1)


def test_the_window_ends_before_the_minutes_cloudwatch_may_not_have_taken_in_whole() -> None:
    # Given a window that ends now
    since, until = high_resolution_window(NOW - timedelta(minutes=40), NOW, NOW)
    # Then it starts on a whole minute, and ends two whole minutes before the minute under way
    assert since == datetime(2026, 12, 7, 15, 3, tzinfo=UTC)
    assert until == datetime(2026, 12, 7, 15, 40, tzinfo=UTC)


def test_a_window_that_ended_more_than_three_hours_ago_has_no_10_second_datapoints() -> None:
    since, until = high_resolution_window(NOW - timedelta(hours=8), NOW - timedelta(hours=4), NOW)
    assert since >= until


def test_a_maximum_read_below_the_mean_is_no_figure_to_replay_with() -> None:
    # Given a Maximum that read, in the median, below the mean Little's law gives
    peak = ConcurrencyPeak(sigmas=-0.4, periods=300, minutes=50, instances=(4, 4), mean_in_flight=(2.0, 3.0))
    # Then it says why, and gives no parameter to replay with
    said = peak.describe("llm-prod/AllTraffic", 1.645)
    assert not peak.usable
    assert "below the mean in flight" in said
    assert "--endpoint-param" not in said
    # While one above it does
    usable = ConcurrencyPeak(
        sigmas=0.43, periods=300, minutes=50, instances=(4, 6), mean_in_flight=(2.0, 3.0)
    )
    assert "--endpoint-param concurrency_peak_sigmas=0.43" in usable.describe("llm-prod/AllTraffic", 1.645)
    assert "4 to 6 instances" in usable.describe("llm-prod/AllTraffic", 1.645)


# --------------------------------------------------------------------------------------------- properties


@given(
    start_back=st.integers(0, 20 * 60),
    end_back=st.integers(0, 20 * 60),
    now_seconds=st.integers(0, 59),
    now_micro=st.integers(0, 999_999),
)
def test_the_window_is_whole_minutes_within_the_retention_and_the_asked_window(
    start_back: int, end_back: int, now_seconds: int, now_micro: int
) -> None:
    now = NOW.replace(second=now_seconds, microsecond=now_micro)
    start, end = now - timedelta(minutes=start_back), now - timedelta(minutes=end_back)
    since, until = high_resolution_window(start, end, now)
    if since >= until:
        return
    assert since.second == since.microsecond == 0
    assert since >= start
    assert since > now - timedelta(hours=3)  # GetMetricData still holds 10 s datapoints from there
    assert until <= end
    assert until <= now.replace(second=0, microsecond=0) - timedelta(minutes=2)


class _CloudWatch:
    """GetMetricData over fixed series, one page, by the queries' order (q0, q1, ...): what the reader needs."""

    def __init__(self, series: list[dict[datetime, float]]):
        self.series = series

    def get_paginator(self, operation: str) -> _CloudWatch:
        assert operation == "get_metric_data"
        return self

    def paginate(self, MetricDataQueries: list[dict[str, Any]], **_: Any) -> list[dict[str, Any]]:
        results = []
        for query, points in zip(MetricDataQueries, self.series, strict=True):
            ordered = sorted(points.items())
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [at for at, _ in ordered],
                    "Values": [v for _, v in ordered],
                }
            )
        return [{"MetricDataResults": results}]


@given(
    sigmas=st.floats(0.0, 4.0),
    instances=st.integers(1, 40),
    latency_s=st.floats(1.0, 30.0),
    per_instance_rps=st.lists(st.floats(0.1, 3.0), min_size=25, max_size=40),
)
def test_a_maximum_read_as_mean_plus_sigmas_is_measured_back_exactly(
    sigmas: float, instances: int, latency_s: float, per_instance_rps: list[float]
) -> None:
    # Given minutes whose 10 s Maximum reads exactly the mean in flight per instance (Little's law over the
    # minute's figures) + sigmas sqrt(mean), at any fleet size and load
    target = parse_policy_document(
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod"}]}
    ).targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    first = NOW.replace(second=0, microsecond=0) - timedelta(minutes=len(per_instance_rps) + 2)
    requests, shares, latency, peaks = {}, {}, {}, {}
    for k, rps in enumerate(per_instance_rps):
        minute = first + timedelta(minutes=k)
        invocations = rps * instances * 60
        requests[minute], shares[minute], latency[minute] = (
            invocations,
            invocations / instances,
            latency_s * 1e6,
        )
        mean = rps * latency_s
        for tick in range(6):
            peaks[minute + timedelta(seconds=10 * tick)] = mean + sigmas * math.sqrt(mean)
    cloudwatch = _CloudWatch([requests, shares, latency, peaks])
    # When it is measured
    peak = measure_concurrency_peak(cloudwatch, target, first, NOW, NOW)
    # Then it is read back, over every minute with a request or more in flight per instance
    busy = sum(rps * latency_s >= 1.0 for rps in per_instance_rps)
    if busy < 20:
        assert peak is None
        return
    assert peak is not None
    assert peak.sigmas == pytest.approx(sigmas, abs=1e-6)
    assert peak.minutes == busy
    assert peak.instances == (pytest.approx(instances), pytest.approx(instances))


def test_the_equivalent_threshold_holds_the_load_the_threshold_stands_for() -> None:
    # Read as replays assume, a threshold stands for itself
    assert equivalent_threshold(9, 1.645, 1.645) == pytest.approx(9)
    # Read nearer the mean, the same load (5.24 in flight per instance behind the example's 9) reads lower: the
    # figure a replay under that reading keeps the example's SLO with (Azure's hour 99.9959% at 7.52 read with
    # 1.0, as at 9 read with 1.645: the closing note of session 26)
    assert equivalent_threshold(9, 1.645, 1.0) == pytest.approx(7.52, abs=0.01)
    assert equivalent_threshold(9, 1.645, 0.5) == pytest.approx(6.38, abs=0.01)
    assert equivalent_threshold(9, 1.645, 0.0) == pytest.approx(5.24, abs=0.01)


@given(threshold=st.floats(0.5, 64), low=st.floats(0, 4), high=st.floats(0, 4))
def test_a_reading_further_above_the_mean_asks_a_higher_threshold_for_the_same_load(
    threshold: float, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    assert equivalent_threshold(threshold, 1.645, low) <= equivalent_threshold(threshold, 1.645, high) + 1e-9
    # and translating there and back is the identity
    there = equivalent_threshold(threshold, 1.645, low)
    assert equivalent_threshold(there, low, 1.645) == pytest.approx(threshold, rel=1e-9)
