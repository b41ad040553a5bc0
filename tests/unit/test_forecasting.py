"""The forecaster use case on in-memory ports: it reads each target's history, keeps its forecast in the target's
state, and says what each came to; a target that turns the forecast off, or a Bedrock model, is left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from genai_autoscaler.app.forecasting import refresh_forecasts
from genai_autoscaler.errors import TransientAwsError
from genai_autoscaler_tools.memory import MemoryMetrics, memory_controller

from tests.unit.builders import NOW
from tests.unit.test_forecast import daily

LLM = "variant/llm-prod/AllTraffic"


def document(**forecast: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "targets": [
            {
                "type": "sagemaker_variant",
                "endpoint_name": "llm-prod",
                "signals": {"concurrency_per_unit": 8},
                "forecast": forecast,
            },
            {"type": "bedrock_model", "model_id": "amazon.nova-pro-v1:0"},
        ],
    }


def with_history(metrics: MemoryMetrics, days: int) -> None:
    """`days` of the daily shape of test_forecast before NOW (07:00 after the last night), per minute; the last
    day's concurrency at 5 in flight per instance for 25 invocations per instance a minute (0.2)."""
    end = NOW.replace(second=0, microsecond=0)
    minutes = [end - timedelta(minutes=m) for m in range(days * 1440, 0, -1)]
    offset = 7 * 60 - days * 1440
    metrics.points[(LLM, "Invocations")] = [(at, daily(offset + i)) for i, at in enumerate(minutes)]
    metrics.points[(LLM, "concurrency")] = [(at, 5.0) for at in minutes[-1440:]]
    metrics.points[(LLM, "InvocationsPerInstance")] = [(at, 25.0) for at in minutes[-1440:]]


def test_each_forecasting_target_gets_its_forecast_in_its_state() -> None:
    # Given llm-prod with three days of a daily ramp behind it
    ctl = memory_controller(document())
    with_history(ctl.metrics, 3)  # type: ignore[arg-type]
    # When the forecaster runs at 07:00:40
    (report,) = refresh_forecasts(ctl, NOW + timedelta(seconds=40))
    # Then llm-prod's state holds the forecast, which expects the 08:00 ramp, sized by 0.2 in flight per
    # invocation a minute
    forecast = ctl.state.load(LLM).forecast
    assert forecast is not None
    assert forecast.stands_aside is None
    assert forecast.inflight_per_invocation == 0.2
    assert (report.target, report.method, report.stands_aside) == ("llm-prod/AllTraffic", "daily", None)
    assert report.next_hour_peak_per_minute is not None
    assert report.next_hour_peak_per_minute > 700
    # And it read 14 days of invocations, to the last whole minute, and forecast from the minute it is in
    (_, start, end) = next(q for q in ctl.metrics.queries if q[0] == "Invocations")  # type: ignore[attr-defined]
    assert (end, end - start) == (NOW, timedelta(days=14))
    assert forecast.made_at == NOW


def test_a_short_history_is_kept_as_a_forecast_that_stands_aside() -> None:
    ctl = memory_controller(document())
    with_history(ctl.metrics, 1)  # type: ignore[arg-type]
    (report,) = refresh_forecasts(ctl, NOW)
    assert report.stands_aside is not None
    assert "days of history" in report.stands_aside
    forecast = ctl.state.load(LLM).forecast
    assert forecast is not None
    assert forecast.stands_aside == report.stands_aside


def test_a_target_with_the_forecast_off_is_not_read() -> None:
    ctl = memory_controller(document(mode="off"))
    assert refresh_forecasts(ctl, NOW) == []
    assert ctl.state.load(LLM).forecast is None
    assert not ctl.metrics.queries  # type: ignore[attr-defined]


