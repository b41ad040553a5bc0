"""The Provisioned Throughput sweeper (app/sweeper.py) on in-memory ports and the fake Bedrock client: what the
controller bought and nothing uses is deleted, or reported once a day while Bedrock will not let it go."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.app.sweeper import GRACE_SECONDS, UNTARGETED, SweepReport, sweep_provisioned
from genai_autoscaler.aws.bedrock_provisioned import BedrockProvisionedThroughputs
from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind
from genai_autoscaler.domain.notifications import SUBJECT_LIMIT
from genai_autoscaler.domain.provisioned import SweepVerdict, purchase_prefix
from genai_autoscaler.domain.routes import PublishedRoute
from genai_autoscaler.domain.signals import TAG_MANAGED_BY, TAG_TARGET
from genai_autoscaler.domain.state import Lock
from genai_autoscaler.errors import TransientAwsError
from genai_autoscaler_local.bedrock_fake import FakeBedrock
from genai_autoscaler_local.clock import SimClock
from genai_autoscaler_tools.memory import (
    MemoryPolicies,
    MemoryRoutes,
    RecordingNotifier,
    StaticController,
    memory_controller,
)

from tests.unit.bedrock_fixtures import DAY, MODEL

STACK = "genai-autoscaler"
TARGET_ID = f"bedrock/{MODEL}"
OTHER_MODEL = "meta.llama3-70b-instruct-v1:0"
OTHER_ID = f"bedrock/{OTHER_MODEL}"
HOUR = 3600


def bedrock_policy(model_id: str = MODEL) -> dict[str, Any]:
    return {"type": "bedrock_model", "model_id": model_id}


class World:
    """The controller's Bedrock side: policies, routes, state and the fake Bedrock, on a simulated clock."""

    def __init__(self, clock: SimClock, bedrock: FakeBedrock):
        self.clock, self.bedrock = clock, bedrock
        self.throughputs = BedrockProvisionedThroughputs(bedrock)
        self.routes = MemoryRoutes()
        base = memory_controller(
            document={"targets": [bedrock_policy(), bedrock_policy(OTHER_MODEL)]},
            settings=ControllerSettings(stack_name=STACK),
            clock=clock,
        )
        self.ctl: StaticController = dataclasses.replace(
            base, routes=self.routes, provisioned=self.throughputs
        )

    def buy(
        self,
        name: str,
        target_id: str | None = TARGET_ID,
        commitment: str | None = None,
        stack: str = STACK,
        model_id: str = MODEL,
    ) -> str:
        tags = {TAG_MANAGED_BY: stack}
        if target_id is not None:
            tags[TAG_TARGET] = target_id
        return self.throughputs.create(model_id, 2, f"{purchase_prefix(stack)}{name}", commitment, name, tags)

    def sweep(self) -> SweepReport:
        return sweep_provisioned(self.ctl, self.clock.now())

    def route_callers_to(self, arn: str, model_id: str = MODEL) -> None:
        self.routes.publish(
            model_id,
            PublishedRoute(model_id=arn, kind=RouteKind.PROVISIONED, since=self.clock.now(), target=model_id),
        )

    def remember_route(self, arn: str, target_id: str = TARGET_ID) -> None:
        route = BedrockRoute(
            kind=RouteKind.PROVISIONED, model=arn, since=self.clock.now(), provisioned_model_arn=arn
        )
        self.ctl.state.update(target_id, lambda s: s.model_copy(update={"route": route}))

    def lock(self, target_id: str = TARGET_ID, minutes: int = 90) -> None:
        now = self.clock.now()
        held = Lock(owner="shift-1", acquired_at=now, expires_at=now + timedelta(minutes=minutes))
        self.ctl.state.update(target_id, lambda s: s.model_copy(update={"lock": held}))

    @property
    def notifications(self) -> list[tuple[str, str]]:
        notifier = self.ctl.notifier
        assert isinstance(notifier, RecordingNotifier)
        return notifier.published

    def exists(self, arn: str) -> bool:
        return arn in self.bedrock.provisioned_model_arns()

    def verdicts(self, report: SweepReport) -> dict[str, SweepVerdict]:
        return {finding.arn: finding.verdict for finding in report.findings}


@pytest.fixture
def world(clock: SimClock, bedrock: FakeBedrock) -> World:
    return World(clock, bedrock)


def test_an_orphan_is_deleted_recorded_and_reported(world: World) -> None:
    # Given a Provisioned Throughput the controller bought an hour ago, which no route uses
    orphan = world.buy("shift-1")
    world.clock.advance(HOUR)

    # When the sweeper runs
    report = world.sweep()

    # Then it is deleted, the target's history says so, and the team is told once, with what and why
    assert report.deleted == [orphan]
    assert report.errors == []
    assert not world.exists(orphan)
    (record,) = world.ctl.state.history(TARGET_ID)
    assert (record.action, record.outcome) == ("sweep_provisioned", "deleted")
    assert orphan in record.reason
    ((subject, message),) = world.notifications
    assert subject == "GenAI Autoscaler: unused Provisioned Throughput 1 deleted"
    assert orphan in message
    assert "billing stopped" in message
    assert "no route uses it" in message


