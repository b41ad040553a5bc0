"""The instances of one SageMaker variant over time: launched, warming, serving, terminating, and their bill.

SageMaker semantics the simulator keeps: a capacity change puts the endpoint in `Updating` until every new
instance serves (provisioning plus model load, `EndpointModel.cold_start_s`); a change asked for while it is
`Updating` is refused (ValidationException); `CurrentInstanceCount` counts instances that serve. Instances are
billed per second from the request that launched them until they terminate.
"""

from __future__ import annotations

from dataclasses import dataclass

from genai_autoscaler_tools.sim.endpoint import EndpointModel

IN_SERVICE = "InService"
UPDATING = "Updating"


class UpdateRefused(RuntimeError):
    """SageMaker refuses a capacity change while the endpoint is Updating."""


@dataclass
class Instance:
    launched_at: float
    ready_at: float
    stopped_at: float | None = None  # stops serving
    terminated_at: float | None = None  # stops billing

    def serving(self, now: float) -> bool:
        return self.ready_at <= now and (self.stopped_at is None or now < self.stopped_at)


class Fleet:
    """One variant's instances. Times are seconds from the start of the replay."""

    def __init__(self, model: EndpointModel, initial: int, now: float = 0.0):
        self.model = model
        self.instances = [Instance(launched_at=now, ready_at=now) for _ in range(initial)]
        self._live = list(self.instances)  # not stopped: what serving() looks at, every step
        self.desired = initial
        self.updating_until = now

    def active(self) -> list[Instance]:
        return list(self._live)

    def serving(self, now: float) -> int:
        return sum(1 for i in self._live if i.ready_at <= now)

    def status(self, now: float) -> str:
        return UPDATING if now < self.updating_until else IN_SERVICE

    def request(self, count: int, now: float) -> None:
        """UpdateEndpointWeightsAndCapacities(DesiredInstanceCount=count). Raises UpdateRefused while Updating."""
        if count < 0:
            raise ValueError(f"instance count must not be negative, got {count}")
        if self.status(now) == UPDATING:
            raise UpdateRefused("Cannot update in-progress endpoint")
        self._resize(count, now, launched_at=now, ready_at=now + self.model.cold_start_s)

    def provision_ahead(self, count: int, now: float) -> None:
        """Perfect foresight: `count` instances serve now, those added launched one cold start ago."""
        self._resize(count, now, launched_at=now - self.model.cold_start_s, ready_at=now)

    def _resize(self, count: int, now: float, launched_at: float, ready_at: float) -> None:
        active = self.active()
        if count > len(active):
            added = [Instance(launched_at=launched_at, ready_at=ready_at) for _ in range(count - len(active))]
            self.instances += added
            self._live += added
            self.updating_until = max(self.updating_until, ready_at)
        elif count < len(active):
            # The newest go first: instances still warming are cancelled before serving ones.
            for instance in sorted(active, key=lambda i: i.launched_at)[count:]:
                instance.stopped_at = now
                warming = instance.ready_at > now
                instance.terminated_at = now if warming else now + self.model.termination_s
            self._live = [i for i in self._live if i.stopped_at is None]
            self.updating_until = max(self.updating_until, now + self.model.termination_s)
        self.desired = count

    def billed_seconds(self, until: float) -> float:
        """Instance-seconds billed until `until` (from each launch, which foresight may put before 0)."""
        total = 0.0
        for i in self.instances:
            end = until if i.terminated_at is None else min(i.terminated_at, until)
            total += max(0.0, end - i.launched_at)
        return total

    def launches(self) -> int:
        return sum(1 for i in self.instances if i.launched_at != i.ready_at)
