"""The CloudWatch Alarm State Change event at the boundary: every sample parses, bad input is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genai_autoscaler.domain.alarm_event import AlarmState, AlarmStateChangeEvent, reason_figures
from pydantic import ValidationError

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALARM_EVENTS = sorted(EVENTS.glob("alarm_*.json"))


@pytest.mark.parametrize("path", ALARM_EVENTS, ids=[p.stem for p in ALARM_EVENTS])
def test_every_sample_alarm_event_parses(path: Path) -> None:
    event = AlarmStateChangeEvent.model_validate(json.loads(path.read_text()))
    assert event.detail.state.value in AlarmState
    assert event.alarm_arn.startswith("arn:aws:cloudwatch:")
    is_single_metric = path.stem not in ("alarm_composite", "alarm_metric_math", "alarm_adopted_composite")
    assert (event.single_metric is not None) is is_single_metric


def test_reason_data_gives_the_peak_datapoint_and_the_threshold() -> None:
    event = AlarmStateChangeEvent.model_validate(
        json.loads((EVENTS / "alarm_latency_alarm.json").read_text())
    )
    figures = reason_figures(event.detail.state.reason_data)
    assert (figures.value, figures.threshold) == (9_100_000.0, 4_000_000.0)
    assert event.detail.alarm_tags["genai-autoscaler:signal"] == "latency_p95"


@pytest.mark.parametrize(
    "reason_data",
    [None, "", "not json", "[1, 2]", '{"recentDatapoints": ["x"]}'],
    ids=["absent", "empty", "not JSON", "not an object", "non-numeric"],
)
def test_unusable_reason_data_gives_no_figures(reason_data: str | None) -> None:
    figures = reason_figures(reason_data)
    assert figures.value is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.update({"detail-type": "EC2 Instance State-change Notification"}), "detail-type"),
        (lambda e: e.update({"source": "aws.ec2"}), "source"),
        (lambda e: e["detail"]["state"].update({"value": "PANIC"}), "detail.state.value"),
        (
            lambda e: e["detail"]["state"].update({"timestamp": "2026-11-24T10:02:35"}),
            "detail.state.timestamp",
        ),
        (lambda e: e.pop("detail"), "detail"),
        (lambda e: e.update({"resources": []}), "resources"),
    ],
    ids=["detail-type", "source", "state value", "naive timestamp", "no detail", "no resources"],
)
def test_malformed_events_name_the_field(change: object, field: str) -> None:
    event = json.loads((EVENTS / "alarm_latency_alarm.json").read_text())
    change(event)  # type: ignore[operator]
    with pytest.raises(ValidationError) as raised:
        AlarmStateChangeEvent.model_validate(event)
    assert field in {".".join(map(str, e["loc"])) for e in raised.value.errors()}
