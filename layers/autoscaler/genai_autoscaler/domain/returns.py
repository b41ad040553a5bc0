"""How long a SageMaker target's demand takes to come back once it has fallen: the scale-in window its own
history asks for.

The scale-in window (`scale_in.stabilization_seconds`) insures against demand that returns once it has fallen:
a fleet scaled in during a lull takes a cold start to grow back when the next burst comes. Traffic that falls
and stays down (an evening's decline, the end of a surge) pays the whole window for nothing. So the forecaster
measures, every hour, what a shorter window would have cost this target, by replaying scale-in against its own
per-minute `Invocations`:

- at each minute of the last day, a window of `w` minutes would have sized the fleet to the busiest minute in
  it; it would have been caught short if, within the time it takes to add capacity back (the last cold start),
  the demand rose beyond that busiest minute by more than the band between the scale-in target and the alarm
  (`1 / scale_in.target_utilization`): an alarm, a cold start, and requests waiting meanwhile;
- the shortest `w` (in steps of five minutes, from the scale-in cooldown) that is caught short no more often
  than the policy's whole window, give or take RISK_SLACK of the minutes, is the window the target needs.

The minutes are compared as five-minute means, each of the minutes up to it (no look-ahead into what a window
would have sized), so that a noisy minute is no return;
traffic too sparse or too noisy to tell keeps the policy's window, which is never lengthened. Until the history
has MIN_HISTORY_MINUTES of figures, nothing is measured. The decision uses the measured window only while it is
fresh, and only for a fall (`sagemaker_scale_in`): a trim within the band, the noise of a level, waits the
policy's window, as it did (a 10-minute window let a flat peak be trimmed and alarm again within the hour).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from genai_autoscaler.domain.demand import requests_per_minute
from genai_autoscaler.domain.forecast import DAY
from genai_autoscaler.domain.policy import SageMakerPolicy

# The history a window is measured on: the last day, so that yesterday's bursts still count and last week's
# do not.
RETURN_HISTORY_MINUTES = DAY
# Fewer minutes with figures than this say nothing about how demand comes back.
MIN_HISTORY_MINUTES = 120
# Candidate windows, in minutes apart.
WINDOW_STEP_MINUTES = 5
# How much more often than the policy's window a shorter one may be caught short, as a share of the minutes:
# what the five-minute means' noise gives a flat load of a few hundred requests a minute, and well under what
# the lulls of bursty traffic give.
RISK_SLACK = 0.005
# The minutes are compared as means of this many, each of the minutes up to it.
MEAN_MINUTES = 5
# A measured window is used for this long after it was measured (the forecaster runs hourly; one run may fail).
FRESH_FOR = timedelta(hours=2, minutes=30)


class ReturnWindow(BaseModel):
    """The scale-in window a target's history asks for, as measured at `measured_at` against the policy's
    window of then, and why."""

    model_config = ConfigDict(frozen=True)

    measured_at: AwareDatetime
    seconds: int
    # The policy's scale-in settings it was measured against: a change to any of them makes it another question.
    policy_window_seconds: int
    cooldown_seconds: int
    target_utilization: float
    why: str

    def applies(self, policy: SageMakerPolicy, now: datetime) -> bool:
        """Whether it may stand for the policy's window now: measured against its scale-in settings of now (not
        those it had before a change), and fresh."""
        rule = policy.scale_in
        return (self.policy_window_seconds, self.cooldown_seconds, self.target_utilization) == (
            rule.stabilization_seconds,
            rule.cooldown_seconds,
            rule.target_utilization,
        ) and now - self.measured_at <= FRESH_FOR


def caught_short(
    per_minute: Sequence[float | None], window: int, horizon: int, band: float
) -> tuple[int, int]:
    """Over the minutes of `per_minute` (five-minute means, None for gaps), how often a fleet sized to the busiest
    minute of the last `window` would have seen the demand rise beyond `band` times that within `horizon`
    minutes; returns (minutes caught short, minutes judged). Minutes without a full window and horizon of
    figures are not judged."""
    past, ahead = _sliding_max(per_minute, window), _sliding_max(per_minute, horizon)
    short = judged = 0
    for t in range(len(per_minute) - horizon):
        sized, coming = past[t], ahead[t + horizon]
        if sized is None or coming is None:
            continue
        judged += 1
        short += coming > sized * band
    return short, judged


def trailing_means(values: Sequence[float | None], width: int) -> list[float | None]:
    """The mean of the known values among the `width` ending at each index (None where none is known): what a
    minute's demand looked like from then, without the minutes after it."""
    out: list[float | None] = []
    total, count = 0.0, 0
    for i, value in enumerate(values):
        if value is not None:
            total, count = total + value, count + 1
        if i >= width and (gone := values[i - width]) is not None:
            total, count = total - gone, count - 1
        out.append(total / count if count else None)
    return out