@pytest.mark.parametrize(
    ("in_ssm", "in_state"),
    [(True, False), (False, True), (True, True)],
    ids=["route parameter", "remembered route", "both"],
)
def test_a_routed_provisioned_throughput_is_kept(world: World, in_ssm: bool, in_state: bool) -> None:
    # Given callers routed to a Provisioned Throughput, by the route parameter and/or the remembered route
    routed = world.buy("shift-1")
    world.clock.advance(DAY)
    if in_ssm:
        world.route_callers_to(routed)
    if in_state:
        world.remember_route(routed)

    # When the sweeper runs
    report = world.sweep()

    # Then it is kept, and nobody is bothered
    assert world.verdicts(report) == {routed: SweepVerdict.KEEP}
    assert world.exists(routed)
    assert world.notifications == []


def test_the_provisioned_throughput_of_a_locked_target_is_kept(world: World) -> None:
    # Given a routing workflow holding the model's lock, its purchase not routed yet
    buying = world.buy("shift-1")
    world.clock.advance(HOUR)
    world.lock(minutes=60)

    # When the sweeper runs while the lock is held
    held = world.sweep()
    # and again once it has expired (the workflow died)
    world.clock.advance(2 * HOUR)
    expired = world.sweep()

    # Then it is kept while a workflow may be using it, and deleted after
    assert world.verdicts(held) == {buying: SweepVerdict.KEEP}
    assert "workflow" in held.findings[0].reason
    assert expired.deleted == [buying]


def test_a_young_provisioned_throughput_is_kept(world: World) -> None:
    # Given a purchase made a moment ago, with no lock and no route
    young = world.buy("shift-1")
    world.clock.advance(GRACE_SECONDS - 60)

    # When the sweeper runs
    report = world.sweep()

    # Then it is given its grace, silently
    assert world.verdicts(report) == {young: SweepVerdict.KEEP}
    assert world.exists(young)
    assert world.notifications == []


def test_a_committed_orphan_is_reported_once_a_day_and_not_deleted(world: World) -> None:
    # Given an orphan bought with a one-month commitment
    committed = world.buy("shift-1", commitment="OneMonth")
    world.clock.advance(HOUR)

    # When the sweeper runs, then again an hour later, then a day after the first report
    first = world.sweep()
    world.clock.advance(HOUR)
    second = world.sweep()
    world.clock.advance(DAY - HOUR)
    third = world.sweep()

    # Then it is never deleted (Bedrock would refuse), and the team hears of it on the first and third runs only
    assert world.exists(committed)
    assert [r.reported for r in (first, second, third)] == [[committed], [], [committed]]
    assert all(world.verdicts(r) == {committed: SweepVerdict.REPORT} for r in (first, second, third))
    assert len(world.notifications) == 2
    subject, message = world.notifications[0]
    assert subject == "GenAI Autoscaler: unused Provisioned Throughput 1 still billing"
    assert "STILL BILLING" in message
    assert "OneMonth" in message
    assert "Bills until: at least" in message
    # and the target's state remembers when
    assert world.ctl.state.load(TARGET_ID).orphans_reported_at == {committed: world.clock.now()}


def test_a_failed_deletion_does_not_stop_the_others_and_is_reported(world: World) -> None:
    # Given two orphans, and Bedrock refusing the first deletion it is asked for
    first, second = world.buy("shift-1"), world.buy("shift-2", target_id=OTHER_ID, model_id=OTHER_MODEL)
    world.clock.advance(HOUR)
    world.bedrock.refuse_next("DeleteProvisionedModelThroughput", "ThrottlingException", "Rate exceeded")

    # When the sweeper runs
    report = world.sweep()

    # Then the other is deleted, and the failure is in the report and in the one notification
    assert report.deleted == [second]
    assert world.exists(first)
    assert not world.exists(second)
    (error,) = report.errors
    assert first in error
    assert "Rate exceeded" in error
    ((subject, message),) = world.notifications
    assert subject == "GenAI Autoscaler: unused Provisioned Throughput 1 deleted, 1 still billing"
    assert "COULD NOT BE DELETED" in message
    assert "Rate exceeded" in message

    # And when the next sweep succeeds, the first is deleted and nothing is left remembered
    world.clock.advance(1800)
    assert world.sweep().deleted == [first]
    assert world.ctl.state.load(TARGET_ID).orphans_reported_at == {}


