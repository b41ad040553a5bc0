"""The reconciler on in-memory ports: alarms follow the policies; a bad document changes nothing."""

from __future__ import annotations

from typing import Any

from genai_autoscaler.app.reconciler import reconcile
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler_tools.memory import MemoryAlarms, MemoryEndpoints, RecordingNotifier, memory_controller

SETTINGS = ControllerSettings(stack_name="s", managed_endpoints="llm-prod", policy_parameter_name="/p")  # type: ignore[arg-type]


def _controller(document: dict[str, Any]) -> Any:
    return memory_controller(document, settings=SETTINGS)


def test_alarms_are_created_updated_and_removed_as_the_policies_change() -> None:
    ctl = _controller({})
    alarms: MemoryAlarms = ctl.alarms
    # Given only the stack's endpoint parameter: latency and concurrency alarms
    first = reconcile(ctl)
    assert len(first.created) == 2
    assert not first.updated
    assert not first.deleted
    # When the document lowers the latency threshold: that alarm is updated, the other left alone
    ctl.policies.document = {
        "targets": [
            {"type": "sagemaker_variant", "endpoint_name": "llm-prod", "signals": {"latency_p95_ms": 2000}}
        ]
    }
    second = reconcile(ctl)
    assert (len(second.updated), second.unchanged) == (1, 1)
    latency = next(spec for spec in alarms.alarms.values() if spec.metric_name == "ModelLatency")
    assert latency.threshold == 2_000_000
    # When a tagged endpoint appears: its alarms are created; when the tag goes: they are removed
    endpoints: MemoryEndpoints = ctl.endpoints
    endpoints.tagged = [("tagged-ep", "AllTraffic")]
    assert len(reconcile(ctl).created) == 2
    endpoints.tagged = []
    assert len(reconcile(ctl).deleted) == 2
    # And a run with nothing to do changes nothing
    idle = reconcile(ctl)
    assert (idle.created, idle.updated, idle.deleted, idle.unchanged) == ([], [], [], 2)


def test_an_invalid_document_changes_nothing_and_says_why() -> None:
    ctl = _controller({})
    reconcile(ctl)
    before = dict(ctl.alarms.alarms)
    ctl.policies.document = {
        "targets": [
            {"type": "sagemaker_variant", "endpoint_name": "llm-prod", "capacity": {"min": 3, "max": 2}}
        ]
    }
    report = reconcile(ctl)
    assert report.problems == ["targets[0].capacity: min (3) is above max (2)"]
    assert ctl.alarms.alarms == before
    notifier: RecordingNotifier = ctl.notifier
    subject, message = notifier.published[0]
    assert "invalid" in subject
    assert "/p" in message
    assert "min (3) is above max (2)" in message
    # A scheduled run reports in its logs only
    reconcile(ctl, report_problems=False)
    assert len(notifier.published) == 1
