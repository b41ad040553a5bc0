"""How a SageMaker variant routes requests to its instances, and what that means for the capacity its latency SLO
takes.

The routing is the variant's `RoutingConfig.RoutingStrategy` in its endpoint config (SageMaker API reference,
ProductionVariantRoutingConfig). With `LEAST_OUTSTANDING_REQUESTS` each request goes to the instance with the
fewest outstanding, and the fleet queues almost as one: the larger it is, the busier each instance may run within
the same SLO. With `RANDOM`, SageMaker's default when the endpoint config sets no `RoutingConfig` (AWS ML blog,
"Minimize real-time inference latency by using Amazon SageMaker routing strategies"), each instance queues on its
own, and the same SLO takes more instances: the simulator's Azure hour needs 22 at its peak where one queue needs 9
(`genai-autoscaler simulate --endpoint-param routing=random`). The controller scales either; `genai-autoscaler
status` tells the team which one it is on.
"""

from __future__ import annotations

# What a variant routes by when its endpoint config sets no RoutingConfig.
DEFAULT_ROUTING = "RANDOM"
LEAST_OUTSTANDING_REQUESTS = "LEAST_OUTSTANDING_REQUESTS"


def routing_advice(strategy: str) -> str | None:
    """What a team should know of a variant that routes by `strategy`; None when nothing."""
    if strategy != DEFAULT_ROUTING:
        return None
    return (
        "routes requests at random (SageMaker's default without a RoutingConfig): each instance queues on its own, "
        f"so its latency SLO takes more instances than with {LEAST_OUTSTANDING_REQUESTS}, which AWS advises for "
        "generative AI (set in a new endpoint config). `genai-autoscaler simulate` replays a trace of its traffic "
        "one way, and with `--endpoint-param routing=random` the other."
    )
