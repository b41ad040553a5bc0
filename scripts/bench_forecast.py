"""Holt-Winters against the seasonal naive forecaster, replayed on the traffic the project simulates.

What it measures: whether Holt-Winters (statsmodels `ExponentialSmoothing`, daily seasonality, additive or
multiplicative, with no trend or a damped additive trend) would forecast demand better than the forecaster the
Lambda layer ships (`genai_autoscaler.domain.forecast`: the better of the `daily` and `weekly` seasonal naive
methods on a 5-minute mean, scaled to the level of the last hour).

Traffic, per-minute invocation counts (a rate x 60, drawn Poisson from a fixed seed):

- the synthetic shapes `diurnal` (2 days), `weekly_drift` (7 days) and `bursts` (6 hours) at PEAK_RPS, seed 0;
  `bursts` is shorter than the history a forecast needs, so `bursts_x12` adds twelve of them end to end
  (seeds 0-11, 3 days): traffic with no daily shape;
- the shipped ServeGen trace (`m-large`, 14 days of 10-minute rates) at 0.015 times its load.

Protocol: rolling origin, hourly as the production forecaster runs (`--every 3`: every third hour, a run of
about 2 minutes instead of 6 on two cores), from the first hour with at least 1.25 days of history; each
forecast sees only the HISTORY_DAYS before its origin and covers the next 90 minutes. Every figure compares
a forecast minute with the actual 5-minute mean around that minute:

- WAPE 0-90: sum of absolute errors over all forecast minutes / sum of the actual demand (all origins);
- WAPE used: the same over the origins where the method would not have stood aside;
- WAPE @15: the same for the value 15 minutes ahead only (the horizon the domain's backtest judges by);
- peak: the forecast's max over the next 16 minutes / the actual max over them (median over the origins);
- aside: the share of origins where the method stands aside. The seasonal naive row uses the domain's own
  rule (`forecast()`'s `stands_aside`, or its error over the last day above MAX_ERROR). Holt-Winters gets the
  same rule: its WAPE over the last day, each 5-minute block forecast 15 minutes (3 blocks) ahead from the
  fitted states (with the parameters fitted at the origin), above MAX_ERROR; or a fit that fails;
- self err: the mean of the error the method judged itself by at its origins (its last day's WAPE @15), to
  set against the WAPE @15 it then made;
- ms: mean wall time of one forecast (for Holt-Winters: the fit, the forecast and that backtest).

Holt-Winters is fitted on 5-minute means (period 288): at 1-minute resolution (period 1440) one fit on 14
days takes 2-40 s on this kind of machine. Its forecast is interpolated back to minutes between block centres.
With two days of history or more its initial states are statsmodels' `heuristic`; with less (the first
0.75 day of origins) the first day gives them (level: its mean; season: its deviation from it; trend: 0).

Run (the project's venv has no statsmodels: the Holt-Winters rows are then skipped, saying so):

    .venv/bin/python scripts/bench_forecast.py
    python3 -m venv /tmp/hwvenv && /tmp/hwvenv/bin/pip install statsmodels numpy pydantic pyyaml
    PYTHONPATH=layers/autoscaler:tools /tmp/hwvenv/bin/python scripts/bench_forecast.py [--every 3] [--only servegen]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from genai_autoscaler.domain.forecast import FORECAST_MINUTES, HISTORY_DAYS, forecast
from genai_autoscaler_tools.sim.shapes import shape
from genai_autoscaler_tools.sim.traces import RateSeries, Trace, arrivals_per_step, rate_scale, read_trace

Floats = npt.NDArray[np.float64]

ROOT = Path(__file__).resolve().parents[1]
SERVEGEN = ROOT / "data" / "traces" / "servegen_aggregate_rate_10min.csv"
SERVEGEN_MODEL = "m-large"
SERVEGEN_SCALE = 0.015
PEAK_RPS = 20.0
SEED = 0
MAX_ERROR = 0.25  # the policy's default max_error
DAY = 1440
HISTORY_MINUTES = HISTORY_DAYS * DAY
MIN_HISTORY_MINUTES = round(1.25 * DAY)
PEAK_MINUTES = 16  # minutes 0..15 after the origin
AHEAD = 15  # the single horizon figure, minutes
SMOOTHING = 2  # minutes either side of the actual's mean (the domain's own)
BLOCK = 5  # minutes per Holt-Winters point
PERIOD = DAY // BLOCK  # daily season in blocks
BACKTEST_BLOCKS = AHEAD // BLOCK
MIN_BACKTEST_BLOCKS = 360 // BLOCK  # the domain's six hours
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday


# ------------------------------------------------------------------------------------------ traffic


@dataclass(frozen=True)
class Traffic:
    """Per-minute invocations (NaN in a gap of the data) and what they are."""

    name: str
    counts: Floats
    about: str


def _counts(trace: Trace) -> Floats:
    counts, in_gap = arrivals_per_step(trace, 60.0, SEED)
    values = counts.astype(np.float64)
    values[in_gap] = np.nan
    return values


def traffics() -> list[Traffic]:
    """The traces the benchmark replays."""
    out = [
        Traffic(name, _counts(shape(name, PEAK_RPS, seed=SEED).trace), f"{PEAK_RPS:g} rps peak")
        for name in ("diurnal", "weekly_drift", "bursts")
    ]
    parts = [shape("bursts", PEAK_RPS, seed=seed).trace for seed in range(12)]
    rates = np.concatenate([part.rates for part in parts if isinstance(part, RateSeries)])
    tiled = RateSeries(
        np.arange(rates.size, dtype=np.float64) * 60.0, np.full(rates.size, 60.0), rates, "bursts x12"
    )
    out.append(Traffic("bursts_x12", _counts(tiled), "bursts seeds 0-11 end to end"))
    servegen = rate_scale(read_trace(SERVEGEN, model=SERVEGEN_MODEL), SERVEGEN_SCALE, SEED)
    out.append(Traffic("servegen", _counts(servegen), f"{SERVEGEN_MODEL} x{SERVEGEN_SCALE:g}"))
    return out


def centred_mean(values: Floats) -> Floats:
    """The mean of the known values within SMOOTHING minutes of each minute (NaN where none is known)."""
    known = ~np.isnan(values)
    kernel = np.ones(2 * SMOOTHING + 1)
    total = np.convolve(np.where(known, values, 0.0), kernel, mode="same")
    count = np.convolve(known.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: Floats = np.where(count > 0, total / count, np.nan)
    return mean


# ------------------------------------------------------------------------------------------ methods


@dataclass(frozen=True)
class Outcome:
    """One forecast: its per-minute values (None when there is none), whether it stands aside, and the
    error it judged itself by."""

    per_minute: Floats | None
    stands_aside: bool
    error: float | None = None
    chosen: str | None = None  # the seasonal naive method kept, or why Holt-Winters failed


Method = Callable[[Floats, list[float | None]], Outcome]


def seasonal_naive(history: Floats, as_list: list[float | None]) -> Outcome:
    """The domain's forecaster, with its own stand-aside rule (its error over the last day above MAX_ERROR)."""
    start = EPOCH
    now = start + timedelta(minutes=len(as_list))
    # max_error=inf gives the values even where the policy's max_error would make it stand aside.
    made = forecast(as_list, start, now, inflight_per_invocation=1.0, max_error=math.inf)
    if made.stands_aside is not None:
        return Outcome(None, True, made.error, made.method)
    aside = made.error is not None and made.error > MAX_ERROR
    return Outcome(np.asarray(made.per_minute, dtype=np.float64), aside, made.error, made.method)


