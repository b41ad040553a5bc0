"""The EventBridge event CloudWatch sends when a metric alarm changes state, built from an alarm's fields: what the
simulator and the local harness deliver to the alarm router. The controller only parses these events
(`genai_autoscaler.domain.alarm_event`); it never builds one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from genai_autoscaler.domain.alarm_event import AlarmState


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def state_change_event(
    alarm: dict[str, Any],
    alarm_arn: str,
    state: AlarmState,
    previous: AlarmState,
    datapoints: list[float],
    time: datetime,
    event_id: str,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The EventBridge event CloudWatch sends when a metric alarm changes state.

    `alarm` holds the alarm's PutMetricAlarm / DescribeAlarms fields; `datapoints` are the recent datapoints
    that decided the state (written into `reasonData`, as CloudWatch does). `tags` are the alarm's
    propagated tags.
    """
    compared = "were" if state is AlarmState.ALARM else "were not"
    if datapoints:
        reason = (
            f"Threshold Crossed: {len(datapoints)} datapoint(s) {datapoints} {compared} "
            f"greater than the threshold ({alarm['Threshold']})."
        )
    else:
        reason = "Insufficient Data: no datapoints were received."
    stamp = _iso(time)
    reported: dict[str, Any] = {"value": state.value, "reason": reason, "timestamp": stamp}
    if datapoints:
        reported["reasonData"] = json.dumps(
            {
                "version": "1.0",
                "queryDate": stamp,
                "startDate": stamp,
                "statistic": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                "period": alarm.get("Period") or alarm["Metrics"][1]["MetricStat"]["Period"],
                "recentDatapoints": datapoints,
                "threshold": alarm["Threshold"],
                "evaluatedDatapoints": [
                    {"timestamp": stamp, "sampleCount": 1.0, "value": value} for value in datapoints
                ],
            }
        )
    if alarm.get("Metrics"):
        # A metric-math alarm: its metrics as the event lists them, expressions included.
        metrics = [
            {"id": m["Id"], "returnData": m.get("ReturnData", True)}
            | ({"expression": m["Expression"], "label": m.get("Label", "")} if "Expression" in m else {})
            | (
                {
                    "metricStat": {
                        "metric": {
                            "namespace": m["MetricStat"]["Metric"]["Namespace"],
                            "name": m["MetricStat"]["Metric"]["MetricName"],
                            "dimensions": {
                                d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]
                            },
                        },
                        "period": m["MetricStat"]["Period"],
                        "stat": m["MetricStat"]["Stat"],
                    }
                }
                if "MetricStat" in m
                else {}
            )
            for m in alarm["Metrics"]
        ]
    else:
        metrics = [
            {
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": alarm["Namespace"],
                        "name": alarm["MetricName"],
                        "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                    },
                    "period": alarm["Period"],
                    "stat": alarm.get("ExtendedStatistic") or alarm.get("Statistic"),
                },
                "returnData": True,
            }
        ]
    detail: dict[str, Any] = {
        "alarmName": alarm["AlarmName"],
        "state": reported,
        "previousState": {"value": previous.value, "reason": "", "timestamp": stamp},
        "configuration": {"description": alarm.get("AlarmDescription", ""), "metrics": metrics},
    }
    if tags:
        detail["alarmTags"] = dict(tags)
        detail["alarmTagsStatus"] = "SUCCESS"
    region, account = alarm_arn.split(":")[3:5]
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm_arn],
        "detail": detail,
    }
