"""The scale-in window a target's own history asks for: traffic that falls and stays down is followed down after
the cooldown, traffic whose lulls end in a burst keeps what the lulls need, and what cannot be told keeps the
policy's window, which is never lengthened."""

from __future__ import annotations

import numpy as np
import pytest
from genai_autoscaler.domain.returns import (
    MIN_HISTORY_MINUTES,
    _sliding_max,
    caught_short,
    measure_window,
    trailing_means,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.builders import NOW

WINDOW, COOLDOWN, COLD_START, UTILIZATION = 1800, 600, 346.0, 0.9


def measured(per_minute: list[float | None]) -> int | None:
    window = measure_window(per_minute, NOW, WINDOW, COOLDOWN, COLD_START, UTILIZATION)
    return None if window is None else window.seconds


def poisson(levels: list[float], seed: int = 0) -> list[float | None]:
    return [float(v) for v in np.random.default_rng(seed).poisson(levels)]


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_load_and_a_fall_that_stays_down_are_followed_after_the_cooldown(seed: int) -> None:
    # A day at 240 requests a minute (Poisson): nothing falls, so nothing comes back
    assert measured(poisson([240.0] * 1440, seed)) == COOLDOWN
    # Six hours with a 5x step up at 2 h and back down at 4 h: the fall stays down
    step = [1200.0 if 120 <= m < 240 else 240.0 for m in range(360)]
    assert measured(poisson(step, seed)) == COOLDOWN


@pytest.mark.parametrize(("on", "off"), [(10, 20), (5, 15), (15, 12)])
def test_bursts_keep_a_window_as_long_as_their_lulls(on: int, off: int) -> None:
    # On/off bursts: `on` minutes at 1,000 a minute, `off` minutes nearly idle, all day
    bursts = [1000.0 if m % (on + off) < on else 5.0 for m in range(1440)]
    window = measured(poisson(bursts))
    # A window shorter than a lull would scale in during it and be caught short by the next burst; the
    # policy's 30 minutes are more than these lulls need
    assert window is not None
    assert off * 60 <= window < WINDOW


def test_a_lull_longer_than_the_policys_window_does_not_lengthen_it() -> None:
    bursts = [1000.0 if m % 60 < 10 else 5.0 for m in range(1440)]  # 50-minute lulls
    assert measured(poisson(bursts)) == WINDOW


def test_too_little_history_or_no_room_below_the_window_measures_nothing() -> None:
    assert measured(poisson([240.0] * (MIN_HISTORY_MINUTES - 1))) is None
    assert measured([None] * 1440) is None
    flat = poisson([240.0] * 1440)
    assert measure_window(flat, NOW, 600, 600, COLD_START, UTILIZATION) is None
    assert measure_window(flat, NOW, 300, 0, COLD_START, UTILIZATION) is None
    # A minute without a datapoint had no invocations: a flat day with one minute in two missing is a load that
    # comes back every other minute, well within any window
    assert measured([v if i % 2 else None for i, v in enumerate(flat)]) == COOLDOWN


def test_idle_minutes_without_datapoints_are_lulls_all_the_same() -> None:
    # Twelve flat hours, then twelve of 10-minute bursts between 20 idle minutes that publish no datapoint
    day = poisson([240.0] * 720 + [1000.0 if m % 30 < 10 else 0.0 for m in range(720)])
    gappy = [v if i < 720 or v else None for i, v in enumerate(day)]
    window = measured(gappy)
    assert window == measured(day)
    assert window is not None
    assert window >= 20 * 60


def test_demand_that_comes_back_within_the_window_keeps_it_exactly() -> None:
    # 50-minute lulls, and a policy window of 1,799 s: the measure keeps the window as it is, not 29 minutes
    bursts = poisson([1000.0 if m % 60 < 10 else 5.0 for m in range(1440)])
    window = measure_window(bursts, NOW, 1799, COOLDOWN, COLD_START, UTILIZATION)
    assert window is not None
    assert (window.seconds, window.policy_window_seconds) == (1799, 1799)


def test_a_minute_is_judged_by_the_minutes_up_to_it() -> None:
    assert trailing_means([1.0, 2.0, None, 4.0, 5.0, 6.0], 3) == [1.0, 1.5, 1.5, 3.0, 4.5, 5.0]
    assert trailing_means([None, None], 2) == [None, None]


def test_the_window_says_why() -> None:
    window = measure_window(poisson([240.0] * 1440), NOW, WINDOW, COOLDOWN, COLD_START, UTILIZATION)
    assert window is not None
    assert window.measured_at == NOW
    assert window.why.startswith("over its last 24 h, a 10-minute window would have been caught short")


def test_a_return_is_a_rise_beyond_the_band_within_the_cold_start() -> None:
    # 100, then 60 for 10 minutes, then 105: sized to the last 5 minutes (60), the return to 105 is beyond
    # 60 / 0.9 within 3 minutes; sized to the last 15 (100), it is within the band
    series: list[float | None] = [100.0] * 10 + [60.0] * 10 + [105.0] * 10
    short5, judged5 = caught_short(series, 5, 3, 1 / 0.9)
    short15, judged15 = caught_short(series, 15, 3, 1 / 0.9)
    assert (short5, judged5) == (3, 23)  # minutes 17, 18, 19 see 105 coming
    assert (short15, judged15) == (0, 13)


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)), max_size=60),
    st.integers(1, 12),
)
def test_the_sliding_maximum_is_the_maximum_of_each_complete_run(
    values: list[float | None], width: int
) -> None:
    got = _sliding_max(values, width)
    for i in range(len(values)):
        run = values[i - width + 1 : i + 1] if i >= width - 1 else []
        expected = max(v for v in run if v is not None) if run and None not in run else None
        assert got[i] == expected


@given(st.lists(st.floats(0, 5000, allow_nan=False), min_size=MIN_HISTORY_MINUTES, max_size=400))
def test_the_window_is_never_longer_than_the_policys_nor_shorter_than_the_cooldown(
    values: list[float],
) -> None:
    window = measured(list(values))
    assert window is None or COOLDOWN <= window <= WINDOW
