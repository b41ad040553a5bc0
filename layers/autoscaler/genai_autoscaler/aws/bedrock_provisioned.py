"""ProvisionedThroughputs for Amazon Bedrock, on an injected `bedrock` (control-plane) client.

Operation and member names, enums and types are those of botocore's service model bedrock-2023-04-20:
CreateProvisionedModelThroughput, GetProvisionedModelThroughput, DeleteProvisionedModelThroughput,
ListProvisionedModelThroughputs and ListTagsForResource (tests/unit/test_bedrock_provisioned_adapter.py checks
the requests against it with botocore's Stubber).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import ProvisionedThroughputs
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.provisioned import ProvisionedModel
from genai_autoscaler.domain.signals import TAG_TARGET

NOT_FOUND = "ResourceNotFoundException"
LIST_PAGE_SIZE = 100  # maxResults may be 1..1000


def _utc(moment: datetime) -> datetime:
    # boto3 parses timestamps into aware datetimes (dateutil's tzutc); the domain keeps datetime.UTC.
    return moment.astimezone(UTC)


def _provisioned_model(found: dict[str, Any]) -> ProvisionedModel:
    """From GetProvisionedModelThroughput's response or a ProvisionedModelSummary (the same members, less
    failureMessage)."""
    return ProvisionedModel(
        arn=found["provisionedModelArn"],
        name=found["provisionedModelName"],
        model_arn=found["modelArn"],
        model_units=found["modelUnits"],
        status=found["status"],
        commitment=found.get("commitmentDuration"),
        commitment_expires_at=(
            _utc(found["commitmentExpirationTime"]) if "commitmentExpirationTime" in found else None
        ),
        created_at=_utc(found["creationTime"]),
        failure_message=found.get("failureMessage"),
    )


class BedrockProvisionedThroughputs(ProvisionedThroughputs):
    def __init__(self, bedrock: Any):
        self._bedrock = bedrock

    def create(
        self,
        model_id: str,
        model_units: int,
        name: str,
        commitment: str | None,
        client_token: str,
        tags: dict[str, str],
    ) -> str:
        request: dict[str, Any] = {
            "modelUnits": model_units,
            "provisionedModelName": name,
            "modelId": model_id,
            "clientRequestToken": client_token,
        }
        if commitment is not None:  # "To request a no-commit Provisioned Throughput, omit this field."
            request["commitmentDuration"] = commitment
        if tags:
            request["tags"] = [{"key": key, "value": value} for key, value in sorted(tags.items())]
        term = f" for {commitment}" if commitment else " without commitment"
        try:
            response = self._bedrock.create_provisioned_model_throughput(**request)
        except ClientError as exc:
            raise translate(exc, f"buying {model_units} model units of {model_id}{term} as {name}") from exc
        return str(response["provisionedModelArn"])

    def describe(self, arn: str) -> ProvisionedModel | None:
        try:
            found = self._bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            raise translate(exc, f"describing the provisioned model {arn}") from exc
        return _provisioned_model(found)

    def delete(self, arn: str) -> None:
        try:
            self._bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:  # a retried delete, or one the sweeper and a workflow both made
                return
            raise translate(exc, f"deleting the provisioned model {arn}") from exc

    def created_by(self, tag_key: str, tag_value: str) -> list[ProvisionedModel]:
        # Bedrock's listing has no tag filter: list every PT, then read each one's tags.
        owned = []
        for summary in self._summaries():
            arn = summary["provisionedModelArn"]
            try:
                tags = self._bedrock.list_tags_for_resource(resourceARN=arn).get("tags", [])
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:  # deleted since it was listed
                    continue
                raise translate(exc, f"reading the tags of the provisioned model {arn}") from exc
            values = {tag["key"]: tag["value"] for tag in tags}
            if values.get(tag_key) == tag_value:
                model = _provisioned_model(summary)
                owned.append(model.model_copy(update={"target_id": values.get(TAG_TARGET)}))
        return owned

    def model_units_in_use(self, committed: bool) -> int:
        # A summary carries commitmentDuration only for a committed PT. While an update is under way, the larger of
        # the allocated and the requested units counts. Failed ones are not counted: whether they hold units is not
        # documented, and the sweeper deletes them.
        return sum(
            max(int(summary["modelUnits"]), int(summary.get("desiredModelUnits", 0)))
            for summary in self._summaries()
            if summary["status"] != "Failed" and ("commitmentDuration" in summary) == committed
        )

    def _summaries(self) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "maxResults": LIST_PAGE_SIZE,
            "sortBy": "CreationTime",
            "sortOrder": "Ascending",
        }
        while True:
            try:
                page = self._bedrock.list_provisioned_model_throughputs(**request)
            except ClientError as exc:
                raise translate(exc, "listing the provisioned models") from exc
            summaries += page.get("provisionedModelSummaries", [])
            if not page.get("nextToken"):
                return summaries
            request["nextToken"] = page["nextToken"]
