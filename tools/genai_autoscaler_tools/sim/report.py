"""What `genai-autoscaler simulate` shows of a replay: the comparison table, the sweep's frontier, the plot.

Presentation only: every figure comes from `PolicyResult` (`genai_autoscaler_tools.sim.replay`). matplotlib is
imported by `plot_results` alone, so that the tables need nothing beyond numpy.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genai_autoscaler_tools.sim.replay import Floats, PolicyResult
from genai_autoscaler_tools.sim.tuning import dominates

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MISSING = "-"
HEADROOM = 1.45  # each axis reaches this far above its highest value, which leaves the legend room


def _count(value: Any) -> str:
    return MISSING if value is None else f"{value:,}"


def _share(value: Any) -> str:
    # Three decimals: the shares that matter sit at 99.5% and above, and 99.9994% must not read as 100.00%.
    return MISSING if value is None else f"{100 * value:.3f}%"


def _seconds(value: Any, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:,.{digits}f} s"


def _usd(value: Any) -> str:
    return MISSING if value is None else f"${value:,.2f}"


def _hours(value: Any) -> str:
    return MISSING if value is None else f"{value:,.3f}"


def aligned(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Rows as lines of columns two spaces apart: the first `left` columns flush left, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


POLICY_FIGURES = (
    "instances at the start",
    "requests",
    "served",
    "  within the latency SLO",
    "throttled (queue full)",
    "failed (timeout, no instance)",
    "SLO attainment",
    "p50 latency",
    "p95 latency",
    "p99 latency",
    "capacity-hours",
    "cost (USD)",
    "actions",
    "overloads",
    "  ended without added capacity",
    "  time to capacity, mean",
    "  time to capacity, max",
)


def _policy_column(result: PolicyResult) -> list[str]:
    """One policy's figures, in the order of POLICY_FIGURES."""
    s = result.summary()
    return [
        _count(s["starting_instances"]),
        _count(s["requests"]),
        _count(round(result.served)),  # not in summary()
        _count(s["served_within_slo"]),
        _count(s["throttled"]),
        _count(s["failed"]),
        _share(s["slo_attainment"]),
        _seconds(s["p50_latency_s"]),
        _seconds(s["p95_latency_s"]),
        _seconds(s["p99_latency_s"]),
        _hours(s["capacity_hours"]),
        _usd(s["cost_usd"]),
        _count(s["actions"]),
        _count(s["overloads"]),
        _count(s["overloads_without_capacity"]),
        _seconds(s["mean_time_to_capacity_s"], 0),
        _seconds(s["max_time_to_capacity_s"], 0),
    ]


def policy_table(results: Mapping[str, PolicyResult]) -> list[str]:
    """One column per policy, one row per figure (a policy per row would not fit a terminal)."""
    columns = [_policy_column(result) for result in results.values()]
    rows = [["", *results]]
    rows += [[label, *(column[i] for column in columns)] for i, label in enumerate(POLICY_FIGURES)]
    return aligned(rows)


