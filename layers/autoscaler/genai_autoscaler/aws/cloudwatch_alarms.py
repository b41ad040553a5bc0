"""AlarmDirectory on CloudWatch: the controller's alarms, tagged as its own, with tag propagation on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import AlarmDirectory
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.domain.alarm_event import AlarmSnapshot, AlarmStanding, AlarmState
from genai_autoscaler.domain.signals import (
    TAG_MANAGED_BY,
    TAG_SIGNAL,
    TAG_TARGET,
    AlarmSpec,
    Signal,
    identify_metric,
)

_DESCRIBE_BATCH = 100  # DescribeAlarms accepts at most 100 names


def _described_request(alarm: dict[str, Any]) -> dict[str, Any]:
    """A described alarm in the terms of PutMetricAlarm, to compare with what a spec asks for."""
    request: dict[str, Any] = {
        key: alarm.get(key)
        for key in (
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "Namespace",
            "MetricName",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
        )
    }
    request["Threshold"] = float(request["Threshold"] or 0)
    if alarm.get("Metrics"):
        for key in ("Namespace", "MetricName", "Period"):
            del request[key]
        request["Metrics"] = [
            {
                key: metric[key]
                for key in ("Id", "Expression", "Label", "MetricStat", "ReturnData")
                if key in metric
            }
            for metric in alarm["Metrics"]
        ]
        return request
    dimensions = sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions", []))
    request["Dimensions"] = [{"Name": name, "Value": value} for name, value in dimensions]
    if alarm.get("ExtendedStatistic"):
        request["ExtendedStatistic"] = alarm["ExtendedStatistic"]
        request["EvaluateLowSampleCountPercentile"] = alarm.get("EvaluateLowSampleCountPercentile")
    else:
        request["Statistic"] = alarm.get("Statistic")
    return request


class CloudWatchAlarms(AlarmDirectory):
    def __init__(self, cloudwatch: Any, prefix: str, managed_by: str):
        self._cloudwatch = cloudwatch
        self._prefix = prefix
        self._managed_by = managed_by

    def alarm_name(self, spec: AlarmSpec) -> str:
        return spec.alarm_name(self._prefix)

    def put(self, spec: AlarmSpec) -> None:
        request = spec.put_request(self.alarm_name(spec))
        tags = {TAG_MANAGED_BY: self._managed_by, TAG_TARGET: spec.target_id, TAG_SIGNAL: spec.signal.value}
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            self._cloudwatch.put_metric_alarm(
                **request,
                Tags=tag_list,
                # Copies the tags into each state-change event (detail.alarmTags).
                ActionConfiguration={
                    "AlarmTagsPropagation": {"Enabled": True, "IncludedTagKeys": list(tags)}
                },
            )
            # PutMetricAlarm ignores Tags when the alarm exists already: tag it explicitly, so that an alarm of
            # that name made before (or by hand) becomes recognisably the controller's.
            for alarm in self._described(AlarmNames=[request["AlarmName"]]):
                self._cloudwatch.tag_resource(ResourceARN=alarm["AlarmArn"], Tags=tag_list)
        except ClientError as exc:
            raise translate(exc, f"putting alarm {request['AlarmName']}") from exc

    def standing(self, alarm_names: Sequence[str]) -> dict[str, AlarmStanding]:
        standing: dict[str, AlarmStanding] = {}
        names = sorted(set(alarm_names))
        for start in range(0, len(names), _DESCRIBE_BATCH):
            batch = names[start : start + _DESCRIBE_BATCH]
            try:
                pages = self._cloudwatch.get_paginator("describe_alarms").paginate(
                    AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
                )
                for page in pages:
                    for kind in ("MetricAlarms", "CompositeAlarms"):
                        for alarm in page.get(kind, []):
                            standing[alarm["AlarmName"]] = AlarmStanding(
                                state=AlarmState(alarm["StateValue"]),
                                since=alarm.get("StateTransitionedTimestamp")
                                or alarm["StateUpdatedTimestamp"],
                                reason_data=alarm.get("StateReasonData"),
                                composite=kind == "CompositeAlarms",
                            )
            except ClientError as exc:
                raise translate(exc, "describing adopted alarms") from exc
        return standing

    def _described(self, **filters: Any) -> Iterator[dict[str, Any]]:
        try:
            for page in self._cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmTypes=["MetricAlarm"], **filters
            ):
                yield from page.get("MetricAlarms", [])
        except ClientError as exc:
            raise translate(exc, "describing alarms") from exc

    def owned(self) -> dict[str, dict[str, Any] | None]:
        owned: dict[str, dict[str, Any] | None] = {}
        for alarm in self._described(AlarmNamePrefix=self._prefix):
            try:
                tags = self._cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
            except ClientError as exc:
                raise translate(exc, f"reading the tags of {alarm['AlarmName']}") from exc
            tagged = {t["Key"]: t["Value"] for t in tags}
            if tagged.get(TAG_MANAGED_BY) != self._managed_by:
                continue  # shares the prefix but is not this stack's
            dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            if alarm.get("Metrics"):  # metric math: recognised by its signal tag
                known = tagged.get(TAG_SIGNAL) in {signal.value for signal in Signal}
            else:
                known = bool(
                    identify_metric(alarm.get("Namespace", ""), alarm.get("MetricName", ""), dimensions)
                )
            owned[alarm["AlarmName"]] = _described_request(alarm) if known else None
        return owned

    def delete(self, alarm_names: Sequence[str]) -> None:
        for start in range(0, len(alarm_names), _DESCRIBE_BATCH):
            try:
                self._cloudwatch.delete_alarms(AlarmNames=list(alarm_names[start : start + _DESCRIBE_BATCH]))
            except ClientError as exc:
                raise translate(exc, "deleting alarms") from exc

    def snapshot(self) -> dict[str, AlarmSnapshot]:
        snapshot = {}
        for alarm in self._described(AlarmNamePrefix=self._prefix):
            snapshot[alarm["AlarmName"]] = AlarmSnapshot(
                namespace=alarm.get("Namespace", ""),
                metric_name=alarm.get("MetricName", ""),
                dimensions={d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                stat=alarm.get("ExtendedStatistic") or alarm.get("Statistic", ""),
                period=int(alarm.get("Period", 0)),
                state=AlarmState(alarm["StateValue"]),
                since=alarm.get("StateTransitionedTimestamp") or alarm["StateUpdatedTimestamp"],
                reason_data=alarm.get("StateReasonData"),
            )
        return snapshot