@dataclass(frozen=True)
class HoltWinters:
    """Holt-Winters on 5-minute means with a daily season; `trend` None or damped additive."""

    trend: str | None
    seasonal: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        trend = "damped trend" if self.trend else "no trend"
        object.__setattr__(self, "name", f"Holt-Winters {self.seasonal[:3]}. season, {trend}")

    def __call__(self, history: Floats, as_list: list[float | None]) -> Outcome:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        minutes = np.arange(history.size)
        known = ~np.isnan(history)
        filled = np.interp(minutes, minutes[known], history[known]) if known.any() else history
        usable = filled.size - filled.size % BLOCK
        blocks = filled[filled.size - usable :].reshape(-1, BLOCK).mean(axis=1)
        if self.seasonal == "mul" and blocks.min() <= 0:
            return Outcome(None, True, chosen="a multiplicative season needs demand > 0")
        options: dict[str, Any] = {"initialization_method": "heuristic"}
        if blocks.size < 2 * PERIOD:
            level = float(blocks[:PERIOD].mean())
            season = blocks[:PERIOD] / level if self.seasonal == "mul" else blocks[:PERIOD] - level
            options = {"initialization_method": "known", "initial_level": level, "initial_seasonal": season}
            if self.trend:
                options["initial_trend"] = 0.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ExponentialSmoothing(
                    blocks,
                    trend=self.trend,
                    damped_trend=self.trend is not None,
                    seasonal=self.seasonal,
                    seasonal_periods=PERIOD,
                    **options,
                )
                fitted = model.fit()
                steps = math.ceil((FORECAST_MINUTES + SMOOTHING) / BLOCK)
                future = np.asarray(fitted.forecast(steps), dtype=np.float64)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return Outcome(None, True, chosen=f"fit failed: {exc}")
        if not np.all(np.isfinite(future)):
            return Outcome(None, True, chosen="fit failed: a forecast that is not finite")
        centres = np.arange(steps) * BLOCK + BLOCK // 2
        per_minute = np.clip(np.interp(np.arange(FORECAST_MINUTES), centres, future), 0.0, None)
        error = self._backtest(fitted, blocks)
        return Outcome(per_minute, error is None or error > MAX_ERROR, error)

    def _backtest(self, fitted: Any, blocks: Floats) -> float | None:
        """WAPE over the last day's blocks (after the first day), each forecast BACKTEST_BLOCKS ahead from the
        fitted states: level + damped trend, with the season of the same block a day before."""
        level = np.asarray(fitted.level, dtype=np.float64)
        season = np.asarray(fitted.season, dtype=np.float64)
        ahead = BACKTEST_BLOCKS
        target = np.arange(max(PERIOD, blocks.size - PERIOD), blocks.size)
        if target.size < MIN_BACKTEST_BLOCKS:
            return None
        origin = target - ahead
        base = level[origin]
        if self.trend:
            phi = float(fitted.params["damping_trend"])
            base = base + sum(phi**i for i in range(1, ahead + 1)) * np.asarray(fitted.trend)[origin]
        seasonal = season[target - PERIOD]
        predicted = base * seasonal if self.seasonal == "mul" else base + seasonal
        actual = blocks[target]
        total = float(actual.sum())
        return float(np.abs(np.clip(predicted, 0.0, None) - actual).sum() / total) if total > 0 else None


