"""Predictive pre-scaling: the demand a SageMaker target's own history says is coming, and whether to trust it.

A daily ramp comes at the same time every day: capacity added only once an alarm fires arrives one cold start too
late. The forecast reads the target's per-minute `Invocations` (CloudWatch keeps them 15 days) and predicts the
next minutes by seasonal naive methods, each scaled to the level of the last hour:

- `daily`: the same minutes on the last three days (their mean; fewer when the history is shorter);
- `weekly`: the same minutes a week before (two weeks: their mean), for traffic whose weekend differs.

Every value is the mean of five minutes around it, so that one noisy minute does not make a peak. An outage is no
level: after a gap in the traffic, the forecast is issued at the level of the traffic before it (`GAP_SHARE`,
`LEVEL_REACH`); the method is judged as it always forecast. Each method is judged by its error (WAPE: the sum of
absolute errors over the sum of the demand, each minute forecast from what was known a horizon before) over up to
a week, the better one kept; the forecast stands aside when the history is too short or the kept method's error
over the last day (over the hours after the first day, while there are fewer than two) is above the policy's
`max_error`: measured, not assumed. Traffic with no daily shape (random bursts) is recognised that way and left to
the reactive part. Capacity is added ahead only of a rise larger than twice that error (a level the reactive part
keeps; noise is no ramp).

Demand becomes capacity through the target's own ratio of in-flight requests to invocations, learned from the
busy minutes of its last day (ConcurrentRequestsPerModel's Maximum over InvocationsPerInstance: the same figure
that sizes a scale-in, per invocation per minute).
"""

from __future__ import annotations

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
# A gap in the traffic (an outage upstream, the callers cut off): a minute of the history below GAP_SHARE of what
# every one of the method's lagged minutes brought (or without a datapoint: CloudWatch publishes none for a
# minute without an invocation), where each brought GAP_FLOOR invocations a minute or more. An idle or sparse
# night is no gap (a five-minute mean of Poisson arrivals at 5 a minute falls below a quarter of it about once in
# 160,000 minutes), nor a day ending at another hour than one of the days before. The level a forecast is issued
# at, when the last hour holds a gap, is that of the last LEVEL_MINUTES of traffic within LEVEL_REACH before it:
# the demand is expected back as it was before the gap, and the capacity that serves it is not given back to
# half of it just as it returns. A gap that fills the reach is taken for the level (bounded), as any hour is. A
# day far quieter than every one of the days before (a holiday, a weekend the daily method does not know) is
# taken for an outage for up to six hours: capacity held, no request lost. The method is still judged, chosen
# and trusted as it always forecast (`_Seasonal.level`): a gap changes what is expected after it, never how far
# the forecast is trusted.
GAP_SHARE = 0.25
GAP_FLOOR = 5.0
LEVEL_REACH = 360
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
    sums of the minutes where both it and the demand are known, so that its level at any minute is two
    subtractions.
    """

    def __init__(
        self, name: str, smoothed: list[float | None], lags: tuple[int, ...], first: int, until: int
    ):
        self.name, self.smoothed, self.lags, self.first = name, smoothed, lags, first
        self.values: list[float | None] = []
        self._actual = [0.0]  # running sums from `first`, over the minutes where both are known
        self._predicted = [0.0]
        known = len(smoothed)
        for minute in range(first, until):
            past = self._lagged(minute)
            raw = sum(past) / len(past) if past else None
            self.values.append(raw)
            actual = smoothed[minute] if minute < known else None
            counted = (actual, raw) if actual is not None and raw is not None else (0.0, 0.0)
            self._actual.append(self._actual[-1] + counted[0])
            self._predicted.append(self._predicted[-1] + counted[1])

    def _lagged(self, minute: int) -> list[float]:
        """The known values of the history `lags` minutes before minute index `minute`."""
        known = len(self.smoothed)
        return [
            value
            for lag in self.lags
            if 0 <= minute - lag < known and (value := self.smoothed[minute - lag]) is not None
        ]

    def value(self, minute: int) -> float | None:
        """The method's value for minute index `minute` (from `first`; it may lie past the history)."""
        return self.values[minute - self.first]

    def level(self, made: int) -> float:
        """The ratio of the demand to the method over the LEVEL_MINUTES before minute index `made`, bounded."""
        begin = max(self.first, made - LEVEL_MINUTES) - self.first
        end = max(self.first, made) - self.first
        return _bounded_level(
            self._actual[end] - self._actual[begin], self._predicted[end] - self._predicted[begin]
        )

    def level_past_gaps(self, made: int) -> float:
        """The level a forecast made at minute index `made` is issued at: over the last LEVEL_MINUTES of traffic
        within LEVEL_REACH before it, past any gap; the plain `level` where the last hour holds no gap, or the
        reach no traffic (a gap that long is taken for the level)."""
        end = max(self.first, made)
        if not any(self._gap(minute) for minute in range(max(self.first, end - LEVEL_MINUTES), end)):
            return self.level(made)
        actual = predicted = 0.0
        counted = 0
        for minute in range(end - 1, max(self.first, end - LEVEL_REACH) - 1, -1):  # the newest first
            demand, raw = self.smoothed[minute], self.value(minute)
            if demand is None or raw is None or raw < GAP_FLOOR or self._gap(minute):
                continue  # no traffic: a gap, or a minute the method expects next to nothing of
            actual, predicted, counted = actual + demand, predicted + raw, counted + 1
            if counted == LEVEL_MINUTES:
                break
        return _bounded_level(actual, predicted) if counted else self.level(made)

    def _gap(self, minute: int) -> bool:
        """Whether minute index `minute` of the history is a gap in the traffic: far below what every one of the
        lagged minutes brought, or without a datapoint once they brought traffic (CloudWatch publishes none for
        a minute without an invocation)."""
        if minute >= len(self.smoothed):
            return False
        past = self._lagged(minute)
        if len(past) < len(self.lags) or min(past) < GAP_FLOOR:
            return False
        actual = self.smoothed[minute]
        return actual is None or actual < GAP_SHARE * min(past)

    def error(self, now: int, window: int) -> float | None:
        """WAPE over the last `window` minutes (as many as the history allows after the method's first lag),
        each minute forecast BACKTEST_HORIZON minutes ahead with its level then; None when the method cannot
        forecast enough of them."""
        errors = total = 0.0
        counted = 0
        for minute in range(
            max(self.first + BACKTEST_HORIZON + LEVEL_MINUTES, now - window, self.lags[0]), now
        ):
            actual, raw = self.smoothed[minute], self.value(minute)
            if actual is None or raw is None:
                continue
            errors += abs(self.level(max(0, minute - BACKTEST_HORIZON)) * raw - actual)
            total += actual
            counted += 1
        if counted < MIN_BACKTEST_MINUTES or total <= 0:
            return None
        return errors / total


