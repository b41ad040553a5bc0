"""A target's latency SLO: the two forms a team may state it in, and the latency threshold taken from it."""

from __future__ import annotations

from typing import Any

import pytest
from genai_autoscaler.domain.policy import PolicyError, SageMakerVariantPolicy, parse_policy_document
from genai_autoscaler.domain.signals import Signal, alarm_specs
from genai_autoscaler.domain.slo import LatencySLO
from pydantic import ValidationError

PER_RESPONSE = {"ttft_ms": 2000, "tpot_ms": 40, "p95_output_tokens": 441}


@pytest.mark.parametrize(
    ("stated", "p95_ms", "deadline"),
    [
        ({"p95_ms": 8000}, 8000.0, (8.0, 0.0)),
        (PER_RESPONSE, 2000 + 441 * 40, (2.0, 0.04)),
        ({"ttft_ms": 10000, "tpot_ms": 40, "p95_output_tokens": 645}, 10000 + 645 * 40, (10.0, 0.04)),
    ],
    ids=["p95", "short-chat", "long-context"],
)
def test_the_latency_threshold_is_the_deadline_of_the_traffics_p95_response(
    stated: dict[str, Any], p95_ms: float, deadline: tuple[float, float]
) -> None:
    # Given an SLO in either form / Then the p95 it allows, and each response's deadline, follow from it
    slo = LatencySLO.model_validate(stated)
    assert slo.p95_latency_ms == pytest.approx(p95_ms)
    assert slo.deadline_s == pytest.approx(deadline)


@pytest.mark.parametrize(
    ("stated", "says"),
    [
        ({"p95_ms": 8000, "ttft_ms": 2000}, "got p95_ms and ttft_ms"),
        ({"ttft_ms": 2000, "tpot_ms": 40}, "missing: p95_output_tokens"),
        ({"tpot_ms": 40}, "missing: ttft_ms, p95_output_tokens"),
        ({}, "missing: ttft_ms, tpot_ms, p95_output_tokens"),
        ({"p95_ms": 0}, "greater than 0"),
        ({**PER_RESPONSE, "p95_output_tokens": 0}, "greater than or equal to 1"),
        ({"p95": 8000}, "Extra inputs are not permitted"),
    ],
    ids=["both-forms", "no-length", "half-a-form", "empty", "zero", "no-tokens", "unknown-key"],
)
def test_an_slo_stated_half_or_twice_is_refused_naming_what(stated: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        LatencySLO.model_validate(stated)


def _target(**fields: Any) -> dict[str, Any]:
    return {"type": "sagemaker_variant", "endpoint_name": "llm", **fields}


def test_a_target_with_an_slo_alarms_on_its_p95_in_microseconds() -> None:
    # Given a target that states its SLO and no latency threshold
    document = parse_policy_document({"targets": [_target(slo=PER_RESPONSE)]})
    target = document.targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    # Then the latency signal's threshold is the SLO's p95, and the alarm reads it in ModelLatency's unit
    assert target.signals.latency_p95_ms == pytest.approx(19640)
    latency = next(s for s in alarm_specs(target) if s.signal is Signal.LATENCY_P95)
    assert latency.threshold == pytest.approx(19_640_000)


def test_a_default_latency_threshold_gives_way_to_a_targets_slo() -> None:
    # Given a default latency threshold (the stack's DefaultLatencyThresholdMs works the same way)
    document = parse_policy_document(
        {
            "defaults": {"signals": {"latency_p95_ms": 5000, "concurrency_per_unit": 6}},
            "targets": [_target(slo={"p95_ms": 12000}), _target(endpoint_name="other")],
        }
    )
    with_slo, without = document.targets
    assert isinstance(with_slo, SageMakerVariantPolicy)
    assert isinstance(without, SageMakerVariantPolicy)
    # Then the target with an SLO takes its threshold from it, the other from the default; both keep the rest
    assert (with_slo.signals.latency_p95_ms, with_slo.signals.concurrency_per_unit) == (12000, 6)
    assert (without.signals.latency_p95_ms, without.signals.concurrency_per_unit) == (5000, 6)


def test_an_slo_in_defaults_applies_to_every_sagemaker_target() -> None:
    document = parse_policy_document(
        {"defaults": {"slo": {"p95_ms": 9000}}, "targets": [_target(), _target(endpoint_name="b")]}
    )
    assert [t.signals.latency_p95_ms for t in document.targets] == [9000, 9000]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "signals",
    [{"latency_p95_ms": 5000}, {"latency_p95_ms": None}],
    ids=["another-threshold", "latency-off"],
)
def test_a_target_that_sets_its_own_latency_threshold_beside_its_slo_is_refused(
    signals: dict[str, Any],
) -> None:
    with pytest.raises(PolicyError, match=r"the SLO sets the latency threshold.*set slo: null"):
        parse_policy_document({"targets": [_target(slo={"p95_ms": 12000}, signals=signals)]})


def test_a_target_keeps_a_threshold_of_its_own_by_setting_aside_a_default_slo() -> None:
    document = parse_policy_document(
        {
            "defaults": {"slo": {"p95_ms": 12000}},
            "targets": [_target(slo=None, signals={"latency_p95_ms": 3000})],
        }
    )
    assert document.targets[0].signals.latency_p95_ms == 3000  # type: ignore[union-attr]


def test_a_targets_own_slo_replaces_the_default_one_whatever_its_form() -> None:
    # Given a default SLO as a p95, and a target that states its own per response
    document = parse_policy_document(
        {"defaults": {"slo": {"p95_ms": 12000}}, "targets": [_target(slo=PER_RESPONSE)]}
    )
    # Then the target's SLO is its own, not a mixture of the two
    target = document.targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    assert target.slo == LatencySLO.model_validate(PER_RESPONSE)
    assert target.signals.latency_p95_ms == pytest.approx(19640)


def test_an_entry_changed_and_validated_again_takes_its_threshold_from_the_changed_slo() -> None:
    # What tune, --sweep and the bench do: change the SLO of a target's entry and validate it again
    target = parse_policy_document({"targets": [_target(slo=PER_RESPONSE)]}).targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    entry = target.entry()
    entry["slo"]["p95_output_tokens"] = 300
    changed = SageMakerVariantPolicy.model_validate(entry)
    assert changed.signals.latency_p95_ms == pytest.approx(2000 + 300 * 40)


def test_a_target_with_an_slo_survives_its_own_dump() -> None:
    # The Lambdas and the simulator pass policies on as JSON: the derived threshold must read back the same.
    target = parse_policy_document({"targets": [_target(slo=PER_RESPONSE)]}).targets[0]
    again = parse_policy_document({"targets": [target.model_dump(mode="json")]}).targets[0]
    assert again == target


def test_a_bad_slo_in_defaults_is_reported_once_at_its_place() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy_document(
            {"defaults": {"slo": {"ttft_ms": 2000}}, "targets": [_target(), _target(endpoint_name="b")]}
        )
    assert [path for path, _ in raised.value.problems] == ["defaults.slo"]
