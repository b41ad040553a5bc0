"""A Bedrock model's quotas as the controller uses them: from Service Quotas where the policy names a quota
code and Service Quotas has it, from the policy where not.

Reading a quota is a refinement of the policy's figures, never a condition of a decision: whatever goes wrong
(no quota source, no such quota, throttling, a refused or failed call) leaves the policy's figure in charge and
says so in `notes`, which the router and the evaluator put in their outcome and the reconciler in its report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from genai_autoscaler.app.ports import ProvisionedThroughputs, QuotaSource
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.quotas import (
    BEDROCK_SERVICE_CODE,
    QuotaFigure,
    ServiceQuota,
    policy_token_quota,
)


@dataclass(frozen=True)
class QuotaReading:
    """A quota figure (None: none known), what went wrong on the way, and whether Service Quotas could not be
    read at all (as against having no such quota)."""

    figure: QuotaFigure | None
    notes: tuple[str, ...] = ()
    unreadable: bool = False


@dataclass(frozen=True)
class BedrockQuotas:
    tokens_per_minute: QuotaReading  # the on-demand tokens-per-minute quota
    model_units_available: (
        QuotaReading  # the account's model units for the policy's purchase, less those in use
    )

    @property
    def notes(self) -> tuple[str, ...]:
        return self.tokens_per_minute.notes + self.model_units_available.notes


@dataclass(frozen=True)
class _Lookup:
    found: ServiceQuota | None
    problem: str = ""  # why nothing was found
    unreadable: bool = False


class QuotaPorts(Protocol):
    """What reading a Bedrock model's quotas uses: Service Quotas, and the account's Provisioned Throughput."""

    @property
    def quotas(self) -> QuotaSource | None: ...

    @property
    def provisioned(self) -> ProvisionedThroughputs | None: ...


def _look_up(ctl: QuotaPorts, quota_code: str) -> _Lookup:
    assert ctl.quotas is not None
    try:
        found = ctl.quotas.get(BEDROCK_SERVICE_CODE, quota_code)
    except Exception as exc:
        # Any failure (an AWS error the adapter translated, or a network or credentials error it did not) must
        # leave the decision to the policy's figure, not stop it.
        return _Lookup(None, f"Service Quotas could not be read ({type(exc).__name__}: {exc})", True)
    if found is None:
        return _Lookup(
            None, f"Service Quotas has no such {BEDROCK_SERVICE_CODE} quota in this account and Region"
        )
    return _Lookup(found)


def tokens_per_minute_quota(ctl: QuotaPorts, policy: BedrockModelPolicy) -> QuotaReading:
    """The model's on-demand tokens-per-minute quota: Service Quotas' applied value (else AWS's default) for the
    policy's `tokens_per_minute_quota_code`; the policy's `tokens_per_minute_quota` where there is none."""
    fallback = policy_token_quota(policy)
    code = policy.bedrock.tokens_per_minute_quota_code
    if code is None or ctl.quotas is None:
        return QuotaReading(fallback)
    lookup = _look_up(ctl, code)
    if lookup.found is not None:
        return QuotaReading(QuotaFigure(int(lookup.found.value), lookup.found.source))
    instead = (
        f"the policy's tokens_per_minute_quota ({fallback.value:,}) is used"
        if fallback is not None
        else "the policy names no tokens_per_minute_quota: no token-quota figure"
    )
    note = f"tokens-per-minute quota {code}: {lookup.problem}; {instead}"
    return QuotaReading(fallback, (note,), lookup.unreadable)


def model_units_available(ctl: QuotaPorts, policy: BedrockModelPolicy) -> QuotaReading:
    """The model units the account may still buy for the policy's kind of purchase: Service Quotas' value for the
    policy's `model_units_quota_code`, less the units of the account's Provisioned Throughputs of that kind.
    None (no account bound) without a code, a quota source, or a readable quota."""
    settings = policy.bedrock.provisioned_throughput
    code = settings.model_units_quota_code if settings is not None else None
    if settings is None or code is None or ctl.quotas is None:
        return QuotaReading(None)
    lookup = _look_up(ctl, code)
    found = lookup.found
    if found is None:
        note = f"model-unit quota {code}: {lookup.problem}; only the policy bounds Provisioned Throughput"
        return QuotaReading(None, (note,), lookup.unreadable)
    quota = int(found.value)
    committed = settings.commitment != "none"
    kind = "with commitment" if committed else "without commitment"
    if ctl.provisioned is None:
        note = f"model-unit quota {code}: the units in use cannot be counted here; the whole quota is taken"
        return QuotaReading(QuotaFigure(quota, f"{found.source}: {quota}, units in use unknown"), (note,))
    try:
        in_use = ctl.provisioned.model_units_in_use(committed)
    except Exception as exc:
        # The quota itself still bounds a purchase (nothing can be bought above it), so it stands in.
        note = (
            f"model-unit quota {code}: the units in use could not be counted ({type(exc).__name__}: {exc}); "
            "the whole quota is taken"
        )
        return QuotaReading(QuotaFigure(quota, f"{found.source}: {quota}, units in use unknown"), (note,))
    available = max(0, quota - in_use)
    return QuotaReading(
        QuotaFigure(available, f"{found.source}: {quota}, {in_use} held by Provisioned Throughput {kind}")
    )


def bedrock_quotas(ctl: QuotaPorts, policy: BedrockModelPolicy) -> BedrockQuotas:
    """Both of a model's quotas, for one decision."""
    return BedrockQuotas(tokens_per_minute_quota(ctl, policy), model_units_available(ctl, policy))
