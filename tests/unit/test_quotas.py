"""A Bedrock model's quotas from Service Quotas, with the policy's figures where Service Quotas has none:
the adapter (its requests checked against botocore's service model with Stubber, since moto's Service Quotas
knows only VPC quotas and has no GetAWSDefaultServiceQuota), the token-quota alarm, the way back's quota, and
the account's model units bounding Provisioned Throughput."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from genai_autoscaler.app.bedrock_demand import bedrock_demand
from genai_autoscaler.app.dispatch import Dispatch, dispatch_alarm, evaluate_targets
from genai_autoscaler.app.quotas import model_units_available, tokens_per_minute_quota
from genai_autoscaler.app.reconciler import reconcile
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.aws.service_quotas import ServiceQuotasSource
from genai_autoscaler.domain.alarm_event import (
    AlarmSnapshot,
    AlarmState,
    AlarmStateChangeEvent,
)
from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind
from genai_autoscaler.domain.plan import Action
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.quotas import ServiceQuota
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_SIGNAL, TAG_TARGET, Signal, alarm_specs
from genai_autoscaler.domain.state import TargetState
from genai_autoscaler.errors import ActuationRejected, TransientAwsError
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_tools.alarm_events import state_change_event
from genai_autoscaler_tools.memory import MemoryQuotas, memory_controller

from tests.unit.bedrock_fixtures import MODEL, PROVISIONING
from tests.unit.builders import NOW

TPM_CODE = "L-1A2B3C4D"
UNITS_CODE = "L-5E6F7A8B"
TARGET_ID = f"bedrock/{MODEL}"
SETTINGS = ControllerSettings(stack_name="genai-autoscaler")
ROOT = Path(__file__).resolve().parents[2]


def quota(code: str = TPM_CODE, value: float = 2_000_000, applied: bool = True) -> ServiceQuota:
    name = "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet"
    return ServiceQuota(
        "bedrock", code, name if code == TPM_CODE else "Model units no-commitment", value, applied
    )


def document(**bedrock: Any) -> dict[str, Any]:
    settings = {"throttles_per_minute": 5, "tokens_per_minute_quota": 400_000, **bedrock}
    return {"version": 1, "targets": [{"type": "bedrock_model", "model_id": MODEL, "bedrock": settings}]}


def controller(doc: dict[str, Any], quotas: MemoryQuotas | None = None, **ports: Any) -> Any:
    return replace(memory_controller(doc, settings=SETTINGS), quotas=quotas, **ports)


def policy_of(ctl: Any) -> BedrockModelPolicy:
    found = ctl.settings.effective_policies(ctl.policies.load()).find(TARGET_ID)
    assert isinstance(found, BedrockModelPolicy)
    return found


def token_alarm(ctl: Any) -> dict[str, Any]:
    (name,) = [n for n in ctl.alarms.owned() if n.endswith("-token_quota")]
    request: dict[str, Any] = ctl.alarms.owned()[name]
    return request


# ------------------------------------------------------------------------------ the Service Quotas adapter
class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "service-quotas", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def quota_response(
    value: float | None, name: str = "On-demand InvokeModel tokens per minute"
) -> dict[str, Any]:
    found: dict[str, Any] = {"ServiceCode": "bedrock", "QuotaCode": TPM_CODE, "QuotaName": name}
    if value is not None:
        found["Value"] = value
    return {"Quota": found}


REQUEST = {"ServiceCode": "bedrock", "QuotaCode": TPM_CODE}


def test_the_applied_value_is_read_and_kept_for_a_while(stubbed: tuple[Any, Stubber]) -> None:
    # Given an account whose quota was raised to 2,000,000
    client, stubber = stubbed
    stubber.add_response("get_service_quota", quota_response(2_000_000), REQUEST)
    clock = Clock()
    source = ServiceQuotasSource(client, cache_seconds=300, clock=clock)

    # When it is read twice within five minutes
    first = source.get("bedrock", TPM_CODE)
    clock.seconds += 299
    second = source.get("bedrock", TPM_CODE)

    # Then the applied value is the figure, and Service Quotas was asked once
    assert (
        first
        == second
        == ServiceQuota(
            "bedrock", TPM_CODE, "On-demand InvokeModel tokens per minute", 2_000_000.0, applied=True
        )
    )
    assert "applied value" in first.source

    # And after five minutes it is asked again
    stubber.add_response("get_service_quota", quota_response(3_000_000), REQUEST)
    clock.seconds += 2
    again = source.get("bedrock", TPM_CODE)
    assert again is not None
    assert again.value == 3_000_000.0


def test_the_default_is_read_where_the_account_has_no_applied_value(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=REQUEST)
    stubber.add_response("get_aws_default_service_quota", quota_response(400_000), REQUEST)
    found = ServiceQuotasSource(client).get("bedrock", TPM_CODE)
    assert found is not None
    assert (found.value, found.applied) == (400_000.0, False)
    assert "AWS default" in found.source


def test_a_quota_service_quotas_does_not_have_is_none(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=REQUEST)
    stubber.add_client_error(
        "get_aws_default_service_quota", "NoSuchResourceException", expected_params=REQUEST
    )
    source = ServiceQuotasSource(client)
    assert source.get("bedrock", TPM_CODE) is None
    assert source.get("bedrock", TPM_CODE) is None  # kept too: no second pair of calls


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("TooManyRequestsException", 400, TransientAwsError),
        ("ServiceException", 500, TransientAwsError),
        ("AccessDeniedException", 400, ActuationRejected),
    ],
    ids=["throttled", "service error", "access denied"],
)
def test_a_failed_read_is_the_controllers_error_and_is_not_kept(
    stubbed: tuple[Any, Stubber], code: str, status: int, raised: type[Exception]
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_service_quota", code, http_status_code=status, expected_params=REQUEST)
    stubber.add_response("get_service_quota", quota_response(2_000_000), REQUEST)
    source = ServiceQuotasSource(client)
    with pytest.raises(raised, match=f"applied value of the bedrock quota {TPM_CODE}.*{code}"):
        source.get("bedrock", TPM_CODE)
    found = source.get("bedrock", TPM_CODE)  # the failure was not kept: the next read asks again
    assert found is not None
    assert found.value == 2_000_000.0


@pytest.mark.parametrize(
    ("reason", "raised"),
    [
        ("DEPENDENCY_THROTTLING_ERROR", TransientAwsError),
        ("DEPENDENCY_ACCESS_DENIED_ERROR", ActuationRejected),
    ],
    ids=["bedrock throttled service quotas", "service quotas may not ask bedrock"],
)
def test_a_quota_without_a_value_is_a_failed_read(
    stubbed: tuple[Any, Stubber], reason: str, raised: type[Exception]
) -> None:
    client, stubber = stubbed
    response = quota_response(None)
    response["Quota"]["ErrorReason"] = {"ErrorCode": reason, "ErrorMessage": "could not get the value"}
    stubber.add_response("get_service_quota", response, REQUEST)
    with pytest.raises(raised, match=reason):
        ServiceQuotasSource(client).get("bedrock", TPM_CODE)


def test_one_source_per_client_so_the_cache_outlives_an_invocation(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed
    assert ServiceQuotasSource.shared(client) is ServiceQuotasSource.shared(client)


# ------------------------------------------------------------------------------ the token-quota alarm
def test_the_alarm_threshold_follows_the_service_quotas_value() -> None:
    # Given a policy that names its model's quota code, and Service Quotas' applied value of 2,000,000
    quotas = MemoryQuotas({("bedrock", TPM_CODE): quota()})
    ctl = controller(document(tokens_per_minute_quota_code=TPM_CODE), quotas)

    # When the reconciler runs
    report = reconcile(ctl)

    # Then the alarm is 80% of Service Quotas' figure, not of the policy's 400,000, and says where it came from
    alarm = token_alarm(ctl)
    assert alarm["Threshold"] == 1_600_000.0
    assert f"Service Quotas {TPM_CODE}" in alarm["AlarmDescription"]
    assert "applied value" in alarm["AlarmDescription"]
    assert report.quota_notes == []

    # And when the quota is raised, the next run moves the alarm
    quotas.quotas[("bedrock", TPM_CODE)] = quota(value=3_000_000)
    assert reconcile(ctl).updated == [next(n for n in ctl.alarms.owned() if n.endswith("-token_quota"))]
    assert token_alarm(ctl)["Threshold"] == 2_400_000.0


def test_a_model_with_a_quota_only_in_service_quotas_gets_an_alarm() -> None:
    quotas = MemoryQuotas({("bedrock", TPM_CODE): quota(value=500_000, applied=False)})
    ctl = controller(document(tokens_per_minute_quota=None, tokens_per_minute_quota_code=TPM_CODE), quotas)
    reconcile(ctl)
    alarm = token_alarm(ctl)
    assert alarm["Threshold"] == 400_000.0
    assert "AWS default (no applied value)" in alarm["AlarmDescription"]


@pytest.mark.parametrize(
    ("quotas", "said"),
    [
        (MemoryQuotas(), "Service Quotas has no such bedrock quota"),
        (MemoryQuotas(failure=TransientAwsError("TooManyRequestsException")), "could not be read"),
    ],
    ids=["no such quota", "unreadable"],
)
def test_the_policys_quota_stands_in_and_the_report_says_so(quotas: MemoryQuotas, said: str) -> None:
    ctl = controller(document(tokens_per_minute_quota_code=TPM_CODE), quotas)
    report = reconcile(ctl)
    assert token_alarm(ctl)["Threshold"] == 320_000.0
    assert "the policy's tokens_per_minute_quota" in token_alarm(ctl)["AlarmDescription"]
    (note,) = report.quota_notes
    assert note.startswith(f"{MODEL}: tokens-per-minute quota {TPM_CODE}: ")
    assert said in note
    assert "the policy's tokens_per_minute_quota (400,000) is used" in note


def test_an_unreadable_service_quotas_leaves_the_alarm_as_it_was() -> None:
    # Given an alarm made from Service Quotas' 2,000,000 by an earlier run, on a model with no policy figure
    quotas = MemoryQuotas({("bedrock", TPM_CODE): quota()})
    ctl = controller(document(tokens_per_minute_quota=None, tokens_per_minute_quota_code=TPM_CODE), quotas)
    reconcile(ctl)
    before = token_alarm(ctl)

    # When Service Quotas throttles the next run
    quotas.failure = TransientAwsError("reading the applied value: TooManyRequestsException: Rate exceeded")
    report = reconcile(ctl)

    # Then the alarm is neither deleted nor changed, and the report says why
    assert (report.created, report.updated, report.deleted) == ([], [], [])
    assert token_alarm(ctl) == before
    assert "could not be read (TransientAwsError" in report.quota_notes[0]
    assert "no token-quota figure" in report.quota_notes[0]


def test_without_a_quota_source_the_policy_decides_as_before() -> None:
    ctl = controller(document(tokens_per_minute_quota_code=TPM_CODE), quotas=None)
    report = reconcile(ctl)
    assert token_alarm(ctl)["Threshold"] == 320_000.0
    assert report.quota_notes == []


# ------------------------------------------------------------------------------ the router and the evaluator
def token_quota_event(ctl: Any, value: float) -> AlarmStateChangeEvent:
    policy = policy_of(ctl)
    quota_figure = tokens_per_minute_quota(ctl, policy).figure
    spec = next(s for s in alarm_specs(policy, quota_figure) if s.signal is Signal.TOKEN_QUOTA)
    name = ctl.alarms.alarm_name(spec)
    tags = {TAG_MANAGED_BY: SETTINGS.stack_name, TAG_TARGET: TARGET_ID, TAG_SIGNAL: Signal.TOKEN_QUOTA.value}
    raw = state_change_event(
        spec.put_request(name),
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
        AlarmState.ALARM,
        AlarmState.OK,
        [value],
        NOW,
        "quota-event-1",
        tags,
    )
    return AlarmStateChangeEvent.model_validate(raw)


def test_the_router_recognises_a_token_quota_alarm_made_from_service_quotas() -> None:
    # Given a model whose quota is only in Service Quotas, with a cross-region profile
    quotas = MemoryQuotas({("bedrock", TPM_CODE): quota()})
    doc = document(
        tokens_per_minute_quota=None,
        tokens_per_minute_quota_code=TPM_CODE,
        cross_region_profile=f"us.{MODEL}",
    )
    ctl = controller(doc, quotas)

    # When its token-quota alarm fires at 1,700,000 tokens a minute
    outcome = dispatch_alarm(token_quota_event(ctl, 1_700_000), ctl, NOW)

    # Then it is the controller's signal, and the ladder is climbed
    assert outcome.plan is not None, outcome.note
    assert (outcome.plan.signal, outcome.plan.action) == (Signal.TOKEN_QUOTA, Action.SHIFT_TO_PROFILE)
    assert outcome.note is None


def test_the_way_back_is_judged_against_the_service_quotas_value() -> None:
    # Given 900,000 tokens a minute: above 70% of the policy's 400,000, well below 70% of the applied 2,000,000
    quotas = MemoryQuotas({("bedrock", TPM_CODE): quota()})
    ctl = controller(
        document(tokens_per_minute_quota_code=TPM_CODE, cross_region_profile=f"us.{MODEL}"), quotas
    )
    ctl.metrics.peaks[(TARGET_ID, "InputTokenCount")] = 700_000
    ctl.metrics.peaks[(TARGET_ID, "OutputTokenCount")] = 200_000
    demand = bedrock_demand(ctl, policy_of(ctl), NOW)
    assert demand.on_demand_quota_tpm == 2_000_000

    # When the evaluator looks at a model calm on its profile for an hour
    route = BedrockRoute(kind=RouteKind.PROFILE, model=f"us.{MODEL}", since=NOW - timedelta(hours=2))
    ctl.state.states[TARGET_ID] = TargetState(target_id=TARGET_ID, route=route)
    policy = policy_of(ctl)
    for spec in alarm_specs(policy, tokens_per_minute_quota(ctl, policy).figure):
        ctl.alarms.states[ctl.alarms.alarm_name(spec)] = AlarmSnapshot(
            spec.namespace,
            spec.metric_name,
            dict(spec.dimensions),
            spec.stat,
            spec.period,
            AlarmState.OK,
            NOW - timedelta(hours=1),
            json.dumps({"recentDatapoints": [0.0]}),
        )
    (outcome,) = evaluate_targets(ctl, NOW)

    # Then traffic goes back: demand fits the account's quota with margin
    assert outcome.plan is not None
    assert outcome.plan.action is Action.REVERT_ROUTING
    assert "(2,000,000)" in outcome.plan.reason


@pytest.mark.parametrize(
    "quotas",
    [MemoryQuotas(), MemoryQuotas(failure=RuntimeError("connection reset"))],
    ids=["no such quota", "an error the adapter did not translate"],
)
def test_a_quota_not_read_never_stops_the_router_and_the_outcome_says_so(quotas: MemoryQuotas) -> None:
    ctl = controller(
        document(tokens_per_minute_quota_code=TPM_CODE, cross_region_profile=f"us.{MODEL}"), quotas
    )
    outcome = dispatch_alarm(token_quota_event(ctl, 350_000), ctl, NOW)
    assert outcome.plan is not None
    assert outcome.plan.action is Action.SHIFT_TO_PROFILE
    assert outcome.note is not None
    assert f"tokens-per-minute quota {TPM_CODE}" in outcome.note
    assert "the policy's tokens_per_minute_quota (400,000) is used" in outcome.note
    assert bedrock_demand(ctl, policy_of(ctl), NOW).on_demand_quota_tpm == 400_000


# ------------------------------------------------------------------------------ the account's model units
PT = {
    "tokens_per_minute_per_unit": 100_000,
    "hourly_price_per_unit_usd": 40.0,
    "model_units_quota_code": UNITS_CODE,
}


def test_units_in_use_count_by_commitment_and_not_when_failed(bedrock: FakeBedrock, clock: SimClock) -> None:
    throughputs = BedrockProvisionedThroughputs(bedrock)
    throughputs.create(MODEL, 1, "hourly-a", None, "t1", {})
    throughputs.create(MODEL, 2, "hourly-b", None, "t2", {})
    throughputs.create(MODEL, 3, "committed", "OneMonth", "t3", {})
    bedrock.fail_next_create("Insufficient capacity")
    throughputs.create(MODEL, 4, "failed", None, "t4", {})
    clock.advance(PROVISIONING)
    assert throughputs.model_units_in_use(committed=False) == 3
    assert throughputs.model_units_in_use(committed=True) == 3


def throttling(ctl: Any) -> AlarmStateChangeEvent:
    """Claude on its profile, throttling: 5 units wanted (see test_routing's sizing test)."""
    route = BedrockRoute(kind=RouteKind.PROFILE, model=f"us.{MODEL}", since=NOW - timedelta(hours=1))
    ctl.state.states[TARGET_ID] = TargetState(target_id=TARGET_ID, route=route)
    figures = {
        "InputTokenCount": 300_000,
        "OutputTokenCount": 80_000,
        "Invocations": 250,
        "InvocationThrottles": 37,
    }
    for name, value in figures.items():
        ctl.metrics.peaks[(TARGET_ID, name)] = value
    raw = json.loads((ROOT / "events" / "alarm_bedrock_throttles.json").read_text())
    return AlarmStateChangeEvent.model_validate(raw)


def units_quota_controller(bedrock: FakeBedrock, granted: int, held_by_others: int) -> Any:
    """A model allowed 10 units and $400 an hour, in an account granted `granted` no-commitment units of which
    another team's Provisioned Throughput holds `held_by_others`."""
    throughputs = BedrockProvisionedThroughputs(bedrock)
    throughputs.create(MODEL, held_by_others, "other-team", None, "other", {})
    quotas = MemoryQuotas({("bedrock", UNITS_CODE): quota(UNITS_CODE, granted)})
    doc = document(
        cross_region_profile=f"us.{MODEL}",
        provisioned_throughput=PT,
        max_model_units=10,
        hourly_budget_usd=400,
    )
    return controller(doc, quotas, provisioned=throughputs)


def test_the_accounts_model_units_left_cap_the_purchase(bedrock: FakeBedrock) -> None:
    # Given a quota of 4 no-commitment units, one of them held by another team's Provisioned Throughput
    ctl = units_quota_controller(bedrock, granted=4, held_by_others=1)

    # When the model throttles on its profile, needing 5 units
    outcome = dispatch_alarm(throttling(ctl), ctl, NOW)

    # Then 3 are bought: what the account has left
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.model_units) == (Action.SHIFT_TO_PROVISIONED, 3)
    assert "limited by the account's available model units" in outcome.plan.reason
    available = model_units_available(ctl, policy_of(ctl)).figure
    assert available is not None
    assert "4, 1 held by Provisioned Throughput without commitment" in available.source


