"""The handlers in-process, logging at INFO as they do in Lambda (the local harness runs them quieter)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from genai_autoscaler.aws.lambda_entry import logger
from genai_autoscaler_local.lambda_runtime import FakeContext
from genai_autoscaler_tools.memory import memory_controller

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
DOCUMENT: dict[str, Any] = {
    "version": 1,
    "targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod", "variant_name": "AllTraffic"}],
}


def handler_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"handler_{name}", FUNCTIONS / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def info_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[pytest.LogCaptureFixture]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # the metrics are not what is tested
    level = logger.log_level
    logger.setLevel("INFO")
    caplog.set_level(logging.INFO, logger=logger.name)
    yield caplog
    logger.setLevel(level)


def test_the_reconciler_logs_its_report_at_info(info_logs: pytest.LogCaptureFixture) -> None:
    # Given a policy document with one target, and the reconciler logging at INFO as the template sets it
    ctl = memory_controller(DOCUMENT)
    # When it reconciles (its report lists the alarms it created: `created` is also a LogRecord attribute)
    report = handler_module("reconciler").handler({}, FakeContext("reconciler", "arn"), controller=ctl)
    # Then it returns the report and logs it, rather than failing on the log line
    assert report["created"]
    assert any(record.getMessage() == "reconciled" for record in info_logs.records)
