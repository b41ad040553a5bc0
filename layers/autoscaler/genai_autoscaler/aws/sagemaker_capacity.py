"""CapacityActuator for SageMaker: variants, inference components, and Application Auto Scaling floors."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import CapacityActuator
from genai_autoscaler.aws.errors import error_code, translate
from genai_autoscaler.domain.endpoint_routing import DEFAULT_ROUTING
from genai_autoscaler.domain.policy import SageMakerPolicy, SageMakerVariantPolicy
from genai_autoscaler.domain.state import ObservedCapacity, ScalableTargetFloor
from genai_autoscaler.domain.targets import SCALABLE_DIMENSION, aas_resource_id
from genai_autoscaler.errors import TargetNotFound

AAS_NAMESPACE = "sagemaker"

# DescribeInferenceComponent's statuses are InService | Creating | Updating | Failed | Deleting;
# DescribeEndpoint's include OutOfService, SystemUpdating, RollingBack, UpdateRollbackFailed as well.


def _not_found(error: ClientError) -> bool:
    # SageMaker answers a missing endpoint or component with ValidationException "Could not find ...".
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error_code(error) in ("ValidationException", "ResourceNotFound") and "ould not find" in message


def _named(variants: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The variant called `name` of a ProductionVariants list (DescribeEndpoint's or DescribeEndpointConfig's)."""
    return next((variant for variant in variants if variant.get("VariantName") == name), None)


def _strategy(variant: dict[str, Any]) -> str:
    """A variant's RoutingStrategy; SageMaker's default where it sets no RoutingConfig."""
    return str(variant.get("RoutingConfig", {}).get("RoutingStrategy", DEFAULT_ROUTING))


class SageMakerCapacity(CapacityActuator):
    def __init__(self, sagemaker: Any, autoscaling: Any):
        self._sagemaker = sagemaker
        self._autoscaling = autoscaling

    def observe(self, target: SageMakerPolicy) -> ObservedCapacity | None:
        try:
            if isinstance(target, SageMakerVariantPolicy):
                capacity = self._variant(target)
            else:
                capacity = self._inference_component(target)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise translate(exc, f"describing {target.name}") from exc
        if capacity is None:
            return None
        return capacity.model_copy(update={"scalable_target": self._scalable_target(target)})

    def routing(self, target: SageMakerVariantPolicy) -> str | None:
        """From the variant's summary in DescribeEndpoint when it carries a RoutingConfig, else from its endpoint
        config. None where it cannot be read: the endpoint, its config or the variant gone, or the caller not
        allowed (the routing is advice, never worth failing a status over)."""
        try:
            endpoint = self._sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
            summary = _named(endpoint.get("ProductionVariants", []), target.variant_name)
            if summary is not None and "RoutingConfig" in summary:
                return _strategy(summary)
            config_name = endpoint.get("EndpointConfigName")
            if config_name is None:
                return None
            config = self._sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        except ClientError:
            return None
        variant = _named(config.get("ProductionVariants", []), target.variant_name)
        return None if variant is None else _strategy(variant)

    def _variant(self, target: SageMakerVariantPolicy) -> ObservedCapacity | None:
        endpoint = self._sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
        variant = _named(endpoint.get("ProductionVariants", []), target.variant_name)
        if variant is None:
            return None
        current = int(variant.get("CurrentInstanceCount", 0))
        return ObservedCapacity(
            desired=int(variant.get("DesiredInstanceCount", current)),
            current=current,
            status=endpoint["EndpointStatus"],
        )

    def _inference_component(self, target: SageMakerPolicy) -> ObservedCapacity:
        component = self._sagemaker.describe_inference_component(
            InferenceComponentName=target.inference_component_name  # type: ignore[union-attr]
        )
        runtime = component.get("RuntimeConfig", {})
        current = int(runtime.get("CurrentCopyCount", 0))
        return ObservedCapacity(
            desired=int(runtime.get("DesiredCopyCount", current)),
            current=current,
            status=component["InferenceComponentStatus"],
        )

    def _resource(self, target: SageMakerPolicy) -> tuple[str, str]:
        return (
            aas_resource_id(
                target.kind,
                target.endpoint_name,
                getattr(target, "variant_name", ""),
                getattr(target, "inference_component_name", ""),
            ),
            SCALABLE_DIMENSION[target.kind],
        )

    def _scalable_target(self, target: SageMakerPolicy) -> ScalableTargetFloor | None:
        resource_id, dimension = self._resource(target)
        try:
            found = self._autoscaling.describe_scalable_targets(
                ServiceNamespace=AAS_NAMESPACE, ResourceIds=[resource_id], ScalableDimension=dimension
            )["ScalableTargets"]
        except ClientError as exc:
            raise translate(exc, f"describing the scalable target of {target.name}") from exc
        if not found:
            return None
        return ScalableTargetFloor(
            min_capacity=int(found[0]["MinCapacity"]), max_capacity=int(found[0]["MaxCapacity"])
        )

    def set_capacity(self, target: SageMakerPolicy, count: int) -> None:
        try:
            if isinstance(target, SageMakerVariantPolicy):
                self._sagemaker.update_endpoint_weights_and_capacities(
                    EndpointName=target.endpoint_name,
                    DesiredWeightsAndCapacities=[
                        {"VariantName": target.variant_name, "DesiredInstanceCount": count}
                    ],
                )
            else:
                self._sagemaker.update_inference_component_runtime_config(
                    InferenceComponentName=target.inference_component_name,
                    DesiredRuntimeConfig={"CopyCount": count},
                )
        except ClientError as exc:
            if _not_found(exc):
                raise TargetNotFound(f"{target.name} no longer exists") from exc
            raise translate(exc, f"setting {target.name} to {count}") from exc

    def set_floor(self, target: SageMakerPolicy, min_capacity: int) -> None:
        resource_id, dimension = self._resource(target)
        try:
            # On a registered target, RegisterScalableTarget updates only the limits it is given.
            self._autoscaling.register_scalable_target(
                ServiceNamespace=AAS_NAMESPACE,
                ResourceId=resource_id,
                ScalableDimension=dimension,
                MinCapacity=min_capacity,
            )
        except ClientError as exc:
            raise translate(exc, f"setting the MinCapacity of {target.name} to {min_capacity}") from exc
