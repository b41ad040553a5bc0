"""What AWS sells as Bedrock Provisioned Throughput, per base model, and the warnings `validate-config` prints
where a policy asks to buy something AWS does not sell for its model.

The table (`OFFERS`) is as read on 2026-12-07 from the stored copy of the Bedrock user guide's "Supported Region
and models for Provisioned Throughput" page, https://docs.aws.amazon.com/bedrock/latest/userguide/pt-supported.html:
per base model, the model ID to buy under, the Regions, and whether a no-commitment purchase is supported (a
listed model is always sold with a OneMonth or SixMonths commitment). Only the rows that copy showed are here:
the first nine from the English page, the next three (Titan Image Generator G1, Titan Multimodal Embeddings G1,
Titan Text G1 - Express) from its zh_cn translation. The Anthropic, Meta, Cohere and other rows further down were
not in the copy, so those models are "not in the table" and get a warning that points to the page. AWS's newer
page for the same subject (prov-thru-supported.html) lists Regions only, without the no-commitment column.

Two more facts, from the same user guide: "Inference profiles currently don't support Provisioned Throughput"
(cross-region-inference.html), and model units must be granted to the account before any purchase, with or
without commitment (prov-thru-purchase.html). A custom model (a `custom-model` ARN) is sold without commitment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from genai_autoscaler.domain.policy import BedrockModelPolicy, PolicyDocument, is_inference_profile

READ_ON: Final = "2026-12-07"
OFFERS_URL: Final = "https://docs.aws.amazon.com/bedrock/latest/userguide/pt-supported.html"
PROFILES_URL: Final = "https://docs.aws.amazon.com/bedrock/latest/userguide/cross-region-inference.html"
UNITS_URL: Final = "https://docs.aws.amazon.com/bedrock/latest/userguide/prov-thru-purchase.html"

# The first segment of a cross-region (system-defined) inference profile ID, e.g. us.amazon.nova-pro-v1:0.


@dataclass(frozen=True)
class Offer:
    """Provisioned Throughput AWS sells for one base model."""

    model_id: str  # the ID to buy under (CreateProvisionedModelThroughput modelId)
    regions: tuple[str, ...]
    no_commitment: bool  # sold without commitment too; with OneMonth or SixMonths always


OFFERS: Final[tuple[Offer, ...]] = (
    Offer("amazon.nova-canvas-v1:0", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-lite-v1:0:24k", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-lite-v1:0:300k", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-micro-v1:0:128k", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-micro-v1:0:24k", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-pro-v1:0:24k", ("us-east-1",), no_commitment=True),
    Offer("amazon.nova-pro-v1:0:300k", ("us-east-1",), no_commitment=True),
    Offer("amazon.titan-embed-text-v1:2:8k", ("us-east-1", "us-west-2"), no_commitment=True),
    Offer("amazon.titan-image-generator-v2:0", ("us-east-1", "us-west-2"), no_commitment=False),
    Offer(
        "amazon.titan-image-generator-v1:0",
        ("us-east-1", "us-west-2", "ap-south-1", "eu-west-2"),
        no_commitment=False,
    ),
    Offer(
        "amazon.titan-embed-image-v1:0",
        (
            *("us-east-1", "us-west-2", "ap-south-1", "ap-southeast-2", "ca-central-1"),
            *("eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1"),
        ),
        no_commitment=True,
    ),
    Offer(
        "amazon.titan-text-express-v1:0:8k",
        (
            *("us-east-1", "us-west-2", "ap-south-1", "ap-southeast-2", "ca-central-1"),
            *("eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1"),
        ),
        no_commitment=True,
    ),
)

_BY_ID: Final = {offer.model_id: offer for offer in OFFERS}


def _model_of(bought: str) -> tuple[str, str]:
    """(kind, model ID) of what a purchase names: kind is `model`, `custom`, `profile` or `arn` (another ARN)."""
    if bought.startswith("arn:"):
        resource = bought.split(":", 5)[-1]
        kind, _, name = resource.partition("/")
        if kind == "foundation-model":
            return "model", name
        if kind == "custom-model":
            return "custom", bought
        if kind in ("inference-profile", "application-inference-profile"):
            return "profile", bought
        return "arn", bought
    if is_inference_profile(bought):
        return "profile", bought
    return "model", bought


def _offer_warning(bought: str, commitment: str) -> str | None:
    kind, model = _model_of(bought)
    if kind == "custom":
        return None
    if kind == "profile":
        return (
            f"asks for Provisioned Throughput of {bought}, an inference profile; AWS sells none for inference "
            f"profiles: name the model in provisioned_throughput.model_arn ({PROFILES_URL})"
        )
    asked = f"Provisioned Throughput of {model} ({'no' if commitment == 'none' else commitment} commitment)"
    source = f"{OFFERS_URL}, as read {READ_ON}"
    offer = _BY_ID.get(model)
    if offer is not None:
        if commitment == "none" and not offer.no_commitment:
            return f"asks for {asked}; AWS sells it only with a OneMonth or SixMonths commitment ({source})"
        return None
    variants = [other.model_id for other in OFFERS if other.model_id.startswith(f"{model}:")]
    if variants:
        return (
            f"asks for {asked}; AWS sells it only under {' or '.join(variants)}: set "
            f"provisioned_throughput.model_arn to one ({source})"
        )
    return (
        f"asks for {asked}, a model not in the table of what AWS sells (as of {READ_ON}): check {OFFERS_URL} "
        f"for the model ID to buy under{' and whether it is sold without commitment' if commitment == 'none' else ''}"
    )


def target_warnings(policy: BedrockModelPolicy) -> list[str]:
    """What the target's Provisioned Throughput rung asks for that AWS may not sell; none when it buys nothing."""
    bedrock = policy.bedrock
    settings = bedrock.provisioned_throughput
    if settings is None or bedrock.max_model_units == 0 or "provisioned_throughput" not in bedrock.ladder:
        return []
    warnings = []
    offer = _offer_warning(settings.model_arn or policy.model_id, settings.commitment)
    if offer is not None:
        warnings.append(offer)
    if settings.model_units_quota_code is None:
        warnings.append(
            "no provisioned_throughput.model_units_quota_code, so the account's model units are not checked "
            f"before a purchase: AWS sells none until they are granted to the account ({UNITS_URL})"
        )
    return [f"{policy.name}: {warning}" for warning in warnings]


def eligibility_warnings(document: PolicyDocument) -> list[str]:
    """Every Bedrock target's warnings, in document order: a valid document stays valid."""
    return [
        warning
        for policy in document.targets
        if isinstance(policy, BedrockModelPolicy)
        for warning in target_warnings(policy)
    ]
