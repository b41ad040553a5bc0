"""The demand forecast: it learns a daily (or weekly) shape from the target's own history, says how wrong it
has been, and stands aside when the history is short, the traffic has no shape, or it cannot size capacity."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from genai_autoscaler.domain import forecast as forecast_module
from genai_autoscaler.domain.forecast import (
    DAY,
    FORECAST_MINUTES,
    LEVEL_REACH,
    DemandForecast,
    forecast,
    inflight_ratio,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW


def daily(minute: int) -> float:
    """An idle night and a steep morning ramp: 20 a minute until 07:30, 800 from 08:00."""
    hour = (minute % DAY) / 60
    return 20.0 if hour < 7.5 else 800.0 if hour >= 8 else 20.0 + (hour - 7.5) * 2 * 780


def history(
    days: float, shape=daily, noise: float = 0.05, seed: int = 0
) -> tuple[list[float | None], object]:
    """`days` of per-minute invocations ending at NOW (07:00 on the forecast's day, the ramp 30 minutes on)."""
    rng = random.Random(seed)
    minutes = round(days * DAY)
    start = NOW - timedelta(minutes=minutes)
    offset = 7 * 60 - minutes  # minute 0 of the history, as a minute of the day of NOW at 07:00
    values: list[float | None] = []
    for i in range(minutes):
        value = shape(offset + i)
        values.append(None if value is None else value * rng.lognormvariate(0, noise))
    return values, start


def test_a_daily_ramp_is_foreseen_from_the_days_before() -> None:
    # Given three days of a day with a morning ramp, made at 07:00
    values, start = history(3)
    made = forecast(values, start, NOW, inflight_per_invocation=0.2, max_error=0.25)
    # Then it uses the daily method, which was a few percent wrong over the last day
    assert made.stands_aside is None
    assert made.method == "daily"
    assert made.error is not None
    assert made.error < 0.1
    # And it expects the ramp: 20 a minute now, about 800 from 08:00 (within the next 90 minutes)
    assert len(made.per_minute) == FORECAST_MINUTES
    assert made.peak(NOW, NOW) == pytest.approx(20, rel=0.2)
    assert made.peak(NOW + timedelta(minutes=61), NOW + timedelta(minutes=80)) == pytest.approx(800, rel=0.1)
    # A rise far beyond its error: worth adding capacity ahead of
    assert made.rises(NOW, 800.0)
    assert not made.rises(NOW, 21.0)


def test_a_week_shaped_history_is_forecast_weekly() -> None:
    # Given two weeks whose weekends (days 0 and 1 of each week, NOW's day among them) carry a third of the
    # weekdays' traffic
    def weekly(minute: int) -> float:
        weekday = (minute // DAY) % 7
        return daily(minute) * (1 / 3 if weekday in (0, 1) else 1.0)

    values, start = history(14, weekly)
    made = forecast(values, start, NOW, 0.2, 0.25)
    assert made.method == "weekly"
    assert made.stands_aside is None


@pytest.mark.parametrize(
    ("days", "why"),
    [(0.5, "0.5 days of history; it needs 1.25"), (1.1, "1.1 days of history")],
)
def test_too_little_history_stands_aside(days: float, why: str) -> None:
    values, start = history(days)
    made = forecast(values, start, NOW, 0.2, 0.25)
    assert made.stands_aside is not None
    assert why in made.stands_aside
    assert made.peak(NOW, NOW + timedelta(hours=1)) is None


def test_traffic_with_no_daily_shape_is_recognised_and_left_alone() -> None:
    # Given random on/off bursts (no two days alike)
    values, start = history(3, lambda m: 600.0 if random.Random(m).random() < 0.15 else 1.0)
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then it measures its own error and stands aside
    assert made.stands_aside is not None
    assert "error over the last day" in made.stands_aside
    assert made.error is not None
    assert made.error > 0.25


def busier_today(gap_minutes: int = 0, today: float = 1.5) -> tuple[list[float | None], object]:
    """Four days of a flat 400 a minute, the last 12 hours `today` times busier, and the last `gap_minutes`
    minutes an outage: nothing, then a trickle of 2 a minute over its last ten."""
    values, start = history(4, lambda minute: 400.0)
    for i in range(len(values) - 12 * 60, len(values)):
        values[i] = (values[i] or 0.0) * today
    for i in range(len(values) - gap_minutes, len(values)):
        values[i] = 2.0 if i >= len(values) - 10 else 0.0
    return values, start


def test_an_outage_is_no_level_the_demand_is_expected_back_as_it_was() -> None:
    # Given a day busier than the days before (600 a minute against 400), then 50 minutes of outage
    values, start = busier_today(gap_minutes=50)
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then the forecast expects the demand back at the level it had before the outage, not at the outage's
    # (a level is believed down to half: 200 a minute)
    assert made.stands_aside is None
    assert made.peak(NOW, NOW) == pytest.approx(600, rel=0.1)
    # And it is trusted as the method always forecast, outage and all: a gap changes what is expected after it,
    # not how far the forecast is trusted
    assert made.error is not None
    assert made.error > forecast(*busier_today(), NOW, 0.2, 0.25).error  # type: ignore[operator]


def test_an_outage_without_datapoints_is_a_gap_too() -> None:
    # Given the same outage as CloudWatch shows it: no datapoint for a minute without an invocation
    values, start = busier_today(gap_minutes=90)
    values[-90:] = [None] * 90
    made = forecast(values, start, NOW, 0.2, math.inf)
    # Then the demand is expected back at the level before it, too (not at the days before's 400, as an hour
    # without a figure would have it)
    assert made.peak(NOW, NOW) == pytest.approx(600, rel=0.1)


def test_a_day_that_ends_at_another_hour_is_no_outage() -> None:
    # Given night work (400 a minute from midnight) that ended at 06:00, 07:30 and 08:00 on the days before and at
    # 06:10 today (the forecast is made at 07:00): idle minutes, but one of the days before was idle at them too
    ends = {0: 370, -1: 360, -2: 450, -3: 480, -4: 450}

    def night_work(minute: int) -> float:
        day, of_day = divmod(minute, DAY)
        return 400.0 if of_day < ends[day] else 0.0

    values, start = history(4, night_work)
    made = forecast(values, start, NOW, 0.2, math.inf)
    # Then no minute is a gap: the forecast keeps the level the last hour shows (half, the least it believes) of
    # what the days before bring at 07:00 (two in three busy: 267 a minute), as it did before the gap rule
    assert made.peak(NOW, NOW) == pytest.approx(133, rel=0.1)


def test_a_lower_level_is_followed_down() -> None:
    # Given a day at 60% of the days before (no gap: a quieter day)
    values, start = busier_today(today=0.6)
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then the forecast follows it down
    assert made.stands_aside is None
    assert made.peak(NOW, NOW) == pytest.approx(240, rel=0.1)


def test_a_gap_longer_than_the_level_reaches_is_taken_for_the_level() -> None:
    # Given an outage longer than the forecast's level reaches back: no end of it the history can see
    values, start = busier_today(gap_minutes=LEVEL_REACH + 30)
    # Then the gap is taken for the level, bounded, as any hour is: half of the 400 the days before bring
    made = forecast(values, start, NOW, 0.2, math.inf)
    assert made.peak(NOW, NOW) == pytest.approx(200, rel=0.1)


@pytest.mark.parametrize("idle", [None, 0.0])
def test_an_idle_night_longer_than_the_level_reaches_is_no_gap(idle: float | None) -> None:
    # Given a week of nights idle from midnight to 07:30 (no datapoint, or none invoked) before a steep morning
    # ramp: the history brings nothing either, so the night is no outage
    values, start = history(7, lambda minute: idle if (minute % DAY) / 60 < 7.5 else daily(minute))
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then the ramp is foreseen as on any day
    assert made.stands_aside is None
    assert made.peak(NOW + timedelta(minutes=61), NOW + timedelta(minutes=80)) == pytest.approx(800, rel=0.1)


@pytest.mark.parametrize("seed", range(5))
def test_a_sparse_nights_noise_is_no_gap(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given nights of a request or two a minute (Poisson at 1.5) before the morning ramp
    rng = random.Random(seed)

    def sparse(minute: int) -> float:
        if (minute % DAY) / 60 < 7.5:
            return float(sum(rng.random() < 0.015 for _ in range(100)))
        return daily(minute)

    values, start = history(7, sparse, noise=0.0)
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then no noisy minute is taken for an outage to reach past: the forecast is the one without the gap rule
    monkeypatch.setattr(forecast_module, "GAP_SHARE", 0.0)
    assert made == forecast(values, start, NOW, 0.2, 0.25)
    assert made.stands_aside is None


@pytest.mark.parametrize("seed", range(3))
def test_on_off_traffic_is_no_run_of_outages(seed: int) -> None:
    # Given traffic on at 600 a minute or off at 30, in hour-long blocks (on four in five), with no daily shape
    def on_off(minute: int) -> float:
        return 600.0 if random.Random(minute // 60 * 7 + seed).random() < 0.8 else 30.0

    values, start = history(14, on_off)
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then its off blocks are how it behaves, counted in the error (more than a tenth of the minutes): it stands
    # aside
    assert made.stands_aside is not None
    assert "error over the last day" in made.stands_aside


def test_a_lasting_drop_is_followed_once_the_days_before_show_it() -> None:
    # Given two weeks at 400 a minute that dropped to a fifth three and a half days ago, and stayed there
    values, start = history(14, lambda minute: 400.0)
    for i in range(len(values) - 7 * DAY // 2, len(values)):
        values[i] = (values[i] or 0.0) / 5
    made = forecast(values, start, NOW, 0.2, 0.25)
    # Then the daily method, whose last three days are the new level, is trusted, not the weekly one that has no
    # minute of the last day it would forecast
    assert made.stands_aside is None
    assert made.method == "daily"
    assert made.peak(NOW, NOW) == pytest.approx(80, rel=0.15)


def test_the_least_history_is_a_day_and_six_hours() -> None:
    values, start = history(1.26, lambda minute: 400.0)
    made = forecast(values, start, NOW, 0.2, 0.25)
    assert made.stands_aside is None


def test_without_busy_minutes_it_cannot_size_capacity() -> None:
    values, start = history(3)
    made = forecast(values, start, NOW, None, 0.25)
    assert made.stands_aside == "too few busy minutes to size capacity by"


def test_a_forecast_does_not_reach_past_its_minutes() -> None:
    made = DemandForecast(made_at=NOW, method="daily", error=0.1, per_minute=[10.0, 20.0, 30.0])
    assert made.peak(NOW, NOW + timedelta(minutes=1, seconds=59)) == 20.0
    assert made.peak(NOW + timedelta(seconds=150), NOW + timedelta(seconds=170)) == 30.0
    # A window it does not reach the end of is no forecast: not a shorter window, and not a stale one
    assert made.peak(NOW, NOW + timedelta(minutes=3)) is None
    assert made.peak(NOW + timedelta(minutes=3), NOW + timedelta(hours=1)) is None


def test_the_forecast_starts_with_the_minute_it_is_made_in() -> None:
    values, start = history(3)
    on_the_minute = forecast(values, start, NOW, 0.2, 0.25)
    later = forecast(values, start, NOW + timedelta(seconds=40), 0.2, 0.25)
    assert later.made_at == on_the_minute.made_at == NOW
    assert later.per_minute == on_the_minute.per_minute


def test_the_inflight_ratio_comes_from_the_busy_minutes_only() -> None:
    # Given a day where busy minutes carry 0.2 in flight per invocation per instance, idle ones 1.0 (a Maximum
    # of few requests overstates them) and queueing ones 2.0
    busy = [(4.0, 20.0)] * 40
    idle = [(1.0, 1.0)] * 100
    queued = [(40.0, 20.0)] * 30
    concurrency, per_instance = zip(*(busy + idle + queued), strict=True)
    assert inflight_ratio(concurrency, per_instance, threshold=9) == pytest.approx(0.2)
    # Fewer than 30 busy minutes: nothing to size by
    concurrency, per_instance = zip(*(busy[:29] + idle), strict=True)
    assert inflight_ratio(concurrency, per_instance, threshold=9) is None


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(0, 1e5, allow_nan=False)), min_size=0, max_size=3 * DAY),
    st.floats(0.01, 1.0),
)
def test_any_history_gives_a_forecast_or_a_reason(values: list[float | None], max_error: float) -> None:
    start = NOW - timedelta(minutes=len(values))
    made = forecast(values, start, NOW, 0.2, max_error)
    assert (made.stands_aside is None) == bool(made.per_minute)
    assert all(v >= 0 and math.isfinite(v) for v in made.per_minute)
    if made.error is not None:
        assert made.error >= 0