def test_no_units_left_means_none_are_bought(bedrock: FakeBedrock) -> None:
    ctl = units_quota_controller(bedrock, granted=2, held_by_others=2)
    outcome = dispatch_alarm(throttling(ctl), ctl, NOW)
    assert outcome.plan is not None
    assert outcome.plan.action is Action.NOTIFY_ONLY
    assert "0 model units (limited by the account's available model units)" in outcome.plan.reason


@pytest.mark.parametrize(
    ("quotas", "with_throughputs", "units", "said"),
    [
        (MemoryQuotas(failure=TransientAwsError("Rate exceeded")), True, 5, "only the policy bounds"),
        (
            MemoryQuotas({("bedrock", UNITS_CODE): quota(UNITS_CODE, 4)}),
            False,
            4,
            "units in use cannot be counted",
        ),
    ],
    ids=["quota unreadable: the policy bounds", "units in use unknown: the whole quota"],
)
def test_model_units_not_known_fall_back_and_say_so(
    bedrock: FakeBedrock, quotas: MemoryQuotas, with_throughputs: bool, units: int, said: str
) -> None:
    doc = document(
        cross_region_profile=f"us.{MODEL}",
        provisioned_throughput=PT,
        max_model_units=10,
        hourly_budget_usd=400,
    )
    provisioned = BedrockProvisionedThroughputs(bedrock) if with_throughputs else None
    ctl = controller(doc, quotas, provisioned=provisioned)
    outcome = dispatch_alarm(throttling(ctl), ctl, NOW)
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.model_units) == (Action.SHIFT_TO_PROVISIONED, units)
    assert outcome.note is not None
    assert said in outcome.note
    assert outcome.dispatch is not Dispatch.FAILED