# ------------------------------------------------------------------------------------------ replay


@dataclass
class Tally:
    """What one method did on one trace, over its origins."""

    origins: int = 0
    absolute: float = 0.0
    demand: float = 0.0
    used_absolute: float = 0.0
    used_demand: float = 0.0
    ahead_absolute: float = 0.0
    ahead_demand: float = 0.0
    peaks: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    aside: int = 0
    no_forecast: int = 0
    seconds: float = 0.0
    chosen: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome, actual: Floats, seconds: float) -> None:
        self.origins += 1
        self.seconds += seconds
        self.aside += outcome.stands_aside
        if outcome.error is not None:
            self.errors.append(outcome.error)
        if outcome.chosen is not None:
            reason = outcome.chosen.split(":")[0]
            self.chosen[reason] = self.chosen.get(reason, 0) + 1
        if outcome.per_minute is None:
            self.no_forecast += 1
            return
        known = ~np.isnan(actual)
        errors = np.abs(outcome.per_minute - actual)[known]
        self.absolute += float(errors.sum())
        self.demand += float(actual[known].sum())
        if not outcome.stands_aside:
            self.used_absolute += float(errors.sum())
            self.used_demand += float(actual[known].sum())
        if known[AHEAD]:
            self.ahead_absolute += abs(float(outcome.per_minute[AHEAD]) - float(actual[AHEAD]))
            self.ahead_demand += float(actual[AHEAD])
        peak = float(np.nanmax(actual[:PEAK_MINUTES])) if known[:PEAK_MINUTES].any() else 0.0
        if peak > 0:
            self.peaks.append(float(outcome.per_minute[:PEAK_MINUTES].max()) / peak)


