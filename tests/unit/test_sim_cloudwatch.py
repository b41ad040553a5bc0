"""Simulated CloudWatch: a datapoint is invisible until its period ends plus the visibility delay, and alarms
evaluate what is visible as CloudWatch does (M of N, TreatMissingData), telling their listener of each change.

Pattern notation, one character a minute, oldest first: X a breaching minute (12 invocations on one instance,
threshold 6), 0 a minute within the threshold (3 invocations), - a minute without an instance (no
InvocationsPerInstance datapoint at all)."""

from __future__ import annotations

import pytest
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler_tools.sim.alarms import TreatMissingData
from genai_autoscaler_tools.sim.cloudwatch import (
    CONCURRENCY,
    INVOCATIONS,
    INVOCATIONS_PER_INSTANCE,
    MODEL_LATENCY,
    SimAlarm,
    SimCloudWatch,
)
from genai_autoscaler_tools.sim.endpoint import EndpointModel, RequestProfile, serve_step

ALARM, OK, NO_DATA = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
MODEL = EndpointModel()
PROFILE = RequestProfile.default()
PER_MINUTE = {"X": 12.0, "0": 3.0}
Transition = tuple[AlarmState, AlarmState, float]  # previous state, new state, when


def record_step(cloudwatch: SimCloudWatch, now: float, arrivals: float, instances: int) -> None:
    step_seconds = cloudwatch.step_seconds
    step = serve_step(MODEL, PROFILE, arrivals, instances, 0.0, step_seconds)
    cloudwatch.record(now, step, arrivals, instances)


def replay_minutes(cloudwatch: SimCloudWatch, pattern: str, minutes: int) -> None:
    """Record `pattern` (then minutes without an instance) and evaluate the alarms at every step boundary, as a
    replay does, up to `minutes` minutes."""
    dt = cloudwatch.step_seconds
    per_minute = pattern.split()
    for k in range(round(minutes * 60 / dt) + 1):
        now = k * dt
        cloudwatch.evaluate(now)
        minute = int(now // 60)
        mark = per_minute[minute] if minute < len(per_minute) else "-"
        if mark == "-":
            record_step(cloudwatch, now, 1.0, 0)
        else:
            record_step(cloudwatch, now, PER_MINUTE[mark] * dt / 60, 1)


def invocations_alarm(
    transitions: list[Transition], treat_missing: TreatMissingData = TreatMissingData.MISSING
) -> SimAlarm:
    """3 of 3 one-minute periods of InvocationsPerInstance above 6; each change appended to `transitions`."""

    def listener(alarm: SimAlarm, previous: AlarmState, now: float) -> None:
        transitions.append((previous, alarm.state, now))

    return SimAlarm(
        "invocations-high",
        INVOCATIONS_PER_INSTANCE,
        "Sum",
        60,
        3,
        3,
        6.0,
        "GreaterThanThreshold",
        treat_missing,
        listener,
    )


@pytest.mark.parametrize(
    ("key", "period", "delay"),
    [
        (f"{INVOCATIONS_PER_INSTANCE}/Sum", 60, 0.0),
        (f"{INVOCATIONS_PER_INSTANCE}/Sum", 60, 30.0),
        (f"{INVOCATIONS_PER_INSTANCE}/Sum", 60, 60.0),
        (f"{CONCURRENCY}/Maximum", 10, 0.0),
        (f"{CONCURRENCY}/Maximum", 10, 10.0),
    ],
    ids=["1 min, no delay", "1 min, 30 s", "1 min, 60 s", "10 s, no delay", "10 s, 10 s"],
)
def test_a_datapoint_is_invisible_until_its_period_ends_plus_the_delay(
    key: str, period: int, delay: float
) -> None:
    # Given a minute of load on one instance, its datapoints published `delay` after each period ends
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=delay, high_resolution_delay_s=delay)
    for k in range(6):
        record_step(cloudwatch, k * 10.0, 2.0, 1)
    visible_at = period + delay
    # Then the first period's datapoint can be read from its end plus the delay, not a second earlier
    assert cloudwatch.visible(key, period, 0.0, visible_at - 1) is None
    assert cloudwatch.visible(key, period, 0.0, visible_at) is not None
    # And so for the peak the controller reads (GetMetricData)
    assert cloudwatch.peak(key, period, 0.0, visible_at - 1) is None
    assert cloudwatch.peak(key, period, 0.0, visible_at) == cloudwatch.visible(key, period, 0.0, visible_at)


