"""The synthetic shapes: the same seed gives the same trace, and each has the property it is there for."""

from __future__ import annotations

import re

import numpy as np
import pytest
from genai_autoscaler_tools.sim.shapes import DAY, SHAPES, day_profile, shape
from genai_autoscaler_tools.sim.traces import RateSeries, RequestLog

PEAK = 10.0


def rates(name: str, seed: int = 0) -> RateSeries:
    trace = shape(name, PEAK, seed).trace
    assert isinstance(trace, RateSeries)
    return trace


@pytest.mark.parametrize("name", SHAPES)
def test_a_shape_is_the_same_for_the_same_seed_only(name: str) -> None:
    def values(seed: int) -> np.ndarray:
        trace = shape(name, PEAK, seed).trace
        return trace.arrivals if isinstance(trace, RequestLog) else trace.rates

    assert np.array_equal(values(3), values(3))
    assert not np.array_equal(values(3), values(4))


def test_the_diurnal_day_has_an_idle_night_a_steep_morning_ramp_and_its_peak_in_the_evening() -> None:
    trace = rates("diurnal")
    hour = (trace.starts % DAY) / 3600
    assert trace.duration == 2 * DAY
    assert trace.rates[hour < 7].mean() < 0.05 * PEAK
    # 2% to 80% of the peak within the half hour of the morning ramp
    assert day_profile(np.array([7.5 * 3600])) == pytest.approx(0.02)
    assert day_profile(np.array([8.0 * 3600])) == pytest.approx(0.8)
    assert 19.9 < hour[np.argmax(day_profile(trace.starts))] < 20.1


def test_the_step_is_five_times_the_load_before_it() -> None:
    trace = rates("step")
    before, during = trace.rates[60:120].mean(), trace.rates[150:240].mean()
    assert during / before == pytest.approx(5, rel=0.05)


def test_bursts_alternate_with_silence() -> None:
    trace = rates("bursts")
    on = trace.rates > 0
    assert 0.1 < on.mean() < 0.6
    assert trace.rates[on].mean() == pytest.approx(PEAK, rel=0.05)
    switches = np.count_nonzero(np.diff(on.astype(int)))
    assert switches >= 10


def test_long_context_prompts_are_about_twelve_thousand_tokens_with_an_slo_that_allows_them() -> None:
    generated = shape("long_context", PEAK, 0)
    assert isinstance(generated.trace, RequestLog)
    assert generated.trace.input_tokens is not None
    assert 11_000 < np.median(generated.trace.input_tokens) < 13_000
    assert generated.endpoint.slo_ttft_s == 10.0


def test_the_weekly_drift_grows_over_the_week_and_dips_at_the_weekend() -> None:
    trace = rates("weekly_drift")
    day = (trace.starts // DAY).astype(int)
    daily = np.array([trace.rates[day == d].mean() for d in range(7)])
    assert daily[4] > daily[0] * 1.1  # Friday above Monday: the drift
    assert daily[5] < 0.7 * daily[4]  # Saturday's dip


@pytest.mark.parametrize(
    ("name", "peak", "problem"),
    [
        ("sideways", 1.0, "unknown shape 'sideways'"),
        ("step", 0.0, "must be positive"),
        ("step", float("nan"), "nan"),
    ],
    ids=["unknown shape", "no peak", "peak not a number"],
)
def test_a_shape_that_cannot_be_made_is_refused_by_name(name: str, peak: float, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        shape(name, peak, 0)


def test_the_weekly_drift_peaks_at_the_peak_asked_for_on_friday_evening() -> None:
    trace = rates("weekly_drift", seed=5)
    friday_evening = (trace.starts >= 4 * DAY + 20 * 3600) & (trace.starts < 4 * DAY + 20 * 3600 + 600)
    assert trace.rates[friday_evening].mean() == pytest.approx(PEAK, rel=0.08)


def test_every_burst_lasts_two_minutes_at_least() -> None:
    for seed in range(200):
        on = rates("bursts", seed).rates > 0
        edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(int), [0]))))
        assert (np.diff(edges)[::2] >= 2).all(), seed
