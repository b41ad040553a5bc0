"""A Bedrock model's decision: where its callers' traffic goes. The ladder itself is `domain.bedrock`'s (climb
when a signal fires, descend once every signal has stayed OK); this module puts its choice in a Plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from genai_autoscaler.domain.alarm_event import SignalReading
from genai_autoscaler.domain.bedrock import (
    BedrockDemand,
    BedrockRoute,
    RoutingChoice,
    ServiceTier,
    climb,
    descend,
    disallowed,
    on_demand,
)
from genai_autoscaler.domain.decision.core import Decision, figures
from genai_autoscaler.domain.plan import ROUTING_ACTIONS, Action, Plan
from genai_autoscaler.domain.policy import BedrockModelPolicy
from genai_autoscaler.domain.signals import Signal
from genai_autoscaler.domain.state import Lock


def decide(decision: Decision, policy: BedrockModelPolicy, demand: BedrockDemand) -> Plan:
    """The routing plan for a Bedrock model that is not paused, from its recent `demand`."""
    return decision.follow(_Routing(decision, policy, demand))


@dataclass(frozen=True)
class _Routing:
    """The steps of `Decision.follow` for a Bedrock model."""

    decision: Decision
    policy: BedrockModelPolicy
    demand: BedrockDemand

    @property
    def route(self) -> BedrockRoute:
        """Where the callers are sent now: on-demand unless a shift was remembered."""
        return self.decision.state.route or on_demand(self.policy, self.decision.now)

    def in_progress(self, lock: Lock) -> str:
        return f"A routing change of {self.policy.name} is in progress ({lock.owner})."

    def settling(self) -> Plan | None:
        return None  # a model has no capacity of its own to settle or for a person to change

    def _climb(self, alarming: frozenset[Signal]) -> RoutingChoice:
        """The ladder's next rung for the `alarming` signals, from where callers are now."""
        decision = self.decision
        return climb(
            self.policy, self.route, self.demand, decision.state.last_shift_at, decision.now, alarming
        )

    def leave(self) -> Plan | None:
        """Callers off a route the policy no longer allows (a profile it no longer names or lets data leave the
        geography to, the Priority tier it no longer offers): straight back to the model at the Standard tier."""
        why = disallowed(self.policy, self.route)
        if why is None:
            return None
        choice = RoutingChoice(
            "revert_routing",
            f"{why}: route callers back to {self.policy.model_id} at the Standard tier",
            route_to=self.policy.model_id,
            hourly_cost_usd=0.0,
            service_tier=ServiceTier.DEFAULT,
        )
        return self._plan(choice, f"Callers are {self.route.describe} ({self.policy.name})", {})

    def alarming(self, alarming: list[SignalReading]) -> Plan:
        """Up the ladder, on the first firing signal; only the alarm's first firing is told when it cannot."""
        decision, policy = self.decision, self.policy
        if (left := self.leave()) is not None:
            return left
        lead = alarming[0]
        if self.route.rung is not None and all(r.signal is Signal.TOKEN_QUOTA for r in alarming):
            # The token-quota alarm warns that the model's own on-demand quota is near: callers sent elsewhere
            # no longer rely on it (a throttle where they are, measured every minute, moves them on).
            return decision.ignore(
                f"{lead.describe()}; callers are {self.route.describe}, off the model's own on-demand quota "
                "this alarm watches: a throttle there would move them on."
            )
        choice = self._climb(frozenset(reading.signal for reading in alarming))
        if choice.action == Action.NOTIFY_ONLY and not decision.newly_alarming:
            return decision.ignore(f"{lead.describe()}; {choice.reason}.", **figures(lead))
        return self._plan(choice, f"{lead.describe()} on {policy.name}", figures(lead))

    def recovering(self, reading: SignalReading) -> Plan:
        return self.decision.ignore(
            f"{reading.describe()}; {self.policy.name} routes back once every signal has stayed OK "
            f"for {self.policy.bedrock.hold_seconds} s."
        )

    def missing(self, missing: list[SignalReading]) -> Plan:
        return self.unwatched()

    def unwatched(self) -> Plan:
        return self.decision.ignore(f"Not every signal of {self.policy.name} has data: its routing is held.")

    def calm(self) -> Plan:
        """Down the ladder, once every signal has stayed OK for the hold and demand fits on-demand; but up it
        when the route itself throttles (its metrics are under its own ID, which the model's alarms do not
        watch: a profile's, a Provisioned Throughput's)."""
        decision, policy = self.decision, self.policy
        if (left := self.leave()) is not None:
            return left
        throttled = self.demand.throttled_per_minute
        if (
            self.route.rung is not None
            and throttled is not None
            and throttled >= policy.bedrock.throttles_per_minute
        ):
            choice = self._climb(frozenset({Signal.THROTTLES}))
            lead = f"{throttled:,.0f} requests/min throttled on {self.route.describe}"
            if choice.action in (Action.NOTIFY_ONLY, Action.IGNORE):
                return decision.ignore(f"{lead}; {choice.reason}.")
            return self._plan(choice, f"{lead} ({policy.name})", {})
        ok_since = max(r.since for r in decision.readings)
        choice = descend(
            self.policy, self.route, self.demand, ok_since, decision.state.last_shift_at, decision.now
        )
        return self._plan(choice, f"All signals of {self.policy.name} OK", {})

    def _plan(self, choice: RoutingChoice, lead: str, lead_figures: dict[str, object]) -> Plan:
        """The ladder's choice as a Plan, with what the route in use has cost so far."""
        decision = self.decision
        action = Action(choice.action)
        fields: dict[str, object] = dict(lead_figures)
        route = decision.state.route
        if route is not None and route.hourly_cost_usd > 0:
            hours = max(0.0, (decision.now - route.since).total_seconds() / 3600)
            fields["spent_usd"] = round(route.hourly_cost_usd * hours, 2)
        if action in ROUTING_ACTIONS:
            fields |= {
                "route_to": choice.route_to,
                "model_units": choice.model_units,
                "hourly_cost_usd": choice.hourly_cost_usd,
                "commitment": choice.commitment,
                "needs_approval": choice.needs_approval,
                "service_tier": choice.service_tier,
                "price_note": choice.price_note,
            }
        return decision.plan(action, f"{lead}: {choice.reason}.", **fields)
