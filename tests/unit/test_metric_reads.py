"""What the operator's tools read of a variant's CloudWatch metrics: the window a 10 s Maximum can be read in, and
a reading that is no figure to replay with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from genai_autoscaler_tools.metric_reads import ConcurrencyPeak, high_resolution_window

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
