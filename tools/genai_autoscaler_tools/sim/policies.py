"""The scaling policies a replay compares: GenAI Autoscaler's controller, target tracking, static, the oracle.

`ControllerPolicy` runs the controller's own code: the same alarms the reconciler creates (`alarm_specs`), the
same dispatch (`dispatch_alarm` for each alarm event, `evaluate_targets` every minute), the same forecaster
(`refresh_forecasts` every hour, online: from the datapoints visible then), the scale workflow as
deployed (statemachines/scale.asl.json, run by `genai_autoscaler_tools.asl` on the same steps, `run_step`), on
in-memory ports whose SageMaker and CloudWatch are the simulated ones. Nothing of the decision or the workflow
is re-implemented here.

`TargetTrackingPolicy` is Application Auto Scaling target tracking as AWS documents it; `StaticPolicy` keeps
one count; `OraclePolicy` knows the future.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from genai_autoscaler.app.forecasting import refresh_forecasts
from genai_autoscaler.app.ports import CapacityActuator, MetricReader, WarmUpInvoker, WorkflowStarter
from genai_autoscaler.app.scale_workflow import run_step
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import (
    AlarmState,
)
from genai_autoscaler.domain.plan import Workflow
from genai_autoscaler.domain.policy import PolicyDocument, SageMakerPolicy, SageMakerVariantPolicy
from genai_autoscaler.domain.signals import MetricQuery, alarm_specs
from genai_autoscaler.domain.state import ObservedCapacity
from genai_autoscaler.errors import ActuationRejected, AutoscalerError
from pydantic import PrivateAttr

from genai_autoscaler_tools.asl import ExecutionResult, StateMachine
from genai_autoscaler_tools.memory import (
    MemoryAlarms,
    MemoryEndpoints,
    MemoryPolicies,
    MemoryState,
    RecordingNotifier,
    StaticController,
)
from genai_autoscaler_tools.sim.alarms import TreatMissingData
from genai_autoscaler_tools.sim.cloudwatch import CONCURRENCY, INVOCATIONS_PER_INSTANCE, SimAlarm
from genai_autoscaler_tools.sim.controller_alarms import ControllerAlarms, SimulationError
from genai_autoscaler_tools.sim.fleet import UpdateRefused
from genai_autoscaler_tools.sim.replay import Replay, ScalingPolicy

Ints = npt.NDArray[np.int64]
STACK = "sim"
# The workflow as deployed: the simulator runs the file itself (the repository's, beside the tools).
SCALE_WORKFLOW = Path(__file__).resolve().parents[3] / "statemachines" / "scale.asl.json"
SCALE_STEPS = "scale-steps"
NOTIFICATION_TOPIC = f"arn:aws:sns:us-east-1:000000000000:{STACK}"
FORECAST_INTERVAL_S = 3600.0  # the forecaster's schedule in template.yaml: rate(1 hour)


# ------------------------------------------------------------------------------------------ the controller


@dataclass
class _SimCapacity(CapacityActuator):
    replay: Replay

    def observe(self, target: SageMakerPolicy) -> ObservedCapacity | None:
        fleet, now = self.replay.fleet, self.replay.now
        return ObservedCapacity(desired=fleet.desired, current=fleet.serving(now), status=fleet.status(now))

    def set_capacity(self, target: SageMakerPolicy, count: int) -> None:
        try:
            self.replay.request_capacity(count, "controller")
        except UpdateRefused as exc:
            raise ActuationRejected(f"ValidationException: {exc}") from None

    def set_floor(self, target: SageMakerPolicy, min_capacity: int) -> None:
        raise ActuationRejected("the simulated endpoint is not registered with Application Auto Scaling")


class _ReplaySettings(ControllerSettings):
    """The stack's settings, with each policy document parsed once: it does not change during a replay, which
    evaluates every minute for days (a Lambda parses it once an invocation). The parse is the controller's own."""

    _parsed: dict[str, PolicyDocument] = PrivateAttr(default_factory=dict)

    def effective_policies(
        self, document: Mapping[str, Any], tagged: list[tuple[str, str]] | None = None
    ) -> PolicyDocument:
        key = json.dumps([document, tagged], sort_keys=True, default=str)
        if key not in self._parsed:
            self._parsed[key] = super().effective_policies(document, tagged)
        return self._parsed[key]


@dataclass
class _SimMetrics(MetricReader):
    replay: Replay

    def series(self, query: MetricQuery, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        replay = self.replay
        points = replay.cloudwatch.datapoints(
            f"{query.metric_name}/{query.stat}",
            query.period,
            replay.seconds(start),
            replay.seconds(end),
            replay.now,
        )
        return [(replay.moment(at), value) for at, value in points]


@dataclass
class _SimWarmUp(WarmUpInvoker):
    replay: Replay

    def invoke(
        self, target: SageMakerPolicy, body: bytes, content_type: str, target_model: str | None
    ) -> float:
        model = self.replay.model
        return (model.ttft_s + 8 * model.tpot_s) * 1000.0  # a short request on an idle instance


@dataclass
class _SimWorkflows(WorkflowStarter):
    """Step Functions: an execution name starts once; each execution runs the ASL's path on simulated time."""

    policy: ControllerPolicy
    started: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, name: str, request: dict[str, Any], workflow: Workflow = Workflow.SCALE) -> str | None:
        if name not in self.started:
            self.started[name] = request
            self.policy.replay.run(self.policy.execute(name, request))
        return f"arn:aws:states:us-east-1:000000000000:execution:{STACK}-scale:{name}"

    def running(self, name: str) -> bool | None:
        # A simulated execution always reaches its end, which releases its lock: none is ever left dead.
        return None


