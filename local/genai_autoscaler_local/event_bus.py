"""EventBridge and CloudWatch as the controller sees them, where moto stops short.

moto evaluates no alarm from metric data, emits no event for an alarm state change, and delivers rule
targets only to queues and logs. Here: an alarm's state is set in moto (`set_alarm_state`), the
"CloudWatch Alarm State Change" event is built from the alarm as moto describes it, in the shape CloudWatch
sends (with tag propagation), and every event is delivered to the Lambda targets of the rules whose patterns
match it, using moto's own pattern matcher.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_SIGNAL, TAG_TARGET
from genai_autoscaler_tools.alarm_events import state_change_event
from moto.events.models import EventPattern

ACCOUNT = "123456789012"


@dataclass
class Delivery:
    rule: str
    target_arn: str
    result: Any
    error: str | None


class LocalEventBridge:
    def __init__(self, region: str):
        self.region = region
        self._events = boto3.client("events", region_name=region)
        self._lambda = boto3.client("lambda", region_name=region)
        self.delivered: list[tuple[dict[str, Any], list[Delivery]]] = []

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver `event` to the Lambda targets of every matching rule; returns what each target answered."""
        deliveries = []
        for rule in self._events.list_rules(EventBusName="default")["Rules"]:
            pattern = rule.get("EventPattern")
            if not pattern or rule.get("State") == "DISABLED":
                continue
            if not EventPattern.load(pattern).matches_event(event):
                continue
            for target in self._events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                if ":lambda:" not in target["Arn"]:
                    continue
                response = self._lambda.invoke(FunctionName=target["Arn"], Payload=json.dumps(event).encode())
                payload = json.loads(response["Payload"].read() or b"null")
                error = response.get("FunctionError")
                deliveries.append(
                    Delivery(
                        rule["Name"],
                        target["Arn"],
                        payload,
                        f"{payload.get('errorType')}: {payload.get('errorMessage')}" if error else None,
                    )
                )
        self.delivered.append((event, deliveries))
        return deliveries


def envelope(
    source: str, detail_type: str, detail: dict[str, Any], resources: list[str], region: str, time: datetime
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


@dataclass
class _Level:
    """A metric as SageMaker keeps publishing it: its last value, until a new one is given."""

    metric: dict[str, Any]
    value: float
    published_until: datetime


class LocalCloudWatch:
    """Alarm state changes: set in moto, announced on the bus as CloudWatch would announce them.

    The datapoints given with a state change are published as the alarm's metric data, and the metric stays
    at its last value, published every minute as time passes (`publish_until`), as a live endpoint's would.
    """

    PUBLISH_EVERY = timedelta(seconds=60)

    def __init__(self, region: str, bus: LocalEventBridge):
        self.region = region
        self.bus = bus
        self._cloudwatch = boto3.client("cloudwatch", region_name=region)
        self._levels: dict[str, _Level] = {}

    def _put(self, metric: dict[str, Any], points: list[tuple[datetime, float]]) -> None:
        for start in range(0, len(points), 500):
            self._cloudwatch.put_metric_data(
                Namespace=metric["Namespace"],
                MetricData=[
                    {
                        "MetricName": metric["MetricName"],
                        "Dimensions": metric["Dimensions"],
                        "Timestamp": t,
                        "Value": v,
                    }
                    for t, v in points[start : start + 500]
                ],
            )

    def hold(
        self, namespace: str, name: str, dimensions: dict[str, str], value: float, time: datetime
    ) -> None:
        """Publish `value` for the metric now, and every minute from now on until another value is held."""
        metric = {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        }
        self._put(metric, [(time, value)])
        self._levels[f"{namespace}/{name}/{sorted(dimensions.items())}"] = _Level(metric, value, time)

    def publish_until(self, now: datetime) -> None:
        """Publish every metric's current value for the minutes up to `now`."""
        for level in self._levels.values():
            points = []
            moment = level.published_until + self.PUBLISH_EVERY
            while moment <= now:
                points.append((moment, level.value))
                moment += self.PUBLISH_EVERY
            if points:
                self._put(level.metric, points)
                level.published_until = points[-1][0]

    def describe(self, alarm_name: str) -> dict[str, Any]:
        alarms = self._cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
        if not alarms:
            raise KeyError(f"no alarm {alarm_name}")
        return dict(alarms[0])

    def state_change_event(
        self,
        alarm_name: str,
        state: str,
        datapoints: list[float],
        time: datetime,
        previous: AlarmState | None = None,
    ) -> dict[str, Any]:
        """The event CloudWatch would send for the alarm moving to `state`, built from moto's description."""
        alarm = self.describe(alarm_name)
        tags = {
            t["Key"]: t["Value"]
            for t in self._cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        }
        return state_change_event(
            alarm,
            alarm["AlarmArn"],
            AlarmState(state),
            previous or AlarmState(alarm["StateValue"]),
            datapoints,
            time,
            event_id=str(uuid.uuid4()),
            tags={k: v for k, v in tags.items() if k in (TAG_MANAGED_BY, TAG_TARGET, TAG_SIGNAL)},
        )

    def set_state(
        self, alarm_name: str, state: str, datapoints: list[float], time: datetime
    ) -> list[Delivery]:
        """Move an alarm to `state` in moto and deliver the state-change event; returns the deliveries."""
        event = self.state_change_event(alarm_name, state, datapoints, time)
        alarm = self.describe(alarm_name)
        if datapoints and "MetricName" in alarm:  # (a metric-math alarm's datapoints are of no one metric)
            metric = {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")}
            # A datapoint is stamped with the start of its period: the last one is the period just ended.
            spaced = [
                (time - timedelta(seconds=alarm["Period"] * (len(datapoints) - i)), v)
                for i, v in enumerate(datapoints)
            ]
            self._put(metric, spaced)
            self._levels[alarm_name] = _Level(metric, datapoints[-1], time)
        self._cloudwatch.set_alarm_state(
            AlarmName=alarm_name,
            StateValue=state,
            StateReason=event["detail"]["state"]["reason"],
            **(
                {"StateReasonData": event["detail"]["state"]["reasonData"]}
                if "reasonData" in event["detail"]["state"]
                else {}
            ),
        )
        return self.bus.put(event)
