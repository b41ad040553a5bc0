"""The forecaster in the stack in moto: on its hourly schedule it reads a target's CloudWatch history and keeps
the forecast in the target's state, where the evaluator acts on it ahead of the ramp."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from genai_autoscaler_local.harness import REGION

from tests.integration.conftest import LLM_ID, Launch, document, llm_policy

DIMENSIONS = [{"Name": "EndpointName", "Value": "llm-prod"}, {"Name": "VariantName", "Value": "AllTraffic"}]


def put_history(cloudwatch: Any, now: Any, days: float) -> None:
    """`days` of llm-prod's per-minute traffic ending at `now`: 20 invocations a minute, 200 for two hours from
    half an hour after each day's time of `now` (a daily ramp, due again in 30 minutes); each instance at 2 in
    flight for 10 invocations a minute."""
    minutes = round(days * 1440)
    data: list[dict[str, Any]] = []
    for m in range(minutes, 0, -1):
        at = now - timedelta(minutes=m)
        of_day = (1440 - m % 1440) % 1440  # minutes since the same time of day as `now`
        busy = 30 <= of_day < 150
        for name, value in (
            ("Invocations", 200.0 if busy else 20.0),
            ("InvocationsPerInstance", 10.0),
            ("ConcurrentRequestsPerModel", 2.0),
        ):
            data.append({"MetricName": name, "Dimensions": DIMENSIONS, "Timestamp": at, "Value": value})
    for start in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[start : start + 1000])


def test_the_forecast_is_made_kept_and_acted_on_ahead_of_the_ramp(launch: Launch) -> None:
    # Given llm-prod (concurrency threshold 4, 1 to 4 instances, no step limit) with two days of a daily ramp
    # that comes again in half an hour
    policy = llm_policy(forecast={"margin_seconds": 3600}, scale_out={"max_step": None})
    scenario = launch(document(policy), endpoints={"llm-prod": 1})
    aws = scenario.aws
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = aws.clock.now().replace(second=0, microsecond=0)
    put_history(cloudwatch, now, 2)
    # When the forecaster runs
    answer = aws.forecast()
    # Then it reports and keeps a daily forecast of the ramp
    assert "errorType" not in answer, answer
    (report,) = answer["forecasts"]
    assert (report["target"], report["method"], report["stands_aside"]) == (
        "llm-prod/AllTraffic",
        "daily",
        None,
    )
    assert report["next_hour_peak_per_minute"] >= 190
    kept = scenario.state(LLM_ID).forecast
    assert kept is not None
    assert kept.inflight_per_invocation == 0.2
    # And the next evaluation scales out ahead of it: 200 a minute x 0.2 in flight / (4 x 0.7) -> 15, max 4
    (outcome,) = scenario.evaluate()
    assert outcome["plan"]["action"] == "scale_out"
    assert outcome["plan"]["desired_capacity"] == 4
    assert outcome["plan"]["reason"].startswith("Ahead of the demand: the forecast daily")
