"""What the controller manages: a SageMaker variant, an inference component, or a Bedrock model."""

from __future__ import annotations

from enum import StrEnum

# Endpoints and inference components tagged with this key and the value "true" are managed. Fixed, because
# the IAM condition that lets the controller change them (aws:ResourceTag/<key>) cannot take a parameter.
MANAGEMENT_TAG = "genai-autoscaler:managed"


class TargetKind(StrEnum):
    SAGEMAKER_VARIANT = "sagemaker_variant"
    INFERENCE_COMPONENT = "inference_component"
    BEDROCK_MODEL = "bedrock_model"


# Application Auto Scaling names for the capacity of each scalable kind.
SCALABLE_DIMENSION = {
    TargetKind.SAGEMAKER_VARIANT: "sagemaker:variant:DesiredInstanceCount",
    TargetKind.INFERENCE_COMPONENT: "sagemaker:inference-component:DesiredCopyCount",
}

CAPACITY_UNIT = {
    TargetKind.SAGEMAKER_VARIANT: ("instance", "instances"),
    TargetKind.INFERENCE_COMPONENT: ("copy", "copies"),
    TargetKind.BEDROCK_MODEL: ("model unit", "model units"),
}


def capacity_units(kind: TargetKind, count: int) -> str:
    """`1 instance`, `3 copies`, `0 model units`."""
    singular, plural = CAPACITY_UNIT[kind]
    return f"{count} {singular if count == 1 else plural}"


def capacity_unit(kind: TargetKind) -> str:
    """The singular unit: `instance`, `copy`, `model unit`."""
    return CAPACITY_UNIT[kind][0]


def variant_target_id(endpoint_name: str, variant_name: str) -> str:
    return f"variant/{endpoint_name}/{variant_name}"


def inference_component_target_id(inference_component_name: str) -> str:
    return f"inference-component/{inference_component_name}"


def bedrock_target_id(model_id: str) -> str:
    return f"bedrock/{model_id}"


def bedrock_model_id(target_id: str) -> str | None:
    """The model ID of a `bedrock_target_id`; None for the id of another kind of target."""
    model_id = target_id.removeprefix("bedrock/")
    return model_id if model_id != target_id and model_id else None


def aas_resource_id(kind: TargetKind, endpoint_name: str, variant_name: str, ic_name: str) -> str:
    """The Application Auto Scaling ResourceId of a SageMaker target."""
    if kind is TargetKind.SAGEMAKER_VARIANT:
        return f"endpoint/{endpoint_name}/variant/{variant_name}"
    if kind is TargetKind.INFERENCE_COMPONENT:
        return f"inference-component/{ic_name}"
    raise ValueError(f"{kind} has no Application Auto Scaling resource")
