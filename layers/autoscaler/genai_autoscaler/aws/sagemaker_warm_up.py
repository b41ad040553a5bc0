"""WarmUpInvoker on the SageMaker runtime: one real InvokeEndpoint per warm-up request."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from genai_autoscaler.app.ports import WarmUpInvoker
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.domain.policy import InferenceComponentPolicy, SageMakerPolicy
from genai_autoscaler.errors import TransientAwsError


class SageMakerWarmUp(WarmUpInvoker):
    def __init__(self, runtime: Any):
        self._runtime = runtime

    def invoke(
        self, target: SageMakerPolicy, body: bytes, content_type: str, target_model: str | None
    ) -> float:
        request: dict[str, Any] = {
            "EndpointName": target.endpoint_name,
            "Body": body,
            "ContentType": content_type,
        }
        if isinstance(target, InferenceComponentPolicy):
            request["InferenceComponentName"] = target.inference_component_name
        else:
            request["TargetVariant"] = target.variant_name
        if target_model:
            request["TargetModel"] = target_model
        started = time.perf_counter()
        try:
            self._runtime.invoke_endpoint(**request)["Body"].read()
        except ClientError as exc:
            raise translate(exc, f"warm-up invocation of {target.name}") from exc
        except BotoCoreError as exc:  # a read timeout from a cold model, a dropped connection
            raise TransientAwsError(f"warm-up invocation of {target.name}: {exc}") from exc
        return (time.perf_counter() - started) * 1000.0
