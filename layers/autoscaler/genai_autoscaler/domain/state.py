"""What the controller remembers about a target, and what it observes of it now."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from genai_autoscaler.domain.bedrock import BedrockRoute
from genai_autoscaler.domain.digest import HeldNotifications, NotificationWindow
from genai_autoscaler.domain.forecast import DemandForecast
from genai_autoscaler.domain.plan import Plan
from genai_autoscaler.domain.returns import ReturnWindow
from genai_autoscaler.errors import LockHeld

IN_SERVICE = "InService"


class Lock(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str
    acquired_at: datetime
    expires_at: datetime

    def held_at(self, now: datetime) -> bool:
        return now < self.expires_at


class AppliedChange(BaseModel):
    """What a workflow changed, so that a failure can put it back."""

    model_config = ConfigDict(frozen=True)

    actuation: str
    previous: int
    new: int
    previous_max: int | None = None
    applied_at: datetime


class ApprovalRecord(BaseModel):
    """A person's answer to a commitment's approval request, with who AWS authenticated them as."""

    model_config = ConfigDict(frozen=True)

    execution: str  # the routing workflow it answers
    approved: bool
    by: str  # the caller's ARN, as IAM authenticated the request (never a name the caller typed)
    at: datetime
    reason: str | None = None
    commitment: str | None = None  # what was approved, as the request stated it
    model_units: int | None = None


class PauseRecord(BaseModel):
    """An operator's pause of a target (`genai-autoscaler pause`), with who AWS authenticated them as: the
    controller leaves the target alone until it is resumed, whatever the policy document says."""

    model_config = ConfigDict(frozen=True)

    by: str  # the caller's ARN, as STS reported it (never a name the caller typed)
    at: datetime
    reason: str


class EventFloor(BaseModel):
    """A planned event's capacity, held as a floor for its window: the controller may scale the target out
    above it, and scales it in no lower until the window ends (then back to what the load needs)."""

    model_config = ConfigDict(frozen=True)

    capacity: int
    until: datetime
    reason: str

    def active(self, now: datetime) -> bool:
        return now < self.until


class TargetState(BaseModel):
    """The controller's memory of one target (one DynamoDB item)."""

    model_config = ConfigDict(frozen=True)

    target_id: str
    lock: Lock | None = None
    last_scale_out_at: datetime | None = None
    last_scale_in_at: datetime | None = None
    # The capacity the controller last set or adopted; a different count observed later was set by someone else.
    last_known_capacity: int | None = None
    # How long the last scale-out took from decision to serving: the cold start the next one is sized across.
    cold_start_seconds: float | None = None
    # When the last scale-out was decided, if an alarm's figure sized it (not a plan a person started, a planned
    # event, the forecast or the ramp watch): what it added may be given back sooner (sagemaker_scale_in).
    alarm_scale_out_decided_at: datetime | None = None
    # A Bedrock model: how long its last Provisioned Throughput took from purchase to InService.
    provisioning_seconds: float | None = None
    # The demand the target's history says is coming (the forecaster's, hourly).
    forecast: DemandForecast | None = None
    # How long its demand takes to come back once it has fallen: the scale-in window its history asks for (the
    # forecaster's, hourly).
    scale_in_window: ReturnWindow | None = None
    # Application Auto Scaling: the MinCapacity the controller raised, and the one it found before.
    raised_floor: int | None = None
    original_floor: int | None = None
    manual_hold_until: datetime | None = None
    # Planned events' floors for their windows (app/scale_workflow.py; `genai-autoscaler event`): the highest
    # of those not over holds.
    event_floors: tuple[EventFloor, ...] = ()
    # The last answer to a commitment's approval request (app/approvals.py), which the purchase requires.
    approval: ApprovalRecord | None = None
    # An operator's pause, until they resume the target (app/operations.py).
    pause: PauseRecord | None = None
    # Reports about decisions: when the last went out, and what is held for the digest (domain/digest.py).
    last_notified_at: datetime | None = None
    held_notifications: HeldNotifications | None = None
    # On the stack's own item (STACK_NOTIFICATIONS): its count of reports in the current window.
    notification_window: NotificationWindow | None = None
    # The start of the INSUFFICIENT_DATA episode that has been reported, so that it is reported once.
    insufficient_data_reported_since: datetime | None = None
    # When the model last answered warm-up invocations (keep-warm), and when warm-up was last tried (its cooldown).
    last_warm_at: datetime | None = None
    last_warm_attempt_at: datetime | None = None
    # The change the lock holder is making, written before it is made: a retried or timed-out step finds it.
    applying: AppliedChange | None = None
    # Bedrock: where callers are sent (None: on-demand, never shifted), and when the route last changed.
    route: BedrockRoute | None = None
    last_shift_at: datetime | None = None
    # A Provisioned Throughput callers have just left, to delete after the drain by the lock's holder (kept
    # with the route, so that a retried publish finds it again).
    pending_release: str | None = None
    # Provisioned Throughput of this target that no route uses and that still bills (a commitment not over, a
    # deletion that failed), by ARN: when the sweeper last told the team, so that it tells them once a day.
    orphans_reported_at: dict[str, AwareDatetime] = {}
    version: int = 0

    def event_floor(self, now: datetime) -> EventFloor | None:
        """The planned event's floor that holds now: the highest of those whose window is not over."""
        active = [floor for floor in self.event_floors if floor.active(now)]
        return max(active, key=lambda floor: (floor.capacity, floor.until)) if active else None

    def held_by_hand_until(self, now: datetime) -> datetime | None:
        """When the hold after a change by hand ends, while it holds; None when none holds now."""
        until = self.manual_hold_until
        return until if until is not None and now < until else None

    def with_event_floor(self, floor: EventFloor, now: datetime) -> TargetState:
        """The state with `floor` among its floors, those that are over dropped (once: a retried step adds it
        once)."""
        kept = tuple(f for f in self.event_floors if f.active(now) and f != floor)
        return self.model_copy(update={"event_floors": (*kept, floor)})

    def lock_held(self, now: datetime) -> bool:
        return self.lock is not None and self.lock.held_at(now)

    @property
    def last_scale_at(self) -> datetime | None:
        times = [t for t in (self.last_scale_out_at, self.last_scale_in_at) if t is not None]
        return max(times) if times else None


