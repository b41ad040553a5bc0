"""What `genai-autoscaler simulate` shows of a Bedrock replay: the comparison table and each policy's actions.

Presentation only: every figure comes from `BedrockResult` (`genai_autoscaler_tools.sim.bedrock_replay`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from genai_autoscaler_tools.sim.bedrock_replay import BedrockResult
from genai_autoscaler_tools.sim.report import aligned

MISSING = "-"
ACTIONS_SHOWN = 12  # per policy, in the table's notes; --json lists them all
_KINDS = ("on_demand", "profile", "global_profile", "provisioned")


def _count(value: int) -> str:
    return f"{value:,}"


def _percent(share: float) -> str:
    return f"{100 * share:.3f}%"


def _seconds(value: float) -> str:
    return MISSING if math.isnan(value) else f"{value:,.2f} s"


def _usd(value: float | None) -> str:
    return "not priced" if value is None else f"${value:,.2f}"


def _served_by(result: BedrockResult) -> str:
    if not result.served:
        return MISSING
    shares = [f"{100 * result.served_by.get(kind, 0) / result.served:.0f}" for kind in _KINDS]
    return "/".join(shares)


ROWS = (
    "requests",
    "served",
    "throttled (every attempt refused)",
    "  share of requests",
    "throttled attempts (retries included)",
    "within the SLO",
    "p50 latency",
    "p95 latency",
    "p99 latency",
    "p95 time to first token",
    "served by on-demand/profile/global/PT (%)",
    "PT unit-hours",
    "cost (USD): PT",
    "cost (USD): Priority premium",
    "cost (USD)",
    "actions",
)


def _column(result: BedrockResult) -> list[str]:
    return [
        _count(result.requests),
        _count(result.served),
        _count(result.throttled),
        _percent(result.throttled_share),
        _count(result.throttled_attempts),
        _percent(result.slo_attainment),
        _seconds(result.p50_latency_s),
        _seconds(result.p95_latency_s),
        _seconds(result.p99_latency_s),
        _seconds(result.p95_ttft_s),
        _served_by(result),
        f"{result.unit_hours:,.2f}",
        _usd(result.provisioned_usd),
        _usd(result.premium_usd),
        _usd(result.cost_usd),
        _count(len(result.actions)),
    ]


def bedrock_table(results: Mapping[str, BedrockResult]) -> list[str]:
    """One column per policy, one row per figure; then each policy's actions (at h:mm of the replay)."""
    columns = [_column(result) for result in results.values()]
    rows = [["", *results]]
    rows += [[label, *(column[i] for column in columns)] for i, label in enumerate(ROWS)]
    lines = aligned(rows)
    slo = next(iter(results.values())).slo if results else ""
    lines += ["", f"within the SLO: {slo}; a throttled request counts as missed."]
    for name, result in results.items():
        if not result.actions:
            continue
        shown = [action.describe() for action in result.actions[:ACTIONS_SHOWN]]
        more = len(result.actions) - len(shown)
        lines.append(f"{name} actions: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else ""))
    return lines
