"""The demand trend a scale-out is sized across: a ramp shows in it, a step that has just happened or a blip
does not, and what it projects stays within bounds."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from genai_autoscaler.domain.demand import MAX_GROWTH, PUBLISH_DELAY_MINUTES, DemandTrend, requests_per_minute
from hypothesis import given
from hypothesis import strategies as st


def test_a_steady_ramp_is_projected_one_cold_start_ahead() -> None:
    # Given invocations rising by 10 a minute from 100, the last minute's middle 30 s ago
    trend = DemandTrend(tuple(100.0 + 10 * i for i in range(10)), age_seconds=30)
    # Then the slope is the ramp's, and 6 minutes on (+ the 30 s) it expects 190 + 65 = 255 of 190
    assert trend.slope == pytest.approx(10.0)
    assert trend.growth(360) == pytest.approx(255 / 190)


@pytest.mark.parametrize(
    "per_minute",
    [
        (100.0,) * 7 + (500.0,) * 3,  # a 5x step three minutes ago: the concurrency already sized it
        (0.0,) * 4 + (500.0,) * 6,  # a burst's onset six minutes ago: a level reached, no ramp
        # a ramp that has levelled off
        tuple(float(v) for v in (100, 200, 300, 400, 500, 500, 500, 500, 500, 500)),
        (100.0,) * 9 + (900.0,),  # one busy minute
        tuple(float(v) for v in (300, 280, 260, 240, 220, 200, 180, 160, 140, 120)),  # falling
        (0.0,) * 10,  # idle
    ],
    ids=["step", "burst onset", "levelled", "blip", "falling", "idle"],
)
def test_what_is_not_a_ramp_is_not_grown_for(per_minute: tuple[float, ...]) -> None:
    assert DemandTrend(per_minute).growth(600) == 1.0


def test_a_level_is_judged_only_on_three_later_minutes_or_more() -> None:
    # Four minutes known: their later half (two) is one difference, as noisy as a minute; the slope stands
    assert DemandTrend((None,) * 6 + (100.0, 150.0, 160.0, 160.0)).growth(360) > 1.0
    # Ten: a later half that no longer rises is a level reached
    assert DemandTrend((100.0,) * 4 + (150.0, 160.0) + (160.0,) * 4).growth(360) == 1.0


def test_too_few_minutes_say_nothing() -> None:
    assert DemandTrend((10.0, 20.0, 30.0)).slope is None
    assert DemandTrend((10.0, 20.0, 30.0)).growth(600) == 1.0


def test_a_steep_ramp_is_grown_for_at_most_max_growth() -> None:
    assert DemandTrend(tuple(10.0 * 2**i for i in range(10))).growth(600) == MAX_GROWTH


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=0, max_size=15),
    st.floats(0, 3600),
    st.floats(0, 600),
)
def test_growth_is_never_below_one_nor_above_the_cap(
    per_minute: list[float], horizon: float, age: float
) -> None:
    growth = DemandTrend(tuple(per_minute), age).growth(horizon)
    assert 1.0 <= growth <= MAX_GROWTH


def test_a_minute_without_a_datapoint_is_a_gap_not_a_neighbour() -> None:
    # Given a ramp of 10 a minute with two minutes missing
    ramp = [100.0 + 10 * i for i in range(10)]
    ramp[3] = ramp[6] = None  # type: ignore[call-overload]
    trend = DemandTrend(tuple(ramp), age_seconds=30)
    # Then the slope is still the ramp's (closing the gaps would make it 10 x 9 / 7)
    assert trend.slope == pytest.approx(10.0)


def test_a_minute_without_invocations_after_the_first_datapoint_had_no_requests() -> None:
    # Given per-minute Invocations: nothing before the target's first datapoint, a lull, and no figure yet for
    # the last two minutes
    read = [None, None, 40.0, None, None, 35.0, None, None, None]
    # Then the lull and the minutes after the last datapoint had no requests; the minutes before the first, and
    # those CloudWatch may not have published yet, stay unknown
    assert PUBLISH_DELAY_MINUTES == 2
    assert requests_per_minute(read) == [None, None, 40.0, 0.0, 0.0, 35.0, 0.0, None, None]
    # And a read without any datapoint says nothing
    assert requests_per_minute([None] * 5) == [None] * 5


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e6)), max_size=40))
def test_requests_per_minute_only_fills_what_the_metric_leaves_out(read: list[float | None]) -> None:
    filled = requests_per_minute(read)
    assert len(filled) == len(read)
    first = next((i for i, v in enumerate(read) if v is not None), len(read))
    for i, (was, now) in enumerate(zip(read, filled, strict=True)):
        if was is not None:
            assert now == was  # a datapoint is never changed
        elif first < i < len(read) - PUBLISH_DELAY_MINUTES:
            assert now == 0.0
        else:
            assert now is None
    assert requests_per_minute(filled) == filled  # once is enough


def test_a_ramp_rises_beyond_its_noise_and_noise_does_not() -> None:
    # A ramp of 10 a minute under noise of +-15 still rises (Mann-Kendall at 95%)
    wobble = (15.0, -15.0, 5.0, -10.0, 15.0, -5.0, 0.0, -15.0, 10.0, 5.0)
    assert DemandTrend(tuple(100.0 + 10 * i + w for i, w in enumerate(wobble))).rising
    # The same noise on a level does not; nor does a step midway (a burst: its whole window has a slope, its halves
    # none), a fall, an idle target, or too few minutes
    assert not DemandTrend(tuple(100.0 + w for w in wobble)).rising
    step = DemandTrend((0.0,) * 5 + (600.0,) * 5)
    assert (step.slope or 0.0) > 0
    assert not step.rising
    assert not DemandTrend(tuple(300.0 - 20 * i for i in range(10))).rising
    assert not DemandTrend((0.0,) * 10).rising
    assert not DemandTrend((10.0, 20.0, 30.0)).rising
    assert not DemandTrend(tuple(100.0 + 10 * i for i in range(7))).rising  # a ramp, but 7 minutes of it


def test_tied_minutes_are_weighed_as_mann_kendall_weighs_ties() -> None:
    # Given ten minutes of a few requests each, rising slowly, many of them equal: 1 once, 2 five times, 3 four
    minutes = (1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 3.0, 2.0, 3.0, 3.0)
    # Then 19 more pairs rise than fall; untied, the variance would be 10 x 9 x 25 / 18 = 125 (z = 18 / 11.18 =
    # 1.61, no rise at 95%); its ties take 5 x 4 x 15 + 4 x 3 x 13 = 456 off before the division: 99.67, z = 1.80,
    # a rise (and each half of the minutes rises at half the whole's slope)
    assert DemandTrend(minutes).rising


@given(st.lists(st.floats(0, 1e6), min_size=0, max_size=14))
def test_minutes_that_never_rise_never_pass_for_a_ramp(values: list[float]) -> None:
    falling = tuple(sorted(values, reverse=True))
    assert not DemandTrend(falling).rising


def test_a_noisy_step_midway_is_seldom_a_ramp_and_a_noisy_ramp_mostly_is() -> None:
    # 5% noise on a step from 300 to 600 a minute at minutes 3 to 6 of ten, and on a ramp of 20 a minute from 300
    rng = random.Random(1)

    def share(values: Callable[[int], float]) -> float:
        draws = [
            DemandTrend(tuple(values(i) * (1 + rng.gauss(0, 0.05)) for i in range(10))).rising
            for _ in range(500)
        ]
        return sum(draws) / len(draws)

    for at in range(3, 7):
        assert share(lambda i, at=at: 300.0 if i < at else 600.0) < 0.1
    assert share(lambda i: 300.0 + 20 * i) > 0.8


def test_flat_demand_holds_and_a_fall_does_not() -> None:
    rng = np.random.default_rng(7)

    def held(*levels: tuple[float, int]) -> float:
        """The share of 2,000 draws of Poisson minutes at `levels` (rate, minutes), in order, that hold."""
        draws = [
            DemandTrend(tuple(float(v) for rate, n in levels for v in rng.poisson(rate, n))).held
            for _ in range(2000)
        ]
        return sum(draws) / len(draws)

    # Flat minutes hold nearly always, Poisson or burstier (10% of the level as noise on top), ten or thirty
    assert held((300, 10)) >= 0.95
    assert held((300, 31)) >= 0.9
    burstier = [
        DemandTrend(tuple(float(v) for v in rng.poisson(np.clip(rng.normal(300, 30, 31), 0, None)))).held
        for _ in range(2000)
    ]
    assert sum(burstier) / len(burstier) >= 0.8
    # A fall of two fifths at 300 or 100 a minute, of four fifths at a dozen, three minutes ago: seldom
    assert held((300, 7), (180, 3)) <= 0.01
    assert held((100, 7), (60, 3)) <= 0.1
    assert held((12, 7), (2.4, 3)) <= 0.15
    # ... and after twenty minutes at the level, a fall of a fifth at 300 a minute, ten minutes ago: never
    assert held((300, 20), (240, 10)) <= 0.02
    # A burst that ended (600 a minute, then 300) does not; nor a slow fall of 5% a minute
    assert not DemandTrend((600.0,) * 6 + (300.0,) * 4).held
    assert not DemandTrend(tuple(600.0 * 0.95**i for i in range(10))).held
    # Nor too few minutes, or too few requests, to tell: 16 a minute falling to none is no hold
    assert not DemandTrend((300.0,) * 7).held
    assert not DemandTrend((16.0,) * 7 + (0.0,) * 3).held
    assert not DemandTrend((12.0,) * 7 + (1.0,) * 3).held
