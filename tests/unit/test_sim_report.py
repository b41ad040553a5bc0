"""What `simulate` shows of a replay: the starting fleet in the table and the plot, and one scale for every panel."""

from __future__ import annotations

import numpy as np
import pytest
from genai_autoscaler_tools.sim.replay import PolicyResult, ScaleAction
from genai_autoscaler_tools.sim.report import plot_figure, policy_table, sweep_table


def replayed(name: str, serving: list[int], demand: float = 2.0) -> PolicyResult:
    """A two-minute replay (10 s steps) that serves `serving` instances per step."""
    steps = len(serving)
    return PolicyResult(
        name,
        requests=100.0,
        within_slo=100.0,
        demand=np.full(steps, demand),
        serving=np.asarray(serving, dtype=np.int64),
        desired=np.asarray(serving, dtype=np.int64),
        minute_p95_s=np.asarray([4.0, 6.0]),
        actions=[ScaleAction(at_s=60.0, from_capacity=serving[0], to_capacity=serving[-1], by=name)],
    )


def test_the_table_and_the_sweep_say_what_each_policy_starts_with() -> None:
    # Given a controller that started with 2 instances and a static fleet of 9
    results = {
        "controller": replayed("controller", [2] * 6 + [5] * 6),
        "static": replayed("static", [9] * 12),
    }

    # When they are tabled, and swept
    table = policy_table(results)
    sweep = sweep_table("capacity.max", [(4, results["controller"]), (9, results["static"])])

    # Then the first row of the table is each one's start, and the sweep has a column of it
    assert table[1].split() == ["instances", "at", "the", "start", "2", "9"]
    assert sweep[0].split()[-1] == "start"
    assert [row.split()[-2:] for row in sweep[1:3]] == [["2", "*"], ["9", "*"]]


def test_every_panel_of_the_plot_has_the_same_scales_and_the_start_is_stated() -> None:
    pytest.importorskip("matplotlib")
    # Given a controller that stays at 2 to 5 instances and a static fleet of 9
    results = {
        "controller": replayed("controller", [2] * 6 + [5] * 6),
        "static": replayed("static", [9] * 12),
    }

    # When they are plotted
    figure, notes = plot_figure(results, 10.0)

    # Then every panel's instance axis (and demand and latency axes) reaches as high, that of the largest fleet
    assert notes == []
    panels = [axis for axis in figure.axes if axis.get_ylabel() == "instances"]
    assert len(panels) == 2
    assert [axis.get_ylim() for axis in panels] == [pytest.approx((0.0, 9 * 1.45))] * 2
    for label in ("requests/s", "p95 latency (s)"):
        assert len({axis.get_ylim() for axis in figure.axes if axis.get_ylabel() == label}) == 1
    # And the title says what each started with, and each panel's legend marks it
    assert figure.get_suptitle().startswith("instances InService at the start: controller 2, static 9")
    legends = [legend for axis in figure.axes if (legend := axis.get_legend()) is not None]
    starts = [
        t.get_text() for legend in legends for t in legend.get_texts() if t.get_text().startswith("start")
    ]
    assert starts == ["start: 2 InService", "start: 9 InService"]


def test_a_start_shared_by_every_policy_is_said_once() -> None:
    pytest.importorskip("matplotlib")
    results = {name: replayed(name, [3] * 12) for name in ("controller", "target-tracking")}
    figure, _ = plot_figure(results, 10.0)
    assert figure.get_suptitle() == "every policy starts with 3 instances InService"