def test_the_demand_that_sizes_and_routes_back_counts_output_tokens_by_their_burndown() -> None:
    # Given a model whose output burns its quota down 5 times, busiest minute 100,000 in and 60,000 out
    ctl = controller(document(output_token_burndown=5))
    ctl.metrics.peaks[(TARGET_ID, "InputTokenCount")] = 100_000
    ctl.metrics.peaks[(TARGET_ID, "OutputTokenCount")] = 60_000
    ctl.metrics.peaks[(TARGET_ID, "Invocations")] = 100
    # Then its demand is the quota it used: 100,000 + 5 x 60,000, above its 400,000 quota's 70%
    demand = bedrock_demand(ctl, policy_of(ctl), NOW)
    assert demand.tokens_per_minute == 400_000
    assert demand.tokens_per_invocation == 4_000
    # And without a burndown, the plain sum
    plain = controller(document())
    plain.metrics.peaks.update(ctl.metrics.peaks)
    assert bedrock_demand(plain, policy_of(plain), NOW).tokens_per_minute == 160_000


def test_where_bedrock_publishes_the_quota_used_the_demand_is_that_figure() -> None:
    ctl = controller(document(output_token_burndown=5))
    ctl.metrics.peaks[(TARGET_ID, "InputTokenCount")] = 100_000
    ctl.metrics.peaks[(TARGET_ID, "OutputTokenCount")] = 60_000
    ctl.metrics.peaks[(TARGET_ID, "EstimatedTPMQuotaUsage")] = 430_000  # cache writes included
    assert bedrock_demand(ctl, policy_of(ctl), NOW).tokens_per_minute == 430_000


