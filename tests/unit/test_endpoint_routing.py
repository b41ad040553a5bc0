"""What the controller tells a team of how its variant routes requests (`domain.endpoint_routing`)."""

from __future__ import annotations

import botocore.session
import pytest
from genai_autoscaler.domain.endpoint_routing import DEFAULT_ROUTING, routing_advice

STRATEGIES = botocore.session.get_session().get_service_model("sagemaker").shape_for("RoutingStrategy").enum


def test_the_strategies_are_sagemakers() -> None:
    # The default and the advised strategy are values of the API's RoutingStrategy
    assert DEFAULT_ROUTING in STRATEGIES
    assert "LEAST_OUTSTANDING_REQUESTS" in STRATEGIES


@pytest.mark.parametrize("strategy", [*STRATEGIES, "KV_AWARE"])
def test_only_routing_at_random_is_advised_against(strategy: str) -> None:
    # Given a variant's routing strategy (one the API may add later included)
    advice = routing_advice(strategy)
    # Then only routing at random gets advice, naming the strategy to move to and how to see what it saves
    if strategy == "RANDOM":
        assert advice is not None
        assert "LEAST_OUTSTANDING_REQUESTS" in advice
        assert "--endpoint-param routing=random" in advice
    else:
        assert advice is None