def test_one_targets_failure_does_not_stop_the_others() -> None:
    # Given two forecasting variants, and CloudWatch refusing every read of the first one's metrics
    two = document()
    two["targets"].append({**two["targets"][0], "endpoint_name": "chat-prod"})
    ctl = memory_controller(two)
    with_history(ctl.metrics, 3)  # type: ignore[arg-type]
    read = ctl.metrics.series

    def throttled(query: Any, start: Any, end: Any) -> Any:
        if query.target_id == LLM:
            raise TransientAwsError("reading Invocations of llm-prod: ThrottlingException: Rate exceeded")
        return read(query, start, end)

    ctl.metrics.series = throttled  # type: ignore[method-assign]
    # When the forecaster runs
    failed, other = refresh_forecasts(ctl, NOW)
    # Then the first is reported as failed, with why, and the other still gets its forecast
    assert failed.problem is not None
    assert "ThrottlingException" in failed.problem
    assert ctl.state.load(LLM).forecast is None
    assert other.problem is None
    assert ctl.state.load("variant/chat-prod/AllTraffic").forecast is not None


def test_the_scale_in_window_its_returning_demand_asks_for_is_kept_beside_the_forecast() -> None:
    # Given llm-prod with three days of the daily shape: its demand falls each evening and stays down until the
    # morning's ramp, which no window would have waited for (policy window 30 minutes, cooldown 10)
    ctl = memory_controller(document())
    with_history(ctl.metrics, 3)  # type: ignore[arg-type]
    (report,) = refresh_forecasts(ctl, NOW)
    # Then the forecaster keeps the shortest window in its state, measured now, and reports it
    window = ctl.state.load(LLM).scale_in_window
    assert window is not None
    assert (window.seconds, window.measured_at, report.scale_in_window_seconds) == (600, NOW, 600)
    assert window.why.startswith("over its last 24 h, a 10-minute window")


def test_too_short_a_history_measures_no_scale_in_window() -> None:
    ctl = memory_controller(document())
    end = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [  # type: ignore[attr-defined]
        (end - timedelta(minutes=m), 100.0) for m in range(90, 0, -1)
    ]
    (report,) = refresh_forecasts(ctl, NOW)
    assert report.scale_in_window_seconds is None
    assert ctl.state.load(LLM).scale_in_window is None


def test_a_lull_without_datapoints_is_forecast_from_as_a_lull_of_none() -> None:
    # Given three days of history with three hours of the second afternoon idle: once as datapoints of 0, once
    # as no datapoints at all (SageMaker publishes Invocations with each request, so CloudWatch has none then)
    made = []
    for idle_as in ("zeros", "no datapoints"):
        ctl = memory_controller(document())
        with_history(ctl.metrics, 3)  # type: ignore[arg-type]
        points = ctl.metrics.points[(LLM, "Invocations")]  # type: ignore[attr-defined]
        idle = range(1440 + 13 * 60, 1440 + 16 * 60)
        if idle_as == "zeros":
            points[:] = [(at, 0.0 if i in idle else value) for i, (at, value) in enumerate(points)]
        else:
            points[:] = [point for i, point in enumerate(points) if i not in idle]
        refresh_forecasts(ctl, NOW)
        made.append(ctl.state.load(LLM).forecast)
    # Then the forecast is the same: a minute without a datapoint, between two that have one, had no request
    assert made[0] is not None
    assert made[0] == made[1]


def test_the_return_window_wants_two_hours_of_datapoints_not_of_minutes_read_as_idle() -> None:
    # Given a day with three bursts of 30 minutes at 300 a minute and nothing in between: 90 datapoints
    ctl = memory_controller(document())
    end = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [  # type: ignore[attr-defined]
        (end - timedelta(minutes=m), 300.0)
        for burst in (1200, 700, 200)
        for m in range(burst, burst - 30, -1)
    ]
    (report,) = refresh_forecasts(ctl, NOW)
    # Then no window is measured: the idle minutes between the bursts are read as none, but they are not figures
    assert report.scale_in_window_seconds is None
    assert ctl.state.load(LLM).scale_in_window is None
