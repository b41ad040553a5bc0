"""`genai-autoscaler trace export`: a target's per-minute traffic from CloudWatch (moto), as a trace the
simulator reads back."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from genai_autoscaler_tools.cli import main as cli
from genai_autoscaler_tools.metric_reads import equivalent_threshold
from genai_autoscaler_tools.sim.traces import RateSeries, read_trace

from tests.integration.conftest import published, put_published

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def cloudwatch(mocked_aws: None) -> Any:
    return boto3.client("cloudwatch", region_name="us-east-1")


def put(
    cloudwatch: Any, namespace: str, dimensions: dict[str, str], metric: str, per_minute: dict[int, float]
) -> None:
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": START + timedelta(minutes=minute, seconds=20),
                "Value": value,
            }
            for minute, value in per_minute.items()
        ],
    )


def test_a_sagemaker_endpoints_invocations_become_a_rate_series(cloudwatch: Any, tmp_path: Path) -> None:
    # Given llm-prod served 120, 0 (no datapoint), and 300 requests in three minutes
    put(
        cloudwatch,
        "AWS/SageMaker",
        {"EndpointName": "llm-prod", "VariantName": "AllTraffic"},
        "Invocations",
        {0: 120, 2: 300},
    )
    output = tmp_path / "llm-prod.csv"
    # When it is exported
    code = cli.main(
        [
            "trace",
            "export",
            "--target",
            "llm-prod/AllTraffic",
            "--start",
            START.isoformat(),
            "--end",
            (START + timedelta(minutes=3)).isoformat(),
            "--output",
            str(output),
        ]
    )
    # Then the file is the canonical rate series, and the simulator reads it back
    assert code == 0
    rows = list(csv.reader(output.open()))
    assert rows[0] == ["timestamp", "rate_rps"]
    assert [r[1] for r in rows[1:]] == ["2", "0", "5"]
    trace = read_trace(output)
    assert isinstance(trace, RateSeries)
    assert trace.expected_requests() == 420


@pytest.mark.parametrize(
    ("routing", "said"),
    [
        (None, "llm-prod/AllTraffic routes RANDOM: replay it with --endpoint-param routing=random"),
        (
            "LEAST_OUTSTANDING_REQUESTS",
            "llm-prod/AllTraffic routes LEAST_OUTSTANDING_REQUESTS, as simulate assumes",
        ),
        ("PREFIX_AWARE", "routes PREFIX_AWARE, which the simulator does not model"),
    ],
    ids=["no-routing-config", "least-outstanding", "prefix-aware"],
)
def test_the_export_says_how_the_endpoint_routes_and_how_to_replay_it_so(
    cloudwatch: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], routing: str | None, said: str
) -> None:
    # Given llm-prod, its endpoint config with or without a RoutingConfig, and a minute of its traffic
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model(
        ModelName="llm",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "i"},
    )
    variant: dict[str, Any] = {
        "VariantName": "AllTraffic",
        "ModelName": "llm",
        "InitialInstanceCount": 2,
        "InstanceType": "ml.g4dn.xlarge",
    }
    if routing is not None:
        variant["RoutingConfig"] = {"RoutingStrategy": routing}
    sagemaker.create_endpoint_config(EndpointConfigName="llm-prod-config", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="llm-prod", EndpointConfigName="llm-prod-config")
    dimensions = {"EndpointName": "llm-prod", "VariantName": "AllTraffic"}
    put(cloudwatch, "AWS/SageMaker", dimensions, "Invocations", {0: 120})
    # When it is exported
    argv = ["trace", "export", "--target", "llm-prod/AllTraffic", "--start", START.isoformat()]
    argv += ["--end", (START + timedelta(minutes=1)).isoformat(), "--output", str(tmp_path / "t.csv")]
    assert cli.main(argv) == 0
    # Then it says how the endpoint routes, and how to replay its traffic so
    assert said in capsys.readouterr().out


def test_a_bedrock_models_tokens_are_exported_per_request(cloudwatch: Any, tmp_path: Path) -> None:
    model = {"ModelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    put(cloudwatch, "AWS/Bedrock", model, "Invocations", {0: 60})
    put(cloudwatch, "AWS/Bedrock", model, "InputTokenCount", {0: 72_000})
    put(cloudwatch, "AWS/Bedrock", model, "OutputTokenCount", {0: 12_000})
    output = tmp_path / "claude.csv"
    code = cli.main(
        [
            "trace",
            "export",
            "--target",
            model["ModelId"],
            "--start",
            START.isoformat(),
            "--end",
            (START + timedelta(minutes=2)).isoformat(),
            "--output",
            str(output),
        ]
    )
    assert code == 0
    rows = list(csv.reader(output.open()))
    assert rows[0] == ["timestamp", "rate_rps", "input_tokens", "output_tokens"]
    assert rows[1][1:] == ["1", "1200.0", "200.0"]
    assert rows[2][1:] == ["0", "", ""]  # a minute without requests has no tokens per request


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "no-such/AllTraffic"], "no target 'no-such/AllTraffic'"),
        (["--target", "llm-prod/AllTraffic", "--end", START.isoformat()], "is not after --start"),
    ],
    ids=["unknown target", "empty window"],
)
def test_bad_exports_are_refused_by_name(
    cloudwatch: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    base = {
        "--start": START.isoformat(),
        "--end": (START + timedelta(hours=1)).isoformat(),
        "--output": str(tmp_path / "x.csv"),
    }
    given = dict(zip(arguments[::2], arguments[1::2], strict=True))
    argv = ["trace", "export"] + [item for key, value in {**base, **given}.items() for item in (key, value)]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("sigmas", [1.645, 0.5])
def test_the_export_measures_how_the_concurrency_maximum_reads_as_the_simulator_means_it(
    cloudwatch: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], sigmas: float
) -> None:
    # Given what the simulator publishes for a variant whose concurrency Maximum reads `sigmas` above its mean,
    # in CloudWatch as SageMaker sends it (the concurrency every 10 s, high resolution), ending now
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=40)
    put_published(cloudwatch, published(sigmas, 40), start)
    # When its traffic is exported
    argv = ["trace", "export", "--target", "llm-prod/AllTraffic", "--start", start.isoformat()]
    argv += ["--end", end.isoformat(), "--output", str(tmp_path / "t.csv")]
    assert cli.main(argv) == 0
    # Then the export measures the figure the simulator read it with (Little's law over the per-minute figures),
    # and says how to replay with it
    out = capsys.readouterr().out
    measured = re.search(r"--endpoint-param concurrency_peak_sigmas=([0-9.]+)", out)
    assert measured is not None, out
    assert float(measured.group(1)) == pytest.approx(sigmas, abs=0.15)
    # and what the example policy's threshold of 9 reads as on this endpoint, for the same load
    held = re.search(r"signals.concurrency_per_unit: ([0-9.]+) holds it", out)
    assert held is not None, out
    assert float(held.group(1)) == pytest.approx(
        equivalent_threshold(9, 1.645, float(measured.group(1))), abs=0.06
    )
    assert "4 instances" in out


def test_an_export_without_busy_concurrency_figures_says_why_it_measured_nothing(
    cloudwatch: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a variant with invocations but no concurrency datapoints in the window
    put(
        cloudwatch,
        "AWS/SageMaker",
        {"EndpointName": "llm-prod", "VariantName": "AllTraffic"},
        "Invocations",
        {0: 120},
    )
    # When it is exported
    argv = ["trace", "export", "--target", "llm-prod/AllTraffic", "--start", START.isoformat()]
    argv += ["--end", (START + timedelta(minutes=1)).isoformat(), "--output", str(tmp_path / "t.csv")]
    assert cli.main(argv) == 0
    # Then the trace is written, and it says what the measurement takes
    out = capsys.readouterr().out
    assert "wrote 1 minutes" in out
    assert "was not measured: it takes 20 minutes with 1 or more requests in flight per instance" in out
