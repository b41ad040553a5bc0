"""The controller's alarms in a replay, as the reconciler makes them and the router hears them: each AlarmSpec an
alarm of the simulated CloudWatch, each state change the alarm listing updated and the "CloudWatch Alarm State
Change" event delivered to the router within the step; and the every-minute evaluation.

Shared by the SageMaker and the Bedrock replays (sim/policies.py, sim/bedrock_policies.py): the controller's code
runs unchanged on in-memory ports; only what AWS does around it is simulated here.
"""

from __future__ import annotations

from genai_autoscaler.app.dispatch import Dispatch, dispatch_alarm, evaluate_targets
from genai_autoscaler.domain.alarm_event import AlarmSnapshot, AlarmState, AlarmStateChangeEvent
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_SIGNAL, TAG_TARGET, AlarmSpec

from genai_autoscaler_tools.alarm_events import state_change_event
from genai_autoscaler_tools.memory import MemoryAlarms, StaticController
from genai_autoscaler_tools.sim.alarms import TreatMissingData
from genai_autoscaler_tools.sim.cloudwatch import SimAlarm, SimCloudWatch
from genai_autoscaler_tools.sim.events import Scheduler

ALARM_ARN = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:"


class SimulationError(RuntimeError):
    """The simulated world went wrong (not the controller's decision): the replay stops."""


class ControllerAlarms:
    """The alarms of `ctl` (whose AlarmDirectory is `directory`) on `cloudwatch`, on `scheduler`'s time.

    `tagged`: events carry the reconciler's tags, as alarm tag propagation puts them in (the Bedrock replay's
    metric-math alarm is recognised by them); without, the router knows the alarm by its name and metric."""

    def __init__(
        self,
        ctl: StaticController,
        directory: MemoryAlarms,
        cloudwatch: SimCloudWatch,
        scheduler: Scheduler,
        tagged: bool = False,
    ):
        self.ctl, self.directory, self.cloudwatch, self.scheduler = ctl, directory, cloudwatch, scheduler
        self.tagged = tagged
        self.specs: dict[str, AlarmSpec] = {}
        self.events = 0

    def add(self, spec: AlarmSpec) -> None:
        """Make the alarm, as the reconciler would, and watch it."""
        name = self.directory.alarm_name(spec)
        self.directory.put(spec)
        self.specs[name] = spec
        self.cloudwatch.add_alarm(
            SimAlarm(
                name=name,
                metric=spec.metric_name,
                stat=spec.stat,
                period=spec.period,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                threshold=spec.threshold,
                comparison=spec.comparison,
                treat_missing=TreatMissingData(spec.treat_missing_data),
                listener=self._changed,
            )
        )

    def _changed(self, alarm: SimAlarm, previous: AlarmState, now: float) -> None:
        spec = self.specs[alarm.name]
        moment = self.scheduler.moment(now)
        self.directory.states[alarm.name] = AlarmSnapshot(
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions=dict(spec.dimensions),
            stat=spec.stat,
            period=spec.period,
            state=alarm.state,
            since=moment,
            reason_data=alarm.reason_data(),
        )
        self.events += 1
        tags = (
            {
                TAG_MANAGED_BY: self.ctl.settings.stack_name,
                TAG_TARGET: spec.target_id,
                TAG_SIGNAL: spec.signal.value,
            }
            if self.tagged
            else None
        )
        raw = state_change_event(
            spec.put_request(alarm.name),
            ALARM_ARN + alarm.name,
            alarm.state,
            previous,
            list(alarm.recent),
            moment,
            event_id=f"sim-{self.events}",
            tags=tags,
        )
        event = AlarmStateChangeEvent.model_validate(raw)
        # Delivery takes about a second: within the step, as target tracking's alarm actions are.
        self.scheduler.at(now, lambda: self._route(event))

    def _route(self, event: AlarmStateChangeEvent) -> None:
        dispatch_alarm(event, self.ctl, self.ctl.now())

    def evaluate(self) -> None:
        """The every-minute evaluation. In Lambda a target's failed evaluation is logged and the others go on;
        here it is a fault of the simulation, and it must not pass unseen."""
        for outcome in evaluate_targets(self.ctl, self.ctl.now()):
            if outcome.dispatch is Dispatch.FAILED:
                raise SimulationError(f"the controller's evaluation failed: {outcome.note}")
