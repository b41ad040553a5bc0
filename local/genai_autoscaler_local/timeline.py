"""The demo's printed timeline (simulated time since the start, who acted, and what), and what every part of
the demo does on it: move an alarm, run the workflows it starts, show what the team was told."""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any, ClassVar

from genai_autoscaler_local.harness import LocalAws, WorkflowRun
from genai_autoscaler_local.lambda_runtime import Invocation


class Timeline:
    def __init__(self, start: datetime):
        self.start = start

    def at(self, moment: datetime | None) -> str:
        seconds = int(((moment or self.start) - self.start).total_seconds())
        return f"[+{seconds // 60:02d}:{seconds % 60:02d}]"

    def line(self, moment: datetime | None, who: str, what: str) -> None:
        print(f"  {self.at(moment)} {who:<11} {what}")

    @staticmethod
    def block(text: str) -> None:
        print(textwrap.indent(text, "                       | ", predicate=lambda _: True))


def section(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}")


class Narration:
    """A part of the demo: the local AWS, the timeline it prints on, and what it saw (notifications, workflow
    runs, moments). Subclasses name the function behind their workflow's Tasks and print its steps."""

    STEPS_FUNCTION: ClassVar[str]  # the logical id of the function behind the workflow's Task states

    def __init__(self, aws: LocalAws, timeline: Timeline):
        self.aws = aws
        self.timeline = timeline
        self.notifications: list[dict[str, str]] = []
        self.runs: list[WorkflowRun] = []
        self.events: dict[str, datetime] = {}

    def step_lines(self, steps: list[Invocation]) -> None:
        raise NotImplementedError

    def announce(self) -> None:
        """Print, and keep, what was published to the team since the last look."""
        for message in self.aws.notifications():
            self.notifications.append(message)
            self.timeline.line(self.aws.clock.now(), "SNS", f'"{message["subject"]}"')
            self.timeline.block(message["message"])

    def run_workflows(self) -> None:
        """Let the workflows started finish, then print their steps, their outcome and what they published."""
        mark = len(self.aws.lambdas.invocations)
        runs = self.aws.wait_for_workflows()
        suffix = self.aws.stack.resource(self.STEPS_FUNCTION).rsplit("-", 1)[-1]
        self.step_lines([i for i in self.aws.lambdas.invocations[mark:] if i.function.endswith(suffix)])
        for run in runs:
            self.runs.append(run)
            self.timeline.line(self.aws.clock.now(), "workflow", f"{run.status} ({run.name})")
        self.announce()

    def move_alarm(
        self, target: str, signal: str, state: str, datapoints: list[float], figure: str
    ) -> list[dict[str, Any]]:
        """Move one of the controller's alarms and print what the router made of it; returns its plans."""
        name = self.aws.alarm_name(target, signal)
        self.timeline.line(self.aws.clock.now(), "CloudWatch", f"{name} -> {state} [{figure}]")
        plans = []
        for delivery in self.aws.alarm(target, signal, state, datapoints):
            if delivery.error:
                self.timeline.line(self.aws.clock.now(), "router", f"FAILED: {delivery.error}")
                continue
            plan = delivery.result.get("plan") or {}
            what = plan.get("action", "ignore")
            self.timeline.line(
                self.aws.clock.now(), "router", f"{what}: {plan.get('reason') or delivery.result['note']}"
            )
            plans.append(plan)
        return plans
