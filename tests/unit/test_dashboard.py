"""The stack's dashboard body (domain/dashboard.py): CloudWatch's structure, each target's metrics with their
dimensions, each alarm's threshold across its signal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from genai_autoscaler.domain.dashboard import CONTROLLER_NAMESPACE, CONTROLLER_SERVICE, dashboard_body
from genai_autoscaler.domain.policy import parse_policy_document
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler_local.stack import template_yaml

DOCUMENT = {
    "targets": [
        {
            "type": "sagemaker_variant",
            "endpoint_name": "llm-prod",
            "capacity": {"min": 1, "max": 4},
            "signals": {"latency_p95_ms": 4000, "concurrency_per_unit": 4},
        },
        {
            "type": "bedrock_model",
            "model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "bedrock": {"throttles_per_minute": 5, "tokens_per_minute_quota": 400_000},
        },
    ]
}
WORKFLOWS = ["arn:aws:states:us-east-1:123456789012:stateMachine:genai-ScaleWorkflow-X"]


def body() -> dict[str, Any]:
    targets = parse_policy_document(DOCUMENT).targets
    alarms = [spec for target in targets for spec in alarm_specs(target)]
    return dashboard_body(targets, alarms, "us-east-1", WORKFLOWS)


def metric_widgets(built: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in built["widgets"] if w["type"] == "metric"]


def titled(built: dict[str, Any], title: str) -> list[dict[str, Any]]:
    return [w for w in metric_widgets(built) if w["properties"]["title"].startswith(title)]


def test_the_body_is_a_dashboard_cloudwatch_accepts() -> None:
    built = body()
    assert json.loads(json.dumps(built)) == built
    assert 0 < len(built["widgets"]) <= 500
    cells: set[tuple[int, int]] = set()
    for widget in built["widgets"]:
        assert widget["type"] in ("metric", "text")
        assert widget["x"] >= 0
        assert widget["x"] + widget["width"] <= 24
        mine = {
            (widget["x"] + dx, widget["y"] + dy)
            for dx in range(widget["width"])
            for dy in range(widget["height"])
        }
        assert not cells & mine, f"{widget} overlaps another widget"
        cells |= mine
    for widget in metric_widgets(built):
        properties = widget["properties"]
        assert properties["region"] == "us-east-1"
        assert 1 <= len(properties["metrics"]) <= 100
        for metric in properties["metrics"]:
            if isinstance(metric[0], dict):  # a metric-math expression
                assert set(metric[0]) >= {"expression", "id"}
            else:  # namespace, name, then dimension name/value pairs, then optional rendering options
                names = [part for part in metric if isinstance(part, str)]
                assert len(names) % 2 == 0, metric


def test_each_sagemaker_signal_is_drawn_with_its_alarm_threshold() -> None:
    (latency,) = titled(body(), "p95 latency")
    properties = latency["properties"]
    assert properties["metrics"] == [
        [
            "AWS/SageMaker",
            "ModelLatency",
            "EndpointName",
            "llm-prod",
            "VariantName",
            "AllTraffic",
            {"label": "p95 latency"},
        ]
    ]
    assert (properties["stat"], properties["period"]) == ("p95", 60)
    (line,) = properties["annotations"]["horizontal"]
    assert line["value"] == 4_000_000  # ModelLatency is in microseconds
    assert line["label"] == "alarm above 4,000 ms"
    (concurrency,) = titled(body(), "concurrency per unit")
    assert concurrency["properties"]["metrics"][0][:6] == [
        "AWS/SageMaker",
        "ConcurrentRequestsPerModel",
        "EndpointName",
        "llm-prod",
        "VariantName",
        "AllTraffic",
    ]


def test_a_bedrock_model_shows_its_invocations_tokens_and_throttles() -> None:
    (model,) = titled(body(), "Invocations and tokens")
    metrics = model["properties"]["metrics"]
    model_id = ("ModelId", "anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert metrics[0][:4] == ["AWS/Bedrock", "Invocations", *model_id]
    assert [m[1] for m in metrics[1:3]] == ["InputTokenCount", "OutputTokenCount"]
    assert metrics[3][0]["expression"] == "m0 + m1"
    (throttles,) = titled(body(), "throttled requests")
    assert throttles["properties"]["metrics"][0][:4] == ["AWS/Bedrock", "InvocationThrottles", *model_id]
    assert throttles["properties"]["annotations"]["horizontal"][0]["value"] == 5


def test_the_controllers_own_row_counts_events_actions_and_failed_workflows() -> None:
    built = body()
    (failed,) = titled(built, "Workflows failed")
    assert failed["properties"]["metrics"][0][:4] == [
        "AWS/States",
        "ExecutionsFailed",
        "StateMachineArn",
        WORKFLOWS[0],
    ]
    (actions,) = titled(built, "Actions by kind")
    assert 'MetricName="Actions"' in actions["properties"]["metrics"][0][0]["expression"]
    (capacity,) = titled(built, "Capacity")
    assert capacity["properties"]["metrics"][0][:6] == [
        "GenAIAutoscaler",
        "Capacity",
        "service",
        "genai-autoscaler",
        "target",
        "variant/llm-prod/AllTraffic",
    ]
    headers = [w["properties"]["markdown"] for w in built["widgets"] if w["type"] == "text"]
    assert headers[0].startswith("## llm-prod/AllTraffic")
    assert headers[-1] == "## The controller"


def test_the_controllers_metrics_are_where_the_template_tells_powertools_to_put_them() -> None:
    template = template_yaml(Path(__file__).resolve().parents[2])
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == CONTROLLER_NAMESPACE
    assert environment["POWERTOOLS_SERVICE_NAME"] == CONTROLLER_SERVICE


def test_every_id_a_widgets_expression_names_is_defined_in_that_widget() -> None:
    # Given a model whose token-quota alarm counts what max_tokens reserves (an expression over another one)
    document = json.loads(json.dumps(DOCUMENT))
    document["targets"][1]["bedrock"] |= {"output_token_burndown": 5, "max_tokens": 4096}
    targets = parse_policy_document(document).targets
    built = dashboard_body(targets, [s for t in targets for s in alarm_specs(t)], "us-east-1", WORKFLOWS)
    for widget in metric_widgets(built):
        rows = widget["properties"]["metrics"]
        ids = {row[-1]["id"] for row in rows if isinstance(row[-1], dict) and "id" in row[-1]}
        ids |= {row[0]["id"] for row in rows if isinstance(row[0], dict) and "id" in row[0]}
        for row in rows:
            if isinstance(row[0], dict) and "expression" in row[0] and "SEARCH" not in row[0]["expression"]:
                named = set(re.findall(r"\b([a-z]\w*)\b", row[0]["expression"])) - {"MAX"}
                assert named <= ids, (widget["properties"]["title"], row[0]["expression"], ids)
    (quota,) = titled(built, "tokens per minute")
    assert quota["properties"]["metrics"][-1][0]["expression"] == "m0 + 5 * MAX([m1, r])"
