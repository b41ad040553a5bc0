"""Bedrock Provisioned Throughput as the controller sees it: one provisioned model, and whether it may be deleted.

Pure: the `ProvisionedThroughputs` port (app/ports.py) returns these, read from GetProvisionedModelThroughput
and ListProvisionedModelThroughputs.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Commitment = Literal["OneMonth", "SixMonths"]  # CommitmentDuration in the botocore service model


# From a purchase to InService, until one of the model's own purchases was timed: AWS documents no figure (an
# assumption, the simulator's default as well).
ASSUMED_PROVISIONING_SECONDS = 1200


class ProvisionedModelStatus(StrEnum):
    """ProvisionedModelStatus in the botocore service model."""

    CREATING = "Creating"
    IN_SERVICE = "InService"
    UPDATING = "Updating"
    FAILED = "Failed"


class ProvisionedModel(BaseModel):
    """One Provisioned Throughput (a "provisioned model") as Bedrock reports it."""

    model_config = ConfigDict(frozen=True)

    arn: str = Field(description="provisionedModelArn: what callers pass as modelId to use it.")
    name: str = Field(description="provisionedModelName, unique in the account and region.")
    model_arn: str = Field(description="The model it serves (modelArn).")
    model_units: int = Field(ge=1, description="Model units in service now (modelUnits).")
    status: ProvisionedModelStatus
    commitment: Commitment | None = Field(
        None, description="None: no commitment, billed hourly until deleted."
    )
    commitment_expires_at: AwareDatetime | None = None
    created_at: AwareDatetime
    # GetProvisionedModelThroughput gives it; ListProvisionedModelThroughputs' summaries do not.
    failure_message: str | None = None
    # The controller's genai-autoscaler:target tag (domain/signals.TAG_TARGET): the target it was bought for.
    # Read by `ProvisionedThroughputs.created_by`, which reads the tags anyway; None from `describe`.
    target_id: str | None = None

    @property
    def committed(self) -> bool:
        return self.commitment is not None


def purchase_prefix(stack_name: str) -> str:
    """How every provisioned model name a stack gives its purchases begins (app.routing_workflow's
    purchase_identity). Bedrock names are unique in the account and no role of the stack may rename one, so a
    model without it was not bought by the stack, whatever tags it carries: its tags guard the delete in IAM, and
    a role that may tag could otherwise make anything look like the stack's."""
    stack = re.sub(r"[^a-zA-Z0-9]+", "-", stack_name).strip("-")[:24].rstrip("-")
    # The stack's whole name, hashed: `prod` is not a prefix of `prod-eu`'s names, nor are two long names alike.
    return f"{stack}-{hashlib.sha256(stack_name.encode()).hexdigest()[:6]}-"


def may_delete(model: ProvisionedModel, now: datetime) -> tuple[bool, str]:
    """Whether Bedrock lets `model` be deleted at `now`, and why, in words fit for a notification.

    Bedrock refuses to delete a committed Provisioned Throughput before its term ends: "You can't delete a
    Provisioned Throughput before the commitment term is over." (DeleteProvisionedModelThroughput, Amazon Bedrock
    API Reference, https://docs.aws.amazon.com/bedrock/latest/APIReference/API_DeleteProvisionedModelThroughput.html;
    the User Guide's "Delete a Provisioned Throughput", .../bedrock/latest/userguide/prov-thru-delete.html, says the
    same of "Provisioned Throughput by Model Units with commitment"). Without commitment, "You can delete the
    Provisioned Throughput at any time", and "Billing continues until you delete" it
    (.../bedrock/latest/userguide/prov-throughput.html).

    The same User Guide page says PT "will automatically renew at the end of each commitment term", so the end
    of the term is read from the model as Bedrock reports it now, never computed from its creation time. A
    committed model whose term end Bedrock does not report is not deletable: the safe answer is "no".
    """
    if model.commitment is None:
        return True, "no commitment: it bills hourly until it is deleted"
    if model.commitment_expires_at is None:
        return False, f"a {model.commitment} commitment whose term end Bedrock does not report"
    ends = model.commitment_expires_at.isoformat()
    if now < model.commitment_expires_at:
        return False, f"its {model.commitment} commitment runs until {ends}"
    return True, f"its {model.commitment} commitment ended at {ends}"