class ControllerPolicy(ScalingPolicy):
    """GenAI Autoscaler's controller, its code unchanged, on the simulated endpoint."""

    name = "controller"

    def __init__(self, target: SageMakerPolicy):
        if not isinstance(target, SageMakerVariantPolicy):
            raise ValueError("the simulator models SageMaker variants; inference components are not modelled")
        self.target = target

    def attach(self, replay: Replay) -> None:
        self.replay = replay
        settings = _ReplaySettings(stack_name=STACK)
        self.alarm_directory = MemoryAlarms(prefix=settings.alarm_prefix)
        self.ctl = StaticController(
            settings=settings,
            policies=MemoryPolicies({"version": 1, "targets": [self.target.model_dump(mode="json")]}),
            capacity=_SimCapacity(replay),
            state=MemoryState(),
            alarms=self.alarm_directory,
            metrics=_SimMetrics(replay),
            notifier=RecordingNotifier(),
            workflows=_SimWorkflows(self),
            endpoints=MemoryEndpoints(),
            warm_up=_SimWarmUp(replay),
            clock=lambda: replay.moment(replay.now),
        )
        self.alarms = ControllerAlarms(self.ctl, self.alarm_directory, replay.cloudwatch, replay)
        for spec in alarm_specs(self.target):
            self.alarms.add(spec)
        self.scale_workflow = self._scale_workflow()
        self.executions: list[ExecutionResult] = []
        replay.every(60.0, self.alarms.evaluate)
        # The forecaster's schedule: online, each forecast made from the datapoints visible at the time.
        replay.every(FORECAST_INTERVAL_S, self._forecast)

    def _forecast(self) -> None:
        refresh_forecasts(self.ctl, self.ctl.now())

    def execute(self, name: str, request: dict[str, Any]) -> Generator[float, None, None]:
        """One execution of the scale workflow, statemachines/scale.asl.json itself, run by the ASL interpreter
        on simulated time; yields the seconds until it continues (Wait states, Retry intervals).

        Its Task states call the steps the ScaleSteps Lambda runs (`run_step`) and the controller's notifier.
        A workflow that ends FAILED through its own Fail states (a restored safe state) is an outcome of the
        replay; an error that is not the controller's, or ASL the interpreter cannot follow, stops the replay.
        """
        result = yield from self.scale_workflow.run(request, name)
        self.executions.append(result)
        if result.error == "States.Runtime":
            raise SimulationError(f"the scale workflow {name} could not run: {result.cause}")
        if ("RestoreSafeState", "Failed") in pairwise(result.visited):
            # Its Catch skipped the notification: the safe state could not be restored, which the simulated
            # AWS never causes.
            raise SimulationError(f"the scale workflow {name} could not restore a safe state: {result.cause}")

    def _scale_workflow(self) -> StateMachine:
        if not SCALE_WORKFLOW.is_file():
            raise SimulationError(
                f"the simulator runs the scale workflow from the repository's {SCALE_WORKFLOW}, which is not there: "
                "run it from a checkout (pip install -e .)"
            )
        ctl = self.ctl

        def publish(parameters: dict[str, Any], token: str) -> dict[str, str]:
            ctl.notifier.publish(parameters["Subject"], parameters["Message"])
            return {"MessageId": token}

        return StateMachine.from_file(
            SCALE_WORKFLOW,
            {
                "ScaleStepsFunctionArn": SCALE_STEPS,
                "NotificationTopicArn": f"arn:aws:sns:us-east-1:000000000000:{STACK}",
            },
            tasks={
                SCALE_STEPS: lambda payload: run_step(ctl, payload["step"], payload["state"], ctl.now()),
                "arn:aws:states:::sns:publish": publish,
            },
            # The controller's own errors are what the Catch clauses handle; anything else is a fault of the
            # simulation and must not pass unseen.
            catchable=(AutoscalerError,),
        )


# ------------------------------------------------------------------------------------------ target tracking


