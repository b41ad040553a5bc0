"""A decision, as data: what to do to a target and why."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.targets import TargetKind


class Action(StrEnum):
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    WARM = "warm"
    NOTIFY_ONLY = "notify_only"
    IGNORE = "ignore"
    # Bedrock: where callers send the model's traffic.
    SHIFT_TO_PROFILE = "shift_to_profile"  # a geographic or a global cross-region inference profile
    SHIFT_TO_PRIORITY_TIER = "shift_to_priority_tier"
    SHIFT_TO_PROVISIONED = "shift_to_provisioned"
    REVERT_ROUTING = "revert_routing"


class Actuation(StrEnum):
    """How a capacity change is made."""

    SET_CAPACITY = (
        "set_capacity"  # UpdateEndpointWeightsAndCapacities / UpdateInferenceComponentRuntimeConfig
    )
    RAISE_FLOOR = "raise_floor"  # Application Auto Scaling MinCapacity up; its policies do the rest
    RESTORE_FLOOR = "restore_floor"  # MinCapacity back down toward what it was


class Workflow(StrEnum):
    """The Step Functions workflows that carry out plans."""

    SCALE = "scale"  # statemachines/scale.asl.json: SageMaker capacity and warm-up
    ROUTING = "routing"  # statemachines/routing.asl.json: where a Bedrock model's callers are sent


CAPACITY_ACTIONS = frozenset({Action.SCALE_OUT, Action.SCALE_IN})
ROUTING_ACTIONS = frozenset(
    {
        Action.SHIFT_TO_PROFILE,
        Action.SHIFT_TO_PRIORITY_TIER,
        Action.SHIFT_TO_PROVISIONED,
        Action.REVERT_ROUTING,
    }
)


class Plan(BaseModel):
    """The outcome of one decision. `reason` is written for the person who receives the notification."""

    model_config = ConfigDict(frozen=True)

    action: Action
    target: str = Field(description="The target's name in the policy document.")
    target_id: str
    kind: TargetKind
    reason: str
    decided_at: datetime
    signal: Signal | None = None
    current_capacity: int | None = None
    desired_capacity: int | None = None
    actuation: Actuation | None = None
    observed_floor: int | None = Field(
        None, description="The Application Auto Scaling MinCapacity the decision saw (floor plans check it)."
    )
    observed_value: float | None = None
    threshold: float | None = None
    unit: str | None = None
    advisory: bool = False
    # State to remember even when nothing is carried out.
    adopt_capacity: int | None = Field(None, description="A capacity set by someone else, now the baseline.")
    manual_hold_until: datetime | None = None
    insufficient_data_since: datetime | None = None
    hold_until: datetime | None = Field(
        None, description="A planned scale: leave the target alone until then."
    )
    # Bedrock routing.
    route_to: str | None = Field(None, description="The model ID, profile ID or ARN callers are to use.")
    model_units: int | None = Field(None, description="Provisioned Throughput: model units to buy.")
    hourly_cost_usd: float | None = Field(
        None, description="What the new route costs per hour (0: on-demand)."
    )
    commitment: str | None = Field(
        None, description="Provisioned Throughput term: none, OneMonth, SixMonths."
    )
    needs_approval: bool = Field(False, description="A commitment: bought only after a person approves.")
    service_tier: str | None = Field(
        None, description="The service tier callers are to pass (default or priority)."
    )
    price_note: str | None = Field(None, description="What a per-token premium (the Priority tier) costs.")
    spent_usd: float | None = Field(
        None, description="What the route in use has cost since the shift to it (Provisioned Throughput)."
    )

    @property
    def capacity_delta(self) -> int:
        if self.desired_capacity is None or self.current_capacity is None:
            return 0
        return self.desired_capacity - self.current_capacity

    @property
    def workflow(self) -> Workflow | None:
        """The workflow that carries the plan out; None when it is advisory, notify-only or nothing to do."""
        if self.advisory:
            return None
        if self.action in (Action.SCALE_OUT, Action.SCALE_IN, Action.WARM):
            return Workflow.SCALE
        if self.action in ROUTING_ACTIONS:
            return Workflow.ROUTING
        return None

    @property
    def runs_workflow(self) -> bool:
        return self.workflow is not None

    @property
    def notifies(self) -> bool:
        return self.action is Action.NOTIFY_ONLY or (self.advisory and self.action is not Action.IGNORE)
