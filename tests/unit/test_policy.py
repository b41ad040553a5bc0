"""The policy document: what it accepts, what it refuses, and how it says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    InferenceComponentPolicy,
    PolicyError,
    SageMakerVariantPolicy,
    parse_policy_document,
    parse_written_document,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "policies.example.yaml"


def test_the_example_declares_every_target_the_platform_needs() -> None:
    # Given the shipped example document / When it is validated
    document = parse_policy_document(yaml.safe_load(EXAMPLE.read_text()))
    # Then it manages the two endpoints, the inference component and the three Bedrock models
    kinds = {t.name: type(t) for t in document.targets}
    assert kinds == {
        "llm-prod/AllTraffic": SageMakerVariantPolicy,
        "mme-prod/AllTraffic": SageMakerVariantPolicy,
        "llama3-8b-ic": InferenceComponentPolicy,
        "anthropic.claude-3-5-sonnet-20240620-v1:0": BedrockModelPolicy,
        "meta.llama3-1-70b-instruct-v1:0": BedrockModelPolicy,
        "amazon.nova-pro-v1:0": BedrockModelPolicy,
    }
    component = document.by_name("llama3-8b-ic")
    assert isinstance(component, InferenceComponentPolicy)
    assert component.scale_to_zero
    mme = document.by_name("mme-prod/AllTraffic")
    assert isinstance(mme, SageMakerVariantPolicy)
    assert mme.multi_model


def test_defaults_apply_under_each_target_and_targets_win() -> None:
    document = parse_policy_document(
        {
            "defaults": {"scale_in": {"stabilization_seconds": 1200, "max_step": 2}, "advisory": True},
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a", "scale_in": {"max_step": 1}},
                {"type": "bedrock_model", "model_id": "amazon.nova-pro-v1:0"},
            ],
        }
    )
    variant, bedrock = document.targets
    assert isinstance(variant, SageMakerVariantPolicy)
    assert variant.scale_in.stabilization_seconds == 1200  # from defaults
    assert variant.scale_in.max_step == 1  # the target's own value wins
    assert variant.advisory
    assert bedrock.advisory


BAD: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "min above max",
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "a", "capacity": {"min": 5, "max": 2}}]},
        [("targets[0].capacity", "min (5) is above max (2)")],
    ),
    (
        "a variant cannot scale to zero",
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "a", "capacity": {"min": 0}}]},
        [("targets[0]", "only inference components can scale to zero")],
    ),
    (
        "zero copies need scale_to_zero",
        {
            "targets": [
                {
                    "type": "inference_component",
                    "inference_component_name": "c",
                    "endpoint_name": "e",
                    "capacity": {"min": 0},
                }
            ]
        },
        [("targets[0]", "capacity.min is 0 but scale_to_zero is false")],
    ),
    (
        "loading wait only for multi-model endpoints",
        {
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a", "signals": {"model_loading_wait_ms": 10}}
            ]
        },
        [("targets[0]", "applies only to multi_model endpoints")],
    ),
    (
        "unknown target type",
        {"targets": [{"type": "lambda_function"}]},
        [
            (
                "targets[0].type",
                "unknown type 'lambda_function'; allowed: sagemaker_variant, inference_component, bedrock_model",
            )
        ],
    ),
    (
        "unknown field",
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "a", "max_capacity": 3}]},
        [("targets[0].max_capacity", "unknown field 'max_capacity'; did you mean 'capacity'?")],
    ),
    (
        "a mistyped type",
        {"targets": [{"type": "sagemaker_endpoint", "endpoint_name": "a"}]},
        [("targets[0].type", "bedrock_model; did you mean 'sagemaker_variant'?")],
    ),
    (
        "no type",
        {"targets": [{"endpoint_name": "a"}]},
        [
            (
                "targets[0].type",
                "Field required; allowed: sagemaker_variant, inference_component, bedrock_model",
            )
        ],
    ),
    (
        "a mistyped field of a block",
        {
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a", "signals": {"concurency_per_unit": 6}}
            ]
        },
        [("targets[0].signals.concurency_per_unit", "unknown field 'concurency_per_unit'; did you mean")],
    ),
    (
        "an unknown field with nothing close",
        {"targets": [{"type": "sagemaker_variant", "endpoint_name": "a", "warm_up": {"colour": "red"}}]},
        [("targets[0].warm_up.colour", "unknown field 'colour'; allowed: concurrency, content_type, count")],
    ),
    (
        "defaults mistyped at the top level",
        {
            "default": {"capacity": {"max": 4}},
            "targets": [{"type": "sagemaker_variant", "endpoint_name": "a"}],
        },
        [("default", "unknown field 'default'; did you mean 'defaults'?")],
    ),
    (
        "a mistyped default",
        {
            "defaults": {"capcity": {"max": 4}},
            "targets": [{"type": "sagemaker_variant", "endpoint_name": "a"}],
        },
        [("defaults.capcity", "unknown field 'capcity'; did you mean 'capacity'?")],
    ),
    (
        "a mistyped value of a choice",
        {"targets": [{"type": "bedrock_model", "model_id": "a.b", "bedrock": {"ladder": ["cross_region"]}}]},
        [("targets[0].bedrock.ladder[0]", "(got 'cross_region'); did you mean 'cross_region_profile'?")],
    ),
    (
        "a bad default is reported once, where it is",
        {
            "defaults": {"scale_out": {"max_step": 0}, "colour": "red"},
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a"},
                {"type": "sagemaker_variant", "endpoint_name": "b"},
            ],
        },
        [
            ("defaults.colour", "unknown field 'colour'; allowed: advisory, bedrock, capacity"),
            ("defaults.scale_out.max_step", "greater than or equal to 1 (got 0)"),
        ],
    ),
    (
        "duplicate targets",
        {
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a"},
                {"type": "sagemaker_variant", "endpoint_name": "a"},
            ]
        },
        [("(document)", "two targets have the same name 'a/AllTraffic'")],
    ),
    (
        "warm-up concurrency above its count",
        {
            "targets": [
                {"type": "sagemaker_variant", "endpoint_name": "a", "warm_up": {"count": 2, "concurrency": 4}}
            ]
        },
        [("targets[0].warm_up", "concurrency (4) exceeds count (2)")],
    ),
    (
        "a lock shorter than the InService timeout",
        {
            "targets": [
                {
                    "type": "sagemaker_variant",
                    "endpoint_name": "a",
                    "workflow": {"in_service_timeout_seconds": 1800, "lock_ttl_seconds": 600},
                }
            ]
        },
        [
            (
                "targets[0].workflow",
                "lock_ttl_seconds (600) must be at least in_service_timeout_seconds (1800) + 1800",
            )
        ],
    ),
    (
        "a wait that would overflow the execution history",
        {
            "targets": [
                {
                    "type": "sagemaker_variant",
                    "endpoint_name": "a",
                    "workflow": {
                        "in_service_timeout_seconds": 7200,
                        "poll_interval_seconds": 5,
                        "lock_ttl_seconds": 9000,
                    },
                }
            ]
        },
        [("targets[0].workflow", "1440 polls; at most 720")],
    ),
    (
        "the endpoint name is missing: said once",
        {"targets": [{"type": "sagemaker_variant"}]},
        [("targets[0].endpoint_name", "Field required")],
    ),
]


@pytest.mark.parametrize(("document", "expected"), [(d, e) for _, d, e in BAD], ids=[i for i, _, _ in BAD])
def test_every_problem_is_named_with_its_path(
    document: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    # When an invalid document is validated
    with pytest.raises(PolicyError) as raised:
        parse_policy_document(document)
    # Then each expected problem is reported at its path, and nothing else
    problems = raised.value.problems
    assert len(problems) == len(expected), problems
    for (path, message), (want_path, want_text) in zip(problems, expected, strict=True):
        assert path == want_path
        assert want_text in message


@pytest.mark.parametrize(
    "document",
    [{"targets": []}, {"version": 1, "defaults": {"capacity": {"max": 4}}}, {}],
    ids=["empty-targets", "defaults-only", "empty"],
)
def test_a_written_document_that_names_no_target_is_refused(document: dict[str, Any]) -> None:
    # When a document that names no target is validated as written
    with pytest.raises(PolicyError) as raised:
        parse_written_document(document)
    # Then it is refused: it would manage nothing
    assert raised.value.problems == [
        ("targets", "the document names no target, so it manages nothing: list at least one")
    ]


def test_the_effective_document_may_name_no_target() -> None:
    # Given no document published, and no endpoint the stack names or tags (the Lambda's effective document)
    # When it is validated, Then it is valid, and manages nothing
    assert parse_policy_document({"defaults": {}, "targets": []}).targets == []
