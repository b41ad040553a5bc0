"""What `genai-autoscaler simulate` shows of a replay: the comparison table, the sweep's frontier, the plot.

Presentation only: every figure comes from `PolicyResult` (`genai_autoscaler_tools.sim.replay`). matplotlib is
imported by `plot_results` alone, so that the tables need nothing beyond numpy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genai_autoscaler_tools.sim.replay import Floats, PolicyResult

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
    """For (SLO attainment, cost) points: True where no other point has both higher attainment and lower cost."""
    return [
        not any(other_slo > slo and other_cost < cost for other_slo, other_cost in points)
        for slo, cost in points
    ]


def sweep_table(field: str, points: Sequence[tuple[Any, PolicyResult]]) -> list[str]:
    """The controller's SLO/cost frontier over a policy field's values; Pareto-optimal rows marked `*`."""
    summaries = [result.summary() for _, result in points]
    optimal = pareto_optimal([(result.slo_attainment, result.cost_usd) for _, result in points])
    rows = [[field, "SLO attainment", "capacity-hours", "cost (USD)", "p95 latency", "actions", ""]]
    for (value, _), summary, best in zip(points, summaries, optimal, strict=True):
        rows.append(
            [
                json.dumps(value),
                _share(summary["slo_attainment"]),
                _hours(summary["capacity_hours"]),
                _usd(summary["cost_usd"]),
                _seconds(summary["p95_latency_s"]),
                _count(summary["actions"]),
                "*" if best else "",
            ]
        )
    return [
        *aligned(rows),
        "",
        "* Pareto-optimal: no other value has both a higher SLO attainment and a lower cost.",
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


def plot_results(results: Mapping[str, PolicyResult], step_seconds: float, path: Path) -> list[str]:
    """Write one panel per policy to the PNG `path`: demand, serving and desired instances with the actions
    marked, and per-minute p95 latency. Returns notes on what could not be drawn.

    Raises ModuleNotFoundError without matplotlib, OSError when the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    notes: list[str] = []
    figure = Figure(figsize=(11, 3.2 * len(results)), layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, whatever the environment's backend is
    panels = figure.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    for panel, (name, result) in zip(panels, results.items(), strict=True):
        hours = np.arange(result.demand.size) * step_seconds / 3600.0
        panel.fill_between(hours, result.demand, step="post", color="0.82", label="demand (requests/s)")
        panel.set_ylabel("requests/s")
        panel.set_ylim(0, _top(result.demand))

        instances = panel.twinx()
        instances.step(hours, result.serving, where="post", color="tab:blue", label="instances serving")
        instances.step(
            hours, result.desired, where="post", color="tab:blue", linestyle="--", label="instances desired"
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
        instances.set_ylim(0, _top(np.concatenate(([1], result.serving, result.desired))))

        latency = panel.twinx()
        latency.spines["right"].set_position(("outward", 55))
        try:
            at, p95 = minute_p95(result, step_seconds)
        except ValueError as exc:
            notes.append(f"{name}: p95 latency not plotted: {exc}")
        else:
            latency.plot(at, p95, color="tab:red", linewidth=1, label="p95 latency per minute")
            latency.set_ylim(0, _top(p95))
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
    figure.savefig(path, format="png", dpi=110)
    return notes
