"""`genai-autoscaler tune`: the cheapest policy that keeps the SLO on a team's own traffic, found by replaying it.

The search is `genai_autoscaler_tools.sim.tuning`'s; each candidate is one replay of the controller on the same
arrivals. What it prints is a frontier (SLO attainment against cost) and a fragment of the policy document.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import yaml
from genai_autoscaler.domain.policy import deep_merge

from genai_autoscaler_tools.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, CommandFailed
from genai_autoscaler_tools.cli.simulate import (
    SimulateOptions,
    StatusLine,
    prepare_replay,
    traffic_p95_length,
)
from genai_autoscaler_tools.sim.report import aligned

if TYPE_CHECKING:
    from genai_autoscaler.domain.policy import SageMakerVariantPolicy

    from genai_autoscaler_tools.sim.tuning import Candidate


class _Counter(StatusLine):
    """`tuning: replay 7 of at most 31`."""

    def __call__(self, done: int, budget: int) -> None:
        self.show(f"tuning: replay {done} of at most {budget}")


def _described(candidate: Candidate, target: SageMakerVariantPolicy) -> str:
    from genai_autoscaler_tools.sim.tuning import changed

    return ", ".join(
        f"{field}={json.dumps(value)}" for field, value in changed(candidate.changes, target)
    ) or ("as written")


def _why_not_kept(peak_instances: int | None, target: SageMakerVariantPolicy) -> str:
    if peak_instances is not None and peak_instances > target.capacity.max:
        return (
            f"The trace's peak takes {peak_instances} instances and {target.name}'s max is "
            f"{target.capacity.max}: no policy within that max keeps the goal (the max is a spending bound, "
            "not searched: raise it to tune within it)."
        )
    return (
        "What is lost is mostly capacity decided too late on a sudden rise: `simulate --plot` shows where; "
        "no field searched here adds it sooner."
    )


def _reading_line(target: SageMakerVariantPolicy, sigmas: float) -> list[tuple[str, str]]:
    """For a target that watches concurrency, tuned with the simulator's own reading of it: where the endpoint's
    own is measured. A threshold found here holds for an endpoint whose Maximum reads so."""
    from genai_autoscaler_tools.sim.endpoint import PEAK_SIGMAS

    if target.signals.concurrency_per_unit is None or sigmas != PEAK_SIGMAS:
        return []
    return [
        (
            "concurrency",
            f"its Maximum read as the simulator assumes, mean + {PEAK_SIGMAS:g} sqrt(mean); `trace export` and "
            "`status` measure your endpoint's, to tune with as --endpoint-param concurrency_peak_sigmas=...",
        )
    ]


def tune_policy(options: SimulateOptions, goal: float) -> int:
    """Search the target's policy on the trace; print the frontier and the best policy as a fragment."""
    from genai_autoscaler_tools.sim.compare import compare
    from genai_autoscaler_tools.sim.endpoint import RequestProfile
    from genai_autoscaler_tools.sim.replay import near_ceiling
    from genai_autoscaler_tools.sim.tuning import (
        Outcome,
        fragment,
        frontier,
        search_space,
        tune,
        with_changes,
    )

    setup = prepare_replay(options)
    target = setup.target
    # A per-response SLO is tuned for the trace's own long answers: the latency threshold is their deadline.
    stated = target.slo.p95_output_tokens if target.slo is not None else None
    length = traffic_p95_length(target, setup.trace, RequestProfile.default())
    measured = {"slo": {"p95_output_tokens": length}} if length is not None and length != stated else {}
    if measured:
        target = with_changes(target, (("slo.p95_output_tokens", length),))
    asked, goal = goal, near_ceiling(goal, setup.demand.ceiling)
    requests: list[float] = []  # every candidate replays the same arrivals

    def evaluate(policy: SageMakerVariantPolicy) -> Outcome:
        result = compare(
            setup.trace,
            policy,
            setup.model,
            ["controller"],
            setup.config,
            RequestProfile.default(),
            initial_capacity=setup.initial_capacity,  # the search leaves the capacity limits as written
        )["controller"]
        requests.append(result.requests)
        return Outcome(result.slo_attainment, result.cost_usd, result.capacity_hours)

    counter = _Counter() if not options.json_output and sys.stderr.isatty() else None
    try:
        best, replayed = tune(
            target,
            search_space(target, setup.model.concurrency_per_instance),
            evaluate,
            goal,
            progress=counter,
        )
    except ValueError as exc:  # a rate no number of instances keeps up with
        raise CommandFailed(EXIT_BAD_INPUT, [f"cannot tune on {setup.trace.source}: {exc}"]) from None
    finally:
        if counter is not None:
            counter.close()
    edges = frontier(replayed)
    kept = best.outcome.slo_attainment >= goal
    lowered = f" ({asked:.2%} as near its ceiling of {setup.demand.ceiling:.1%})" if goal != asked else ""
    change = deep_merge(measured, fragment(best.changes, target))

    if options.json_output:
        body: dict[str, Any] = {
            "goal": goal,
            "concurrency_peak_sigmas": setup.model.concurrency_peak_sigmas,
            "replays": len(replayed),
            "keeps_goal": kept,
            "best": {"changes": change, **vars(best.outcome)},
            "as_written": vars(replayed[0].outcome),
            "frontier": [
                {"changes": deep_merge(measured, fragment(c.changes, target)), **vars(c.outcome)}
                for c in edges
            ],
        }
        print(json.dumps(body, indent=2))
        return EXIT_OK

    measured_line = (
        [
            (
                "p95 length",
                f"{length} output tokens, measured on the trace (the policy states {stated}): tuned with it",
            )
        ]
        if measured
        else []
    )
    header = setup.header(
        round(requests[0]),
        *measured_line,
        *_reading_line(target, setup.model.concurrency_peak_sigmas),
        ("tuned", f"{len(replayed)} replays of the controller, SLO goal {goal:.2%}" + lowered),
    )
    rows = [["policy", "SLO attainment", "capacity-hours", "cost (USD)"]]
    for candidate in edges:
        outcome = candidate.outcome
        rows.append(
            [
                _described(candidate, target) + (" (best)" if candidate is best else ""),
                f"{outcome.slo_attainment:.3%}",
                f"{outcome.capacity_hours:,.1f}",
                f"${outcome.cost_usd:,.2f}",
            ]
        )
    written = replayed[0].outcome
    lines = [
        *header,
        "",
        "frontier (no other candidate keeps more of the SLO for less):",
        *(f"  {line}" for line in aligned(rows)),
        "",
        f"as written{f' (with the measured p95 length, {length} tokens)' if measured else ''}: "
        f"{written.slo_attainment:.3%} within the SLO, ${written.cost_usd:,.2f}",
    ]
    fragment_lines = [f"  {line}" for line in yaml.safe_dump(change, sort_keys=False).splitlines()]
    if kept and change:
        lines += [
            f"cheapest that keeps {goal:.2%}: {best.outcome.slo_attainment:.3%}, ${best.outcome.cost_usd:,.2f}; "
            f"merge into the entry of {target.name} in {setup.policies_path}:",
            "",
            *fragment_lines,
        ]
    elif kept:
        lines.append(f"the policy as written is the cheapest found that keeps {goal:.2%}: nothing to change")
    else:
        nearest = f"no candidate keeps {goal:.2%}; the nearest, {best.outcome.slo_attainment:.3%} at "
        nearest += f"${best.outcome.cost_usd:,.2f}, " + ("merges:" if change else "is the policy as written")
        lines += [
            nearest,
            *(["", *fragment_lines] if change else []),
            "",
            _why_not_kept(setup.demand.peak_instances, target),
        ]
    print("\n".join(lines))
    return EXIT_OK