class ScalableTargetFloor(BaseModel):
    """An Application Auto Scaling scalable target registered for the capacity dimension."""

    model_config = ConfigDict(frozen=True)

    min_capacity: int
    max_capacity: int


class ObservedCapacity(BaseModel):
    """The capacity of a SageMaker target as AWS describes it now."""

    model_config = ConfigDict(frozen=True)

    desired: int
    current: int
    status: str
    scalable_target: ScalableTargetFloor | None = None

    @property
    def in_service(self) -> bool:
        return self.status == IN_SERVICE


class ActionRecord(BaseModel):
    """One line of a target's history (a DynamoDB item under the target, expiring after 90 days)."""

    model_config = ConfigDict(frozen=True)

    target_id: str
    at: datetime
    action: str
    outcome: str
    reason: str
    from_capacity: int | None = None
    to_capacity: int | None = None
    execution: str | None = None
    error: str | None = None
    by: str | None = None  # the person who asked for it (their ARN), where one did


def acquire_lock(state: TargetState, owner: str, now: datetime, ttl: timedelta) -> TargetState:
    """The state with `owner` holding the lock for `ttl` from now; raises LockHeld if another holder's lock is
    still valid.

    Re-entrant for the same owner, so a retried workflow step does not lock itself out; it never shortens the
    owner's lock (the router takes it briefly before the workflow starts, which then takes it for its run).
    """
    held = state.lock
    if held is not None and held.held_at(now) and held.owner != owner:
        raise LockHeld(f"{state.target_id} is locked by {held.owner} until {held.expires_at.isoformat()}")
    if held is not None and held.owner == owner and held.held_at(now):
        return state.model_copy(
            update={"lock": held.model_copy(update={"expires_at": max(held.expires_at, now + ttl)})}
        )
    update: dict[str, object] = {"lock": Lock(owner=owner, acquired_at=now, expires_at=now + ttl)}
    if held is None or held.owner != owner:
        update["applying"] = None  # a change a dead workflow left behind is not the new holder's
    return state.model_copy(update=update)