def test_with_the_callers_max_tokens_the_demand_counts_what_the_quota_reserves() -> None:
    # Given callers asking for 2,000 tokens, 100 invocations answering 600 on average in the busiest minute
    ctl = controller(document(output_token_burndown=5, max_tokens=2_000))
    ctl.metrics.peaks[(TARGET_ID, "InputTokenCount")] = 100_000
    ctl.metrics.peaks[(TARGET_ID, "OutputTokenCount")] = 60_000
    ctl.metrics.peaks[(TARGET_ID, "Invocations")] = 100
    # Then the demand is what their starts reserved: 100,000 + 5 x 100 x 2,000
    assert bedrock_demand(ctl, policy_of(ctl), NOW).tokens_per_minute == 1_100_000


def test_the_demand_is_read_under_every_id_the_callers_use() -> None:
    # Given callers on the cross-region profile for an hour: Bedrock counts their calls under the profile's ID
    profile = f"us.{MODEL}"
    ctl = controller(document(cross_region_profile=profile, caller_max_attempts=2))
    for name, value in {"InputTokenCount": 50_000, "OutputTokenCount": 10_000, "Invocations": 20}.items():
        ctl.metrics.peaks[(TARGET_ID, name)] = value  # a few callers still on the model itself
    for name, value in {
        "InputTokenCount": 500_000,
        "OutputTokenCount": 140_000,
        "Invocations": 300,
        "InvocationThrottles": 30,
    }.items():
        ctl.metrics.peaks[(TARGET_ID, f"{name}@{profile}")] = value
    route = BedrockRoute(kind=RouteKind.PROFILE, model=profile, since=NOW - timedelta(hours=1))
    demand = bedrock_demand(ctl, policy_of(ctl), NOW, route=route)
    # Then its demand is the sum over both IDs, and its throttled requests the profile's attempts / 2
    assert demand.tokens_per_minute == 700_000
    assert demand.throttled_per_minute == 15
    # And just after a shift, the throttles of before it (the previous route's) are not read
    ctl.metrics.queries.clear()
    just_moved = route.model_copy(update={"since": NOW - timedelta(seconds=30)})
    assert bedrock_demand(ctl, policy_of(ctl), NOW, route=just_moved).throttled_per_minute is None
    assert "InvocationThrottles" not in [name for name, _, _ in ctl.metrics.queries]