def pareto_optimal(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (SLO attainment, cost) points: True where no other point is at least as good on both and better on one
    (the tuner's frontier, `dominates`)."""
    return [not any(dominates(other, point) for other in points) for point in points]


def sweep_table(field: str, points: Sequence[tuple[Any, PolicyResult]]) -> list[str]:
    """The controller's SLO/cost frontier over a policy field's values; Pareto-optimal rows marked `*`."""
    summaries = [result.summary() for _, result in points]
    optimal = pareto_optimal([(result.slo_attainment, result.cost_usd) for _, result in points])
    rows = [[field, "SLO attainment", "capacity-hours", "cost (USD)", "p95 latency", "actions", "start", ""]]
    for (value, _), summary, best in zip(points, summaries, optimal, strict=True):
        rows.append(
            [
                json.dumps(value),
                _share(summary["slo_attainment"]),
                _hours(summary["capacity_hours"]),
                _usd(summary["cost_usd"]),
                _seconds(summary["p95_latency_s"]),
                _count(summary["actions"]),
                _count(summary["starting_instances"]),
                "*" if best else "",
            ]
        )
    return [
        *aligned(rows),
        "",
        "* Pareto-optimal: no other value does as well on both SLO attainment and cost, and better on one.",
        "start: the instances InService when the replay begins (a value that moves the capacity limits moves it).",
    ]


def minute_p95(result: PolicyResult, step_seconds: float) -> tuple[Floats, Floats]:
    """(minute middles in hours, p95 latency in s) of the replay's minutes.

    Raises ValueError when `minute_p95_s` does not hold one figure per whole minute of the replay (NaN
    where no request was served).
    """
    minutes = int(result.demand.size * step_seconds // 60)
    if result.minute_p95_s.size != minutes:
        raise ValueError(f"{result.minute_p95_s.size} per-minute latencies for {minutes} minutes")
    middles: Floats = (np.arange(minutes, dtype=np.float64) * 60.0 + 30.0) / 3600.0
    return middles, result.minute_p95_s


def _top(values: Any) -> float:
    highest = float(np.nanmax(values)) if np.size(values) and not np.all(np.isnan(values)) else 0.0
    return max(highest, 1e-3) * HEADROOM


def _starts(results: Mapping[str, PolicyResult]) -> str:
    """What the fleet started with, said once when every policy started alike."""
    counts = {name: result.starting_instances for name, result in results.items()}
    if len(set(counts.values())) == 1:
        return f"every policy starts with {_count(next(iter(counts.values())))} instances InService"
    each = ", ".join(f"{name} {_count(count)}" for name, count in counts.items())
    return f"instances InService at the start: {each} (static and the oracle provision their own count ahead)"


def plot_results(results: Mapping[str, PolicyResult], step_seconds: float, path: Path) -> list[str]:
    """Write `plot_figure` to the PNG `path`. Returns notes on what could not be drawn.

    Raises ModuleNotFoundError without matplotlib, OSError when the file cannot be written.
    """
    figure, notes = plot_figure(results, step_seconds)
    figure.savefig(path, format="png", dpi=110)
    return notes


def plot_figure(results: Mapping[str, PolicyResult], step_seconds: float) -> tuple[Figure, list[str]]:
    """One panel per policy: demand, serving and desired instances with the actions and the starting fleet
    marked, and per-minute p95 latency. Every panel has the same scales, so that the policies compare at a
    glance. Returns the figure and notes on what could not be drawn.

    Raises ModuleNotFoundError without matplotlib.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    notes: list[str] = []
    latencies: dict[str, tuple[Floats, Floats]] = {}
    for name, result in results.items():
        try:
            latencies[name] = minute_p95(result, step_seconds)
        except ValueError as exc:
            notes.append(f"{name}: p95 latency not plotted: {exc}")
    every = list(results.values())
    demand_top = _top(np.concatenate([r.demand for r in every]))
    instances_top = _top(np.concatenate([[1], *(r.serving for r in every), *(r.desired for r in every)]))
    latency_top = _top(np.concatenate([[0.0], *(p95 for _, p95 in latencies.values())]))

    figure = Figure(figsize=(11, 3.2 * len(results) + 0.4), layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, whatever the environment's backend is
    figure.suptitle(textwrap.fill(_starts(results), 150), x=0.01, ha="left", fontsize="medium")
    panels = figure.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    for panel, (name, result) in zip(panels, results.items(), strict=True):
        hours = np.arange(result.demand.size) * step_seconds / 3600.0
        panel.fill_between(hours, result.demand, step="post", color="0.82", label="demand (requests/s)")
        panel.set_ylabel("requests/s")
        panel.set_ylim(0, demand_top)

        instances = panel.twinx()
        instances.step(hours, result.serving, where="post", color="tab:blue", label="instances serving")
        instances.step(
            hours, result.desired, where="post", color="tab:blue", linestyle="--", label="instances desired"
        )
        if result.starting_instances is not None:
            instances.scatter(
                [0.0],
                [result.starting_instances],
                marker="o",
                color="tab:blue",
                zorder=3,
                label=f"start: {result.starting_instances} InService",
            )
        outs = [a for a in result.actions if a.to_capacity > a.from_capacity]
        ins = [a for a in result.actions if a.to_capacity < a.from_capacity]
        for actions, marker, color, label in (
            (outs, "^", "tab:green", "scale-out"),
            (ins, "v", "tab:orange", "scale-in"),
        ):
            if actions:
                instances.scatter(
                    [a.at_s / 3600.0 for a in actions],
                    [a.to_capacity for a in actions],
                    marker=marker,
                    color=color,
                    zorder=3,
                    label=label,
                )
        instances.set_ylabel("instances")
        instances.set_ylim(0, instances_top)

        latency = panel.twinx()
        latency.spines["right"].set_position(("outward", 55))
        if name in latencies:
            at, p95 = latencies[name]
            latency.plot(at, p95, color="tab:red", linewidth=1, label="p95 latency per minute")
        latency.set_ylim(0, latency_top)
        latency.set_ylabel("p95 latency (s)")

        handles, labels = [], []
        for axis in (panel, instances, latency):
            h, lab = axis.get_legend_handles_labels()
            handles += h
            labels += lab
        panel.legend(handles, labels, loc="upper left", fontsize="small", ncols=3)
        summary = result.summary()
        panel.set_title(
            f"{name}: SLO attainment {_share(summary['slo_attainment'])}, "
            f"{_hours(summary['capacity_hours'])} capacity-hours, {_usd(summary['cost_usd'])}, "
            f"{summary['actions']} action{'' if summary['actions'] == 1 else 's'}",
            loc="left",
        )
    panels[-1].set_xlabel("hours since the start of the trace")
    return figure, notes
