"""CloudWatch alarm evaluation, as the simulator needs it: M out of N datapoints, and missing data.

The rules are those of the CloudWatch user guide ("How alarm state is evaluated when data is missing"):
CloudWatch reads an evaluation range of recent periods (5 in the guide's examples), then

1. with at least N real datapoints in the range, judges the N most recent of them;
2. otherwise, for `breaching` and `notBreaching`, fills in as few missing datapoints as needed to make N;
3. otherwise, for `missing` and `ignore`: ALARM if the real breaching datapoints already reach M, OK if any
   real datapoint is not breaching; else `ignore` keeps the current state, and `missing` goes to ALARM when
   the oldest datapoint of the range is breaching and to INSUFFICIENT_DATA otherwise.

Rule 3's last clause is the guide's own explanation of its examples. Every example of both of its tables (3 of
3, and 2 of 3, over a range of 5) is a test (tests/unit/test_alarm_evaluation.py); the rules are what those
examples require, not AWS's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from genai_autoscaler.domain.alarm_event import AlarmState

EVALUATION_RANGE = 5  # datapoints read per evaluation in the guide's examples


class TreatMissingData(StrEnum):
    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


def evaluate_alarm(
    breaching: Sequence[bool | None],
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing: TreatMissingData,
    current: AlarmState,
) -> AlarmState:
    """The alarm's next state from the datapoints of its evaluation range, oldest first.

    Each datapoint is True (breaching), False (not breaching) or None (missing).
    """
    if not 1 <= datapoints_to_alarm <= evaluation_periods:
        raise ValueError(f"datapoints to alarm {datapoints_to_alarm} must be within 1..{evaluation_periods}")
    real = [point for point in breaching if point is not None]
    if len(real) >= evaluation_periods:
        recent = real[-evaluation_periods:]
        return AlarmState.ALARM if sum(recent) >= datapoints_to_alarm else AlarmState.OK
    if treat_missing in (TreatMissingData.BREACHING, TreatMissingData.NOT_BREACHING):
        filled = [*real, *[treat_missing is TreatMissingData.BREACHING] * (evaluation_periods - len(real))]
        return AlarmState.ALARM if sum(filled) >= datapoints_to_alarm else AlarmState.OK
    if sum(real) >= datapoints_to_alarm:
        return AlarmState.ALARM
    if any(point is False for point in real):
        return AlarmState.OK
    if treat_missing is TreatMissingData.IGNORE:
        return current
    return AlarmState.ALARM if breaching and breaching[0] is True else AlarmState.INSUFFICIENT_DATA
