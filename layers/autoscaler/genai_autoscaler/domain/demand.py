"""A SageMaker target's demand as its invocations show it: how fast it is growing, and what that means for a
scale-out that takes one cold start to serve.

While an endpoint is Updating, SageMaker refuses another change: the capacity a scale-out asks for is all the
target gets until the new instances serve. So the first scale-out is sized for the demand one cold start
ahead, from the trend of the per-minute `Invocations` (which, unlike concurrency, does not swell with the queue
of a fleet that is short). The trend is the Theil-Sen slope (the median of the pairwise slopes) of the last
minutes: a ramp shows in it, a step that has just happened only partly (most pairs lie on either side of it,
and the concurrency it raised already says how far off the fleet is; on Poisson-noisy minutes a 5x step three
minutes old is still grown 1.74x on average, an over-size the next scale-in gives back). Nor is a level reached
within the minutes (a step or a burst's onset some minutes back, a ramp that has levelled off) projected: the
later half of the minutes (three at least) must still rise at half the whole's slope. The price, on
Poisson-noisy minutes (seeded draws): a ramp from 300 to 600 a minute over the ten is refused 1.3% of the time,
a shallow one (300 to 360, a growth of about 1.1x) 28%; a refused ramp is sized for today's demand, and its
alarm asks again one cold start later.

A calm target is also scaled out ahead of a ramp its alarms have not yet caught, but only on a rise that the
minutes show beyond their noise: the Mann-Kendall test (the pairs of minutes that rise against those that fall,
against what chance would give) at 95%, one-sided, and a Theil-Sen slope of at least half the whole's in each half
of the minutes, so that a step or a burst (from one level to another: the whole window's slope sees a ramp in it)
is not taken for one. Noise alone passes rarely, and then only grows a scale-out the concurrency already nearly
asks for.

And whether the demand has held since a scale-out (`DemandTrend.held`): capacity the demand never came to use is
given back sooner than capacity it used and left (see `sagemaker_scale_in.stabilization`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations, pairwise

# The minutes of Invocations the trend is read from: long enough that a one-off jump does not pass for a ramp.
TREND_MINUTES = 10
# The last minutes read that CloudWatch may not have published yet (a minute's figure comes a minute or so after
# it ends): without a datapoint, they are unknown, not idle.
PUBLISH_DELAY_MINUTES = 2
# How far before its minutes a trend reads, so that the minutes of a lull after the target's last request within
# it read as none, not as unknown. After a longer lull they are unknown, and a burst's first minutes are read
# alone: their noise can then pass for a ramp and grow a scale-out (at most MAX_GROWTH: capacity, not requests).
# Each minute's read reaches back this far, in the simulator too: an hour covers the lulls of bursty traffic.
IDLE_LOOKBACK = timedelta(hours=1)
# The least minutes with datapoints for a trend: fewer say nothing about one.
MIN_TREND_POINTS = 4
# The least minutes with datapoints for a calm target's rise: a scale-out before any alarm wants most of the
# trend's minutes behind it, not a few that may be a new target's first.
MIN_RISE_POINTS = 8
# The most a scale-out is grown for what the trend projects: a guess beyond that is not evidence.
MAX_GROWTH = 2.0
# The least minutes in the later half of a trend that can say a level has been reached within it: fewer are one
# or two differences, as noisy as the minutes themselves.
MIN_LEVEL_POINTS = 3
# Mann-Kendall's one-sided z for a rise at 95%: a trend that passes is a ramp, not the minutes' noise.
RISE_Z = 1.645
# Each half of a ramp's minutes rises at this share of the whole's slope at least: a step between two levels,
# noisy or not, puts nearly all the rise in one half.
RISE_SHARE = 0.5
# Whether the demand still stands where it was at its busiest: the mean of the last HELD_MINUTES minutes no more
# than HELD_SIGMAS of the minutes' standard deviations below the busiest minute. The deviation is measured from
# the minutes themselves (the median of the changes from one minute to the next, which a fall between two levels
# moves little), and is never taken below a Poisson count's (requests arrive independently at best): real
# traffic is often burstier, and a fixed Poisson bound would take its noise for a fall. The busiest of ten to
# thirty flat minutes stands about two deviations above their mean, so flat demand holds nearly always (85% to 99%
# of seeded draws, Poisson or burstier, ten minutes or thirty), and a fall of more than a few deviations does not
# (two fifths at 300 a minute, three minutes ago: under 1%; measured in tests/unit/test_demand.py). Too few
# requests to tell (a bound at or below zero) is no hold.
HELD_MINUTES = 3
HELD_SIGMAS = 3.0
# The median of |X - Y| for two independent normal draws, in standard deviations: sqrt(2) x 0.6745.
_MEDIAN_ABS_CHANGE = 0.954
# Before the controller has timed one of the target's scale-outs: AWS quotes 5 to 10 minutes for an LLM endpoint.
DEFAULT_COLD_START_SECONDS = 600.0


def requests_per_minute(per_minute: Sequence[float | None]) -> list[float | None]:
    """A SageMaker target's per-minute `Invocations` (oldest first, the last one the minute just ended) as its
    requests per minute. SageMaker sends the metric with each request (the API reference's ScalingPolicyMetric),
    so CloudWatch holds no datapoint for a minute without one: once the target has published a datapoint, a
    later minute without one had no invocations (0). Unknown (None) stay the minutes before its first datapoint
    (a target not yet created, or idle since before them) and the last PUBLISH_DELAY_MINUTES (CloudWatch may not
    have published them yet). An inference component at zero copies turns requests away as
    NoCapacityInvocationFailures, which Invocations does not count: those minutes read as none too."""
    first = next((i for i, value in enumerate(per_minute) if value is not None), None)
    settled = len(per_minute) - PUBLISH_DELAY_MINUTES
    return [
        0.0 if value is None and first is not None and first < i < settled else value
        for i, value in enumerate(per_minute)
    ]


def trend_window(now: datetime) -> tuple[datetime, datetime]:
    """The whole minutes a trend at `now` is read from (the minute under way is partial), with two to spare
    for CloudWatch's delay in publishing the last ones."""
    end = now.replace(second=0, microsecond=0)
    return end - timedelta(minutes=TREND_MINUTES + PUBLISH_DELAY_MINUTES), end


@dataclass(frozen=True)
class DemandTrend:
    """The target's invocations per minute over its last whole minutes (oldest first), and how long ago the
    middle of the last one was (CloudWatch publishes a minute's figure a minute or so after it ends)."""

    per_minute: tuple[float | None, ...]  # None: a minute without a datapoint
    age_seconds: float = 30.0
    # For a calm target: its concurrency's peak per unit over the last minutes, what the trend projects from.
    concurrency_now: float | None = None

    def _points(self) -> list[tuple[int, float]]:
        """(minute, invocations) of the last TREND_MINUTES minutes that have a figure."""
        recent = self.per_minute[-TREND_MINUTES:]
        return [(i, value) for i, value in enumerate(recent) if value is not None]

    @property
    def slope(self) -> float | None:
        """Invocations per minute gained each minute (Theil-Sen); None with too few minutes to tell."""
        points = self._points()
        return _slope(points) if len(points) >= MIN_TREND_POINTS else None

    @property
    def rising(self) -> bool:
        """Whether the minutes rise beyond their noise (Mann-Kendall at 95%, one-sided; a tied pair counts as
        neither, and its variance is corrected for the ties: equal minutes, idle ones above all, leave fewer
        pairs to order), and in both halves of them, each at half the whole's slope or more: a step or a burst
        between two levels is no ramp to project."""
        points = self._points()
        n = len(points)
        if n < MIN_RISE_POINTS:
            return False
        score = sum((b > a) - (b < a) for (_, a), (_, b) in combinations(points, 2))
        ties = Counter(value for _, value in points).values()
        variance = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
        if variance <= 0 or (score - 1) / math.sqrt(variance) <= RISE_Z:
            return False
        whole, half = _slope(points), n // 2
        return all(_slope(part) >= RISE_SHARE * whole > 0 for part in (points[:half], points[half:]))

    @property
    def held(self) -> bool:
        """Whether the demand still stands where it was at its busiest of all the minutes read (since a
        scale-out's decision, where they were read from one): the mean of the last HELD_MINUTES minutes within
        HELD_SIGMAS of the minutes' standard deviations below the busiest. False with too few minutes, or too few
        requests, to tell."""
        values = [value for value in self.per_minute if value is not None]
        if len(values) < MIN_RISE_POINTS:
            return False
        busiest, level = max(values), statistics.fmean(values)
        changes = statistics.median(abs(b - a) for a, b in pairwise(values))
        deviation = max(changes / _MEDIAN_ABS_CHANGE, math.sqrt(max(level, 0.0)))
        bound = busiest - HELD_SIGMAS * deviation
        return bound > 0 and statistics.fmean(values[-HELD_MINUTES:]) >= bound

    def growth(self, horizon_seconds: float) -> float:
        """How many times today's demand is expected `horizon_seconds` from now (1 when it is not growing, or
        nothing says it is; at most MAX_GROWTH)."""
        slope = self.slope
        if slope is None or slope <= 0:
            return 1.0
        points = self._points()
        later = points[len(points) // 2 :]
        if len(later) >= MIN_LEVEL_POINTS and _slope(later) < RISE_SHARE * slope:
            return 1.0  # the later minutes no longer rise: a level reached (a step, a burst's onset), no ramp
        # The level the trend stands at on the last minute: the median of the points moved along the slope.
        last = len(self.per_minute[-TREND_MINUTES:]) - 1
        level = statistics.median(value + slope * (last - i) for i, value in points)
        if level <= 0:
            return 1.0
        minutes_ahead = (horizon_seconds + self.age_seconds) / 60.0
        return min(MAX_GROWTH, (level + slope * minutes_ahead) / level)


def _slope(points: list[tuple[int, float]]) -> float:
    """The Theil-Sen slope of (minute, value) points; 0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    return statistics.median((b - a) / (j - i) for (i, a), (j, b) in combinations(points, 2))
