"""EndpointDirectory on SageMaker: endpoints tagged for management, picked up without a redeploy."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import EndpointDirectory
from genai_autoscaler.aws.errors import error_code, translate


class SageMakerEndpoints(EndpointDirectory):
    def __init__(self, sagemaker: Any):
        self._sagemaker = sagemaker

    def tagged_variants(self, tag_key: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        try:
            # Every status but Deleting: an endpoint being updated (perhaps by this controller) keeps its alarms.
            for page in self._sagemaker.get_paginator("list_endpoints").paginate():
                for endpoint in page["Endpoints"]:
                    if endpoint.get("EndpointStatus") == "Deleting":
                        continue
                    if not self._carries(endpoint["EndpointArn"], tag_key):
                        continue
                    described = self._sagemaker.describe_endpoint(EndpointName=endpoint["EndpointName"])
                    found += [
                        (endpoint["EndpointName"], variant["VariantName"])
                        for variant in described.get("ProductionVariants", [])
                    ]
        except ClientError as exc:
            raise translate(exc, f"listing endpoints tagged {tag_key}") from exc
        return found

    def is_tagged(self, endpoint_name: str, tag_key: str) -> bool:
        try:
            arn = self._sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointArn"]
            return self._carries(arn, tag_key)
        except ClientError as exc:
            if (
                error_code(exc) == "ValidationException"
            ):  # SageMaker's answer for an endpoint that does not exist
                return False
            raise translate(exc, f"reading the tags of {endpoint_name}") from exc

    def _carries(self, arn: str, tag_key: str) -> bool:
        """Whether the resource carries `tag_key`=true (ListTags; a ClientError propagates)."""
        tags = self._sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
        return bool({t["Key"]: t["Value"] for t in tags}.get(tag_key, "").lower() == "true")