class ProvisionedBill(BaseModel):
    """What a Provisioned Throughput cost from its purchase to its deletion: Bedrock bills it "hourly" from its
    creation, used or not, and "billing continues until you delete" it (User Guide, prov-throughput.html). The hours
    are counted pro rata: AWS does not say how it counts a partial hour."""

    model_config = ConfigDict(frozen=True)

    model_units: int = Field(ge=1)
    hourly_price_per_unit_usd: float = Field(gt=0)
    bought_at: AwareDatetime
    deleted_at: AwareDatetime

    @classmethod
    def of(
        cls, model: ProvisionedModel, hourly_price_per_unit_usd: float, deleted_at: datetime
    ) -> ProvisionedBill:
        """The bill of `model`, deleted at `deleted_at`, at the policy's price per model unit and hour."""
        return cls(
            model_units=model.model_units,
            hourly_price_per_unit_usd=hourly_price_per_unit_usd,
            bought_at=model.created_at,
            deleted_at=deleted_at,
        )

    @property
    def hours(self) -> float:
        return max(0.0, (self.deleted_at - self.bought_at).total_seconds() / 3600)

    @property
    def usd(self) -> float:
        return round(self.model_units * self.hourly_price_per_unit_usd * self.hours, 2)

    def describe(self) -> str:
        """E.g. `$166.67: 5 model units at $40.00 an hour each for 50 min, from its purchase at ... to its deletion
        at ...`."""
        minutes = round(self.hours * 60)
        span = f"{minutes} min" if minutes < 120 else f"{self.hours:,.1f} h"
        units = f"{self.model_units} model unit{'s' if self.model_units != 1 else ''}"
        return (
            f"${self.usd:,.2f}: {units} at ${self.hourly_price_per_unit_usd:,.2f} an hour each for {span}, from its "
            f"purchase at {self.bought_at.isoformat(timespec='seconds')} to its deletion at "
            f"{self.deleted_at.isoformat(timespec='seconds')}"
        )


class SweepVerdict(StrEnum):
    DELETE = "delete"
    REPORT = "report"  # billing, not the controller's to delete now: a person is told
    KEEP = "keep"


class SweepFinding(BaseModel):
    """What the sweeper does about one Provisioned Throughput the controller created."""

    model_config = ConfigDict(frozen=True)

    arn: str
    verdict: SweepVerdict
    reason: str


def sweep(
    created: list[ProvisionedModel],
    routed_to: set[str],
    in_flight: set[str],
    now: datetime,
    grace_seconds: int,
    prefix: str,
) -> list[SweepFinding]:
    """The sweeper's findings on the Provisioned Throughput the controller created (found by its tag).

    `routed_to` holds the ARNs some target's route uses; `in_flight` those a workflow is buying or draining now.
    A model neither routes to nor works on is an orphan (a crash, a failed workflow, a route changed by hand):
    it is deleted when Bedrock allows it, else reported, so that nothing the controller bought bills unnoticed.
    A model younger than `grace_seconds` is left to the workflow that may be about to route to it. A model whose
    name does not begin with `prefix` (purchase_prefix) was not bought by the stack: it is reported, never deleted.
    """
    findings = []
    for model in created:
        if not model.name.startswith(prefix):
            reason = (
                f"it carries this stack's tag but not the name the stack gives what it buys ({prefix}...): not its "
                "purchase, whoever tagged it; kept"
            )
            findings.append(SweepFinding(arn=model.arn, verdict=SweepVerdict.REPORT, reason=reason))
            continue
        if model.arn in routed_to:
            findings.append(
                SweepFinding(arn=model.arn, verdict=SweepVerdict.KEEP, reason="callers are routed to it")
            )
            continue
        if model.arn in in_flight:
            findings.append(
                SweepFinding(arn=model.arn, verdict=SweepVerdict.KEEP, reason="a workflow is using it")
            )
            continue
        age = (now - model.created_at).total_seconds()
        if age < grace_seconds and model.status is not ProvisionedModelStatus.FAILED:
            findings.append(
                SweepFinding(arn=model.arn, verdict=SweepVerdict.KEEP, reason=f"created {age:.0f} s ago")
            )
            continue
        deletable, why = may_delete(model, now)
        units = f"{model.model_units} model unit{'s' if model.model_units != 1 else ''} of {model.model_arn}"
        if deletable:
            reason = f"no route uses it ({units}, {model.status.value}; {why}): deleted"
            findings.append(SweepFinding(arn=model.arn, verdict=SweepVerdict.DELETE, reason=reason))
        else:
            reason = f"no route uses it ({units}), but it cannot be deleted: {why}. It bills until then"
            findings.append(SweepFinding(arn=model.arn, verdict=SweepVerdict.REPORT, reason=reason))
    return findings
