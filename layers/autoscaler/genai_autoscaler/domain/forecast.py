"""Predictive pre-scaling: the demand a SageMaker target's own history says is coming, and whether to trust it.

A daily ramp comes at the same time every day: capacity added only once an alarm fires arrives one cold start too
late. The forecast reads the target's per-minute `Invocations` (CloudWatch keeps them 15 days) and predicts the
next minutes by seasonal naive methods, each scaled to the level of the last hour:

- `daily`: the same minutes on the last three days (their mean; fewer when the history is shorter);
- `weekly`: the same minutes a week before (two weeks: their mean), for traffic whose weekend differs.

Every value is the mean of five minutes around it, so that one noisy minute does not make a peak. A gap in the
traffic (an outage: minutes below a quarter of what the method expects) is not the level: the demand is expected
back as it was before it, until the gap has lasted longer than the history can see the end of; and rare gaps are
not the method's error, while gaps as common as on/off traffic's are (`GAP_SHARE`, `LEVEL_REACH`, `OUTAGE_SHARE`).
Each method is judged by its error (WAPE: the sum of absolute errors over the sum of the demand, each minute
forecast from what was known a horizon before) over up to a week, the better one kept; the forecast stands aside
when the history is too short or the kept method's error over the last day (over the hours after the first day,
while there are fewer than two) is above the policy's `max_error`: measured, not assumed. Traffic with no daily
shape (random bursts) is recognised that way and left to the reactive part. Capacity is added ahead only of a rise
larger than twice that error (a level the reactive part keeps; noise is no ramp).

Demand becomes capacity through the target's own ratio of in-flight requests to invocations, learned from the
busy minutes of its last day (ConcurrentRequestsPerModel's Maximum over InvocationsPerInstance: the same figure
that sizes a scale-in, per invocation per minute).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

DAY = 1440  # minutes
WEEK = 7 * DAY
HISTORY_DAYS = 14  # CloudWatch keeps 1-minute datapoints 15 days
# How far a forecast reaches: until the next one is made (hourly, and a run late), and the longest look-ahead
# after that (a cold start within the workflow's 20-minute InService timeout, and the policy's margin of at most
# an hour).
FORECAST_MINUTES = 180
SMOOTHING = 2  # minutes either side of a value in its mean
LEVEL_MINUTES = 60  # the recent window a method's level is scaled to
LEVEL_BOUNDS = (0.5, 2.0)
# A gap in the traffic (an outage upstream, the callers cut off): a minute whose demand is below GAP_SHARE of what
# the method expects, where it expects GAP_FLOOR invocations a minute or more (an idle minute the history also
# had idle is no gap). A gap is not the traffic's level (the bounds already refuse to believe a level below half):
# the level's hour reaches back past it, so that the demand is expected back as it was before the gap, not at
# half of it, and the capacity that serves it is not given back just as it returns. With no minute to reach within
# LEVEL_REACH, a gap is no outage the history can see the end of, and the forecast stands aside. Gaps are excused
# from the error the forecast is trusted by only while they are at most OUTAGE_SHARE of the minutes judged: rare,
# they are outages; more, they are how the traffic behaves (on/off bursts), and count as any miss.
GAP_SHARE = 0.25
GAP_FLOOR = 1.0
LEVEL_REACH = 360
OUTAGE_SHARE = 0.1
# The methods are compared on up to a week (so that a weekend is in it); the one kept is trusted by its error
# over the last day. Each as much as the history allows after the method's first lag: with less than two days of
# history, the hours after the first day.
COMPARE_MINUTES = WEEK
RECENT_MINUTES = DAY
MIN_BACKTEST_MINUTES = 360
BACKTEST_HORIZON = 15  # minutes between a backtest forecast's making and the minute it forecasts
# Busy minutes size the in-flight ratio: concurrency between these shares of the threshold (not idle, where a
# Maximum of few requests overstates the mean; not queueing, where the queue inflates it).
BUSY_SHARE = (0.3, 1.0)
MIN_BUSY_MINUTES = 30


class DemandForecast(BaseModel):
    """What the forecaster made of a target's history at `made_at`: the invocations per minute it expects from
    then on (empty when it stands aside), how far to trust them, and how to turn them into capacity."""

    model_config = ConfigDict(frozen=True)

    made_at: AwareDatetime
    method: str | None = None
    error: float | None = None  # WAPE of `method` over the last day
    per_minute: list[float] = []
    inflight_per_invocation: float | None = None  # in-flight requests per (invocation per minute)
    stands_aside: str | None = None  # why it may not be used, when it may not

    def peak(self, start: datetime, end: datetime) -> float | None:
        """The most invocations per minute expected in the minutes from `start`'s to `end`'s; None when it
        stands aside or does not reach `end` (a stale forecast is no forecast)."""
        if self.stands_aside is not None or not self.per_minute:
            return None
        first = max(0, math.floor((start - self.made_at).total_seconds() / 60))
        last = math.floor((end - self.made_at).total_seconds() / 60)
        if last >= len(self.per_minute) or last < first:
            return None
        return max(self.per_minute[first : last + 1])

    def rises(self, now: datetime, peak: float) -> bool:
        """Whether `peak` is a rise from what the forecast expects at `now` by more than its own error can
        explain: a ramp worth adding capacity ahead of, not the noise of a level."""
        start = self.peak(now, now)
        return start is not None and self.error is not None and peak > start * (1 + 2 * self.error)

    def describe(self) -> str:
        if self.stands_aside is not None:
            return f"the forecast stands aside: {self.stands_aside}"
        return f"forecast {self.method}, error {self.error:.0%} over the last day"


def _smoothed(values: Sequence[float | None]) -> list[float | None]:
    """The mean of the known values within SMOOTHING minutes of each minute (None where none is known)."""
    known = [0.0 if v is None else v for v in values]
    counts = [0 if v is None else 1 for v in values]
    total, count = sum(known[:SMOOTHING]), sum(counts[:SMOOTHING])
    out: list[float | None] = []
    for i in range(len(values)):
        if i + SMOOTHING < len(values):  # the window's new right end comes in
            total, count = total + known[i + SMOOTHING], count + counts[i + SMOOTHING]
        if i - SMOOTHING - 1 >= 0:  # its old left end goes out
            total, count = total - known[i - SMOOTHING - 1], count - counts[i - SMOOTHING - 1]
        out.append(total / count if count else None)
    return out


class _Seasonal:
    """A seasonal naive method on a smoothed history: the mean of the same minute `lags` minutes before.

    Its value for every minute from `first` to `until` (past the history's end) is computed once, with running
    sums of the minutes where both it and the demand are known and the demand is no gap (and a running count of
    the gaps), so that its level at any minute is a few subtractions and a bisection.
    """

    def __init__(
        self, name: str, smoothed: list[float | None], lags: tuple[int, ...], first: int, until: int
    ):
        self.name, self.smoothed, self.lags, self.first = name, smoothed, lags, first
        self.values: list[float | None] = []
        self._actual = [0.0]  # running sums from `first`, over the minutes the level counts
        self._predicted = [0.0]
        self._counted = [0]  # how many minutes those are
        self._gaps = [0]  # and how many gaps
        known = len(smoothed)
        for minute in range(first, until):
            past = [
                value
                for lag in lags
                if 0 <= minute - lag < known and (value := smoothed[minute - lag]) is not None
            ]
            raw = sum(past) / len(past) if past else None
            self.values.append(raw)
            actual = smoothed[minute] if minute < known else None
            gap = counts = False
            if actual is not None and raw is not None:
                gap = _is_gap(actual, raw)
                counts = not gap
            self._actual.append(self._actual[-1] + (actual if counts and actual is not None else 0.0))
            self._predicted.append(self._predicted[-1] + (raw if counts and raw is not None else 0.0))
            self._counted.append(self._counted[-1] + counts)
            self._gaps.append(self._gaps[-1] + gap)

    def value(self, minute: int) -> float | None:
        """The method's value for minute index `minute` (from `first`; it may lie past the history)."""
        return self.values[minute - self.first]

    def level(self, made: int) -> float | None:
        """The ratio of the demand to the method over the last LEVEL_MINUTES it counts before minute index
        `made` within LEVEL_REACH of it (a gap does not count), bounded; 1 with nothing to tell it by; None when
        a gap fills the whole reach."""
        end = max(self.first, made) - self.first
        reach = max(0, end - LEVEL_REACH)
        if self._counted[end] == self._counted[reach]:
            return None if self._gaps[end] > self._gaps[reach] else 1.0
        begin = bisect.bisect_right(self._counted, self._counted[end] - LEVEL_MINUTES, reach, end + 1) - 1
        begin = max(reach, begin)
        actual = self._actual[end] - self._actual[begin]
        predicted = self._predicted[end] - self._predicted[begin]
        if predicted <= 1e-9:
            return 1.0
        return min(LEVEL_BOUNDS[1], max(LEVEL_BOUNDS[0], actual / predicted))

    def error(self, now: int, window: int, *, excuse_outages: bool = False) -> float | None:
        """WAPE over the last `window` minutes (as many as the history allows after the method's first lag),
        each minute forecast BACKTEST_HORIZON minutes ahead with its level then; None when the method cannot
        forecast enough of them. With `excuse_outages`, the gaps are left out while they are rare enough to be
        outages (`OUTAGE_SHARE`); a minute deep in a gap, which the method would not forecast, never counts."""
        errors = total = gap_errors = gap_total = 0.0
        counted = gaps = 0
        for minute in range(
            max(self.first + BACKTEST_HORIZON + LEVEL_MINUTES, now - window, self.lags[0]), now
        ):
            actual, raw = self.smoothed[minute], self.value(minute)
            if actual is None or raw is None:
                continue
            level = self.level(max(0, minute - BACKTEST_HORIZON))
            if level is None:
                continue
            counted += 1
            if _is_gap(actual, raw):
                gaps += 1
                gap_errors += abs(level * raw - actual)
                gap_total += actual
                continue
            errors += abs(level * raw - actual)
            total += actual
        if counted < MIN_BACKTEST_MINUTES:
            return None
        if not (excuse_outages and gaps <= OUTAGE_SHARE * counted):
            errors, total = errors + gap_errors, total + gap_total
        if total <= 0:
            return None
        return errors / total


def _is_gap(actual: float, expected: float) -> bool:
    """Whether a minute's demand is a gap in the traffic against what a method expected of it."""
    return expected >= GAP_FLOOR and actual < GAP_SHARE * expected


def forecast(
    invocations: Sequence[float | None],
    history_start: datetime,
    now: datetime,
    inflight_per_invocation: float | None,
    max_error: float,
) -> DemandForecast:
    """The forecast from `invocations` (per minute from `history_start`, a minute's start; None where no
    datapoint) made at `now`: the better of the seasonal methods the history allows, or standing aside saying
    why. Its first value is for the minute `now` is in."""
    made = math.floor((now - history_start).total_seconds() / 60)
    smoothed = _smoothed(list(invocations)[:made])
    smoothed += [None] * (made - len(smoothed))
    known_days = sum(v is not None for v in smoothed) / DAY
    aside = DemandForecast(
        made_at=history_start + timedelta(minutes=made), inflight_per_invocation=inflight_per_invocation
    )
    needed_days = 1 + MIN_BACKTEST_MINUTES / DAY
    if known_days < needed_days:
        return aside.model_copy(
            update={
                "stands_aside": f"{known_days:.1f} days of history; it needs {needed_days:g} (a day to learn "
                f"from, {MIN_BACKTEST_MINUTES // 60} hours to check it on)"
            }
        )
    # Each method's values from where the oldest backtest's level begins to the end of the forecast.
    first = max(0, made - COMPARE_MINUTES - BACKTEST_HORIZON - LEVEL_REACH)
    until = made + FORECAST_MINUTES
    methods = [_Seasonal("daily", smoothed, (DAY, 2 * DAY, 3 * DAY), first, until)]
    if known_days >= 8:
        methods.append(_Seasonal("weekly", smoothed, (WEEK, 2 * WEEK), first, until))
    # Compared over the same stretch, up to a week, where every method can forecast (a minute deep in a gap is
    # none's); the better one with enough minutes of the last day to be trusted by is kept.
    window = min(COMPARE_MINUTES, made - max(method.lags[0] for method in methods))
    judged = [
        (error, recent, method)
        for method in methods
        if (error := method.error(made, window)) is not None
        and (recent := method.error(made, RECENT_MINUTES, excuse_outages=True)) is not None
    ]
    if not judged:
        return aside.model_copy(update={"stands_aside": "too few minutes of the last day to judge it by"})
    _, error, best = min(judged, key=lambda judgement: judgement[0])
    aside = aside.model_copy(update={"method": best.name, "error": error})
    if error > max_error:
        return aside.model_copy(
            update={"stands_aside": f"its error over the last day ({error:.0%}) is above {max_error:.0%}"}
        )
    if inflight_per_invocation is None:
        return aside.model_copy(update={"stands_aside": "too few busy minutes to size capacity by"})
    level = best.level(made)
    if level is None:
        return aside.model_copy(
            update={
                "stands_aside": f"a gap in the traffic: {LEVEL_REACH // 60} hours and more below "
                f"{GAP_SHARE:.0%} of what its history brings"
            }
        )
    per_minute = [level * (best.value(made + k) or 0.0) for k in range(FORECAST_MINUTES)]
    return aside.model_copy(update={"per_minute": [round(v, 3) for v in per_minute]})


def inflight_ratio(
    concurrency: Sequence[float | None], per_instance: Sequence[float | None], threshold: float
) -> float | None:
    """In-flight requests per (invocation per minute): the median over the busy minutes of concurrency
    (per-minute Maximum) over invocations per instance; None with fewer than MIN_BUSY_MINUTES of them."""
    ratios = [
        c / i
        for c, i in zip(concurrency, per_instance, strict=False)
        if c is not None and i and BUSY_SHARE[0] * threshold <= c <= BUSY_SHARE[1] * threshold
    ]
    return statistics.median(ratios) if len(ratios) >= MIN_BUSY_MINUTES else None


def history_window(now: datetime) -> tuple[datetime, datetime]:
    """The whole minutes a forecast made at `now` reads: HISTORY_DAYS back to the last whole minute."""
    end = now.replace(second=0, microsecond=0)
    return end - timedelta(days=HISTORY_DAYS), end
