"""Warm-up invocations: how many to send and whether what came back shows a warm target."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


class WarmUpReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    invocations: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    limit_ms: float | None
    errors: list[str] = []

    @property
    def passed(self) -> bool:
        if self.invocations == 0 or self.failures:
            return False
        return self.limit_ms is None or (self.p95_ms is not None and self.p95_ms <= self.limit_ms)

    def describe(self) -> str:
        if self.invocations == 0:
            return "no warm-up invocations were sent"
        figures = f"{self.invocations - self.failures}/{self.invocations} warm-up invocations succeeded"
        if self.p95_ms is not None:
            figures += f", p50 {self.p50_ms:,.0f} ms, p95 {self.p95_ms:,.0f} ms"
        if self.limit_ms is not None:
            figures += f" (limit {self.limit_ms:,.0f} ms)"
        if self.errors:
            figures += f"; first error: {self.errors[0]}"
        return figures


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile, as CloudWatch reports it for small samples."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(latencies_ms: list[float], errors: list[str], limit_ms: float | None) -> WarmUpReport:
    """The report of warm-up invocations: latencies of those that succeeded, messages of those that failed."""
    invocations = len(latencies_ms) + len(errors)
    if not latencies_ms:
        return WarmUpReport(
            invocations=invocations,
            failures=len(errors),
            p50_ms=None,
            p95_ms=None,
            max_ms=None,
            limit_ms=limit_ms,
            errors=errors[:3],
        )
    return WarmUpReport(
        invocations=invocations,
        failures=len(errors),
        p50_ms=percentile(latencies_ms, 0.5),
        p95_ms=percentile(latencies_ms, 0.95),
        max_ms=max(latencies_ms),
        limit_ms=limit_ms,
        errors=errors[:3],
    )