def _sliding_max(values: Sequence[float | None], width: int) -> list[float | None]:
    """The maximum of each `width` values ending at each index; None where they are not all known."""
    out: list[float | None] = []
    candidates: deque[int] = deque()  # indices of a falling run of values, the window's maximum first
    last_gap = -1
    for i, value in enumerate(values):
        if value is None:
            last_gap, candidates = i, deque()
            out.append(None)
            continue
        while candidates and values[candidates[-1]] <= value:  # type: ignore[operator]
            candidates.pop()
        candidates.append(i)
        if candidates[0] <= i - width:
            candidates.popleft()
        out.append(values[candidates[0]] if i - last_gap >= width else None)
    return out


def measure_window(
    per_minute: Sequence[float | None],
    now: datetime,
    policy_window_seconds: int,
    cooldown_seconds: int,
    cold_start_seconds: float,
    target_utilization: float,
) -> ReturnWindow | None:
    """The scale-in window the per-minute invocations (oldest first, the last one just before `now`) ask for;
    None with too little history to tell (fewer than MIN_HISTORY_MINUTES with figures, or half of them that can
    be judged), or no room for a shorter window (the policy's no longer than the cooldown, or five minutes)."""
    recent = list(per_minute[-RETURN_HISTORY_MINUTES:])
    if sum(v is not None for v in recent) < MIN_HISTORY_MINUTES:
        return None
    # A lull without datapoints had no requests: counted as nothing, it can still be followed by a return.
    first = next(i for i, v in enumerate(recent) if v is not None)
    recent = requests_per_minute(recent)[first:]
    longest = policy_window_seconds // 60
    shortest = max(WINDOW_STEP_MINUTES, math.ceil(cooldown_seconds / 60))
    if longest <= shortest:
        return None
    means = trailing_means(recent, MEAN_MINUTES)
    horizon = max(1, math.ceil(cold_start_seconds / 60))
    band = 1 / target_utilization
    base_short, base_judged = caught_short(means, longest, horizon, band)
    if base_judged < MIN_HISTORY_MINUTES // 2:
        return None
    allowed = base_short / base_judged + RISK_SLACK

    def measured(seconds: int, why: str) -> ReturnWindow:
        return ReturnWindow(
            measured_at=now,
            seconds=seconds,
            policy_window_seconds=policy_window_seconds,
            cooldown_seconds=cooldown_seconds,
            target_utilization=target_utilization,
            why=why,
        )

    for window in range(shortest, longest, WINDOW_STEP_MINUTES):
        short, judged = caught_short(means, window, horizon, band)
        if judged and short / judged <= allowed:
            return measured(
                window * 60,
                f"over its last {len(recent) // 60} h, a {window}-minute window would have been caught short "
                f"by returning demand {short / judged:.1%} of the time, its policy's {longest} minutes "
                f"{base_short / base_judged:.1%}",
            )
    return measured(policy_window_seconds, f"its demand comes back within the policy's {longest} minutes")
