"""`genai-autoscaler simulate`, run in-process on small traces: what it prints, writes and refuses."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from genai_autoscaler_tools.cli import inputs
from genai_autoscaler_tools.cli.main import main
from genai_autoscaler_tools.sim.compare import POLICIES
from genai_autoscaler_tools.sim.endpoint import EndpointModel
from genai_autoscaler_tools.sim.replay import PolicyResult
from genai_autoscaler_tools.sim.report import minute_p95, pareto_optimal

SUMMARY_KEYS = set(PolicyResult("any").summary())
TRACES = Path(__file__).resolve().parents[2] / "data" / "traces"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

POLICY_DOCUMENT = {
    "version": 1,
    "targets": [
        {
            "type": "inference_component",
            "inference_component_name": "llama3-8b-ic",
            "endpoint_name": "shared-gpu-endpoint",
            "scale_to_zero": True,
            "capacity": {"min": 0, "max": 4},
        },
        {"type": "bedrock_model", "model_id": "amazon.nova-pro-v1:0"},
        {
            "type": "sagemaker_variant",
            "endpoint_name": "chat-prod",
            "capacity": {"min": 1, "max": 6},
            "signals": {"latency_p95_ms": 15000, "concurrency_per_unit": 6},
            "scale_in": {"stabilization_seconds": 300},
        },
        {"type": "sagemaker_variant", "endpoint_name": "batch-prod", "capacity": {"min": 1, "max": 2}},
    ],
}
DEFAULT_TARGET = "chat-prod/AllTraffic"  # the first sagemaker_variant of the document

# Ten minutes: 2 requests/s, a burst of 7/s from minute 3 to minute 6, then 2/s again.
BURST_RPS = [2, 2, 2, 7, 7, 7, 2, 2, 2, 2]
SIZES = [(400, 60), (1200, 220), (2500, 450)]  # (input, output) tokens, in turn


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def row(self, label: str) -> list[str]:
        """The cells of the table row whose label is `label` (labels may be indented)."""
        for line in self.out.splitlines():
            if line.strip().startswith(label) and re.match(rf"\s*{re.escape(label)}\s{{2}}", line):
                return line[len(line) - len(line.lstrip()) + len(label) :].split()
        raise AssertionError(f"no row {label!r} in:\n{self.out}")


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps(POLICY_DOCUMENT), encoding="utf-8")
    return path


def request_log(tmp_path: Path) -> tuple[Path, int]:
    """The burst as a request log, evenly spaced, with token counts; and its number of requests."""
    rows = ["timestamp,input_tokens,output_tokens"]
    for minute, rate in enumerate(BURST_RPS):
        for k in range(60 * rate):
            tokens = SIZES[len(rows) % len(SIZES)]
            rows.append(f"{minute * 60 + k / rate:.3f},{tokens[0]},{tokens[1]}")
    path = tmp_path / "requests.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, len(rows) - 1


def rate_series(tmp_path: Path) -> Path:
    """The burst as a per-minute rate series (as `trace export` writes it): no token counts."""
    rows = ["timestamp,rate_rps", *(f"{minute * 60},{rate}" for minute, rate in enumerate(BURST_RPS))]
    path = tmp_path / "rates.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def trace_of(kind: str, tmp_path: Path) -> Path:
    return request_log(tmp_path)[0] if kind == "request-log" else rate_series(tmp_path)


def simulate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Run:
    code = main(["simulate", *(str(arg) for arg in argv)])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


# ------------------------------------------------------------------------------------------------ --json


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        ([], list(POLICIES)),
        (["--policy", "all"], list(POLICIES)),
        (["--policy", "controller"], ["controller"]),
        (["--policy", "static", "--policy", "oracle"], ["static", "oracle"]),
    ],
    ids=["default-all", "all", "controller", "static-and-oracle"],
)
def test_json_holds_the_summary_of_each_policy_and_nothing_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, chosen: list[str], expected: list[str]
) -> None:
    # Given a request log of a burst
    trace, _ = request_log(tmp_path)

    # When it is simulated with --json
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--json", *chosen)

    # Then stdout is one JSON object, a key per chosen policy, each PolicyResult.summary()'s figures
    assert result.code == 0, result.err
    # (stderr holds only the warning that the burst needs more than the target's max)
    assert [line for line in result.err.splitlines() if not line.startswith("warning: demand peaks")] == []
    assert list(result.json) == expected
    for summary in result.json.values():
        assert set(summary) == SUMMARY_KEYS
        assert 0 <= summary["slo_attainment"] <= 1


@pytest.mark.parametrize("kind", ["request-log", "rate-series"])
def test_every_request_is_served_throttled_or_failed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, kind: str
) -> None:
    # Given a trace of a burst, which overloads the starting capacity
    trace = trace_of(kind, tmp_path)

    # When every policy replays it, in JSON and as a table
    figures = simulate(capsys, "--trace", trace, "--policies", policies, "--json").json
    table = simulate(capsys, "--trace", trace, "--policies", policies)

    # Then each request is counted once: served (within the SLO or not), throttled or failed
    assert table.code == 0, table.err
    assert table.row("")[: len(POLICIES)] == list(POLICIES)
    for column, name in enumerate(POLICIES):
        summary = figures[name]
        served = int(table.row("served")[column].replace(",", ""))
        assert abs(served + summary["throttled"] + summary["failed"] - summary["requests"]) <= 2
        assert summary["served_within_slo"] <= served + 1
        assert summary["slo_attainment"] == pytest.approx(
            summary["served_within_slo"] / summary["requests"], abs=1e-3
        )
        # and the table shows the same figures as the JSON
        assert table.row("requests")[column] == f"{summary['requests']:,}"
        assert table.row("cost (USD)")[column] == f"${summary['cost_usd']:,.2f}"


@pytest.mark.parametrize(
    ("kind", "sizes"),
    [
        ("request-log", "the trace's own token counts"),
        ("rate-series", "none in the trace, so RequestProfile.default(): Azure LLM inference trace"),
    ],
    ids=["request-log", "rate-series"],
)
def test_the_header_says_what_was_replayed_and_how_it_is_judged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, kind: str, sizes: str
) -> None:
    # Given a trace with or without token counts
    trace = trace_of(kind, tmp_path)

    # When it is simulated
    result = simulate(
        capsys, "--trace", trace, "--policies", policies, "--policy", "controller", "--seed", "7"
    )

    # Then the header names the trace, its length and requests, the request sizes, the default target,
    # the endpoint model, the SLO and the seed
    assert result.code == 0, result.err
    header = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in result.out.split("\n\n")[0].splitlines())
    requests = int(result.row("requests")[0].replace(",", ""))
    assert header["trace"].startswith(f"{trace.name}, a ")
    assert header["trace"].endswith(f": 10 min, {requests:,} requests")
    assert header["request sizes"].startswith(sizes)
    assert header["target"].startswith(f"{DEFAULT_TARGET} ({policies}): capacity 1..6")
    # (the endpoint is the default EndpointModel: nothing above overrides it)
    model = EndpointModel()
    assert header["endpoint"].startswith(
        f"{model.instance_type} at ${model.hourly_price_usd:g}/h, cold start {model.cold_start_s:g} s "
        f"(provisioning {model.provisioning_s:g} s + model load {model.model_load_s:g} s)"
    )
    assert header["latency SLO"].startswith("whole response within 2 s + 0.04 s per output token")
    assert header["replay"] == "steps of 10 s, seed 7"


@pytest.mark.parametrize(
    ("shaping", "requests_factor", "duration"),
    [([], 1, "10 min"), (["--rate-scale", "2"], 2, "10 min"), (["--time-scale", "2"], 1, "20 min")],
    ids=["as-is", "twice-the-load", "twice-as-long"],
)
def test_rate_and_time_scale_shape_the_trace(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    policies: Path,
    shaping: list[str],
    requests_factor: int,
    duration: str,
) -> None:
    # Given a request log
    trace, count = request_log(tmp_path)

    # When it is simulated scaled in load or in time
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static", *shaping)

    # Then its requests are multiplied, or spread over more time
    assert result.code == 0, result.err
    assert result.row("requests") == [f"{count * requests_factor:,}"]
    assert f": {duration}, " in result.out


@pytest.mark.parametrize(
    ("price", "expected_label"),
    [("1.515", None), ("3.03", "set: hourly_price_usd=3.03")],
    ids=["default", "set"],
)
def test_endpoint_params_change_the_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, price: str, expected_label: str | None
) -> None:
    # Given a request log and an hourly price
    trace, _ = request_log(tmp_path)
    argv: list[str | Path] = ["--trace", trace, "--policies", policies, "--policy", "static"]
    param = [] if expected_label is None else ["--endpoint-param", f"hourly_price_usd={price}"]

    # When it is simulated with that price
    figures = simulate(capsys, *argv, *param, "--json").json["static"]
    table = simulate(capsys, *argv, *param)

    # Then the cost is the capacity-hours at that price, and the header says what was set
    assert figures["cost_usd"] == pytest.approx(figures["capacity_hours"] * float(price), abs=0.01)
    if expected_label is None:
        assert "set:" not in table.out
    else:
        assert expected_label in table.out


def test_routing_at_random_takes_more_instances_for_the_same_slo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given a request log
    trace, _ = request_log(tmp_path)
    argv: list[str | Path] = ["--trace", trace, "--policies", policies, "--policy", "static"]

    # When the endpoint routes as AWS advises for generative AI (the default), then at random (SageMaker's own
    # default without a RoutingConfig)
    pooled = simulate(capsys, *argv)
    apart = simulate(capsys, *argv, "--endpoint-param", "routing=random")
    as_status_says = simulate(capsys, *argv, "--endpoint-param", "routing=RANDOM")

    # Then its instances, queueing apart, need more of them to serve the peak within the SLO, and the header
    # says how the endpoint routes
    def needed(run: Run) -> int:
        found = re.search(r"(\d+) instances serve it within the SLO", " ".join(run.row("demand")))
        assert found is not None, run.out
        return int(found.group(1))

    assert needed(apart) > needed(pooled)
    assert needed(as_status_says) == needed(apart)  # the strategy as the API (and `status`) names it
    assert "per instance, routing random" in apart.out
    assert "per instance, routing least_outstanding_requests" in pooled.out


def test_a_concurrency_maximum_read_nearer_the_mean_reaches_the_threshold_at_a_higher_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the Azure hour and the example policy's controller (threshold 9, chosen under the default reading)
    argv: list[str | Path] = [
        "--trace",
        TRACES / "azure_llm_2023_conv.csv",
        "--policy",
        "controller",
        "--json",
    ]

    # When the endpoint's concurrency Maximum reads as the simulator assumes, then nearer the mean (as
    # `trace export` may measure on a fleet routed to its least busy instance)
    assumed = simulate(capsys, *argv).json["controller"]
    nearer = simulate(capsys, *argv, "--endpoint-param", "concurrency_peak_sigmas=1.0").json["controller"]

    # Then the same threshold lets each instance run busier before it alarms, and the hour's ramp costs requests
    # (the figures the README gives for DeepSeek-R1's day show the same)
    assert assumed["slo_attainment"] >= 0.9995
    assert nearer["slo_attainment"] < assumed["slo_attainment"] - 0.005


# ------------------------------------------------------------------------------------------------ --plot


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_plot_writes_a_png(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, as_json: bool
) -> None:
    pytest.importorskip("matplotlib")
    # Given a request log and a plot file to write
    trace, _ = request_log(tmp_path)
    plot = tmp_path / "replay.png"

    # When two policies are simulated with --plot
    argv: list[str | Path] = [
        "--trace",
        trace,
        "--policies",
        policies,
        "--policy",
        "controller",
        "--policy",
        "oracle",
    ]
    result = simulate(capsys, *argv, "--plot", plot, *(["--json"] if as_json else []))

    # Then a PNG is written, and said so where it does not spoil the JSON
    assert result.code == 0, result.err
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    if as_json:
        assert list(result.json) == ["controller", "oracle"]
        assert f"wrote {plot}" in result.err
    else:
        assert result.out.rstrip().endswith(f"wrote {plot}")


def test_plot_without_matplotlib_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an environment without matplotlib
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    trace, _ = request_log(tmp_path)

    # When a plot is asked for
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--plot", tmp_path / "replay.png")

    # Then nothing is replayed, and the error says what to install
    assert result.code == 2
    assert result.out == ""
    assert "--plot needs matplotlib" in result.err
    assert "pip install -e '.[sim]'" in result.err


@pytest.mark.parametrize(
    ("latencies", "placed"),
    [([4.0, 6.0], [30 / 3600, 90 / 3600]), ([6.0], None)],
    ids=["every-minute", "a-minute-left-out"],
)
def test_per_minute_latency_is_placed_only_when_every_minute_has_one(
    latencies: list[float], placed: list[float] | None
) -> None:
    # Given a two-minute replay (10 s steps) and its per-minute p95 latencies
    result = PolicyResult("controller", demand=np.ones(12), minute_p95_s=np.asarray(latencies))

    # When they are placed on the plot's time axis (hours)
    # Then each sits at the middle of its minute, or, when a minute was left out, they are refused
    if placed is None:
        with pytest.raises(ValueError, match="1 per-minute latencies for 2 minutes"):
            minute_p95(result, 10.0)
    else:
        at, p95 = minute_p95(result, 10.0)
        assert at.tolist() == pytest.approx(placed)
        assert p95.tolist() == latencies


# ------------------------------------------------------------------------------------------------ --sweep


@pytest.mark.parametrize(
    ("sweep", "field", "values"),
    [
        ("signals.concurrency_per_unit=4,6,8", "signals.concurrency_per_unit", [4.0, 6.0, 8.0]),
        ("scale_in.stabilization_seconds=300,900", "scale_in.stabilization_seconds", [300, 900]),
        ("signals.latency_p95_ms=5000,null", "signals.latency_p95_ms", [5000.0, None]),
    ],
    ids=["concurrency", "stabilization", "signal-off"],
)
def test_sweep_json_has_one_point_per_value(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    policies: Path,
    sweep: str,
    field: str,
    values: list[Any],
) -> None:
    # Given a request log
    trace, _ = request_log(tmp_path)

    # When a field of the target's policy is swept
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--sweep", sweep, "--json")

    # Then there is one point per value, as validated, with the controller's summary and its Pareto flag
    assert result.code == 0, result.err
    assert [line for line in result.err.splitlines() if not line.startswith("warning: demand peaks")] == []
    output = result.json
    assert output["field"] == field
    assert [point["value"] for point in output["points"]] == values
    for point in output["points"]:
        assert set(point) == {"value", "pareto_optimal", *SUMMARY_KEYS}
    assert any(point["pareto_optimal"] for point in output["points"])


def test_sweep_table_marks_the_pareto_optimal_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given a request log
    trace, _ = request_log(tmp_path)
    argv: list[str | Path] = ["--trace", trace, "--policies", policies, "--sweep", "capacity.max=1,2,6"]

    # When capacity.max is swept, as a table and as JSON
    table = simulate(capsys, *argv)
    points = simulate(capsys, *argv, "--json").json["points"]

    # Then each value has a row, marked `*` exactly when it is Pareto-optimal
    assert table.code == 0, table.err
    assert "sweep          capacity.max = 1, 2, 6, the controller only" in table.out
    for point in points:
        row = table.row(str(point["value"]))
        assert (row[-1] == "*") == point["pareto_optimal"]
        assert row[0] == f"{100 * point['slo_attainment']:.3f}%"


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0.99, 10.0)], [True]),
        ([(0.99, 10.0), (0.98, 12.0)], [True, False]),  # worse on both counts
        ([(0.99, 10.0), (0.995, 12.0)], [True, True]),  # a trade-off
        ([(0.99, 10.0), (0.99, 12.0)], [True, False]),  # the same attainment for less
        ([(0.99, 10.0), (0.995, 10.0)], [False, True]),  # more of the SLO for the same
        ([(0.99, 10.0), (0.99, 10.0)], [True, True]),  # the same outcome twice: neither beats the other
        ([(0.99, 10.0), (0.990001, 12.0)], [True, False]),  # closer than the tuner's resolution is the same
        ([(0.9, 5.0), (0.95, 7.0), (0.93, 8.0), (0.99, 9.0)], [True, True, False, True]),
    ],
    ids=[
        "one",
        "dominated",
        "trade-off",
        "same-slo-dearer",
        "same-cost-less-slo",
        "twice",
        "resolution",
        "frontier",
    ],
)
def test_pareto_optimal(points: list[tuple[float, float]], expected: list[bool]) -> None:
    # Given (SLO attainment, cost) points, When the frontier is taken,
    # Then a point is on it unless another is at least as good on both and better on one
    assert pareto_optimal(points) == expected


# ------------------------------------------------------------------------------------------------ progress


@pytest.mark.parametrize(
    ("terminal", "as_json", "shown"),
    [(True, False, True), (True, True, False), (False, False, False)],
    ids=["terminal", "terminal-json", "redirected"],
)
def test_progress_shows_on_a_terminal_only(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    policies: Path,
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    as_json: bool,
    shown: bool,
) -> None:
    # Given stderr that is (or is not) a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    trace, _ = request_log(tmp_path)

    # When two policies are replayed
    argv: list[str | Path] = [
        "--trace",
        trace,
        "--policies",
        policies,
        "--policy",
        "controller",
        "--policy",
        "static",
    ]
    result = simulate(capsys, *argv, *(["--json"] if as_json else []))

    # Then progress is written to stderr only for a person watching it, and erased at the end
    assert result.code == 0
    assert ("replaying static (2/2) 100%" in result.err) == shown
    assert result.err.endswith("\r") == shown


# ------------------------------------------------------------------------------------------------ errors


SERVEGEN = "model,timestamp,total_rate_rps,active_clients\nm-small,0,2.5,3\nm-small,600,3.5,4\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--trace", "{tmp}/missing.csv"], "missing.csv: cannot read the file"),
        (["--trace", "{servegen}"], "a ServeGen trace needs --model; it has m-small"),
        (["--trace", "{servegen}", "--model", "m-large"], "has no model 'm-large'"),
        (["--target", "nope"], "--target nope: no such target"),
        (["--target", "llama3-8b-ic"], "its type is inference_component; the simulator models SageMaker"),
        (["--target", "amazon.nova-pro-v1:0"], "its type is bedrock_model"),
        (["--policy", "autoscale"], "--policy autoscale: no such policy; choose from controller"),
        (
            ["--endpoint-param", "price=2"],
            "--endpoint-param price: unknown endpoint model field 'price'; allowed",
        ),
        (["--endpoint-param", "model_load=2"], "model_load'; allowed: instance_type,"),
        (
            ["--endpoint-param", "hourly_price_usd=-1"],
            "--endpoint-param hourly_price_usd: Input should be greater",
        ),
        (["--endpoint-param", "concurrency_per_instance=many"], "concurrency_per_instance: Input should be"),
        (["--endpoint-param", "ttft_s"], "argument --endpoint-param: expected KEY=VALUE"),
        (
            ["--endpoint-param", "routing=round_robin"],
            "--endpoint-param routing: Input should be 'least_outstanding_requests' or 'random'",
        ),
        (
            ["--sweep", "signals.concurency_per_unit=4"],
            "signals: unknown field 'concurency_per_unit'; did you mean 'concurrency_per_unit'?",
        ),
        (["--model", "m-small"], "--model m-small: only a ServeGen ("),
        (
            ["--trace", "{extra_column}"],
            "the header has columns its format (timestamp,rate_rps) does not define: peak",
        ),
        (["--sweep", "capacity.min.lower=1"], "capacity.min is a value, not a section"),
        (
            ["--sweep", "signals.concurrency_per_unit=4,-1"],
            "=-1: signals.concurrency_per_unit: Input should be",
        ),
        (["--sweep", "capacity.max=0"], "--sweep capacity.max=0: capacity"),
        (["--sweep", "capacity.max"], "argument --sweep: expected FIELD=V1,V2,..."),
        (["--sweep", "capacity.max=2,4", "--policy", "static"], "--sweep replays the controller only"),
        (["--step", "7"], "argument --step: must divide a minute"),
        (["--rate-scale", "0"], "argument --rate-scale: must be a number above 0"),
        (["--plot", "{tmp}/replay.jpg"], "the plot is a PNG file"),
        (["--plot", "{tmp}/nowhere/replay.png"], "nowhere does not exist"),
    ],
    ids=[
        "missing-trace",
        "servegen-without-model",
        "servegen-unknown-model",
        "unknown-target",
        "inference-component",
        "bedrock",
        "unknown-policy",
        "unknown-endpoint-field",
        "mistyped-endpoint-field",
        "bad-endpoint-value",
        "endpoint-value-not-a-number",
        "endpoint-param-without-value",
        "unknown-routing",
        "sweep-unknown-field",
        "model-of-a-trace-without-models",
        "extra-column",
        "sweep-into-a-value",
        "sweep-bad-value",
        "sweep-invalid-policy",
        "sweep-without-values",
        "sweep-with-policy",
        "step-not-dividing-a-minute",
        "rate-scale-zero",
        "plot-not-png",
        "plot-directory-missing",
    ],
)
def test_bad_input_is_named_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, argv: list[str], expected: str
) -> None:
    # Given a usable request log and policies, and one bad argument
    trace, _ = request_log(tmp_path)
    servegen = tmp_path / "servegen.csv"
    servegen.write_text(SERVEGEN, encoding="utf-8")
    extra_column = tmp_path / "extra-column.csv"
    extra_column.write_text("timestamp,rate_rps,peak\n0,1,2\n", encoding="utf-8")
    argv = [arg.format(tmp=tmp_path, servegen=servegen, extra_column=extra_column) for arg in argv]
    if "--trace" not in argv:
        argv = ["--trace", str(trace), *argv]

    # When it is simulated
    result = simulate(capsys, "--policies", policies, *argv)

    # Then it exits 2 with a message that names the problem, and prints no results
    assert result.code == 2
    assert result.out == ""
    assert expected in result.err


@pytest.mark.parametrize("present", [True, False], ids=["present", "absent"])
def test_default_policies_are_the_repositorys_example_wherever_it_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: bool
) -> None:
    # Given a working directory without config/, and the repository's example document (or an installation
    # without it)
    trace, _ = request_log(tmp_path)
    if not present:
        monkeypatch.setattr(inputs, "DEFAULT_POLICIES", tmp_path / "policies.example.yaml")
    monkeypatch.chdir(tmp_path)

    # When it is simulated there without --policies
    result = simulate(capsys, "--trace", trace, "--policy", "static")

    # Then the example's first variant is simulated, as `plan` reads it, or the error says to pass --policies
    if present:
        assert result.code == 0, result.err
        assert f"target         llm-prod/AllTraffic ({inputs.DEFAULT_POLICIES})" in result.out
    else:
        assert result.code == 2
        assert "no --policies given" in result.err
        assert "pass --policies FILE" in result.err


# ------------------------------------------------------------------------------- real users' traces (issue 10)


def test_a_log_of_arrival_times_replays_with_the_default_request_sizes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given a log of arrival times only: a request every 2 s for ten minutes
    trace = tmp_path / "arrivals.csv"
    trace.write_text("timestamp\n" + "".join(f"{2 * n}\n" for n in range(300)))
    # When it is simulated
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "controller")
    # Then it is replayed as a request log, its sizes from the default profile
    assert result.code == 0, result.err
    assert "arrivals.csv, a request log: 10 min, 300 requests" in result.out
    assert "none in the trace, so RequestProfile.default()" in result.out


@pytest.mark.parametrize("public", ["burstgpt", "mooncake"])
def test_a_public_trace_replays_in_its_own_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, public: str
) -> None:
    # Given ten minutes of requests, a request every 2 s, in BurstGPT's columns (two models) or Mooncake's JSON
    # lines (milliseconds)
    if public == "burstgpt":
        trace = tmp_path / "BurstGPT_1.csv"
        trace.write_text(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
            + "".join(
                f"{2 * n},ChatGPT,600,120,720,Conversation log\n{2 * n + 1},GPT-4,1,1,2,API log\n"
                for n in range(300)
            )
        )
        chosen = ["--model", "ChatGPT"]
    else:
        trace = tmp_path / "conversation_trace.jsonl"
        trace.write_text(
            "".join(
                f'{{"timestamp": {2000 * n}, "input_length": 600, "output_length": 120, "hash_ids": [{n}]}}\n'
                for n in range(300)
            )
        )
        chosen = []
    # When it is simulated
    result = simulate(capsys, "--trace", trace, *chosen, "--policies", policies, "--policy", "controller")
    # Then it is replayed as a request log with its own request sizes (one model's, for BurstGPT)
    assert result.code == 0, result.err
    assert "a request log: 10 min, 300 requests" in result.out
    assert "none in the trace" not in result.out


def test_every_report_says_what_the_fleet_started_with_and_what_the_trace_asks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    trace, _ = request_log(tmp_path)
    # When it is replayed from the default start, then from 5 instances
    default = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static")
    given = simulate(
        capsys, "--trace", trace, "--policies", policies, "--policy", "static", "--initial-capacity", "5"
    )
    # Then each report says what the fleet started with, and why
    assert default.code == given.code == 0
    assert "start          6 instances InService (the first cold start's need, 9, within max)" in default.out
    assert "start          5 instances InService (--initial-capacity)" in given.out
    assert (
        "demand         peaks at 7.00 requests/s (a minute's mean): 9 instances serve it within the SLO"
        in given.out
    )


def test_demand_beyond_max_is_warned_of_with_the_capacity_it_takes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    trace, _ = request_log(tmp_path)
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static")
    assert result.code == 0
    assert "takes 9 instances to serve within the SLO; chat-prod/AllTraffic's max is 6" in result.err
    assert "raise capacity.max to 9" in result.err


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("0", "must be at least 1, got 0"),
        ("7", "--initial-capacity 7 is outside chat-prod/AllTraffic's capacity 1..6"),
    ],
    ids=["zero", "above max"],
)
def test_an_initial_capacity_the_target_cannot_have_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, given: str, problem: str
) -> None:
    trace, _ = request_log(tmp_path)
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--initial-capacity", given)
    assert result.code == 2
    assert problem in result.err


def test_traffic_an_idle_fleet_cannot_serve_within_the_slo_is_replayed_with_its_ceiling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given an SLO of 20 ms per output token, faster than an idle instance's 27 ms: long answers miss it anyway
    trace, _ = request_log(tmp_path)
    # When the trace is simulated
    result = simulate(
        capsys, "--trace", trace, "--policies", policies, "--endpoint-param", "slo_tpot_s=0.02", "--json"
    )
    # Then it is replayed, not refused, and the report says what share can meet the SLO at all
    assert result.code == 0, result.err
    assert all(summary["slo_attainment"] < 0.7 for summary in result.json.values())
    table = simulate(capsys, "--trace", trace, "--policies", policies, "--endpoint-param", "slo_tpot_s=0.02")
    assert "SLO ceiling    65.6% of the requests can meet the SLO at all" in table.out


# ------------------------------------------------------------------------------------------------ tune


def test_tune_prints_the_cheapest_policy_that_keeps_the_goal_as_a_fragment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given a steady request log that the target's max serves: 2 requests/s for ten minutes
    trace = tmp_path / "steady.csv"
    trace.write_text("timestamp\n" + "".join(f"{n / 2}\n" for n in range(1200)))
    # When it is tuned, as a table and as JSON
    table = main(["tune", "--trace", str(trace), "--policies", str(policies)])
    out = capsys.readouterr().out
    as_json = main(["tune", "--trace", str(trace), "--policies", str(policies), "--json"])
    body = json.loads(capsys.readouterr().out)
    # Then both say what they replayed and what the goal was, and agree on the best policy found
    assert table == as_json == 0
    assert "tuned          " in out
    assert "frontier (no other candidate keeps more of the SLO for less):" in out
    assert body["goal"] == 0.995
    assert body["keeps_goal"] is True
    assert body["best"]["slo_attainment"] >= 0.995
    assert body["best"]["cost_usd"] <= body["as_written"]["cost_usd"]
    assert body["replays"] >= 2
    # (a threshold of 6 at once per instance, where one holds 8, pays for capacity this traffic never needs)
    assert body["best"]["changes"] == {"signals": {"concurrency_per_unit": 8}}
    assert "merge into the entry of chat-prod/AllTraffic" in out
    assert ":\n\n  signals:\n    concurrency_per_unit: 8" in out
    # And, tuned with the simulator's own reading of the concurrency metric, they say so, and where the
    # endpoint's own is measured
    assert body["concurrency_peak_sigmas"] == 1.645
    assert "its Maximum read as the simulator assumes, mean + 1.645 sqrt(mean)" in " ".join(out.split())
    tuned_with = ["--endpoint-param", "concurrency_peak_sigmas=0.5"]
    measured = main(["tune", "--trace", str(trace), "--policies", str(policies), *tuned_with])
    assert measured == 0
    assert "read as the simulator assumes" not in capsys.readouterr().out


def test_tune_says_when_the_max_stands_between_the_trace_and_the_goal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given the burst, which takes 9 instances, and a target whose max is 6
    trace, _ = request_log(tmp_path)
    code = main(["tune", "--trace", str(trace), "--policies", str(policies), "--slo-goal", "0.9999"])
    out = capsys.readouterr().out
    assert code == 0
    assert "no candidate keeps 99.99%" in out
    assert "The trace's peak takes 9 instances and chat-prod/AllTraffic's max is 6" in out


@pytest.mark.parametrize("goal", ["0", "1.5", "most"])
def test_tune_refuses_a_goal_that_is_not_a_share(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, goal: str
) -> None:
    trace, _ = request_log(tmp_path)
    code = main(["tune", "--trace", str(trace), "--policies", str(policies), "--slo-goal", goal])
    assert code == 2
    assert "--slo-goal" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("slo", "expected"),
    [
        ("10s+40ms", "10 s + 0.04 s per output token"),
        ("1.5 s + 30 ms/token", "1.5 s + 0.03 s per output token"),
        ("20s", "20 s; a step"),
    ],
    ids=["compact", "spaced, per token", "one deadline"],
)
def test_the_slo_is_given_as_ttft_plus_tpot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, slo: str, expected: str
) -> None:
    trace, _ = request_log(tmp_path)
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static", "--slo", slo)
    assert result.code == 0, result.err
    assert f"latency SLO    whole response within {expected}" in result.out


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--slo", "fast"], "argument --slo: expected TTFT+TPOT such as 10s+40ms"),
        (["--slo", "0s+40ms"], "every part of the SLO must be above zero"),
        (["--slo", "0s"], "every part of the SLO must be above zero"),
        (
            ["--slo", "2s+20ms", "--endpoint-param", "slo_tpot_s=0.01"],
            "--slo and --endpoint-param slo_tpot_s",
        ),
    ],
    ids=["not an SLO", "zero", "zero deadline", "set twice"],
)
def test_an_slo_that_cannot_be_used_is_refused_by_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path, argv: list[str], problem: str
) -> None:
    trace, _ = request_log(tmp_path)
    result = simulate(capsys, "--trace", trace, "--policies", policies, *argv)
    assert result.code == 2
    assert problem in result.err


def test_an_slo_no_request_can_meet_is_refused_by_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    trace, _ = request_log(tmp_path)
    for command in ("simulate", "tune"):
        code = main([command, "--trace", str(trace), "--policies", str(policies), "--slo", "10ms+1ms"])
        assert code == 2
        assert (
            "no request of requests.csv can meet the latency SLO of 0.01 s + 0.001 s"
            in capsys.readouterr().err
        )


def test_tune_aims_as_near_the_ceiling_as_the_goal_asks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policies: Path
) -> None:
    # Given an SLO that a third of the requests miss even on an idle instance (a ceiling of 65.6%)
    trace = tmp_path / "steady.csv"
    trace.write_text("timestamp\n" + "".join(f"{n / 2}\n" for n in range(1200)))
    code = main(["tune", "--trace", str(trace), "--policies", str(policies), "--slo", "2s+20ms", "--json"])
    body = json.loads(capsys.readouterr().out)
    # Then the goal it tunes for is 99.5% of what can be met, and it is kept
    assert code == 0
    assert body["goal"] == pytest.approx(0.65625 - 0.005)
    assert body["keeps_goal"] is True


# --------------------------------------------------------------------------------------- the policy's SLO


def _policies_with_slo(tmp_path: Path, slo: dict[str, Any]) -> Path:
    document = json.loads(json.dumps(POLICY_DOCUMENT))
    chat = document["targets"][2]
    del chat["signals"]["latency_p95_ms"]  # the SLO sets it
    chat["slo"] = slo
    path = tmp_path / "slo-policies.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("slo", "argv", "line"),
    [
        (
            {"ttft_ms": 3000, "tpot_ms": 50, "p95_output_tokens": 450},
            [],
            "whole response within 3 s + 0.05 s per output token (the policy's slo)",
        ),
        ({"p95_ms": 25000}, [], "whole response within 25 s (the policy's slo)"),
        (
            {"ttft_ms": 3000, "tpot_ms": 50, "p95_output_tokens": 450},
            ["--slo", "2s+40ms"],
            "whole response within 2 s + 0.04 s per output token; a step",
        ),
    ],
    ids=["per-response", "p95", "--slo-wins"],
)
def test_a_replay_judges_by_the_slo_the_policy_states_unless_told_otherwise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, slo: dict[str, Any], argv: list[str], line: str
) -> None:
    # Given a target that states its SLO
    trace, _ = request_log(tmp_path)
    policies = _policies_with_slo(tmp_path, slo)
    # When it is replayed
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static", *argv)
    # Then the requests are judged by that SLO, and the header says where it came from
    assert result.code == 0, result.err
    assert f"latency SLO    {line}" in result.out


def test_a_p95_length_far_from_the_traces_own_is_warned_of_with_the_figure_to_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a policy that says its long answers are 2,000 tokens, and a trace whose longest are 450
    trace, _ = request_log(tmp_path)
    policies = _policies_with_slo(tmp_path, {"ttft_ms": 2000, "tpot_ms": 40, "p95_output_tokens": 2000})
    result = simulate(capsys, "--trace", trace, "--policies", policies, "--policy", "static")
    assert result.code == 0, result.err
    # Then the warning says what the threshold stands for and what to state instead
    assert (
        "warning: chat-prod/AllTraffic's slo.p95_output_tokens is 2000, but the p95 response of requests.csv "
        "is 450 tokens: its latency threshold (82 s) is the deadline of longer responses than this traffic's "
        "(set p95_output_tokens: 450)"
    ) in result.err


def test_tune_leaves_the_latency_threshold_to_the_slo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from genai_autoscaler.domain.policy import SageMakerVariantPolicy
    from genai_autoscaler_tools.sim.tuning import search_space

    target = SageMakerVariantPolicy.model_validate(
        {"type": "sagemaker_variant", "endpoint_name": "chat", "name": "chat", "slo": {"p95_ms": 9000}}
    )
    assert "signals.latency_p95_ms" not in search_space(target, 8)
    assert "signals.latency_p95_ms" in search_space(target.model_copy(update={"slo": None}), 8)


def test_tune_measures_the_p95_length_on_the_trace_and_puts_it_in_the_fragment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a per-response SLO whose stated long answers (2,000 tokens) are not this trace's (450)
    trace, _ = request_log(tmp_path)
    policies = _policies_with_slo(tmp_path, {"ttft_ms": 2000, "tpot_ms": 40, "p95_output_tokens": 2000})
    # When the target is tuned on the trace
    code = main(["tune", "--trace", str(trace), "--policies", str(policies), "--json"])
    body = json.loads(capsys.readouterr().out)
    # Then the fragment states the length the trace measures, and the replays were judged with it
    assert code == 0
    assert body["best"]["changes"]["slo"] == {"p95_output_tokens": 450}
    assert all(point["changes"]["slo"] == {"p95_output_tokens": 450} for point in body["frontier"])


def test_the_slo_of_a_target_that_states_one_can_be_swept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace, _ = request_log(tmp_path)
    policies = _policies_with_slo(tmp_path, {"ttft_ms": 2000, "tpot_ms": 40, "p95_output_tokens": 450})
    result = simulate(
        capsys, "--trace", trace, "--policies", policies, "--sweep", "slo.p95_output_tokens=300,450", "--json"
    )
    assert result.code == 0, result.err
    assert [point["value"] for point in result.json["points"]] == [300, 450]
