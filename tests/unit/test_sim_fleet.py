"""The simulated fleet: per-second billing from launch to termination, a cold start before an instance serves,
SageMaker's refusal of a change while Updating, and which instances a scale-in stops."""

from __future__ import annotations

import pytest
from genai_autoscaler_tools.sim.endpoint import EndpointModel
from genai_autoscaler_tools.sim.fleet import IN_SERVICE, UPDATING, Fleet, UpdateRefused

# A cold start of 240 + 120 = 360 s; a stopped instance is billed 60 s more.
MODEL = EndpointModel(provisioning_s=240, model_load_s=120, termination_s=60)


def run(fleet: Fleet, operations: list[tuple[str, int, float]]) -> None:
    for kind, count, at in operations:
        if kind == "request":
            fleet.request(count, at)
        else:
            fleet.provision_ahead(count, at)


@pytest.mark.parametrize(
    ("initial", "operations", "until", "billed"),
    [
        (2, [], 3600.0, 2 * 3600.0),
        (1, [("request", 3, 100.0)], 1000.0, 1000.0 + 2 * 900.0),
        (3, [("request", 1, 500.0)], 1000.0, 1000.0 + 2 * (500.0 + 60.0)),
        (2, [("request", 1, 100.0)], 130.0, 2 * 130.0),
        (1, [("request", 2, 10.0), ("request", 1, 400.0)], 1000.0, 1000.0 + (460.0 - 10.0)),
        (0, [("ahead", 2, 0.0)], 600.0, 2 * (360.0 + 600.0)),
        (2, [("request", 4, 50.0), ("ahead", 3, 100.0)], 1000.0, 2 * 1000.0 + 950.0 + 50.0),
    ],
    ids=[
        "two instances for an hour",
        "scale out: billed from the request, not from serving",
        "scale in: billed until termination, 60 s after the request",
        "read while the removed instance is still terminating",
        "out then in once the new instance serves",
        "provisioned ahead: the cold start is billed before 0",
        "a warming instance cancelled: billed until the cancellation",
    ],
)
def test_billing_runs_from_launch_to_termination(
    initial: int, operations: list[tuple[str, int, float]], until: float, billed: float
) -> None:
    # Given a fleet that starts with `initial` instances at 0
    fleet = Fleet(MODEL, initial)
    # When its capacity changes
    run(fleet, operations)
    # Then the instance-seconds billed are those worked out by hand
    assert fleet.billed_seconds(until) == pytest.approx(billed)


@pytest.mark.parametrize(
    ("provisioning", "model_load"),
    [(240.0, 120.0), (0.0, 60.0), (300.0, 0.0)],
    ids=["provisioning and model load", "model load only", "provisioning only"],
)
def test_a_new_instance_serves_after_provisioning_and_model_load(
    provisioning: float, model_load: float
) -> None:
    # Given one serving instance
    model = EndpointModel(provisioning_s=provisioning, model_load_s=model_load)
    fleet = Fleet(model, 1)
    # When two more are asked for at 100 s
    fleet.request(3, 100.0)
    ready = 100.0 + provisioning + model_load
    # Then they count as desired at once, but serve only after the cold start, the endpoint Updating meanwhile
    assert fleet.desired == 3
    assert (fleet.serving(100.0), fleet.serving(ready - 0.1), fleet.serving(ready)) == (1, 1, 3)
    assert (fleet.status(ready - 0.1), fleet.status(ready)) == (UPDATING, IN_SERVICE)


@pytest.mark.parametrize(
    ("initial", "change", "refused_at", "accepted_at"),
    [(1, 3, 359.0, 360.0), (3, 2, 59.0, 60.0)],
    ids=["during a scale-out's cold start", "during a scale-in's termination"],
)
def test_a_change_while_updating_is_refused(
    initial: int, change: int, refused_at: float, accepted_at: float
) -> None:
    # Given a fleet whose capacity changed at 0
    fleet = Fleet(MODEL, initial)
    fleet.request(change, 0.0)
    instances = len(fleet.instances)
    # When another change is asked for while the endpoint is Updating
    with pytest.raises(UpdateRefused):
        fleet.request(initial, refused_at)
    # Then nothing changed, and the same change is accepted once the endpoint is InService
    assert (fleet.desired, len(fleet.instances)) == (change, instances)
    fleet.request(initial, accepted_at)
    assert fleet.desired == initial


@pytest.mark.parametrize(
    ("count", "stopped_warming", "stopped_serving"),
    [(3, 1, 0), (2, 2, 0), (1, 2, 1)],
    ids=["one fewer: a warming one", "two fewer: both warming", "three fewer: then a serving one"],
)
def test_scale_in_stops_warming_instances_first(
    count: int, stopped_warming: int, stopped_serving: int
) -> None:
    # Given 2 serving instances and 2 launched at 50 s, warming until 410 s
    fleet = Fleet(MODEL, 2)
    fleet.request(4, 50.0)
    # When the fleet is cut to `count` at 100 s (SageMaker refuses a change while Updating: only foresight
    # can cut a scale-out short)
    fleet.provision_ahead(count, 100.0)
    stopped = [i for i in fleet.instances if i.stopped_at is not None]
    warming = [i for i in stopped if i.ready_at > 100.0]
    serving = [i for i in stopped if i.ready_at <= 100.0]
    # Then the warming instances go first, unbilled from then on; a serving one is billed while it terminates
    assert (len(warming), len(serving)) == (stopped_warming, stopped_serving)
    assert all(i.terminated_at == 100.0 for i in warming)
    assert all(i.terminated_at == 160.0 for i in serving)
    assert fleet.serving(100.0) == 2 - stopped_serving
    assert fleet.serving(410.0) == count


@pytest.mark.parametrize(
    ("provisioning", "model_load", "now"),
    [(240.0, 120.0, 1000.0), (240.0, 120.0, 0.0), (0.0, 0.0, 500.0)],
    ids=["mid-replay", "at the start: billed before 0", "no cold start"],
)
def test_provision_ahead_serves_now_and_bills_the_cold_start_before_now(
    provisioning: float, model_load: float, now: float
) -> None:
    # Given one instance serving since 0
    model = EndpointModel(provisioning_s=provisioning, model_load_s=model_load)
    fleet = Fleet(model, 1)
    # When perfect foresight adds two at `now`
    fleet.provision_ahead(3, now)
    # Then they serve at once, the endpoint InService, and each is billed from one cold start before `now`
    assert (fleet.serving(now), fleet.status(now)) == (3, IN_SERVICE)
    assert fleet.billed_seconds(now + 100.0) == pytest.approx(
        (now + 100.0) + 2 * (provisioning + model_load + 100.0)
    )