def release_lock(state: TargetState, owner: str) -> TargetState:
    if state.lock is None or state.lock.owner != owner:
        return state
    return state.model_copy(update={"lock": None, "applying": None, "pending_release": None})


def applying_by(state: TargetState, owner: str) -> AppliedChange | None:
    """The change `owner` started, if it still holds the lock."""
    return state.applying if state.lock is not None and state.lock.owner == owner else None


def after_capacity_change(
    state: TargetState,
    change: AppliedChange,
    scaled_out: bool,
    now: datetime,
    decided_at: datetime | None = None,
    sized_by_alarm: bool = False,
) -> TargetState:
    """The state after a capacity change that reached InService: cooldowns start, the new baseline is known,
    and a scale-out decided at `decided_at` gives the time new capacity takes to serve (and, `sized_by_alarm`,
    when an alarm's figure asked for it)."""
    update: dict[str, object] = {"last_scale_out_at" if scaled_out else "last_scale_in_at": now}
    if scaled_out and decided_at is not None:
        update["cold_start_seconds"] = max(0.0, (now - decided_at).total_seconds())
    if scaled_out:
        update["alarm_scale_out_decided_at"] = decided_at if sized_by_alarm else None
    match change.actuation:
        case "set_capacity":
            update["last_known_capacity"] = change.new
        case "raise_floor":
            update["raised_floor"] = change.new
            if state.raised_floor is None:
                update["original_floor"] = change.previous
        case "restore_floor":
            reached_original = state.original_floor is not None and change.new <= state.original_floor
            update["raised_floor"] = None if reached_original else change.new
            if reached_original:
                update["original_floor"] = None
    return state.model_copy(update=update)


def after_failure(
    state: TargetState,
    scaled_out: bool,
    change: AppliedChange | None,
    observed_capacity: int | None,
    floor_now: int | None,
    now: datetime,
) -> TargetState:
    """The state after a failed workflow: the cooldown starts (no hammering), the baseline is what was left.

    `floor_now` is the Application Auto Scaling floor the failure left (after any restore); a floor above the
    one the controller found stays recorded as raised, so that a later scale-in lowers it.
    """
    update: dict[str, object] = {"last_scale_out_at" if scaled_out else "last_scale_in_at": now}
    if scaled_out:
        update["alarm_scale_out_decided_at"] = None  # nothing was added that could be given back sooner
    if observed_capacity is not None:
        update["last_known_capacity"] = observed_capacity
    if change is not None and change.actuation != "set_capacity" and floor_now is not None:
        original = state.original_floor
        if original is None and change.actuation == "raise_floor":
            original = change.previous
        if original is None or floor_now <= original:
            update |= {"raised_floor": None, "original_floor": None}
        else:
            update |= {"raised_floor": floor_now, "original_floor": original}
    return state.model_copy(update=update)


def remember_decision(state: TargetState, plan: Plan) -> TargetState:
    """The state after a decision that changed nothing in AWS but must not be repeated at once."""
    update: dict[str, object] = {}
    if plan.adopt_capacity is not None:
        # Someone else set the capacity: it is the new baseline, and a floor the controller had raised is
        # no longer the controller's to restore.
        update |= {
            "last_known_capacity": plan.adopt_capacity,
            "manual_hold_until": plan.manual_hold_until,
            "raised_floor": None,
            "original_floor": None,
        }
    if plan.insufficient_data_since is not None:
        update["insufficient_data_reported_since"] = plan.insufficient_data_since
    if plan.advisory:
        # What advisory mode reports follows the cadence real actions would: the same cooldowns apply.
        cooldown = {
            "scale_out": "last_scale_out_at",
            "scale_in": "last_scale_in_at",
            "warm": "last_warm_attempt_at",
            "shift_to_profile": "last_shift_at",
            "shift_to_priority_tier": "last_shift_at",
            "shift_to_provisioned": "last_shift_at",
            "revert_routing": "last_shift_at",
        }
        if plan.action.value in cooldown:
            update[cooldown[plan.action.value]] = plan.decided_at
        if plan.action.value == "scale_out":
            update["alarm_scale_out_decided_at"] = None  # reported, not added: nothing to give back sooner
    return state.model_copy(update=update) if update else state
