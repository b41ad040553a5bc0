"""A Bedrock model's tokens-per-minute quota read from Service Quotas by the deployed functions (the stack in
moto, the real handlers and the real boto3 adapter), with the policy's figure where Service Quotas has none.

moto's Service Quotas knows VPC quotas only and has no GetAWSDefaultServiceQuota: `service_quotas` below gives
it Bedrock quotas, applied and default, answered in the shapes of the service model (NoSuchResourceException
where a quota has no value of that kind).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.servicequotas.exceptions import NoSuchResource
from moto.servicequotas.models import ServiceQuotasBackend
from moto.servicequotas.responses import ServiceQuotasResponse

from tests.integration.conftest import Launch, document

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CODE = "L-1A2B3C4D"
NAME = "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet"


@dataclass
class BedrockQuotas:
    applied: dict[str, float] = field(default_factory=dict)
    defaults: dict[str, float] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def quota(self, code: str, value: float) -> dict[str, Any]:
        return {
            "ServiceCode": "bedrock",
            "ServiceName": "Amazon Bedrock",
            "QuotaArn": f"arn:aws:servicequotas:us-east-1:123456789012:bedrock/{code}",
            "QuotaCode": code,
            "QuotaName": NAME,
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }


@pytest.fixture
def service_quotas(monkeypatch: pytest.MonkeyPatch) -> BedrockQuotas:
    quotas = BedrockQuotas()
    original = ServiceQuotasBackend.get_service_quota

    def get_service_quota(
        backend: ServiceQuotasBackend, service_code: str, quota_code: str
    ) -> dict[str, Any]:
        if service_code != "bedrock":
            return original(backend, service_code, quota_code)
        quotas.calls.append(f"GetServiceQuota {quota_code}")
        if quota_code not in quotas.applied:
            raise NoSuchResource
        return quotas.quota(quota_code, quotas.applied[quota_code])

    def get_aws_default_service_quota(response: ServiceQuotasResponse) -> str:
        params = json.loads(response.body)
        code = params["QuotaCode"]
        quotas.calls.append(f"GetAWSDefaultServiceQuota {code}")
        if params["ServiceCode"] != "bedrock" or code not in quotas.defaults:
            raise NoSuchResource
        return json.dumps({"Quota": quotas.quota(code, quotas.defaults[code])})

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", get_service_quota)
    monkeypatch.setattr(
        ServiceQuotasResponse, "get_aws_default_service_quota", get_aws_default_service_quota, raising=False
    )
    return quotas


def claude(**bedrock: Any) -> dict[str, Any]:
    settings = {
        "throttles_per_minute": 5,
        "tokens_per_minute_quota": 400_000,
        "tokens_per_minute_quota_code": CODE,
        "cross_region_profile": f"us.{CLAUDE}",
        **bedrock,
    }
    return document({"type": "bedrock_model", "model_id": CLAUDE, "bedrock": settings})


def test_the_token_quota_alarm_is_set_from_service_quotas_and_routes(
    launch: Launch, service_quotas: BedrockQuotas
) -> None:
    # Given an account whose Claude quota was raised to 1,000,000 tokens a minute (the policy says 400,000)
    service_quotas.applied[CODE] = 1_000_000

    # When the policy is published (the reconciler runs on the SSM event)
    scenario = launch(claude())
    name = scenario.aws.alarm_name(CLAUDE, "token_quota")
    alarm = scenario.alarms()[name]

    # Then the alarm watches 80% of the applied value, and says where that came from
    assert alarm["Threshold"] == 800_000.0
    assert f"Service Quotas {CODE} '{NAME}', applied value" in alarm["AlarmDescription"]
    assert scenario.last_reconcile()["quota_notes"] == []

    # When it fires at 850,000 tokens a minute
    outcome = scenario.routed(
        scenario.aws.cloudwatch.set_state(name, "ALARM", [850_000.0], scenario.aws.clock.now())
    )

    # Then the router recognises it and climbs the ladder, with no note: the quota was read
    assert (outcome["plan"]["signal"], outcome["plan"]["action"]) == ("token_quota", "shift_to_profile")
    assert outcome["note"] is None


def test_without_an_applied_value_the_default_is_the_quota(
    launch: Launch, service_quotas: BedrockQuotas
) -> None:
    service_quotas.defaults[CODE] = 500_000
    scenario = launch(claude())
    alarm = scenario.alarms()[scenario.aws.alarm_name(CLAUDE, "token_quota")]
    assert alarm["Threshold"] == 400_000.0
    assert "AWS default (no applied value)" in alarm["AlarmDescription"]
    assert service_quotas.calls[:2] == [f"GetServiceQuota {CODE}", f"GetAWSDefaultServiceQuota {CODE}"]


def test_a_quota_service_quotas_does_not_have_leaves_the_policys(
    launch: Launch, service_quotas: BedrockQuotas
) -> None:
    scenario = launch(claude())
    alarm = scenario.alarms()[scenario.aws.alarm_name(CLAUDE, "token_quota")]
    assert alarm["Threshold"] == 320_000.0
    assert "the policy's tokens_per_minute_quota" in alarm["AlarmDescription"]
    (note,) = scenario.last_reconcile()["quota_notes"]
    assert "Service Quotas has no such bedrock quota" in note
