"""The account's quotas as the controller uses them: a figure, and where it came from. Pure.

Bedrock's quotas live in Service Quotas (service code `bedrock`), one per model and Region for on-demand tokens
per minute ("On-demand InvokeModel tokens per minute for ${model}"; older accounts show "On-demand model inference
tokens per minute for ..."), and per account for the model units of Provisioned Throughput ("Model units
no-commitment Provisioned Throughputs across base models"). Names have changed over the years; the quota code
(`L-` and eight hexadecimal digits) has not, so a policy names its quotas by code.
"""

from __future__ import annotations

from dataclasses import dataclass

from genai_autoscaler.domain.policy import BedrockModelPolicy

BEDROCK_SERVICE_CODE = "bedrock"


@dataclass(frozen=True)
class ServiceQuota:
    """One quota as Service Quotas reports it (GetServiceQuota, else GetAWSDefaultServiceQuota)."""

    service_code: str
    quota_code: str
    name: str
    value: float
    applied: bool  # False: the account has no applied value, this is AWS's default

    @property
    def source(self) -> str:
        """Where the figure comes from, in words fit for an alarm description or a log."""
        kind = "applied value" if self.applied else "AWS default (no applied value)"
        return f"Service Quotas {self.quota_code} '{self.name[:120]}', {kind}"


@dataclass(frozen=True)
class QuotaFigure:
    """A quota the controller works with, and where it came from (Service Quotas or the policy)."""

    value: int
    source: str


def policy_token_quota(policy: BedrockModelPolicy) -> QuotaFigure | None:
    """The policy's own tokens-per-minute quota: the fallback where Service Quotas has none."""
    quota = policy.bedrock.tokens_per_minute_quota
    return None if quota is None else QuotaFigure(quota, "the policy's tokens_per_minute_quota")
