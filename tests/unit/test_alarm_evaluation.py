"""CloudWatch alarm evaluation against every example of the CloudWatch user guide's two tables
("How alarm state is evaluated when data is missing"): 0 is a datapoint within the threshold, X a breaching
one, - a missing one; oldest first; an evaluation range of 5."""

from __future__ import annotations

import pytest
from genai_autoscaler.domain.alarm_event import AlarmState
from genai_autoscaler_tools.sim.alarms import TreatMissingData, evaluate_alarm

ALARM, OK, NO_DATA = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
KEEP = "retain current state"
TREATMENTS = (
    TreatMissingData.MISSING,
    TreatMissingData.IGNORE,
    TreatMissingData.BREACHING,
    TreatMissingData.NOT_BREACHING,
)

# (datapoints, evaluation periods, datapoints to alarm,
#  expected with missing, ignore, breaching, notBreaching)
GUIDE = [
    ("0 - X - X", 3, 3, (OK, OK, OK, OK)),
    ("0 - - - -", 3, 3, (OK, OK, OK, OK)),
    ("- - - - -", 3, 3, (NO_DATA, KEEP, ALARM, OK)),
    ("0 X X - X", 3, 3, (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", 3, 3, (NO_DATA, KEEP, ALARM, OK)),
    ("X - - - -", 3, 3, (ALARM, KEEP, ALARM, OK)),
    ("0 - X - X", 3, 2, (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", 3, 2, (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", 3, 2, (OK, OK, ALARM, OK)),
    ("- - - - 0", 3, 2, (OK, OK, ALARM, OK)),
    ("- - - - X", 3, 2, (NO_DATA, KEEP, ALARM, OK)),
]

CASES = [
    pytest.param(points, n, m, treatment, expected, id=f"{points} {m} of {n} {treatment}")
    for points, n, m, outcomes in GUIDE
    for treatment, expected in zip(TREATMENTS, outcomes, strict=True)
]


@pytest.mark.parametrize(("points", "periods", "to_alarm", "treatment", "expected"), CASES)
@pytest.mark.parametrize("current", [AlarmState.OK, AlarmState.ALARM], ids=["was OK", "was ALARM"])
def test_the_user_guides_examples(
    points: str,
    periods: int,
    to_alarm: int,
    treatment: TreatMissingData,
    expected: object,
    current: AlarmState,
) -> None:
    datapoints = [{"0": False, "X": True, "-": None}[p] for p in points.split()]
    state = evaluate_alarm(datapoints, periods, to_alarm, treatment, current)
    assert state is (current if expected == KEEP else expected)


def test_datapoints_to_alarm_must_fit_the_evaluation_periods() -> None:
    with pytest.raises(ValueError, match=r"within 1\.\.3"):
        evaluate_alarm([True] * 5, 3, 4, TreatMissingData.MISSING, AlarmState.OK)
