"""Dashboards on CloudWatch: PutDashboard, which replaces the named dashboard's whole body."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import Dashboards
from genai_autoscaler.aws.errors import translate


class CloudWatchDashboards(Dashboards):
    def __init__(self, cloudwatch: Any):
        self._cloudwatch = cloudwatch

    @property
    def region(self) -> str:
        return str(self._cloudwatch.meta.region_name)

    def put(self, name: str, body: dict[str, Any]) -> list[str]:
        try:
            response = self._cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
        except ClientError as exc:
            raise translate(exc, f"putting dashboard {name}") from exc
        return [
            f"{m.get('DataPath', '')}: {m.get('Message', '')}"
            for m in response.get("DashboardValidationMessages", [])
        ]
