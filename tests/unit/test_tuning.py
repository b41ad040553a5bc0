"""The tuning search on a made-up cost model: it finds the cheapest policy that keeps the goal, skips what the
policy model refuses, and shows a frontier no candidate on it is beaten on."""

from __future__ import annotations

from typing import Any

import pytest
from genai_autoscaler.domain.policy import SageMakerVariantPolicy, parse_policy_document
from genai_autoscaler_tools.sim.tuning import (
    Candidate,
    Outcome,
    better,
    fragment,
    frontier,
    search_space,
    tune,
    with_changes,
)

_DOCUMENT = {
    "version": 1,
    "targets": [
        {
            "type": "sagemaker_variant",
            "endpoint_name": "llm-prod",
            "capacity": {"min": 1, "max": 16},
            "scale_out": {"max_step": 2},
            "signals": {"concurrency_per_unit": 8, "latency_p95_ms": 5000},
        }
    ],
}
TARGET = parse_policy_document(_DOCUMENT).targets[0]
assert isinstance(TARGET, SageMakerVariantPolicy)


def made_up(policy: SageMakerVariantPolicy) -> Outcome:
    """A lower threshold and a bigger step keep more of the SLO and cost more; a short stabilization saves."""
    threshold = policy.signals.concurrency_per_unit or 8
    step = policy.scale_out.max_step or policy.capacity.max  # no step limit: the whole range at once
    attainment = min(1.0, 0.97 + 0.004 * (8 - threshold) + 0.002 * step)
    cost = 100 + 10 * (8 - threshold) + 2 * step - policy.scale_in.stabilization_seconds / 300
    return Outcome(attainment, cost, cost / 1.5)


def test_the_search_space_starts_from_the_policy_as_written() -> None:
    space = search_space(TARGET, concurrency_per_instance=8)
    assert space["signals.concurrency_per_unit"] == [8, 4, 6]
    assert space["signals.latency_p95_ms"] == [5000, None]
    assert space["scale_out.max_step"] == [2, None, 4]
    assert space["scale_in.stabilization_seconds"][0] == TARGET.scale_in.stabilization_seconds


def test_it_finds_the_cheapest_policy_that_keeps_the_goal() -> None:
    # Given a goal the policy as written misses (0.974)
    best, replayed = tune(TARGET, search_space(TARGET, 8), made_up, goal=0.99)
    # Then the best candidate keeps it, and no candidate replayed keeps it for less
    assert replayed[0].changes == ()
    assert best.outcome.slo_attainment >= 0.99
    keeping = [c for c in replayed if c.outcome.slo_attainment >= 0.99]
    assert best.outcome.cost_usd == min(c.outcome.cost_usd for c in keeping)
    assert fragment(best.changes, TARGET)  # something changed


def test_when_nothing_keeps_the_goal_it_keeps_the_most_of_the_slo() -> None:
    best, replayed = tune(TARGET, search_space(TARGET, 8), made_up, goal=1.01)
    assert best.outcome.slo_attainment == max(c.outcome.slo_attainment for c in replayed)


def test_values_the_policy_model_refuses_are_skipped() -> None:
    # Given a space whose max_step of 0 the policy model refuses
    seen: list[int] = []

    def evaluate(policy: SageMakerVariantPolicy) -> Outcome:
        seen.append(policy.scale_out.max_step)
        return made_up(policy)

    tune(TARGET, {"scale_out.max_step": [2, 0, 4]}, evaluate, goal=0.99)
    assert 0 not in seen
    with pytest.raises(ValueError, match="max_step"):
        with_changes(TARGET, (("scale_out.max_step", 0),))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Outcome(0.996, 200, 0), Outcome(0.99, 100, 0), True),
        (Outcome(0.996, 100, 0), Outcome(0.999, 200, 0), True),
        (Outcome(0.98, 300, 0), Outcome(0.97, 100, 0), True),
        (Outcome(0.97, 100, 0), Outcome(0.98, 300, 0), False),
    ],
    ids=[
        "keeps the goal beats cheaper",
        "both keep: cheaper wins",
        "neither: more SLO wins",
        "neither: less SLO",
    ],
)
def test_better(a: Outcome, b: Outcome, expected: bool) -> None:
    assert better(a, b, goal=0.995) is expected


def test_the_frontier_holds_no_candidate_another_beats() -> None:
    def candidate(attainment: float, cost: float) -> Candidate:
        return Candidate((), TARGET, Outcome(attainment, cost, cost))

    cheap, dear, beaten, tie = (
        candidate(0.99, 100),
        candidate(0.999, 200),
        candidate(0.99, 150),
        candidate(0.999, 200),
    )
    assert frontier([dear, beaten, cheap, tie]) == [cheap, dear]


def test_the_fragment_holds_only_what_changed() -> None:
    changes: tuple[tuple[str, Any], ...] = (("signals.concurrency_per_unit", 8), ("scale_out.max_step", 4))
    assert fragment(changes, TARGET) == {"scale_out": {"max_step": 4}}


def test_a_second_round_finds_what_pays_only_with_a_field_changed_after_it() -> None:
    # Given an outcome where a bigger step helps only once the threshold is lower: the first round, taking the
    # step first, finds it does nothing; the threshold then changes; the second round takes the step
    def together(policy: SageMakerVariantPolicy) -> Outcome:
        low = (policy.signals.concurrency_per_unit or 8) <= 6
        attainment = 0.98 + (0.005 if low else 0) + (0.01 if low and policy.scale_out.max_step >= 4 else 0)
        return Outcome(attainment, 100.0, 100.0)

    space = {"scale_out.max_step": [2, 4], "signals.concurrency_per_unit": [8, 6]}
    best, _ = tune(TARGET, space, together, goal=0.99, passes=1)
    assert fragment(best.changes, TARGET) == {"signals": {"concurrency_per_unit": 6}}
    best, _ = tune(TARGET, space, together, goal=0.99, passes=2)
    assert fragment(best.changes, TARGET) == {
        "scale_out": {"max_step": 4},
        "signals": {"concurrency_per_unit": 6},
    }
