"""Synthetic traffic shapes, generated from a seed: the hard cases of real LLM traffic, for the benchmark and the
tests, where the shipped traces do not reach.

Each shape is sized by `peak_rps`, the busiest rate it reaches (before its noise), so that one call can ask for
a shape that needs a given number of instances. Rates are per minute, with a multiplicative noise of
`NOISE_SIGMA` (lognormal, mean 1); arrivals are drawn from them by the replay (Poisson, from its own seed).

- `diurnal`: two days; an idle night, a steep morning ramp (2% to 80% of the peak in 30 minutes), a steep
  evening ramp to the peak at 20:00, and the decline to midnight.
- `step`: six hours at a fifth of the peak, with a two-hour step to five times that (the peak) in the middle.
- `bursts`: six hours of on/off code completions: bursts of 2 to 10 minutes at the peak, silences of 5 to 30.
- `long_context`: six hours of chat with 12k-token prompts (a request log with its token counts); its SLO is
  10 s + 40 ms per output token, since no instance answers a 12k prompt in 2 s.
- `weekly_drift`: seven days of the diurnal day, weekends at 60%, drifting up by 30% over the week.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from genai_autoscaler_tools.sim.endpoint import EndpointModel
from genai_autoscaler_tools.sim.traces import RateSeries, RequestLog, Trace, poisson_requests

MINUTE = 60.0
DAY = 86_400.0
NOISE_SIGMA = 0.1
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Shape:
    """A generated trace, and the endpoint it is replayed on (the default one, or an SLO of its own)."""

    name: str
    trace: Trace
    endpoint: EndpointModel


def _series(name: str, minutes: Floats, seed: int) -> RateSeries:
    rng = np.random.default_rng(seed)
    noise = rng.lognormal(-(NOISE_SIGMA**2) / 2, NOISE_SIGMA, minutes.size)
    starts = np.arange(minutes.size, dtype=np.float64) * MINUTE
    return RateSeries(
        starts, np.full(minutes.size, MINUTE), minutes * noise, f"synthetic {name}, seed {seed}"
    )


def day_profile(seconds: Floats) -> Floats:
    """The share of the peak at each time of day: idle night, steep ramps at 07:30 and 19:30, peak at 20:00."""
    hour = (seconds % DAY) / 3600.0
    points = (
        (0.0, 0.02),
        (7.5, 0.02),
        (8.0, 0.8),  # the morning ramp: 2% to 80% in 30 minutes
        (12.0, 0.7),
        (19.5, 0.6),
        (20.0, 1.0),  # the evening ramp to the peak
        (22.0, 0.9),
        (24.0, 0.02),
    )
    hours, shares = (np.asarray(column) for column in zip(*points, strict=True))
    return np.interp(hour, hours, shares)


def diurnal(peak_rps: float, seed: int, days: int = 2) -> RateSeries:
    """`days` of the diurnal day (see the module's doc)."""
    minutes = np.arange(days * 1440, dtype=np.float64) * MINUTE
    return _series("diurnal", peak_rps * day_profile(minutes), seed)


def step(peak_rps: float, seed: int) -> RateSeries:
    """Six hours at a fifth of the peak, with the peak (a 5x step) from the second hour to the fourth."""
    minute = np.arange(360)
    rates = np.where((minute >= 120) & (minute < 240), peak_rps, peak_rps / 5)
    return _series("step", rates.astype(np.float64), seed)


def bursts(peak_rps: float, seed: int) -> RateSeries:
    """Six hours of bursts at the peak (2 to 10 minutes) between silences (5 to 30 minutes)."""
    rng = np.random.default_rng(seed + 1)
    rates = np.zeros(360)
    minute = int(rng.integers(5, 31))
    while minute < rates.size - 2:  # a burst lasts its 2 minutes at least, within the six hours
        length = int(rng.integers(2, 11))
        rates[minute : minute + length] = peak_rps
        minute += length + int(rng.integers(5, 31))
    return _series("bursts", rates, seed)


def long_context(peak_rps: float, seed: int) -> RequestLog:
    """Six hours of chat with prompts of about 12k tokens and answers of about 300, at a third of the peak
    rising to the peak and back (one afternoon), as a request log with its token counts."""
    hour = np.arange(360, dtype=np.float64) / 60.0
    share = np.interp(hour, (0.0, 2.0, 4.0, 6.0), (1 / 3, 1.0, 1.0, 1 / 3))
    log = poisson_requests(_series("long context", peak_rps * share, seed), seed)
    rng = np.random.default_rng(seed + 2)
    prompts = np.clip(rng.lognormal(np.log(12_000), 0.25, len(log)), 2_000, 32_000).astype(np.int64)
    answers = np.clip(rng.lognormal(np.log(300), 0.5, len(log)), 20, 2_000).astype(np.int64)
    return RequestLog(log.arrivals, prompts, answers, log.duration, f"synthetic long context, seed {seed}")


def weekly_drift(peak_rps: float, seed: int) -> RateSeries:
    """Seven days of the diurnal day, Saturday and Sunday at 60%, the whole drifting up 30% over the week
    (`peak_rps` is the busiest minute's rate: Friday's evening peak)."""
    seconds = np.arange(7 * 1440, dtype=np.float64) * MINUTE
    weekday = (seconds // DAY).astype(np.int64) % 7
    weekend = np.where(weekday >= 5, 0.6, 1.0)
    shares = day_profile(seconds) * weekend * (1.0 + 0.3 * seconds / (7 * DAY))
    return _series("weekly drift", peak_rps * shares / shares.max(), seed)


LONG_CONTEXT_ENDPOINT = EndpointModel(slo_ttft_s=10.0, slo_tpot_s=0.04)

GENERATORS: dict[str, tuple[Callable[[float, int], Trace], EndpointModel]] = {
    "diurnal": (diurnal, EndpointModel()),
    "step": (step, EndpointModel()),
    "bursts": (bursts, EndpointModel()),
    "long_context": (long_context, LONG_CONTEXT_ENDPOINT),
    "weekly_drift": (weekly_drift, EndpointModel()),
}
SHAPES = tuple(GENERATORS)


def shape(name: str, peak_rps: float, seed: int) -> Shape:
    """The shape `name` (one of SHAPES) at `peak_rps`, from `seed`; raises ValueError for another name or a
    peak that is not positive."""
    if name not in GENERATORS:
        raise ValueError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")
    if not peak_rps > 0:
        raise ValueError(f"the peak rate must be positive, got {peak_rps!r}")
    generate, endpoint = GENERATORS[name]
    return Shape(name, generate(peak_rps, seed), endpoint)
