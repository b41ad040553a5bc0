"""The two families of targets, told apart in this one place.

SageMaker targets (a variant's instances, an inference component's copies) have capacity to set; a Bedrock model
has none, only a route for its callers' traffic. What each family means for a step (its alarms, its decision,
what is observed of it) is written where that step is; which family a target belongs to is decided here.
Passing one function per family, rather than testing the policy's type at every step, means a new kind of
target is a type error at every step that has not said what it means for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from genai_autoscaler.domain.policy import (
    BedrockModelPolicy,
    InferenceComponentPolicy,
    SageMakerPolicy,
    SageMakerVariantPolicy,
    TargetPolicy,
)

T = TypeVar("T")


def by_kind(
    policy: TargetPolicy,
    *,
    variant: Callable[[SageMakerVariantPolicy], T],
    component: Callable[[InferenceComponentPolicy], T],
    bedrock: Callable[[BedrockModelPolicy], T],
) -> T:
    """What the function for the policy's kind of target returns, given the policy."""
    if isinstance(policy, BedrockModelPolicy):
        return bedrock(policy)
    if isinstance(policy, InferenceComponentPolicy):
        return component(policy)
    return variant(policy)


def by_family(
    policy: TargetPolicy,
    *,
    sagemaker: Callable[[SageMakerPolicy], T],
    bedrock: Callable[[BedrockModelPolicy], T],
) -> T:
    """What the function for the policy's family returns: `sagemaker` for a variant or an inference component
    (capacity), `bedrock` for a Bedrock model (traffic)."""
    return by_kind(policy, variant=sagemaker, component=sagemaker, bedrock=bedrock)
