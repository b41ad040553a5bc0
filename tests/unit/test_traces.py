"""Traces: the shipped public traces read as their provenance describes them, arrivals drawn reproducibly,
load shaped without losing requests or their token counts."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from genai_autoscaler_tools.sim.traces import (
    RateSeries,
    RequestLog,
    TraceFormatError,
    arrivals_per_step,
    poisson_requests,
    rate_scale,
    read_trace,
    time_scale,
)
from hypothesis import given
from hypothesis import strategies as st

TRACES = Path(__file__).resolve().parents[2] / "data" / "traces"
AZURE = TRACES / "azure_llm_2023_conv.csv"
SERVEGEN = TRACES / "servegen_aggregate_rate_10min.csv"


def test_the_azure_trace_reads_as_its_provenance_describes() -> None:
    trace = read_trace(AZURE)
    assert isinstance(trace, RequestLog)
    assert len(trace) == 19_366
    assert 57 * 60 < trace.duration < 59 * 60
    assert trace.input_tokens is not None
    assert trace.output_tokens is not None
    assert round(float(trace.input_tokens.mean())) == 1155
    assert round(float(trace.output_tokens.mean())) == 211
    per_minute, _ = arrivals_per_step(trace, 60, seed=0)
    assert int(per_minute.max()) == 507


def test_servegen_reads_one_model_and_marks_its_gaps() -> None:
    large = read_trace(SERVEGEN, model="m-large")
    assert isinstance(large, RateSeries)
    assert (large.starts.size, large.duration) == (2016, 14 * 86_400)
    assert float(np.nanmin(large.rates)) > 0  # its daily cycle peaks at 583 requests/s (the provenance note)
    assert round(float(np.nanmax(large.rates))) == 583
    mid = read_trace(SERVEGEN, model="m-mid")
    assert isinstance(mid, RateSeries)
    assert int(mid.gaps.sum()) > 0
    assert not large.gaps.any()


@pytest.mark.parametrize(
    ("model", "message"),
    [(None, "needs --model"), ("m-huge", "has no model 'm-huge'")],
    ids=["no model", "unknown model"],
)
def test_servegen_needs_a_model_it_has(model: str | None, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message) as raised:
        read_trace(SERVEGEN, model=model)
    assert "m-large, m-mid, m-small" in str(raised.value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def test_canonical_request_logs_take_seconds_or_iso_and_any_order(tmp_path: Path) -> None:
    seconds = read_trace(
        write(tmp_path, "timestamp,input_tokens,output_tokens\n105.5,10,2\n100,20,3\n101,30,4\n")
    )
    assert isinstance(seconds, RequestLog)
    assert seconds.arrivals.tolist() == [0.0, 1.0, 5.5]
    assert seconds.input_tokens is not None
    assert seconds.input_tokens.tolist() == [20, 30, 10]
    iso = read_trace(
        write(
            tmp_path,
            "timestamp,input_tokens,output_tokens\n"
            "2026-11-24T10:00:00Z,1,1\n2026-11-24T10:00:02.5+00:00,1,1\n",
        )
    )
    assert isinstance(iso, RequestLog)
    assert iso.arrivals.tolist() == [0.0, 2.5]


BURSTGPT = (
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    "5,ChatGPT,472,18,490,Conversation log\n"
    "45,ChatGPT,1087,230,1317,Conversation log\n"
    "118,GPT-4,417,276,693,Conversation log\n"
    "120,GPT-4,300,0,300,API log\n"
    "47.5,ChatGPT,90,0,90,API log\n"
)


def test_a_burstgpt_trace_is_read_one_model_at_a_time(tmp_path: Path) -> None:
    # Given BurstGPT's columns (seconds from the trace's start; a failed request has no response tokens)
    path = write(tmp_path, BURSTGPT)
    # Then a file of two models needs --model, and names them
    with pytest.raises(TraceFormatError, match="a BurstGPT trace needs --model; it has ChatGPT, GPT-4"):
        read_trace(path)
    with pytest.raises(TraceFormatError, match="has no model 'gpt-4'"):
        read_trace(path, model="gpt-4")
    # And one model's requests are a request log in arrival order, a failed one kept with no output (its caller
    # still sent it)
    chat = read_trace(path, model="ChatGPT")
    assert isinstance(chat, RequestLog)
    assert chat.arrivals.tolist() == [0.0, 40.0, 42.5]
    assert chat.input_tokens is not None
    assert chat.output_tokens is not None
    assert chat.input_tokens.tolist() == [472, 1087, 90]
    assert chat.output_tokens.tolist() == [18, 230, 0]
    assert chat.source == "trace.csv (ChatGPT)"


def test_a_burstgpt_trace_with_sessions_and_one_model_needs_no_model(tmp_path: Path) -> None:
    # Given the later release's columns (a session and its elapsed time after the timestamp), one model only
    path = write(
        tmp_path,
        "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "10,3f2a,0,GPT-4,100,20,120,Conversation log\n"
        "12.25,3f2a,2.25,GPT-4,200,40,240,Conversation log\n",
    )
    trace = read_trace(path)
    # Then it is read whole, the tokens from their own columns
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == [0.0, 2.25]
    assert trace.input_tokens is not None
    assert trace.input_tokens.tolist() == [100, 200]
    # And a bad cell is named with its line and column
    broken = write(tmp_path, BURSTGPT.replace("1087,230", "1087,lots"))
    with pytest.raises(TraceFormatError, match=r"trace.csv:3: Response tokens 'lots' is not a number"):
        read_trace(broken, model="ChatGPT")


def test_azures_multimodal_trace_is_read_compressed_as_published(tmp_path: Path) -> None:
    # Given Azure's 2025 multimodal trace as it is published: gzip-compressed, images counted per request
    path = tmp_path / "AzureLMMInferenceTrace_multimodal.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"TIMESTAMP,NumImages,ContextTokens,GeneratedTokens\n"
            b"2024-10-15 00:00:01.5000000,2,1500,40\n2024-10-15 00:00:00.2500000,0,300,12\n"
        )
    )
    trace = read_trace(path)
    # Then it is a request log of its tokens (the images are not modelled)
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == [0.0, 1.25]
    assert trace.input_tokens is not None
    assert trace.input_tokens.tolist() == [300, 1500]
    # And a compressed file that is broken is named
    path.write_bytes(gzip.compress(b"TIMESTAMP,ContextTokens,GeneratedTokens\n")[:12])
    with pytest.raises(TraceFormatError, match="a broken gzip file"):
        read_trace(path)


def test_a_burstgpt_model_is_read_without_its_spaces_and_an_empty_one_is_named(tmp_path: Path) -> None:
    # Given a BurstGPT file saved with a byte-order mark, and a model cell with a trailing space
    path = tmp_path / "trace.csv"
    path.write_bytes("\ufeff".encode() + BURSTGPT.replace("45,ChatGPT,", "45,ChatGPT ,").encode())
    chat = read_trace(path, model="ChatGPT")
    # Then the mark is skipped and the model is the same one
    assert isinstance(chat, RequestLog)
    assert len(chat) == 3
    # And a row without a model is named
    with pytest.raises(TraceFormatError, match=r"trace.csv:3: the model is empty"):
        read_trace(write(tmp_path, BURSTGPT.replace("45,ChatGPT,", "45,,")), model="ChatGPT")


ROW = st.tuples(
    st.floats(0, 1e7, allow_nan=False),
    st.integers(0, 10**6),
    st.integers(0, 10**5),
    st.sampled_from(["A", "B"]),
)


@given(st.lists(ROW, min_size=1, max_size=30))
def test_burstgpt_rows_read_back_as_the_requests_they_are(rows: list[tuple[float, int, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "BurstGPT.csv"
        path.write_text(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
            + "".join(f"{t!r},{m},{i},{o},{i + o},Conversation log\n" for t, i, o, m in rows)
        )
        model = rows[0][3]
        trace = read_trace(path, model=model)
    mine = sorted(((t, i, o) for t, i, o, m in rows if m == model), key=lambda r: r[0])
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == pytest.approx([t - mine[0][0] for t, _, _ in mine], abs=1e-6)
    assert sorted(zip(trace.input_tokens.tolist(), trace.output_tokens.tolist(), strict=True)) == sorted(  # type: ignore[union-attr]
        (i, o) for _, i, o in mine
    )


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**6), st.integers(0, 10**5)), min_size=1))
def test_mooncake_lines_read_back_as_the_requests_they_are(records: list[tuple[int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.jsonl"
        path.write_text(
            "\r\n".join(
                json.dumps({"timestamp": t, "input_length": i, "output_length": o, "hash_ids": [1]})
                for t, i, o in records
            )
        )
        trace = read_trace(path)
    first = min(t for t, _, _ in records)
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == pytest.approx(sorted((t - first) / 1000 for t, _, _ in records))
    assert sorted(zip(trace.input_tokens.tolist(), trace.output_tokens.tolist(), strict=True)) == sorted(  # type: ignore[union-attr]
        (i, o) for _, i, o in records
    )


def test_a_json_line_ends_only_at_a_line_break(tmp_path: Path) -> None:
    # Given two records joined by a form feed on the first line (str.splitlines would split them), and a broken
    # third line
    record = '{"timestamp": 0, "input_length": 1, "output_length": 2}'
    path = jsonl(tmp_path, f"{record}\x0c{record}\n{record}\n{{broken\n")
    # Then the first line is one line, not two requests, and the broken one is named as the third
    with pytest.raises(TraceFormatError, match=r"trace.jsonl:1: not a JSON object"):
        read_trace(path)
    path.write_text(f"{record}\n{record}\n{{broken\n")
    with pytest.raises(TraceFormatError, match=r"trace.jsonl:3: not a JSON object"):
        read_trace(path)


def jsonl(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text(text)
    return path


def test_a_mooncake_trace_is_read_from_its_json_lines(tmp_path: Path) -> None:
    # Given Mooncake's JSON lines (timestamps in milliseconds; the cache blocks' hashes not needed)
    path = jsonl(
        tmp_path,
        '{"timestamp": 3000, "input_length": 13544, "output_length": 71, "hash_ids": [0, 219]}\n'
        '{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}\n'
        "\n"
        '{"timestamp": 5999.5, "input_length": 1053, "output_length": 26}\n',
    )
    trace = read_trace(path)
    # Then they are a request log in seconds, in arrival order
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == [0.0, 3.0, 5.9995]
    assert trace.input_tokens is not None
    assert trace.output_tokens is not None
    assert trace.input_tokens.tolist() == [6758, 13544, 1053]
    assert trace.output_tokens.tolist() == [500, 71, 26]
    with pytest.raises(TraceFormatError, match="a Mooncake trace \\(JSON lines\\) has no models"):
        read_trace(path, model="m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"timestamp": 0, "input_length": 1, "output_length": 2}\n{"timestamp": 1', ":2: not a JSON object"),
        ('{"timestamp": 0, "input_length": 1}\n', ":1: a Mooncake line has .*; missing output_length"),
        (
            '{"timestamp": 0, "input_length": 1, "output_length": 2, "user": "x"}\n',
            ":1: a Mooncake line has .*; unknown user",
        ),
        (
            '{"timestamp": true, "input_length": 1, "output_length": 2}\n',
            ":1: timestamp true is not a number",
        ),
        ('{"timestamp": "0", "input_length": 1, "output_length": 2}\n', ':1: timestamp "0" is not a number'),
        ('{"timestamp": 0, "input_length": -4, "output_length": 2}\n', ":1: input_length .* must be .* >= 0"),
        (
            '{"timestamp": 1e400, "input_length": 1, "output_length": 2}\n',
            ":1: timestamp .* must be a finite",
        ),
        ("{}\n[1, 2]\n", ":1: a Mooncake line has"),
        ('{"timestamp": 0, "input_length": 1, "output_length": 2}\n[1, 2]\n', ":2: not a JSON object"),
    ],
    ids=[
        "broken JSON",
        "missing key",
        "unknown key",
        "boolean",
        "string",
        "negative",
        "huge",
        "empty",
        "a list",
    ],
)
def test_a_broken_mooncake_line_is_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message):
        read_trace(jsonl(tmp_path, text))


def test_canonical_rate_series(tmp_path: Path) -> None:
    series = read_trace(write(tmp_path, "timestamp,rate_rps\n0,2\n60,4\n120,0\n"))
    assert isinstance(series, RateSeries)
    assert series.widths.tolist() == [60.0, 60.0, 60.0]
    assert series.expected_requests() == 360.0
    assert not series.gaps.any()  # an explicit zero is idle, not a gap


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,what\n1,2\n", "unknown header 'when,what'"),
        ("timestamp,input_tokens,output_tokens\n", "no rows after the header"),
        (
            "timestamp,input_tokens,output_tokens\n1,2,3\nyesterday,2,3\n",
            "trace.csv:3: timestamp 'yesterday'",
        ),
        ("timestamp,input_tokens,output_tokens\n1,-2,3\n", "trace.csv:2: input_tokens '-2' must be"),
        ("timestamp,input_tokens,output_tokens\n1,2\n", "trace.csv:2: expected 3 columns"),
        ("timestamp,rate_rps\n0,1\n60\n", r"trace.csv:3: expected 2 columns \(timestamp,rate_rps\), found 1"),
        (
            "model,timestamp,total_rate_rps,active_clients\nm,0,1,1\nm,600,1\n",
            "trace.csv:3: expected 4 columns",
        ),
        ("timestamp,rate_rps\n0,1\n0,2\n", "two windows start at the same time"),
        (
            "timestamp,input_tokens,output_tokens,user\n1,2,3,ann\n",
            r"the header has columns its format \(timestamp,input_tokens,output_tokens\) does not define: user",
        ),
        (
            "timestamp,rate_rps,input_tokens\n0,1,300\n",
            r"\(timestamp,rate_rps\) does not define: input_tokens",
        ),
        ("timestamp,rate_rps\n0,1\n60,1,5\n", "trace.csv:3: expected 2 columns .*, found 3"),
        ("timestamp\n0\n2,400\n", "trace.csv:3: expected 1 columns"),
    ],
    ids=[
        "header",
        "empty",
        "timestamp",
        "negative tokens",
        "short row",
        "short rate row",
        "short ServeGen row",
        "duplicate window",
        "extra column",
        "half the token columns",
        "extra cell",
        "extra cell of arrival times",
    ],
)
def test_bad_traces_are_named_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message):
        read_trace(write(tmp_path, text), model="m" if text.startswith("model,") else None)


def test_a_rate_series_with_token_columns_reads_as_trace_export_writes_it(tmp_path: Path) -> None:
    # Given a rate series as `trace export` writes it for a Bedrock model
    path = write(tmp_path, "timestamp,rate_rps,input_tokens,output_tokens\n0,2,300.0,80.0\n60,1,,\n")
    # When it is read, Then it is the rate series
    series = read_trace(path)
    assert isinstance(series, RateSeries)
    assert series.rates.tolist() == [2.0, 1.0]


@pytest.mark.parametrize(
    "text",
    ["timestamp,input_tokens,output_tokens\n1,2,3\n", "timestamp,rate_rps\n0,1\n", "timestamp\n0\n"],
    ids=["request log", "rate series", "arrival times"],
)
def test_a_model_is_refused_for_a_trace_without_models(tmp_path: Path, text: str) -> None:
    with pytest.raises(
        TraceFormatError, match=r"--model m-small: only a ServeGen \(.*\) or BurstGPT trace has models"
    ):
        read_trace(write(tmp_path, text), model="m-small")


def test_poisson_draws_repeat_for_a_seed_and_match_the_rate() -> None:
    # Given a constant 50 requests/s for an hour (180,000 expected)
    series = RateSeries(np.array([0.0]), np.array([3600.0]), np.array([50.0]), "flat")
    first, again, other = (poisson_requests(series, seed) for seed in (1, 1, 2))
    assert np.array_equal(first.arrivals, again.arrivals)
    assert not np.array_equal(first.arrivals, other.arrivals)
    # The total is within 4 standard deviations (sqrt(180,000) = 424) of the mean
    assert abs(len(first) - 180_000) < 4 * 424
    # Inter-arrival times of a Poisson process are exponential: mean 1/50 s, coefficient of variation 1
    gaps = np.diff(first.arrivals)
    assert abs(gaps.mean() - 0.02) < 0.0005
    assert abs(gaps.std() / gaps.mean() - 1) < 0.02


def test_per_step_counts_of_fourteen_days_keep_the_expected_total() -> None:
    large = read_trace(SERVEGEN, model="m-large")
    assert isinstance(large, RateSeries)
    counts, gaps = arrivals_per_step(large, 10, seed=3)
    assert counts.size == 120_960
    assert not gaps.any()
    expected = large.expected_requests()
    assert abs(counts.sum() - expected) < 4 * np.sqrt(expected)
    repeat, _ = arrivals_per_step(large, 10, seed=3)
    assert np.array_equal(counts, repeat)


def test_gap_windows_draw_nothing_and_are_flagged() -> None:
    mid = read_trace(SERVEGEN, model="m-mid")
    assert isinstance(mid, RateSeries)
    counts, gaps = arrivals_per_step(mid, 600, seed=0)
    assert gaps.sum() == mid.gaps.sum()
    assert counts[gaps].sum() == 0


@pytest.mark.parametrize("factor", [0.5, 1.0, 3.5], ids=["thinned", "as is", "superposed"])
def test_rate_scale_keeps_duration_and_token_pairs(factor: float) -> None:
    trace = read_trace(AZURE)
    assert isinstance(trace, RequestLog)
    scaled = rate_scale(trace, factor, seed=9)
    assert isinstance(scaled, RequestLog)
    assert scaled.duration == trace.duration
    assert abs(len(scaled) / len(trace) - factor) < 0.02
    assert bool(np.all(np.diff(scaled.arrivals) >= 0))
    # every scaled request is one of the trace's, tokens together
    assert scaled.input_tokens is not None
    assert scaled.output_tokens is not None
    assert trace.input_tokens is not None
    assert trace.output_tokens is not None
    pairs = set(zip(trace.input_tokens.tolist(), trace.output_tokens.tolist(), strict=True))
    assert set(zip(scaled.input_tokens.tolist(), scaled.output_tokens.tolist(), strict=True)) <= pairs


def test_time_scale_stretches_time_and_keeps_the_requests() -> None:
    series = RateSeries(np.array([0.0, 60.0]), np.array([60.0, 60.0]), np.array([2.0, 4.0]), "s")
    slow = time_scale(series, 2)
    assert isinstance(slow, RateSeries)
    assert (slow.duration, slow.expected_requests()) == (240.0, series.expected_requests())
    log = time_scale(read_trace(AZURE), 0.5)
    assert isinstance(log, RequestLog)
    assert log.duration == pytest.approx(read_trace(AZURE).duration / 2)


def test_a_request_log_of_arrival_times_only_reads_without_token_counts(tmp_path: Path) -> None:
    # Given a log of when requests arrived, out of order, in ISO 8601
    path = tmp_path / "arrivals.csv"
    path.write_text("timestamp\n2026-12-01T10:00:05Z\n2026-12-01T10:00:00Z\n2026-12-01T10:01:00Z\n")
    # When it is read
    trace = read_trace(path)
    # Then it is a request log from 0, in order, whose sizes are left to a request profile
    assert isinstance(trace, RequestLog)
    assert trace.arrivals.tolist() == [0.0, 5.0, 60.0]
    assert (trace.input_tokens, trace.output_tokens, trace.duration) == (None, None, 60.0)


def test_a_bad_time_in_a_log_of_arrival_times_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "arrivals.csv"
    path.write_text("timestamp\n1\nsoon\n")
    with pytest.raises(TraceFormatError, match=r"arrivals.csv:3"):
        read_trace(path)
