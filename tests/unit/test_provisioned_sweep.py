"""The sweeper: no Provisioned Throughput the controller created keeps billing unnoticed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from genai_autoscaler.app.routing_workflow import purchase_identity
from genai_autoscaler.domain.provisioned import (
    ProvisionedModel,
    ProvisionedModelStatus,
    SweepVerdict,
    purchase_prefix,
    sweep,
)

from tests.unit.builders import NOW

GRACE = 3600
PREFIX = purchase_prefix("genai-autoscaler")


def model(arn: str, **fields: Any) -> ProvisionedModel:
    values: dict[str, Any] = {
        "arn": f"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/{arn}",
        "name": f"{PREFIX}{arn}",
        "model_arn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0",
        "model_units": 2,
        "status": ProvisionedModelStatus.IN_SERVICE,
        "created_at": NOW - timedelta(hours=5),
        **fields,
    }
    return ProvisionedModel(**values)


@pytest.mark.parametrize(
    ("found", "routed", "in_flight", "verdict", "says"),
    [
        (model("routed"), True, False, SweepVerdict.KEEP, "callers are routed to it"),
        (model("buying"), False, True, SweepVerdict.KEEP, "a workflow is using it"),
        (
            model("young", created_at=NOW - timedelta(minutes=10)),
            False,
            False,
            SweepVerdict.KEEP,
            "created 600 s",
        ),
        (model("orphan"), False, False, SweepVerdict.DELETE, "no route uses it (2 model units"),
        (
            model(
                "young but failed",
                created_at=NOW - timedelta(minutes=10),
                status=ProvisionedModelStatus.FAILED,
            ),
            False,
            False,
            SweepVerdict.DELETE,
            "Failed",
        ),
        (
            model("committed", commitment="OneMonth", commitment_expires_at=NOW + timedelta(days=20)),
            False,
            False,
            SweepVerdict.REPORT,
            "cannot be deleted: its OneMonth commitment runs until",
        ),
        (
            model("term over", commitment="OneMonth", commitment_expires_at=NOW - timedelta(days=1)),
            False,
            False,
            SweepVerdict.DELETE,
            "commitment ended",
        ),
        (model("term unknown", commitment="SixMonths"), False, False, SweepVerdict.REPORT, "does not report"),
    ],
    ids=lambda v: v.name if isinstance(v, ProvisionedModel) else None,
)
def test_each_provisioned_model_is_kept_deleted_or_reported(
    found: ProvisionedModel, routed: bool, in_flight: bool, verdict: SweepVerdict, says: str
) -> None:
    # Given a Provisioned Throughput the controller created, and whether a route or a workflow uses it
    # When the sweeper looks at it
    (finding,) = sweep(
        [found], {found.arn} if routed else set(), {found.arn} if in_flight else set(), NOW, GRACE, PREFIX
    )
    # Then it keeps, deletes or reports it, and says why
    assert finding.verdict is verdict
    assert says in finding.reason


def test_a_model_tagged_as_the_stacks_but_not_named_as_its_purchases_is_reported_never_deleted() -> None:
    # Given an orphan the sweeper would delete, except that its name is not one the stack gives what it buys: a
    # role allowed to tag (or a person) tagged someone else's Provisioned Throughput as the stack's
    foreign = model("x").model_copy(update={"name": "team-b-claude-pt"})
    (finding,) = sweep([foreign], set(), set(), NOW, GRACE, PREFIX)
    assert finding.verdict is SweepVerdict.REPORT
    assert f"not the name the stack gives what it buys ({PREFIX}...)" in finding.reason


def test_the_prefix_is_the_one_purchases_are_named_with_and_no_other_stacks() -> None:
    name, _ = purchase_identity("prod", "shift_to_provisioned-claude-0123456789abcdef")
    assert name.startswith(purchase_prefix("prod"))
    # A stack whose name begins with another's, and two long names alike in their first 24 characters
    other, _ = purchase_identity("prod-eu", "shift_to_provisioned-claude-0123456789abcdef")
    assert not other.startswith(purchase_prefix("prod"))
    assert purchase_prefix("a" * 24 + "-one") != purchase_prefix("a" * 24 + "-two")
