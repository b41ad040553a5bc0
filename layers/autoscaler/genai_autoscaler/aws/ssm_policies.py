"""PolicySource on SSM Parameter Store: the document, stored as JSON by `genai-autoscaler publish-config`."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import PolicySource
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.errors import InvalidEvent


class SsmPolicySource(PolicySource):
    def __init__(self, ssm: Any, parameter_name: str):
        self._ssm = ssm
        self._name = parameter_name

    def load(self) -> dict[str, Any]:
        if not self._name:
            return {}
        try:
            value = self._ssm.get_parameter(Name=self._name)["Parameter"]["Value"]
        except ClientError as exc:
            if error_code(exc) == "ParameterNotFound":
                return {}  # no document published yet: the stack's parameters and tags decide
            raise translate(exc, f"reading policy parameter {self._name}") from exc
        try:
            document = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"policy parameter {self._name} is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidEvent(
                f"policy parameter {self._name} holds {type(document).__name__}, not an object"
            )
        return document

    def publish(self, document: dict[str, Any]) -> int:
        """Store a (validated) document; returns the parameter's new version."""
        text = json.dumps(document, separators=(",", ":"))
        tier = "Advanced" if len(text.encode()) > 4096 else "Standard"
        try:
            response = self._ssm.put_parameter(
                Name=self._name, Value=text, Type="String", Overwrite=True, Tier=tier
            )
        except ClientError as exc:
            raise translate(exc, f"writing policy parameter {self._name}") from exc
        return int(response["Version"])
