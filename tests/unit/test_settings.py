"""The controller's environment and the policies it resolves from the stack's parameters."""

from __future__ import annotations

import pytest
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.policy import SageMakerVariantPolicy
from genai_autoscaler.errors import InvalidEvent

ENV = {
    "STACK_NAME": "genai-autoscaler",
    "MANAGED_ENDPOINTS": "llm-prod,chat-prod",
    "DEFAULT_MAX_CAPACITY": "6",
    "DEFAULT_LATENCY_P95_MS": "3000",
    "DEFAULT_CONCURRENCY_PER_UNIT": "6",
    "DEFAULT_ADVISORY": "false",
}


def test_the_stack_parameters_alone_give_a_managed_target_per_endpoint() -> None:
    # Given only the deploy-time parameters and no policy document
    settings = ControllerSettings.from_env(ENV)
    # When the policies are resolved
    document = settings.effective_policies({})
    # Then each named endpoint's AllTraffic variant is managed with the parameter defaults
    assert [t.name for t in document.targets] == ["llm-prod/AllTraffic", "chat-prod/AllTraffic"]
    target = document.targets[0]
    assert isinstance(target, SageMakerVariantPolicy)
    assert (target.capacity.max, target.signals.latency_p95_ms, target.advisory) == (6, 3000, False)
    assert target.signals.concurrency_per_unit == 6


def test_the_document_refines_what_the_parameters_name_and_tags_add_targets() -> None:
    settings = ControllerSettings.from_env(ENV)
    document = settings.effective_policies(
        {
            "defaults": {"capacity": {"min": 2}},
            "targets": [{"type": "sagemaker_variant", "endpoint_name": "llm-prod", "capacity": {"max": 10}}],
        },
        tagged=[("tagged-ep", "AllTraffic"), ("llm-prod", "AllTraffic")],
    )
    names = [t.name for t in document.targets]
    assert names == ["llm-prod/AllTraffic", "chat-prod/AllTraffic", "tagged-ep/AllTraffic"]
    llm = document.targets[0]
    assert isinstance(llm, SageMakerVariantPolicy)
    assert (llm.capacity.min, llm.capacity.max) == (
        2,
        10,
    )  # document defaults and its own max over the parameter


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MANAGED_ENDPOINTS": "Bad Name!"}, "MANAGED_ENDPOINTS"),
        ({"DEFAULT_MAX_CAPACITY": "0"}, "DEFAULT_MAX_CAPACITY"),
        ({"DEFAULT_CONCURRENCY_PER_UNIT": "0"}, "DEFAULT_CONCURRENCY_PER_UNIT"),
        ({"STACK_NAME": ""}, "STACK_NAME"),
    ],
    ids=["endpoint name", "max capacity", "concurrency", "no stack name"],
)
def test_a_bad_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidEvent, match=named):
        ControllerSettings.from_env({**ENV, **env})


def test_advisory_mode_from_the_stack_applies_to_every_target() -> None:
    document = ControllerSettings.from_env({**ENV, "DEFAULT_ADVISORY": "true"}).effective_policies({})
    assert all(t.advisory for t in document.targets)