@pytest.mark.parametrize(
    ("pattern", "delay", "expected"),
    [
        ("X X X X X X X X", 0.0, [(NO_DATA, ALARM, 180.0)]),
        ("X X X X X X X X", 30.0, [(NO_DATA, ALARM, 240.0)]),
        ("X X X X X X X X", 60.0, [(NO_DATA, ALARM, 240.0)]),
        ("X X X X X X X X", 90.0, [(NO_DATA, ALARM, 300.0)]),
        ("X X 0 X X X X X", 0.0, [(NO_DATA, OK, 180.0), (OK, ALARM, 360.0)]),
        ("X X 0 X X 0 X X", 0.0, [(NO_DATA, OK, 180.0)]),
    ],
    ids=[
        "breaching from 0, no delay",
        "delay 30 s: the third datapoint misses the 180 s evaluation",
        "delay 60 s",
        "delay 90 s",
        "a dip resets the count",
        "never three in a row",
    ],
)
def test_three_of_three_alarms_only_after_three_breaching_visible_datapoints(
    pattern: str, delay: float, expected: list[Transition]
) -> None:
    # Given an alarm of 3 of 3 one-minute periods, evaluated every minute
    transitions: list[Transition] = []
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=delay)
    cloudwatch.add_alarm(invocations_alarm(transitions))
    # When the minutes of `pattern` pass
    replay_minutes(cloudwatch, pattern, 8)
    # Then it goes to ALARM at the first evaluation that sees three breaching datapoints in a row, not before
    assert transitions == expected


@pytest.mark.parametrize(
    ("high_resolution_delay", "expected_at"),
    [(0.0, 30.0), (5.0, 40.0), (10.0, 40.0)],
    ids=["no delay", "5 s: seen at the next 10 s evaluation", "10 s"],
)
def test_a_high_resolution_alarm_is_evaluated_every_10_seconds(
    high_resolution_delay: float, expected_at: float
) -> None:
    # Given an alarm of 3 of 3 ten-second periods of peak concurrency above 6, and an instance flooded from 0
    transitions: list[Transition] = []

    def listener(alarm: SimAlarm, previous: AlarmState, now: float) -> None:
        transitions.append((previous, alarm.state, now))

    cloudwatch = SimCloudWatch(10.0, high_resolution_delay_s=high_resolution_delay)
    cloudwatch.add_alarm(
        SimAlarm(
            "concurrency-high",
            CONCURRENCY,
            "Maximum",
            10,
            3,
            3,
            6.0,
            "GreaterThanThreshold",
            TreatMissingData.MISSING,
            listener,
        )
    )
    # When the steps pass
    for k in range(10):
        cloudwatch.evaluate(k * 10.0)
        record_step(cloudwatch, k * 10.0, 100.0, 1)
    # Then it alarms at the first 10 s boundary at which the third period [20 s, 30 s) is visible
    assert transitions == [(NO_DATA, ALARM, expected_at)]


@pytest.mark.parametrize(
    ("treat_missing", "expected"),
    [
        (TreatMissingData.MISSING, [(NO_DATA, ALARM, 180.0), (ALARM, NO_DATA, 480.0)]),
        (TreatMissingData.IGNORE, [(NO_DATA, ALARM, 180.0)]),
        (TreatMissingData.BREACHING, [(NO_DATA, ALARM, 0.0)]),
        (TreatMissingData.NOT_BREACHING, [(NO_DATA, OK, 0.0), (OK, ALARM, 180.0), (ALARM, OK, 360.0)]),
    ],
    ids=[str(t) for t in TreatMissingData],
)
def test_missing_data_is_treated_as_the_alarm_says(
    treat_missing: TreatMissingData, expected: list[Transition]
) -> None:
    # Given three breaching minutes, then none with an instance (no datapoint); no visibility delay
    transitions: list[Transition] = []
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=0.0)
    cloudwatch.add_alarm(invocations_alarm(transitions, treat_missing))
    # When ten minutes pass
    replay_minutes(cloudwatch, "X X X", 10)
    # Then the alarm moves as the user guide's rules say for that treatment, over an evaluation range of 5:
    # missing: ALARM once three are seen, held while the oldest of the range breaches, then INSUFFICIENT_DATA;
    # ignore: ALARM, kept without data; breaching: ALARM at once; notBreaching: OK until three are seen,
    # OK again once one of the last three is missing
    assert transitions == expected


def test_a_minute_without_requests_has_no_invocations_datapoint() -> None:
    # Given an instance serving 12 requests in the first minute and none in the second (SageMaker sends
    # Invocations with each request: CloudWatch has no datapoint for a minute without one)
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=0.0)
    for k in range(12):
        record_step(cloudwatch, 10.0 * k, 2.0 if k < 6 else 0.0, 1)
    # Then Invocations and InvocationsPerInstance have the first minute's datapoint only, and the concurrency its
    # every 10-second period (the endpoint publishes it while an instance serves)
    for metric in (f"{INVOCATIONS}/Sum", f"{INVOCATIONS_PER_INSTANCE}/Sum"):
        assert cloudwatch.datapoints(metric, 60, 0.0, 120.0, 200.0) == [(0.0, 12.0)]
    assert len(cloudwatch.datapoints(f"{CONCURRENCY}/Maximum", 10, 0.0, 120.0, 200.0)) == 12


