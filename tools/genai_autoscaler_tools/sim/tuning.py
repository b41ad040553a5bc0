"""Tuning a target's policy on its own traffic: a coordinate search over the fields that decide its SLO and cost.

Each candidate is the policy with some fields changed, judged by one replay of the controller (`evaluate`). The
search starts from the policy as written, and for each field in turn keeps the value that does best with the
others as they stand, for `passes` rounds or until nothing changes. Best means: the cheapest among those that
keep the SLO goal; while none does, the highest SLO attainment (then the cheapest). Every candidate replayed is
kept, so that the frontier (no other candidate both keeps more of the SLO and costs less) can be shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genai_autoscaler.domain.policy import SageMakerVariantPolicy

SLO_RESOLUTION = 1e-5  # 0.001 percentage point
Changes = tuple[tuple[str, Any], ...]  # (dotted field, value), in the order of the search's fields


@dataclass(frozen=True)
class Outcome:
    """What a replay of one candidate gave."""

    slo_attainment: float
    cost_usd: float
    capacity_hours: float


@dataclass(frozen=True)
class Candidate:
    changes: Changes
    policy: SageMakerVariantPolicy
    outcome: Outcome


def search_space(target: SageMakerVariantPolicy, concurrency_per_instance: int) -> dict[str, list[Any]]:
    """The values tried for each field, the policy's own first: concurrency thresholds around what an instance
    holds at once, the latency alarm on or off (its threshold means different things on different traffic;
    a target that states its SLO takes it from there, and it is not searched), the scale-out step unlimited or
    a small guard, the scale-in stabilization and target."""
    signals, scale_out, scale_in = target.signals, target.scale_out, target.scale_in
    per = concurrency_per_instance
    space: dict[str, list[Any]] = {
        "signals.concurrency_per_unit": [
            signals.concurrency_per_unit,
            *(max(1, round(per * f)) for f in (0.5, 0.75, 1.0)),
        ],
        **({} if target.slo is not None else {"signals.latency_p95_ms": [signals.latency_p95_ms, None]}),
        "scale_out.max_step": [scale_out.max_step, None, 2, 4],
        "scale_in.stabilization_seconds": [scale_in.stabilization_seconds, 300, 600, 1800],
        "scale_in.target_utilization": [scale_in.target_utilization, 0.5, 0.8],
    }
    return {field: list(dict.fromkeys(values)) for field, values in space.items()}


def field_value(entry: dict[str, Any], field: str) -> Any:
    """The value of `field` (a dotted path, e.g. `scale_in.max_step`) in a target's entry; KeyError if none."""
    for part in field.split("."):
        entry = entry[part]
    return entry


def with_changes(target: SageMakerVariantPolicy, changes: Changes) -> SageMakerVariantPolicy:
    """The target's policy with each (dotted field, value) set; raises pydantic's ValidationError (a
    ValueError) naming each change it refuses."""
    raw = target.entry()
    for field, value in changes:
        parent, _, last = field.rpartition(".")
        (field_value(raw, parent) if parent else raw)[last] = value
    return SageMakerVariantPolicy.model_validate(raw)


def better(a: Outcome, b: Outcome, goal: float) -> bool:
    """Whether `a` is better than `b`: keeps the goal where `b` does not, or, both keeping it (or both not),
    costs less where both keep it, and keeps more of the SLO where neither does."""
    keeps_a, keeps_b = a.slo_attainment >= goal, b.slo_attainment >= goal
    if keeps_a != keeps_b:
        return keeps_a
    more = _steps(a.slo_attainment) - _steps(b.slo_attainment)  # as the frontier compares them
    if keeps_a:
        return (a.cost_usd, -more) < (b.cost_usd, 0)
    return (-more, a.cost_usd) < (0, b.cost_usd)


def _steps(attainment: float) -> int:
    # Attainments closer than SLO_RESOLUTION are the same (a replay's figures are not finer than that).
    return round(attainment / SLO_RESOLUTION)


def tune(
    target: SageMakerVariantPolicy,
    space: dict[str, list[Any]],
    evaluate: Callable[[SageMakerVariantPolicy], Outcome],
    goal: float,
    passes: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Candidate, list[Candidate]]:
    """The best candidate found, and every candidate replayed (the policy as written first). Values the policy
    model refuses in combination (e.g. a threshold below what another field allows) are skipped."""
    replayed: dict[str, Candidate] = {}
    budget = 1 + passes * sum(len(values) - 1 for values in space.values())

    def judge(changes: Changes) -> Candidate | None:
        try:
            policy = with_changes(target, changes)
        except ValueError:
            return None
        if policy.signals.concurrency_per_unit is None and policy.signals.latency_p95_ms is None:
            return None  # a target that would never scale out
        key = json.dumps(policy.model_dump(mode="json"), sort_keys=True)
        if key not in replayed:
            replayed[key] = Candidate(changes, policy, evaluate(policy))
            if progress is not None:
                progress(len(replayed), budget)
        return replayed[key]

    order = {field: index for index, field in enumerate(space)}
    best = judge(())
    assert best is not None  # the policy as written validates
    for _ in range(passes):
        before = best
        for field, values in space.items():
            for value in values:
                changes = [(f, v) for f, v in best.changes if f != field]
                changes.append((field, value))
                found = judge(tuple(sorted(changes, key=lambda change: order[change[0]])))
                if found is not None and better(found.outcome, best.outcome, goal):
                    best = found
        if best is before:
            break
    return best, list(replayed.values())


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether (SLO attainment, cost) `a` beats `b`: at least as good on each, better on one (attainments closer
    than SLO_RESOLUTION are the same)."""
    more = _steps(a[0]) - _steps(b[0])
    return more >= 0 and a[1] <= b[1] and (more > 0 or a[1] < b[1])


def frontier(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates no other beats on SLO attainment and cost (`dominates`), one per outcome (the first
    replayed), cheapest first."""

    def point(outcome: Outcome) -> tuple[float, float]:
        return outcome.slo_attainment, outcome.cost_usd

    kept: dict[tuple[float, float], Candidate] = {}
    for c in candidates:
        if not any(dominates(point(o.outcome), point(c.outcome)) for o in candidates):
            kept.setdefault((c.outcome.slo_attainment, c.outcome.cost_usd), c)
    return sorted(kept.values(), key=lambda c: (c.outcome.cost_usd, -c.outcome.slo_attainment))


def changed(changes: Changes, target: SageMakerVariantPolicy) -> Changes:
    """The changes whose value differs from the policy as written."""
    current = target.model_dump(mode="json")
    return tuple((field, value) for field, value in changes if field_value(current, field) != value)


def fragment(changes: Changes, target: SageMakerVariantPolicy) -> dict[str, Any]:
    """The changed fields as a nested mapping, to merge into the target's entry of the policy document; only
    the fields whose value differs from the policy as written."""
    nested: dict[str, Any] = {}
    for field, value in changed(changes, target):
        *parents, last = field.split(".")
        into = nested
        for part in parents:
            into = into.setdefault(part, {})
        into[last] = value
    return nested
