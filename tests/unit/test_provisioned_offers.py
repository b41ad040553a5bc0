"""Provisioned Throughput eligibility: `validate-config` warns where a Bedrock target asks to buy what AWS does not
sell for its model (genai_autoscaler_tools/provisioned_offers.py), and the document stays valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from genai_autoscaler.domain.policy import parse_policy_document
from genai_autoscaler_tools.cli.main import main
from genai_autoscaler_tools.provisioned_offers import (
    OFFERS,
    OFFERS_URL,
    PROFILES_URL,
    READ_ON,
    UNITS_URL,
    eligibility_warnings,
)

QUOTA_CODE = "L-12345678"


def bedrock_target(
    model_id: str = "amazon.nova-pro-v1:0",
    max_model_units: int = 2,
    ladder: tuple[str, ...] | None = None,
    **provisioned: Any,
) -> dict[str, Any]:
    """A Bedrock target that buys Provisioned Throughput (with its units quota checked), unless told otherwise."""
    bedrock: dict[str, Any] = {
        "max_model_units": max_model_units,
        "hourly_budget_usd": 100,
        "provisioned_throughput": {
            "tokens_per_minute_per_unit": 50_000,
            "hourly_price_per_unit_usd": 20.0,
            "model_units_quota_code": QUOTA_CODE,
            **provisioned,
        },
    }
    if ladder is not None:
        bedrock["ladder"] = list(ladder)
    return {"type": "bedrock_model", "model_id": model_id, "bedrock": bedrock}


def warnings_for(*targets: dict[str, Any]) -> list[str]:
    return eligibility_warnings(parse_policy_document({"targets": list(targets)}))


def test_a_model_sold_without_commitment_gets_no_warning() -> None:
    # Given Nova Pro 24k, which AWS sells without commitment, bought without commitment
    target = bedrock_target(model_arn="amazon.nova-pro-v1:0:24k", commitment="none")

    # When its eligibility is checked, Then nothing is said
    assert warnings_for(target) == []


def test_a_model_sold_only_with_commitment_asked_without_one_is_named_with_both() -> None:
    # Given Titan Image Generator G1 v2, sold only with a commitment, asked for without one
    target = bedrock_target("amazon.titan-image-generator-v2:0", commitment="none")

    # When its eligibility is checked
    [warning] = warnings_for(target)

    # Then the warning names the target, the model, what was asked, what AWS sells, and the source with its date
    assert warning.startswith("amazon.titan-image-generator-v2:0: asks for Provisioned Throughput of ")
    assert "(no commitment)" in warning
    assert "only with a OneMonth or SixMonths commitment" in warning
    assert OFFERS_URL in warning
    assert READ_ON in warning


def test_a_model_sold_only_with_commitment_asked_with_one_gets_no_warning() -> None:
    target = bedrock_target("amazon.titan-image-generator-v2:0", commitment="SixMonths")

    assert warnings_for(target) == []


def test_a_model_not_in_the_table_points_to_the_page() -> None:
    # Given a model the table does not list, bought without commitment
    target = bedrock_target("anthropic.claude-3-5-sonnet-20240620-v1:0")

    # When its eligibility is checked
    [warning] = warnings_for(target)

    # Then the warning says it is not in the table as of the date read, and where to check
    assert "anthropic.claude-3-5-sonnet-20240620-v1:0" in warning
    assert f"not in the table of what AWS sells (as of {READ_ON})" in warning
    assert f"check {OFFERS_URL}" in warning
    assert "whether it is sold without commitment" in warning


def test_an_on_demand_id_sold_only_under_its_context_variants_names_them() -> None:
    # Given Nova Pro named by its on-demand ID, which AWS sells only under its context-length variants
    target = bedrock_target("amazon.nova-pro-v1:0")

    # When its eligibility is checked
    [warning] = warnings_for(target)

    # Then the warning names the IDs to buy under, and the field to set
    assert "amazon.nova-pro-v1:0:24k or amazon.nova-pro-v1:0:300k" in warning
    assert "set provisioned_throughput.model_arn" in warning


@pytest.mark.parametrize(
    ("model_id", "model_arn"),
    [
        ("us.amazon.nova-pro-v1:0", None),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", None),
        ("amazon.nova-pro-v1:0", "eu.amazon.nova-pro-v1:0"),
        (
            "amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
        ),
    ],
    ids=["us-model-id", "global-model-id", "eu-model-arn", "application-profile-arn"],
)
def test_an_inference_profile_bought_as_provisioned_throughput_is_refused_by_aws(
    model_id: str, model_arn: str | None
) -> None:
    # Given a purchase named by an inference profile (the target's model ID, or the model_arn)
    target = bedrock_target(model_id, **({"model_arn": model_arn} if model_arn else {}))

    # When its eligibility is checked
    [warning] = warnings_for(target)

    # Then the warning says AWS sells none for profiles, with the source
    assert f"{model_arn or model_id}, an inference profile" in warning
    assert PROFILES_URL in warning


@pytest.mark.parametrize(
    "model_arn",
    [
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-pro-v1:0:24k/abcdefgh1234",
    ],
    ids=["foundation-model-arn", "custom-model-arn"],
)
def test_model_arns_of_models_sold_without_commitment_get_no_warning(model_arn: str) -> None:
    assert warnings_for(bedrock_target(model_arn=model_arn)) == []


def test_a_foundation_model_arn_is_checked_by_its_model_id() -> None:
    arn = "arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-image-generator-v1:0"

    [warning] = warnings_for(bedrock_target(model_arn=arn))

    assert "of amazon.titan-image-generator-v1:0 (no commitment)" in warning


@pytest.mark.parametrize(
    "target",
    [
        bedrock_target("anthropic.claude-3-5-sonnet-20240620-v1:0", ladder=("cross_region_profile",)),
        bedrock_target("anthropic.claude-3-5-sonnet-20240620-v1:0", max_model_units=0),
        {"type": "bedrock_model", "model_id": "us.amazon.nova-pro-v1:0"},
        {"type": "sagemaker_variant", "endpoint_name": "llm-prod"},
    ],
    ids=["no-pt-rung", "no-units", "no-pt-settings", "not-bedrock"],
)
def test_a_target_that_buys_no_provisioned_throughput_gets_no_warning(target: dict[str, Any]) -> None:
    assert warnings_for(target) == []


def test_a_purchase_without_the_units_quota_says_units_must_be_granted_first() -> None:
    # Given a model sold without commitment, and no quota code for the account's model units
    target = bedrock_target(model_arn="amazon.nova-pro-v1:0:24k", model_units_quota_code=None)

    # When its eligibility is checked
    [warning] = warnings_for(target)

    # Then one warning says the units are not checked and must be granted first
    assert "no provisioned_throughput.model_units_quota_code" in warning
    assert "until they are granted to the account" in warning
    assert UNITS_URL in warning


def test_the_table_names_each_model_once() -> None:
    ids = [offer.model_id for offer in OFFERS]
    assert len(set(ids)) == len(ids)


# -------------------------------------------------------------------------------------------- validate-config


def test_validate_config_prints_the_warnings_and_stays_valid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a document whose Titan Image Generator target asks for no-commitment units AWS does not sell
    path = tmp_path / "policies.json"
    path.write_text(
        json.dumps(
            {
                "targets": [
                    bedrock_target("amazon.titan-image-generator-v2:0"),
                    bedrock_target(model_arn="amazon.nova-pro-v1:0:24k"),
                ]
            }
        ),
        encoding="utf-8",
    )

    # When it is validated
    code = main(["validate-config", str(path)])
    out, err = capsys.readouterr()

    # Then it is valid (exit 0), and one indented warning line names that target
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{path}: valid, 2 targets"
    warnings = [line for line in lines if line.startswith("  warning: ")]
    assert len(warnings) == 1
    assert warnings[0].startswith("  warning: amazon.titan-image-generator-v2:0: asks for ")
    assert lines[-1] == warnings[0]


def test_the_example_warns_only_about_the_claude_purchase(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the shipped example, whose Claude target buys Provisioned Throughput of a model the table does not
    # list, without the units quota code (left for the operator to fill in)
    example = Path(__file__).resolve().parents[2] / "config" / "policies.example.yaml"

    # When it is validated
    code = main(["validate-config", str(example)])
    out, _ = capsys.readouterr()

    # Then it stays valid, and both warnings are the Claude target's: not in the table, units not checked
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("  warning: ")]
    assert [line.split()[1] for line in warnings] == ["anthropic.claude-3-5-sonnet-20240620-v1:0:"] * 2
    assert "not in the table" in warnings[0]
    assert "model_units_quota_code" in warnings[1]