class TargetTrackingPolicy(ScalingPolicy):
    """Application Auto Scaling target tracking on a SageMaker variant.

    The alarms AAS creates: scale out when the metric is above the target for 3 periods (1 minute each, 10 s
    for the high-resolution concurrency metric), scale in when it is below 90% of it for 15 one-minute periods.
    While an alarm is in ALARM, the policy runs every minute: capacity = ceil(capacity x metric / target)
    within [min, max]. Cooldowns of 300 s each (AAS's default for SageMaker variants); during a scale-out
    cooldown only a larger scale-out proceeds, and scale-in waits for both cooldowns.
    """

    def __init__(
        self,
        name: str,
        metric: str,
        target_value: float,
        minimum: int,
        maximum: int,
        cooldown_s: float = 300.0,
    ):
        if metric not in (INVOCATIONS_PER_INSTANCE, CONCURRENCY):
            raise ValueError(f"target tracking on {metric} is not modelled")
        if target_value <= 0:
            raise ValueError(f"target value must be positive, got {target_value}")
        self.name, self.metric, self.target_value = name, metric, target_value
        self.minimum, self.maximum, self.cooldown_s = minimum, maximum, cooldown_s
        self.last_out = -math.inf
        self.last_in = -math.inf

    def attach(self, replay: Replay) -> None:
        self.replay = replay
        stat = "Sum" if self.metric == INVOCATIONS_PER_INSTANCE else "Maximum"
        fast = 10 if self.metric == CONCURRENCY else 60
        self.high = replay.cloudwatch.add_alarm(
            SimAlarm(
                f"{self.name}-AlarmHigh",
                self.metric,
                stat,
                fast,
                3,
                3,
                self.target_value,
                "GreaterThanThreshold",
                TreatMissingData.MISSING,
                self._changed,
            )
        )
        self.low = replay.cloudwatch.add_alarm(
            SimAlarm(
                f"{self.name}-AlarmLow",
                self.metric,
                stat,
                60,
                15,
                15,
                0.9 * self.target_value,
                "LessThanThreshold",
                TreatMissingData.MISSING,
                self._changed,
            )
        )
        replay.every(60.0, self._act)

    def _changed(self, alarm: SimAlarm, previous: AlarmState, now: float) -> None:
        if alarm.state is AlarmState.ALARM:
            self.replay.at(now, self._act)

    def _act(self) -> None:
        replay, now = self.replay, self.replay.now
        fleet = replay.fleet
        serving = max(1, fleet.serving(now))

        def wanted(alarm: SimAlarm) -> int:
            proportional = math.ceil(serving * alarm.recent[-1] / self.target_value - 1e-9)
            return min(self.maximum, max(self.minimum, proportional))

        try:
            if self.high.state is AlarmState.ALARM and self.high.recent:
                # The desired count includes what is still launching: only a larger scale-out proceeds.
                if (count := wanted(self.high)) > fleet.desired:
                    replay.request_capacity(count, self.name)
                    self.last_out = now
            elif self.low.state is AlarmState.ALARM and self.low.recent:
                if now - max(self.last_out, self.last_in) < self.cooldown_s:
                    return
                if (count := wanted(self.low)) < fleet.desired:
                    replay.request_capacity(count, self.name)
                    self.last_in = now
        except UpdateRefused:
            pass  # the endpoint is Updating: AAS tries again on its next run


# ------------------------------------------------------------------------------------------ static and oracle


class StaticPolicy(ScalingPolicy):
    """A fixed count, the whole replay."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"static capacity must be at least 1, got {capacity}")
        self.name = "static"
        self.capacity = capacity

    def attach(self, replay: Replay) -> None:
        replay.fleet.provision_ahead(self.capacity, 0.0)


def bridge_gaps(needed: Ints, steps: int) -> Ints:
    """Keep an instance through a dip shorter than `steps`: relaunching it would cost a cold start anyway.

    Level j is kept at step t when it is needed at some a <= t and some b >= t with b - a <= steps.
    """
    n = needed.size
    kept = needed.copy()
    back = needed.copy()  # max over [t - d, t]
    forward = [needed.copy()]  # forward[d]: max over [t, t + d]
    for d in range(1, steps + 1):
        shifted = (
            np.concatenate((needed[d:], np.zeros(d, dtype=needed.dtype))) if d < n else np.zeros_like(needed)
        )
        forward.append(np.maximum(forward[-1], shifted))
    for d in range(0, steps + 1):
        if d:
            shifted = (
                np.concatenate((np.zeros(d, dtype=needed.dtype), needed[:-d]))
                if d < n
                else np.zeros_like(needed)
            )
            back = np.maximum(back, shifted)
        kept = np.maximum(kept, np.minimum(back, forward[steps - d]))
    return kept


class OraclePolicy(ScalingPolicy):
    """Perfect foresight: at every step the least capacity that meets the SLO, each instance launched exactly
    one cold start before it is needed, and kept through dips that would cost more to scale in for (a
    relaunch bills a cold start, and a stopped instance bills until it terminates)."""

    def __init__(self, needed: Ints, step_seconds: float, relaunch_cost_s: float):
        self.name = "oracle"
        self.schedule = bridge_gaps(needed, math.ceil(relaunch_cost_s / step_seconds))
        self.step_seconds = step_seconds

    def attach(self, replay: Replay) -> None:
        self.replay = replay

    def before_step(self, now: float) -> None:
        index = min(round(now / self.step_seconds), self.schedule.size - 1)
        count = int(self.schedule[index])
        before = self.replay.fleet.desired
        if count != before:
            self.replay.fleet.provision_ahead(count, now)
            self.replay.record_action(count, self.name, before)
