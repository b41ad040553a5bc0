"""The operator's commands (status, history, pause, resume) against the stack deployed in moto, as an operator
runs them: the CLI finds the stack's resources from CloudFormation and signs as the caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from genai_autoscaler.app.dispatch import Dispatch
from genai_autoscaler_local.harness import REGION
from genai_autoscaler_tools.cli import operate
from genai_autoscaler_tools.cli.main import main

from tests.integration.conftest import LLM, LLM_ID, Launch, Scenario, document, llm_policy

OPERATOR = "arn:aws:iam::123456789012:user/local-operator"  # the harness's caller (iam_enforcement)


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        loaded: dict = json.loads(self.out)  # type: ignore[type-arg]
        return loaded


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def run(scenario: Scenario, *argv: str) -> Ran:
        monkeypatch.setattr(operate, "clock", scenario.aws.clock.now)  # the stack's simulated time
        capsys.readouterr()
        code = main([*argv, "--stack", scenario.aws.stack_name, "--region", REGION])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def test_status_shows_each_target_with_capacity_alarms_mode_and_last_action(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    scenario.alarm(LLM, "latency_p95", "OK", [1.2e6])

    ran = cli(scenario, "status", "--json")

    assert ran.code == 0, ran.err
    (row,) = ran.json()["targets"]
    assert row["target"] == LLM
    assert row["kind"] == "sagemaker_variant"
    assert row["capacity"] == {
        "found": True,
        "desired": 1,
        "serving": 1,
        "status": "InService",
        "min": 1,
        "max": 4,
        "aas_floor": None,
    }
    assert row["alarms"]["latency_p95"] == "OK"
    assert set(row["alarms"]) == {"latency_p95", "concurrency"}
    assert row["mode"] == {"mode": "acting"}
    assert row["in_flight"] is None
    assert row["forecast"]["floor"] is None
    assert "no forecast yet" in row["forecast"]["why"]

    table = cli(scenario, "status")
    assert table.code == 0
    assert LLM in table.out
    assert "1 desired, 1 serving (InService) [1, 4]" in table.out


def test_a_paused_target_is_left_alone_until_resumed_and_both_are_recorded_with_who(
    launch: Launch,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    # When an operator pauses llm-prod
    paused = cli(scenario, "pause", LLM, "--reason", "load test until 18:00")
    assert paused.code == 0, paused.err
    (told,) = scenario.notifications()
    assert told["subject"] == f"GenAI Autoscaler: {LLM} paused"
    assert f"Paused by: {OPERATOR}" in told["message"]

    # Then its next alarm is only reported, and status says who paused it and why
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    assert outcome["dispatch"] != Dispatch.WORKFLOW
    assert f"paused by {OPERATOR} (load test until 18:00)" in outcome["plan"]["reason"]
    assert scenario.executions() == []
    mode = cli(scenario, "status", LLM, "--json").json()["targets"][0]["mode"]
    assert mode["mode"] == "paused"
    assert mode["by"] == OPERATOR
    assert mode["reason"] == "load test until 18:00"

    # When it is resumed, the next alarm scales it out
    resumed = cli(scenario, "resume", LLM_ID)
    assert resumed.code == 0, resumed.err
    assert "resumed by" in resumed.out
    scenario.advance(60)
    outcome = scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    assert outcome["dispatch"] == Dispatch.WORKFLOW
    (run,) = scenario.workflows()
    assert run.status == "SUCCEEDED"

    # And the history has both, newest first, with who asked
    history = cli(scenario, "history", LLM, "--json").json()["history"]
    by_action = {record["action"]: record for record in history}
    assert by_action["pause"]["started_by"] == OPERATOR
    assert by_action["pause"]["reason"] == "load test until 18:00"
    assert by_action["resume"]["started_by"] == OPERATOR
    actions = [record["action"] for record in history]
    assert actions.index("resume") < actions.index("pause")
    table = cli(scenario, "history", LLM)
    assert table.code == 0
    assert "load test until 18:00" in table.out


def test_history_since_keeps_only_the_later_records(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})
    cli(scenario, "pause", LLM, "--reason", "first")
    cli(scenario, "resume", LLM)
    since = (scenario.aws.clock.now() + timedelta(seconds=1)).isoformat()
    scenario.advance(600)
    scenario.alarm(LLM, "latency_p95", "ALARM", [9.1e6])
    scenario.workflows()

    later = cli(scenario, "history", LLM, "--since", since, "--json").json()["history"]

    assert later
    assert "pause" not in {record["action"] for record in later}
    assert all(record["at"] >= since for record in later)


def test_an_unknown_target_or_a_target_not_paused_is_a_named_error(launch: Launch, cli) -> None:  # type: ignore[no-untyped-def]
    scenario = launch(document(llm_policy()), endpoints={"llm-prod": 1})

    unknown = cli(scenario, "pause", "chat-prod/AllTraffic", "--reason", "x")
    assert unknown.code == 2
    assert f"'chat-prod/AllTraffic' is not a managed target; the managed targets: {LLM}" in unknown.err

    not_paused = cli(scenario, "resume", LLM)
    assert not_paused.code == 2
    assert f"{LLM} is not paused" in not_paused.err
    assert scenario.history() == []
    assert scenario.notifications() == []

    no_reason = cli(scenario, "pause", LLM, "--reason", "  ")
    assert no_reason.code == 2
    assert "a pause needs a reason" in no_reason.err


def test_a_stack_that_is_not_there_is_an_aws_error(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    launch(document(llm_policy()), endpoints={"llm-prod": 1})

    code = main(["status", "--stack", "no-such-stack", "--region", REGION])

    assert code == 3
    assert "reading stack no-such-stack" in capsys.readouterr().err