def origins(minutes: int, every_hours: int) -> list[int]:
    """The origins (minute indexes, on the hour) with enough history and a whole horizon after them."""
    first = math.ceil(MIN_HISTORY_MINUTES / 60) * 60
    return list(range(first, minutes - FORECAST_MINUTES + 1, 60 * every_hours))


def replay(traffic: Traffic, methods: Sequence[tuple[str, Method]], every_hours: int) -> dict[str, Tally]:
    """Every method at every origin of `traffic`."""
    actual = centred_mean(traffic.counts)
    as_list: list[float | None] = [None if math.isnan(v) else float(v) for v in traffic.counts]
    tallies = {name: Tally() for name, _ in methods}
    for made in origins(traffic.counts.size, every_hours):
        begin = max(0, made - HISTORY_MINUTES)
        history, history_list = traffic.counts[begin:made], as_list[begin:made]
        future = actual[made : made + FORECAST_MINUTES]
        for name, method in methods:
            started = time.perf_counter()
            outcome = method(history, history_list)
            tallies[name].add(outcome, future, time.perf_counter() - started)
    return tallies


# ------------------------------------------------------------------------------------------ report


def _share(part: float, whole: float) -> str:
    return f"{part / whole:6.1%}" if whole > 0 else "     -"


def print_table(results: Sequence[tuple[Traffic, dict[str, Tally]]]) -> None:
    header = (
        f"{'trace':<13}{'method':<40}{'origins':>8}{'WAPE 0-90':>10}{'WAPE used':>10}{'WAPE @15':>9}{'self err':>9}"
        f"{'peak':>7}{'aside':>8}{'ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for traffic, tallies in results:
        if not any(tally.origins for tally in tallies.values()):
            days = traffic.counts.size / DAY
            print(f"{traffic.name:<13}{'(every method)':<40}{0:>8}  no origin: {days:.2f} days of traffic")
            continue
        for name, tally in tallies.items():
            peak = f"{statistics.median(tally.peaks):7.2f}" if tally.peaks else "      -"
            self_error = f"{statistics.fmean(tally.errors):6.1%}" if tally.errors else "-"
            print(
                f"{traffic.name:<13}{name:<40}{tally.origins:>8}{_share(tally.absolute, tally.demand):>10}"
                f"{_share(tally.used_absolute, tally.used_demand):>10}"
                f"{_share(tally.ahead_absolute, tally.ahead_demand):>9}{self_error:>9}{peak}"
                f"{_share(tally.aside, tally.origins):>8}{1000 * tally.seconds / tally.origins:8.1f}"
            )
        notes = [
            f"{name}: " + ", ".join(f"{reason} x{count}" for reason, count in sorted(tally.chosen.items()))
            for name, tally in tallies.items()
            if tally.chosen and tally.origins
        ]
        for note in notes:
            print(f"{'':<13}  ({note})")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--every", type=int, default=1, help="hours between origins (default 1)")
    parser.add_argument("--only", nargs="*", help="trace names to replay (default all)")
    args = parser.parse_args(argv)

    methods: list[tuple[str, Method]] = [("seasonal naive (domain)", seasonal_naive)]
    if importlib.util.find_spec("statsmodels") is None:
        print("statsmodels is not installed: Holt-Winters is skipped (only the seasonal naive rows follow).")
    else:
        for trend in (None, "add"):
            for seasonal in ("add", "mul"):
                variant = HoltWinters(trend, seasonal)
                methods.append((variant.name, variant))
    print(
        f"Origins every {args.every} h from 1.25 days of history, horizon {FORECAST_MINUTES} min, history up to "
        f"{HISTORY_DAYS} days; stand aside when the last day's WAPE @15 > {MAX_ERROR:.0%}.\n"
        f"Holt-Winters: fitted on 5-minute means (season {PERIOD} blocks = 1 day), interpolated to minutes.\n"
        "Actual = 5-minute centred mean of Poisson per-minute invocations; WAPE used = origins not standing "
        "aside; peak = median of forecast max / actual max over the next 16 min.\n"
    )
    results = []
    started = time.perf_counter()
    for traffic in traffics():
        if args.only and traffic.name not in args.only:
            continue
        results.append((traffic, replay(traffic, methods, args.every)))
        print(
            f"  replayed {traffic.name} ({traffic.about}) at {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    print()
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