def test_a_model_whose_policy_was_removed_keeps_its_routed_provisioned_throughput(world: World) -> None:
    # Given a model routed to its Provisioned Throughput, and another orphan of it, then its policy removed
    routed, orphan = world.buy("shift-1"), world.buy("shift-2")
    world.route_callers_to(routed)
    world.clock.advance(HOUR)
    world.ctl = dataclasses.replace(world.ctl, policies=MemoryPolicies({"targets": []}))

    # When the sweeper runs
    report = world.sweep()

    # Then the routed one is kept (the PT's tag names the model), and the orphan deleted
    assert world.verdicts(report) == {routed: SweepVerdict.KEEP, orphan: SweepVerdict.DELETE}
    assert report.deleted == [orphan]


@pytest.mark.parametrize(
    "given",
    ["nothing bought", "another stack's", "routed"],
)
def test_nothing_to_do_notifies_nobody(world: World, given: str) -> None:
    # Given no orphan of this stack
    if given == "another stack's":
        world.buy("shift-1", stack="someone-else")
    elif given == "routed":
        world.route_callers_to(world.buy("shift-1"))
    world.clock.advance(DAY)

    # When the sweeper runs
    report = world.sweep()

    # Then nothing is deleted, reported or written
    assert report.deleted == report.reported == report.errors == []
    assert world.notifications == []
    assert world.ctl.state.history(TARGET_ID) == []


def test_a_controller_without_bedrock_ports_sweeps_nothing(world: World) -> None:
    world.buy("shift-1")
    world.clock.advance(DAY)
    for missing in ({"routes": None}, {"provisioned": None}):
        ctl = dataclasses.replace(world.ctl, **missing)
        assert sweep_provisioned(ctl, world.clock.now()) == SweepReport()
    assert len(world.bedrock.provisioned_model_arns()) == 1


def test_an_invalid_policy_document_deletes_nothing(world: World) -> None:
    # Given an orphan, and a policy document that does not validate
    orphan = world.buy("shift-1")
    world.clock.advance(DAY)
    world.ctl = dataclasses.replace(
        world.ctl, policies=MemoryPolicies({"targets": [{"type": "bedrock_model"}]})
    )

    # When the sweeper runs
    report = world.sweep()

    # Then it deletes nothing and says why
    assert world.exists(orphan)
    assert report.findings == []
    (error,) = report.errors
    assert "policy document is invalid" in error


class FlakyRoutes(MemoryRoutes):
    """Routes whose parameter cannot be read for one model."""

    def current(self, model_id: str) -> PublishedRoute | None:
        if model_id == MODEL:
            raise TransientAwsError("ThrottlingException reading the route")
        return super().current(model_id)


def test_a_target_whose_route_cannot_be_read_keeps_its_provisioned_throughput(world: World) -> None:
    # Given orphans of two models, and the route of the first unreadable
    unknown, orphan = world.buy("shift-1"), world.buy("shift-2", target_id=OTHER_ID, model_id=OTHER_MODEL)
    world.clock.advance(DAY)
    world.ctl = dataclasses.replace(world.ctl, routes=FlakyRoutes())

    # When the sweeper runs
    report = world.sweep()

    # Then what might be in use is kept, the rest is swept, and the problem is in the report
    assert world.verdicts(report) == {unknown: SweepVerdict.KEEP, orphan: SweepVerdict.DELETE}
    assert world.exists(unknown)
    (error,) = report.errors
    assert TARGET_ID in error


def test_an_untargeted_orphan_is_swept_and_its_reports_remembered(world: World) -> None:
    # Given the stack's PTs with no target tag: one hourly, one committed
    hourly = world.buy("by-hand-1", target_id=None)
    committed = world.buy("by-hand-2", target_id=None, commitment="SixMonths")
    world.clock.advance(HOUR)

    # When the sweeper runs twice in a row
    first, second = world.sweep(), world.sweep()

    # Then the hourly one is deleted, the committed one reported once, remembered in a state of its own
    assert first.deleted == [hourly]
    assert (first.reported, second.reported) == ([committed], [])
    assert world.ctl.state.load(UNTARGETED).orphans_reported_at == {committed: world.clock.now()}
    assert "none (it has no genai-autoscaler:target tag)" in world.notifications[0][1]


def test_the_notification_subject_fits_sns(world: World) -> None:
    for n in range(12):
        world.buy(f"shift-{n}", commitment="OneMonth" if n % 2 else None)
    world.clock.advance(DAY)
    world.sweep()
    ((subject, _),) = world.notifications
    assert len(subject) <= SUBJECT_LIMIT
    assert subject.isascii()
    assert subject == "GenAI Autoscaler: unused Provisioned Throughput 6 deleted, 6 still billing"