def _bounded_level(actual: float, predicted: float) -> float:
    """The demand over what a method predicted of it, within LEVEL_BOUNDS; 1 with nothing predicted."""
    if predicted <= 1e-9:
        return 1.0
    return min(LEVEL_BOUNDS[1], max(LEVEL_BOUNDS[0], actual / predicted))


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
    first = max(0, made - COMPARE_MINUTES - BACKTEST_HORIZON - LEVEL_MINUTES)
    until = made + FORECAST_MINUTES
    methods = [_Seasonal("daily", smoothed, (DAY, 2 * DAY, 3 * DAY), first, until)]
    if known_days >= 8:
        methods.append(_Seasonal("weekly", smoothed, (WEEK, 2 * WEEK), first, until))
    # Compared on the same minutes: those every method can forecast, up to a week.
    window = min(COMPARE_MINUTES, made - max(method.lags[0] for method in methods))
    judged = [(error, method) for method in methods if (error := method.error(made, window)) is not None]
    best = min(judged, key=lambda pair: pair[0])[1] if judged else None
    error = best.error(made, RECENT_MINUTES) if best is not None else None
    if best is None or error is None:
        return aside.model_copy(update={"stands_aside": "too few minutes of the last day to judge it by"})
    aside = aside.model_copy(update={"method": best.name, "error": error})
    if error > max_error:
        return aside.model_copy(
            update={"stands_aside": f"its error over the last day ({error:.0%}) is above {max_error:.0%}"}
        )
    if inflight_per_invocation is None:
        return aside.model_copy(update={"stands_aside": "too few busy minutes to size capacity by"})
    level = best.level_past_gaps(made)
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
