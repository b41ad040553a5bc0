"""What moto's SageMaker does not do, added with botocore hooks on the controller's clients:

- the Updating phase: after UpdateEndpointWeightsAndCapacities an endpoint stays Updating, serving its old
  count, for `provisioning_seconds` of simulated time (new LLM instances take minutes), and refuses
  another update meanwhile, as SageMaker does;
- inference components (Create/Describe/UpdateRuntimeConfig), which moto lacks;
- Application Auto Scaling acting on a raised MinCapacity (it raises the count to the new floor), and its
  scalable targets for inference components (moto's dimension list predates them);
- fault injection for tests: an update that AWS refuses, or one that never reaches InService.

Every response is checked against the botocore service model's output shape, so the fake cannot drift
from the real API's shapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from genai_autoscaler_local.clock import SimClock

ACCOUNT = "123456789012"
COMPONENT_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


@dataclass
class PendingUpdate:
    previous_count: int
    ready_at: datetime | None  # None: never (an update that hangs)


@dataclass
class FakeInferenceComponent:
    name: str
    endpoint_name: str
    variant_name: str
    copies: int
    status: str = "InService"
    pending: PendingUpdate | None = None


def _response(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
    return AWSResponse("https://sagemaker.local/", status, {}, None), parsed


def _error(code: str, message: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    return _response(status, {"Error": {"Code": code, "Message": message}})


def _checked(model: OperationModel, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    report = ParamValidator().validate(parsed, model.output_shape)
    if report.has_errors():
        raise AssertionError(
            f"fake {model.name} response does not fit the service model: {report.generate_report()}"
        )
    return _response(200, parsed)


class SageMakerWorld:
    def __init__(self, clock: SimClock, region: str, provisioning_seconds: float = 360):
        self.clock = clock
        self.region = region
        self.provisioning_seconds = provisioning_seconds
        self._updates: dict[str, PendingUpdate] = {}
        self._components: dict[str, FakeInferenceComponent] = {}
        self._refuse_next: dict[str, tuple[str, str]] = {}
        self._hang: set[str] = set()
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._hooks: list[tuple[str, str, Callable[..., Any]]] = []  # (service, botocore event, handler)
        # Called with (IAM service prefix, operation name, API parameters) of each call the controller's clients make.
        self.observers: list[Callable[[str, str, dict[str, Any]], None]] = []
        self._component_targets: dict[str, tuple[int, int]] = {}  # resource id -> (min, max)

    # ------------------------------------------------------------------ clients with the hooks attached
    def client(self, service: str, credentials: Mapping[str, str] | None = None) -> Any:
        """The controller's client for `service`, signed with `credentials` (boto3's keyword arguments, those of
        the function's role where the harness enforces IAM) or the environment's."""
        key = (service, (credentials or {}).get("aws_access_key_id"))
        with self._lock:
            if key not in self._clients:
                made = boto3.client(service, region_name=self.region, **(credentials or {}))  # type: ignore[call-overload]
                self._attach(made, service)
                for hooked, event, handler in self._hooks:
                    if hooked == service:
                        made.meta.events.register(event, handler)
                self._clients[key] = made
            return self._clients[key]

    def hook(self, service: str, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client of `service` the controller has or will have
        (one per role where the harness enforces IAM)."""
        with self._lock:
            self._hooks.append((service, event, handler))
            for (made_for, _), made in self._clients.items():
                if made_for == service:
                    made.meta.events.register(event, handler)

    def _raw(self, service: str) -> Any:
        """A moto client without hooks, to read and change moto's own state."""
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def _attach(self, client: Any, service: str) -> None:
        events = client.meta.events
        # The IAM prefix is the signing name (states; sagemaker for the runtime too), except CloudWatch's.
        signing = client.meta.service_model.signing_name
        prefix = {"monitoring": "cloudwatch"}.get(signing, signing)

        def observed(model: OperationModel, context: dict[str, Any], **_: Any) -> None:
            # Returns None: botocore would take any other answer for the response.
            for observe in self.observers:
                observe(prefix, model.name, context.get("genai_params", {}))

        events.register("before-call", observed)
        # before-call sees the serialised request; the API parameters are stashed in the request context.
        events.register("before-parameter-build", self._stash_params)
        if service == "sagemaker":
            events.register("before-call.sagemaker.UpdateEndpointWeightsAndCapacities", self._before_update)
            events.register("after-call.sagemaker.DescribeEndpoint", self._after_describe)
            events.register("before-call.sagemaker.DescribeInferenceComponent", self._describe_component)
            events.register(
                "before-call.sagemaker.UpdateInferenceComponentRuntimeConfig", self._update_component
            )
        elif service == "application-autoscaling":
            events.register(
                "before-call.application-auto-scaling.DescribeScalableTargets",
                self._describe_component_targets,
            )
            events.register(
                "before-call.application-auto-scaling.RegisterScalableTarget", self._register_component_target
            )
            events.register(
                "after-call.application-auto-scaling.RegisterScalableTarget", self._after_register
            )

    # ------------------------------------------------------------------ test controls
    def refuse_next_update(
        self,
        name: str,
        code: str = "ResourceLimitExceeded",
        message: str = "The account-level service limit for ml.g4dn.xlarge is 2",
    ) -> None:
        self._refuse_next[name] = (code, message)

    def hang_updates(self, name: str) -> None:
        """Updates of `name` never finish (an InService timeout)."""
        self._hang.add(name)

    def add_inference_component(self, name: str, endpoint_name: str, copies: int) -> None:
        self._components[name] = FakeInferenceComponent(name, endpoint_name, "AllTraffic", copies)

    def updating(self, name: str) -> bool:
        pending = self._updates.get(name) or (
            self._components[name].pending if name in self._components else None
        )
        return pending is not None and (pending.ready_at is None or self.clock.now() < pending.ready_at)

    def _pending(self, name: str, previous: int) -> PendingUpdate:
        ready = (
            None if name in self._hang else self.clock.now() + timedelta(seconds=self.provisioning_seconds)
        )
        return PendingUpdate(previous, ready)

    # ------------------------------------------------------------------ endpoints
    def _variant_count(self, endpoint: str, variant: str) -> int:
        described = self._raw("sagemaker").describe_endpoint(EndpointName=endpoint)
        return next(
            int(v["CurrentInstanceCount"])
            for v in described["ProductionVariants"]
            if v["VariantName"] == variant
        )

    def _before_update(self, context: dict[str, Any], **_: Any) -> Any:
        params = context["genai_params"]
        name = params["EndpointName"]
        with self._lock:
            if name in self._refuse_next:
                code, message = self._refuse_next.pop(name)
                return _error(code, message)
            if self.updating(name):
                return _error("ValidationException", f'Cannot update in-progress endpoint "{name}".')
            variant = params["DesiredWeightsAndCapacities"][0]["VariantName"]
            self._updates[name] = self._pending(name, self._variant_count(name, variant))
        return None  # moto applies the change

    def _after_describe(self, parsed: dict[str, Any], **_: Any) -> None:
        name = parsed.get("EndpointName", "")
        with self._lock:
            pending = self._updates.get(name)
            if pending is None:
                return
            if pending.ready_at is not None and self.clock.now() >= pending.ready_at:
                del self._updates[name]
                return
            parsed["EndpointStatus"] = "Updating"
            for variant in parsed.get("ProductionVariants", []):
                variant["CurrentInstanceCount"] = pending.previous_count

    # ------------------------------------------------------------------ Application Auto Scaling
    @staticmethod
    def _stash_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["genai_params"] = dict(params)

    def _after_register(self, context: dict[str, Any], **_: Any) -> None:
        params = context.get("genai_params", {})
        resource = params.get("ResourceId", "")
        floor = params.get("MinCapacity")
        if params.get("ServiceNamespace") != "sagemaker" or floor is None:
            return
        parts = resource.split("/")
        if parts[0] == "endpoint":
            endpoint, variant = parts[1], parts[3]
            count = self._variant_count(endpoint, variant)
            if count < floor:
                with self._lock:
                    self._updates[endpoint] = self._pending(endpoint, count)
                self._raw("sagemaker").update_endpoint_weights_and_capacities(
                    EndpointName=endpoint,
                    DesiredWeightsAndCapacities=[{"VariantName": variant, "DesiredInstanceCount": floor}],
                )

    def register_component_target(self, name: str, minimum: int, maximum: int) -> None:
        """Register an inference component with Application Auto Scaling (as a team's own setup would)."""
        self._component_targets[f"inference-component/{name}"] = (minimum, maximum)

    def _describe_component_targets(self, context: dict[str, Any], model: OperationModel, **_: Any) -> Any:
        params = context["genai_params"]
        if params.get("ScalableDimension") != COMPONENT_DIMENSION:
            return None  # variants: moto answers
        found = [
            {
                "ServiceNamespace": "sagemaker",
                "ResourceId": resource,
                "ScalableDimension": COMPONENT_DIMENSION,
                "MinCapacity": minimum,
                "MaxCapacity": maximum,
                "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling",
                "CreationTime": self.clock.now(),
            }
            for resource, (minimum, maximum) in self._component_targets.items()
            if resource in params.get("ResourceIds", [resource])
        ]
        return _checked(model, {"ScalableTargets": found})

    def _register_component_target(self, context: dict[str, Any], model: OperationModel, **_: Any) -> Any:
        params = context["genai_params"]
        if params.get("ScalableDimension") != COMPONENT_DIMENSION:
            return None
        resource = params["ResourceId"]
        minimum, maximum = self._component_targets.get(resource, (0, 0))
        minimum = params.get("MinCapacity", minimum)
        self._component_targets[resource] = (minimum, params.get("MaxCapacity", maximum))
        component = self._components.get(resource.split("/", 1)[1])
        if component is not None and component.copies < minimum:
            with self._lock:
                component.pending = self._pending(component.name, component.copies)
                component.copies = minimum
        target_arn = f"arn:aws:application-autoscaling:{self.region}:{ACCOUNT}:scalable-target/{resource}"
        return _checked(model, {"ScalableTargetARN": target_arn})

    # ------------------------------------------------------------------ inference components
    def _component(self, name: str) -> FakeInferenceComponent | None:
        component = self._components.get(name)
        pending = component.pending if component else None
        if component and pending and pending.ready_at is not None and self.clock.now() >= pending.ready_at:
            component.pending = None
        return component

    def _describe_component(self, context: dict[str, Any], model: OperationModel, **_: Any) -> Any:
        params = context["genai_params"]
        with self._lock:
            component = self._component(params["InferenceComponentName"])
            if component is None:
                return _error(
                    "ValidationException",
                    f'Could not find inference component "{params["InferenceComponentName"]}".',
                )
            updating = component.pending is not None
            current = component.pending.previous_count if updating and component.pending else component.copies
            arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}"
            now = self.clock.now()
            return _checked(
                model,
                {
                    "InferenceComponentName": component.name,
                    "InferenceComponentArn": f"{arn}:inference-component/{component.name}",
                    "EndpointName": component.endpoint_name,
                    "EndpointArn": f"{arn}:endpoint/{component.endpoint_name}",
                    "VariantName": component.variant_name,
                    "RuntimeConfig": {"DesiredCopyCount": component.copies, "CurrentCopyCount": current},
                    "InferenceComponentStatus": "Updating" if updating else component.status,
                    "CreationTime": now,
                    "LastModifiedTime": now,
                },
            )

    def _update_component(self, context: dict[str, Any], model: OperationModel, **_: Any) -> Any:
        params = context["genai_params"]
        name = params["InferenceComponentName"]
        with self._lock:
            if name in self._refuse_next:
                code, message = self._refuse_next.pop(name)
                return _error(code, message)
            component = self._component(name)
            if component is None:
                return _error("ValidationException", f'Could not find inference component "{name}".')
            if component.pending is not None:
                return _error("ValidationException", f'Inference component "{name}" is being updated.')
            component.pending = self._pending(name, component.copies)
            component.copies = params["DesiredRuntimeConfig"]["CopyCount"]
            arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:inference-component/{name}"
            return _checked(model, {"InferenceComponentArn": arn})