def test_the_listener_hears_each_change_once_with_the_state_before_it() -> None:
    # Given an alarm whose state is also read after every evaluation
    transitions: list[Transition] = []
    alarm = invocations_alarm(transitions, TreatMissingData.MISSING)
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=30.0)
    cloudwatch.add_alarm(alarm)
    seen: list[Transition] = []
    state = alarm.state
    # When load comes and goes for 20 minutes, with a gap without instances
    minutes = list("XXXX000XXX------XXX0")
    for k in range(20 * 6 + 1):
        now = k * 10.0
        cloudwatch.evaluate(now)
        if alarm.state is not state:
            seen.append((state, alarm.state, now))
            state = alarm.state
        mark = minutes[int(now // 60)] if now < 1200 else "-"
        instances = 0 if mark == "-" else 1
        record_step(cloudwatch, now, PER_MINUTE.get(mark, 1.0) / 6, instances)
    # Then the listener was called exactly at the changes, each with the state it left
    assert len(seen) >= 4
    assert transitions == seen
    assert all(previous is not new for previous, new, _ in transitions)
    assert alarm.since == transitions[-1][2]


@pytest.mark.parametrize(
    ("step_seconds", "loads", "expected"),
    [
        pytest.param(10.0, ["low", "high"], ["low", "high"], id="10 s steps"),
        pytest.param(
            5.0,
            ["low", "high", "high", "low"],
            ["high", "high"],
            id="5 s steps: the Maximum of the period's two",
        ),
        pytest.param(
            20.0,
            ["high", "low"],
            ["high", "high", "low", "low"],
            id="20 s steps: each 10 s period of the step",
        ),
    ],
)
def test_every_10_second_period_has_its_busiest_moment(
    step_seconds: float, loads: list[str], expected: list[str]
) -> None:
    # Given what one 10 s step of each load publishes: a tenth and 85% of what the instance completes flat out
    # (below full load a step's concurrency depends on its rate, not on its length)
    per_10_s = (
        MODEL.concurrency_per_instance
        / float(PROFILE.service_times(MODEL, MODEL.concurrency_per_instance).mean())
        * 10
    )
    arrivals = {"low": 0.1 * per_10_s, "high": 0.85 * per_10_s}
    reference = SimCloudWatch(10.0, high_resolution_delay_s=0.0)
    for k, load in enumerate(("low", "high")):
        record_step(reference, k * 10.0, arrivals[load], 1)
    key = f"{CONCURRENCY}/Maximum"
    value = {load: reference.visible(key, 10, k * 10.0, 60.0) for k, load in enumerate(("low", "high"))}
    assert value["low"] is not None
    assert value["high"] is not None
    assert value["low"] < value["high"]
    # When a CloudWatch with other steps records the same loads (arrivals scaled to the step)
    cloudwatch = SimCloudWatch(step_seconds, high_resolution_delay_s=0.0)
    for k, load in enumerate(loads):
        record_step(cloudwatch, k * step_seconds, arrivals[load] * step_seconds / 10, 1)
    # Then each 10 s period reads the busiest step that overlaps it
    read = [cloudwatch.visible(key, 10, 10.0 * k, 600.0) for k in range(len(expected))]
    assert read == [pytest.approx(value[load]) for load in expected]


def test_model_latency_average_is_the_mean_latency_of_the_minutes_requests() -> None:
    # Given an idle instance serving the default profile's requests for a minute (no wait: each request's
    # latency is its service time)
    cloudwatch = SimCloudWatch(10.0, visibility_delay_s=0.0)
    for k in range(6):
        record_step(cloudwatch, 10.0 * k, 0.05, 1)
    # Then the minute's Average is the mean service time, in microseconds as SageMaker sends ModelLatency,
    # within the latency grid's resolution (4.5% between points), and below its p95
    alone = float(PROFILE.service_times(MODEL, 1.0).mean())
    [(_, average)] = cloudwatch.datapoints(f"{MODEL_LATENCY}/Average", 60, 0.0, 60.0, 200.0)
    [(_, p95)] = cloudwatch.datapoints(f"{MODEL_LATENCY}/p95", 60, 0.0, 60.0, 200.0)
    assert average == pytest.approx(alone * 1e6, rel=0.03)
    assert average < p95


@pytest.mark.parametrize("sigmas", [0.0, 0.5, 1.645, 3.0])
def test_the_concurrency_maximum_reads_the_mean_plus_the_models_sigmas(sigmas: float) -> None:
    # Given a step of an instance at half its throughput, recorded by CloudWatches that read the Maximum with
    # `sigmas`
    step = serve_step(MODEL, PROFILE, 2.0, 1, 0.0, 10.0)
    cloudwatch = SimCloudWatch(10.0, high_resolution_delay_s=0.0, peak_sigmas=sigmas)
    cloudwatch.record(0.0, step, 2.0, 1)
    # Then its 10 s Maximum is the mean in flight plus that many standard deviations of a Poisson count
    mean = step.concurrency_per_instance
    assert cloudwatch.visible(f"{CONCURRENCY}/Maximum", 10, 0.0, 60.0) == pytest.approx(
        mean + sigmas * mean**0.5
    )
