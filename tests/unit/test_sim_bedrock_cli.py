"""`genai-autoscaler simulate --target <a bedrock_model target>`: the table, --json, and the bad inputs it names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from genai_autoscaler_tools.cli.main import main
from genai_autoscaler_tools.sim.bedrock_compare import POLICIES
from genai_autoscaler_tools.sim.bedrock_replay import BedrockResult

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-pro-v1:0"
DOCUMENT = {
    "version": 1,
    "targets": [
        {"type": "sagemaker_variant", "endpoint_name": "chat-prod", "capacity": {"min": 1, "max": 4}},
        {
            "type": "bedrock_model",
            "model_id": MODEL,
            "bedrock": {
                "tokens_per_minute_quota": 20_000,
                "cross_region_profile": f"us.{MODEL}",
                "ttft_p95_ms": 1500,
                "provisioned_throughput": {
                    "tokens_per_minute_per_unit": 5_000,
                    "hourly_price_per_unit_usd": 20,
                },
                "max_model_units": 10,
                "hourly_budget_usd": 200,
            },
        },
        {"type": "bedrock_model", "model_id": NOVA, "bedrock": {"tokens_per_minute_quota": 20_000}},
    ],
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """The policies, and 30 minutes of requests: 0.2 a second, with ten minutes at 1.2 a second."""
    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump(DOCUMENT), encoding="utf-8")
    rng = np.random.default_rng(0)
    times = np.concatenate([rng.random(360) * 1800, 600 + rng.random(600) * 600])
    rows = [f"{t:.3f},{rng.integers(200, 2_000)},{rng.integers(20, 400)}" for t in np.sort(times)]
    trace = tmp_path / "requests.csv"
    trace.write_text("timestamp,input_tokens,output_tokens\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return policies, trace


def simulate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["simulate", *(str(arg) for arg in argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_bedrock_target_is_replayed_against_every_policy_in_one_table(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    policies, trace = files
    code, out, err = simulate(capsys, "--trace", trace, "--policies", policies, "--target", MODEL)
    assert code == 0, err
    header, table = out.split("\n\n", 1)
    # The header says what was replayed on what, with the quotas and the demand
    assert "on-demand 20,000 tokens/min and 50 requests/min" in header
    assert "busiest minute" in header
    assert "standard retries, 3 attempts" in header
    # The table has a column per policy and the figures the issue asks for
    columns = table.splitlines()[0].split()
    assert columns == list(POLICIES)
    for row in ("throttled", "within the SLO", "p95 latency", "p99 latency", "cost (USD)", "actions"):
        assert row in table
    assert "controller actions: " in table


def test_json_prints_each_policys_figures(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    policies, trace = files
    code, out, err = simulate(
        capsys,
        "--trace",
        trace,
        "--policies",
        policies,
        "--target",
        f"bedrock/{MODEL}",
        "--json",
        "--policy",
        "controller",
        "--policy",
        "oracle",
        "--bedrock-param",
        "retry_mode=legacy",
    )
    assert code == 0, err
    figures = json.loads(out)
    assert list(figures) == ["controller", "oracle"]
    assert set(figures["controller"]) == set(BedrockResult("x").summary())
    assert figures["oracle"]["throttled_attempts"] == 0
    assert figures["controller"]["requests"] == figures["oracle"]["requests"] == 960


def test_a_policy_without_provisioned_throughput_settings_leaves_out_what_buys_it(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    policies, trace = files
    code, out, err = simulate(capsys, "--trace", trace, "--policies", policies, "--target", NOVA, "--json")
    assert code == 0, err
    assert list(json.loads(out)) == ["controller", "on_demand_only"]
    assert "static_pt and oracle are left out" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--bedrock-param", "rpm=10"],
            "--bedrock-param rpm: unknown Bedrock model field 'rpm'; allowed: on_demand_tpm",
        ),
        (
            ["--bedrock-param", "on_demand_rpm=-5"],
            "--bedrock-param on_demand_rpm: Input should be greater than 0",
        ),
        (["--bedrock-param", "retry_mode=fast"], "--bedrock-param retry_mode: Input should be 'standard'"),
        (["--bedrock-param", "max_tokens"], "argument --bedrock-param: expected KEY=VALUE"),
        (["--endpoint-param", "ttft_s=1"], "--endpoint-param (and --slo): applies to SageMaker targets"),
        (["--slo", "10s"], "--endpoint-param (and --slo): applies to SageMaker targets"),
        (["--policy", "static"], "--policy static: no such policy; choose from controller, on_demand_only"),
        (["--target", NOVA, "--policy", "oracle"], "--policy oracle: amazon.nova-pro-v1:0 has no bedrock"),
        (
            ["--target", "chat-prod/AllTraffic", "--bedrock-param", "max_tokens=100"],
            "applies to bedrock_model",
        ),
    ],
    ids=[
        "unknown-param",
        "bad-value",
        "bad-choice",
        "param-without-value",
        "endpoint-param",
        "slo",
        "sagemaker-policy-name",
        "oracle-without-pt",
        "bedrock-param-on-sagemaker",
    ],
)
def test_bad_input_is_named_and_exits_2(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path], argv: list[str], expected: str
) -> None:
    policies, trace = files
    if "--target" not in argv:
        argv = ["--target", MODEL, *argv]
    code, out, err = simulate(capsys, "--trace", trace, "--policies", policies, *argv)
    assert code == 2
    assert out == ""
    assert expected in err
