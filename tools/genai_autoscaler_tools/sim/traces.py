"""Request traces for the simulator: read them, draw arrivals, shape the load.

Two kinds of trace:

- a request log, one request per row (`timestamp,input_tokens,output_tokens`, or a public trace's own columns:
  the Azure LLM traces' `TIMESTAMP,ContextTokens,GeneratedTokens` (and its multimodal trace's, with `NumImages`
  after the timestamp: the images are not modelled), BurstGPT's
  `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`, with or without its `Session ID` and
  `Elapsed time` after the timestamp, one model at a time; or Mooncake's JSON lines,
  `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}`);
- a rate series, requests per second per window (`timestamp,rate_rps`, with the mean tokens per request that
  `trace export` adds for a Bedrock model, `input_tokens,output_tokens`, not read; or the ServeGen aggregate
  file's `model,timestamp,total_rate_rps,active_clients`, one model at a time).

A file has the columns of its format and no others: a column a reader would skip without a word is more likely
a mistake, or another format, than a note.

Timestamps are seconds (a float, from any origin) or ISO 8601; every trace is moved to start at 0. Requests
inside a rate window are drawn as a Poisson process from a seed, so the same seed gives the same requests.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import zlib
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class TraceFormatError(ValueError):
    """A trace that cannot be read; the message names the file, and the line where there is one."""


@dataclass(frozen=True)
class RequestLog:
    """Requests by arrival time (seconds from the trace's start, sorted), with their token counts if known."""

    arrivals: Floats
    input_tokens: Ints | None
    output_tokens: Ints | None
    duration: float
    source: str

    def __len__(self) -> int:
        return int(self.arrivals.size)


@dataclass(frozen=True)
class RateSeries:
    """Requests per second per window. A NaN rate is a gap in the data (no figure), not an idle window."""

    starts: Floats
    widths: Floats
    rates: Floats
    source: str

    @property
    def duration(self) -> float:
        return float(self.starts[-1] + self.widths[-1]) if self.starts.size else 0.0

    @property
    def gaps(self) -> npt.NDArray[np.bool_]:
        return np.isnan(self.rates)

    def expected_requests(self) -> float:
        return float(np.nansum(self.rates * self.widths))


Trace = RequestLog | RateSeries


# ------------------------------------------------------------------------------------------ reading

_REQUEST_LOG = ("timestamp", "input_tokens", "output_tokens")
_TIMESTAMPS = ("timestamp",)  # a request log of arrival times only: the sizes come from a request profile
_RATE_SERIES = ("timestamp", "rate_rps")
# What `trace export` writes for a Bedrock model: the mean tokens per request too (not read).
_RATE_SERIES_WITH_TOKENS = (*_RATE_SERIES, "input_tokens", "output_tokens")
_AZURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
# Azure's multimodal trace of 2025 (AzureLMMInferenceDataset2025): the images of a request are not modelled (the
# simulated endpoint is a text model), only its tokens.
_AZURE_MULTIMODAL = ("TIMESTAMP", "NumImages", "ContextTokens", "GeneratedTokens")
_SERVEGEN = ("model", "timestamp", "total_rate_rps", "active_clients")
# BurstGPT (github.com/HPMLL/BurstGPT): Azure OpenAI requests of ChatGPT and GPT-4, timestamps in seconds from the
# trace's start; a failed request has no response tokens. Its later release adds a session's columns.
_BURSTGPT = ("Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type")
_BURSTGPT_SESSIONS = (
    "Timestamp",
    "Session ID",
    "Elapsed time",
    "Model",
    "Request tokens",
    "Response tokens",
    "Total tokens",
    "Log Type",
)
# Mooncake (github.com/kvcache-ai/Mooncake, FAST25-release/traces): one JSON object a line, the timestamp in
# milliseconds; `hash_ids` (the prompt's cache blocks) is not read.
_MOONCAKE = ("timestamp", "input_length", "output_length")
_MOONCAKE_OPTIONAL = ("hash_ids",)


# More tokens than any model takes or writes in one request: a count above it is a broken row, and would not fit
# the simulator's integer arrays.
MAX_TOKENS = 100_000_000
# Seconds (since the trace's start, or the epoch) beyond any trace's: about 31,700 years.
MAX_SECONDS = 1e12


def _seconds(text: str, where: str) -> float:
    """A timestamp as seconds: a number as it is, ISO 8601 (naive = UTC) as seconds since the epoch."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or abs(seconds) > MAX_SECONDS:
            raise TraceFormatError(
                f"{where}: timestamp {text!r} must be a finite number of seconds within ±1e12"
            )
        return seconds
    value = text.strip()
    # Python's ISO parser takes at most 6 fractional digits; the Azure trace has 7.
    if "." in value:
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        value = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise TraceFormatError(f"{where}: timestamp {text!r} is neither seconds nor ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # e.g. year 1 with a negative offset
        raise TraceFormatError(f"{where}: timestamp {text!r} is out of range") from None


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise TraceFormatError(f"{where}: {column} {text!r} must be a finite number >= 0")
    return value


def _tokens(text: str, where: str, column: str) -> int:
    count = _number(text, where, column)
    if count > MAX_TOKENS:
        raise TraceFormatError(f"{where}: {column} {text!r} is more than {MAX_TOKENS:,} tokens")
    return int(count)


def _columns(rows: list[tuple[int, list[str]]], path: Path, names: tuple[str, ...]) -> None:
    """Raises TraceFormatError at the first row whose cells are not one per column of `names`."""
    for line, row in rows:
        _width(row, f"{path}:{line}", names)


def _width(row: list[str], where: str, names: tuple[str, ...]) -> None:
    """Raises TraceFormatError unless the row's cells are one per column of `names`."""
    if len(row) != len(names):
        raise TraceFormatError(
            f"{where}: expected {len(names)} columns ({','.join(names)}), found {len(row)}"
        )


def _model(row: list[str], at: int, where: str) -> str:
    """The model a row's cell `at` names, without its spaces; TraceFormatError if it names none."""
    model = row[at].strip()
    if not model:
        raise TraceFormatError(f"{where}: the model is empty")
    return model


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """What goes wrong reading the file's text, as a TraceFormatError naming it."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise TraceFormatError(f"{path}: a broken gzip file") from None
    except OSError as exc:
        raise TraceFormatError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise TraceFormatError(f"{path}: not a CSV file: {exc}") from None


def _open(path: Path) -> TextIO:
    """The file as text, read as it goes: UTF-8 (a byte-order mark skipped), gzip-compressed or not (Azure
    publishes its 2025 trace as .csv.gz). Lines end at a line feed, a carriage return or both, only."""
    with path.open("rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _format(path: Path, header: list[str]) -> tuple[str, ...]:
    """The format whose columns the header holds; TraceFormatError for an unknown header, or for columns after
    those of the format it begins with."""
    columns = tuple(header)
    if columns == _TIMESTAMPS:
        return columns
    # The longer of two formats that begin alike first.
    formats = (
        _REQUEST_LOG,
        _AZURE,
        _AZURE_MULTIMODAL,
        _BURSTGPT_SESSIONS,
        _BURSTGPT,
        _RATE_SERIES_WITH_TOKENS,
        _RATE_SERIES,
        _SERVEGEN,
    )
    begun = next((names for names in formats if columns[: len(names)] == names), None)
    if begun is None:
        known = " | ".join(",".join(names) for names in (_TIMESTAMPS, *formats))
        raise TraceFormatError(
            f"{path}: unknown header {','.join(header)!r}; expected one of: {known}; or JSON lines with "
            f"{', '.join(_MOONCAKE)}"
        )
    if len(columns) > len(begun):
        raise TraceFormatError(
            f"{path}: the header has columns its format ({','.join(begun)}) does not define: "
            + ", ".join(columns[len(begun) :])
        )
    return begun


def read_trace(path: Path, model: str | None = None) -> Trace:
    """Read a trace in any of its formats, told apart by their header (JSON lines by their first character).

    `model` picks one model of a ServeGen or BurstGPT file (required where the file has several, and refused for
    any other trace). Request logs are read as they stream, a row at a time (BurstGPT's run to millions). Raises
    TraceFormatError naming the file, line and column of the first problem.
    """
    with _reading(path), _open(path) as handle:
        json_lines = handle.read(4096).lstrip()[:1] == "{"
        handle.seek(0)
        if json_lines:
            if model is not None:
                raise TraceFormatError(
                    f"{path}: --model {model}: a Mooncake trace (JSON lines) has no models"
                )
            return _json_lines(path, handle)
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        rows = (
            (n, row) for n, row in enumerate(reader, start=2) if row and any(cell.strip() for cell in row)
        )
        first = next(rows, None)
        if first is None:
            raise TraceFormatError(f"{path}: no rows after the header")
        columns = _format(path, header)
        if model is not None and columns not in (_SERVEGEN, _BURSTGPT, _BURSTGPT_SESSIONS):
            raise TraceFormatError(
                f"{path}: --model {model}: only a ServeGen ({','.join(_SERVEGEN)}) or BurstGPT trace has models, "
                f"and this one's header is {','.join(header)}"
            )
        if columns in _REQUEST_CELLS:
            return _request_log(path, chain([first], rows), columns, model)
        if columns == _TIMESTAMPS:
            return _arrival_times(path, chain([first], rows))
        windows = [first, *rows]
    _columns(windows, path, columns)
    if columns[:2] == _RATE_SERIES:
        return _rate_series(path, [(n, row[0], row[1]) for n, row in windows], gap_when_idle=False)
    if columns == _SERVEGEN:
        chosen = _one_model(path, windows, model)
        picked = [
            (n, row[1], row[2])
            if _number(row[3] or "0", f"{path}:{n}", "active_clients") > 0
            else (n, row[1], "nan")
            for n, row in windows
            if row[0].strip() == chosen
        ]
        # A window without a client and without a request is a gap in the data, not an idle service.
        return _rate_series(path, picked, gap_when_idle=True, name=f"{path.name} ({chosen})")
    raise AssertionError(f"unhandled trace format {columns}")


# The cells of each request log's format that hold the arrival time, the input and the output tokens.
_REQUEST_CELLS = {
    _REQUEST_LOG: (0, 1, 2),
    _AZURE: (0, 1, 2),
    _AZURE_MULTIMODAL: (0, 2, 3),
    _BURSTGPT: (0, 2, 3),
    _BURSTGPT_SESSIONS: (0, 4, 5),
}


def _chosen(path: Path, models: list[str], model: str | None, kind: str, required: bool) -> str:
    """The model to read of a file's `models`: one endpoint serves one model. Without `model`, a file of one
    model is read whole, unless `required`; TraceFormatError naming the file's models otherwise."""
    if model is None and not required and len(models) == 1:
        return models[0]
    if model is None or model not in models:
        what = "needs --model" if model is None else f"has no model {model!r}"
        raise TraceFormatError(f"{path}: a {kind} trace {what}; it has {', '.join(models)}")
    return model


def _one_model(path: Path, rows: list[tuple[int, list[str]]], model: str | None) -> str:
    """The ServeGen model to read (its first column), which --model must name."""
    models = sorted({_model(row, 0, f"{path}:{line}") for line, row in rows})
    return _chosen(path, models, model, "ServeGen", required=True)


def _request_log(
    path: Path, rows: Iterable[tuple[int, list[str]]], names: tuple[str, ...], model: str | None
) -> RequestLog:
    """The requests of `rows` (of one model, where the format has a Model column), a row at a time."""
    when, given, written = _REQUEST_CELLS[names]
    at = names.index("Model") if "Model" in names else None
    by_model: dict[str, tuple[array[float], array[int], array[int]]] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        _width(row, where, names)
        key = "" if at is None else _model(row, at, where)
        times, inputs, outputs = by_model.setdefault(key, (array("d"), array("q"), array("q")))
        times.append(_seconds(row[when], where))
        inputs.append(_tokens(row[given], where, names[given]))
        outputs.append(_tokens(row[written], where, names[written]))
    if at is None:
        return _requests(path, *by_model[""])
    chosen = _chosen(path, sorted(by_model), model, "BurstGPT", required=False)
    return _requests(path, *by_model[chosen], name=f"{path.name} ({chosen})")


def _requests(
    path: Path, times: array[float], inputs: array[int], outputs: array[int], name: str | None = None
) -> RequestLog:
    """Requests (arrival times, input and output tokens) as a request log, in arrival order, from time 0."""
    at = np.asarray(times, dtype=np.float64)
    order = np.argsort(at, kind="stable")
    arrivals = at[order] - at[order][0]
    return RequestLog(
        arrivals=arrivals,
        input_tokens=np.asarray(inputs, dtype=np.int64)[order],
        output_tokens=np.asarray(outputs, dtype=np.int64)[order],
        duration=float(arrivals[-1]) if arrivals.size else 0.0,
        source=name or path.name,
    )


def _json_lines(path: Path, handle: TextIO) -> RequestLog:
    """A Mooncake trace: one JSON object a line, its keys those of _MOONCAKE (and _MOONCAKE_OPTIONAL)."""
    times: array[float] = array("d")
    inputs: array[int] = array("q")
    outputs: array[int] = array("q")
    for line, record_text in enumerate(handle, start=1):
        if not record_text.strip():
            continue
        where = f"{path}:{line}"
        try:
            record = json.loads(record_text)
        except (ValueError, RecursionError):
            raise TraceFormatError(f"{where}: not a JSON object") from None
        if not isinstance(record, dict):
            raise TraceFormatError(f"{where}: not a JSON object")
        missing = [key for key in _MOONCAKE if key not in record]
        unknown = sorted(key for key in record if key not in (*_MOONCAKE, *_MOONCAKE_OPTIONAL))
        problems = [
            f"{what} {', '.join(keys)}" for what, keys in (("missing", missing), ("unknown", unknown)) if keys
        ]
        if problems:
            raise TraceFormatError(
                f"{where}: a Mooncake line has {', '.join(_MOONCAKE)} (and {', '.join(_MOONCAKE_OPTIONAL)}); "
                + "; ".join(problems)
            )
        cells = [_json_number(record[key], where, key) for key in _MOONCAKE]
        times.append(_seconds(repr(cells[0] / 1000.0), where))
        inputs.append(_tokens(repr(cells[1]), where, _MOONCAKE[1]))
        outputs.append(_tokens(repr(cells[2]), where, _MOONCAKE[2]))
    if not times:
        raise TraceFormatError(f"{path}: no requests")
    return _requests(path, times, inputs, outputs)


def _json_number(value: object, where: str, key: str) -> float:
    """A JSON number (not a boolean, not a string) as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TraceFormatError(f"{where}: {key} {json.dumps(value)[:40]} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise TraceFormatError(f"{where}: {key} is too large") from None


def _arrival_times(path: Path, rows: Iterable[tuple[int, list[str]]]) -> RequestLog:
    times: array[float] = array("d")
    for line, row in rows:
        _width(row, f"{path}:{line}", _TIMESTAMPS)
        times.append(_seconds(row[0], f"{path}:{line}"))
    arrivals = np.sort(np.asarray(times, dtype=np.float64))
    arrivals -= arrivals[0]
    return RequestLog(
        arrivals=arrivals,
        input_tokens=None,
        output_tokens=None,
        duration=float(arrivals[-1]),
        source=path.name,
    )


def _rate_series(
    path: Path, rows: list[tuple[int, str, str]], gap_when_idle: bool, name: str | None = None
) -> RateSeries:
    starts, rates = [], []
    for line, stamp, rate in rows:
        where = f"{path}:{line}"
        starts.append(_seconds(stamp, where))
        rates.append(math.nan if rate == "nan" else _number(rate, where, "rate"))
    begin = np.asarray(starts, dtype=np.float64)
    order = np.argsort(begin, kind="stable")
    begin, values = begin[order] - begin[order][0], np.asarray(rates, dtype=np.float64)[order]
    if begin.size > 1 and np.any(np.diff(begin) <= 0):
        raise TraceFormatError(f"{path}: two windows start at the same time")
    widths = np.diff(begin, append=begin[-1] + (float(np.median(np.diff(begin))) if begin.size > 1 else 60.0))
    return RateSeries(starts=begin, widths=widths, rates=values, source=name or path.name)


# ------------------------------------------------------------------------------------------ arrivals


def poisson_requests(series: RateSeries, seed: int) -> RequestLog:
    """One draw of the requests of a rate series: per window a Poisson count, spread uniformly over it
    (which is a Poisson process at the window's rate). Gaps draw nothing. No token counts."""
    rng = np.random.default_rng(seed)
    rates = np.nan_to_num(series.rates, nan=0.0)
    counts = rng.poisson(rates * series.widths)
    arrivals = np.repeat(series.starts, counts) + rng.random(int(counts.sum())) * np.repeat(
        series.widths, counts
    )
    arrivals.sort()
    return RequestLog(
        arrivals=arrivals,
        input_tokens=None,
        output_tokens=None,
        duration=series.duration,
        source=f"{series.source}, Poisson seed {seed}",
    )


def _steps(trace: Trace, step_seconds: float) -> npt.NDArray[np.float64]:
    if step_seconds <= 0:
        raise ValueError(f"step_seconds must be positive, got {step_seconds}")
    steps = max(1, math.ceil(trace.duration / step_seconds))
    return np.arange(steps + 1, dtype=np.float64) * step_seconds


def rate_per_step(trace: Trace, step_seconds: float, smoothing_seconds: float = 60.0) -> Floats:
    """The arrival rate (requests/s) behind each step: a rate series' own, time-weighted over the step; for a
    request log, its counts averaged over `smoothing_seconds` around the step (the rate is not observed)."""
    edges = _steps(trace, step_seconds)
    if isinstance(trace, RequestLog):
        counts, _ = np.histogram(trace.arrivals, bins=edges)
        width = max(1, round(smoothing_seconds / step_seconds))
        kernel = np.ones(width)
        # The average over the steps of the window that lie inside the trace (no zeros past its ends).
        inside = np.convolve(np.ones(counts.size), kernel, mode="same")
        smoothed: Floats = np.convolve(counts.astype(np.float64), kernel, mode="same") / inside / step_seconds
        return smoothed
    # The integral of the piecewise-constant rate over each step.
    window_edges = np.append(trace.starts, trace.duration)
    rates = np.nan_to_num(trace.rates, nan=0.0)
    cumulative = np.concatenate(([0.0], np.cumsum(rates * trace.widths)))
    expected: Floats = np.clip(np.diff(np.interp(edges, window_edges, cumulative)), 0.0, None) / step_seconds
    return expected


def arrivals_per_step(trace: Trace, step_seconds: float, seed: int) -> tuple[Ints, npt.NDArray[np.bool_]]:
    """Requests arriving in each step of `step_seconds`, and which steps fall in a gap of the data.

    A request log is counted as it is; a rate series is drawn (Poisson, from `seed`) at the time-weighted
    rate of each step, without materialising the requests: fourteen days of ServeGen are 120,960 steps of
    10 s, and hundreds of millions of requests.
    """
    edges = _steps(trace, step_seconds)
    steps = edges.size - 1
    if isinstance(trace, RequestLog):
        counts, _ = np.histogram(trace.arrivals, bins=edges)
        return counts.astype(np.int64), np.zeros(steps, dtype=np.bool_)
    gap_windows = np.flatnonzero(trace.gaps)
    in_gap = np.zeros(steps, dtype=np.bool_)
    if gap_windows.size:
        middles = edges[:-1] + step_seconds / 2
        window_of_step = np.clip(
            np.searchsorted(trace.starts, middles, side="right") - 1, 0, trace.starts.size - 1
        )
        in_gap = trace.gaps[window_of_step]
    counts = np.random.default_rng(seed).poisson(rate_per_step(trace, step_seconds) * step_seconds)
    return counts.astype(np.int64), in_gap


# ------------------------------------------------------------------------------------------ load shaping


def rate_scale(trace: Trace, factor: float, seed: int) -> Trace:
    """The trace at `factor` times its load, so that a small trace can load a large fleet.

    A request log gets `floor(factor)` copies superposed, each shifted (cyclically, by a seeded offset) so
    that their bursts do not line up, plus a thinned copy for the fraction; below 1 it is thinned. A rate
    series has its rates multiplied.
    """
    if not factor > 0:
        raise ValueError(f"rate scale must be positive, got {factor}")
    if isinstance(trace, RateSeries):
        return replace(trace, rates=trace.rates * factor, source=f"{trace.source} x{factor:g}")
    rng = np.random.default_rng(seed)
    length = max(trace.duration, 1e-9)
    whole, fraction = int(factor), factor - int(factor)
    picks: list[tuple[Floats, npt.NDArray[np.int64]]] = []
    index = np.arange(len(trace))
    for copy in range(whole):
        shift = 0.0 if copy == 0 else float(rng.random() * length)
        picks.append(((trace.arrivals + shift) % length, index))
    if fraction > 0:
        kept = index[rng.random(len(trace)) < fraction]
        shift = float(rng.random() * length) if whole else 0.0
        picks.append(((trace.arrivals[kept] + shift) % length, kept))
    arrivals = np.concatenate([p[0] for p in picks])
    which = np.concatenate([p[1] for p in picks])
    order = np.argsort(arrivals, kind="stable")
    return RequestLog(
        arrivals=arrivals[order],
        input_tokens=None if trace.input_tokens is None else trace.input_tokens[which[order]],
        output_tokens=None if trace.output_tokens is None else trace.output_tokens[which[order]],
        duration=trace.duration,
        source=f"{trace.source} x{factor:g}",
    )


def time_scale(trace: Trace, factor: float) -> Trace:
    """The same requests over `factor` times the time (2 = half the rate, twice as long)."""
    if not factor > 0:
        raise ValueError(f"time scale must be positive, got {factor}")
    if isinstance(trace, RateSeries):
        return replace(
            trace,
            starts=trace.starts * factor,
            widths=trace.widths * factor,
            rates=trace.rates / factor,
            source=f"{trace.source} t{factor:g}",
        )
    return replace(
        trace,
        arrivals=trace.arrivals * factor,
        duration=trace.duration * factor,
        source=f"{trace.source} t{factor:g}",
    )
