"""Alarm dispatch on in-memory ports: the same use cases the Lambdas run, without AWS."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from genai_autoscaler.app.dispatch import (
    Dispatch,
    ScaleRequest,
    _invocations,
    dispatch_alarm,
    evaluate_targets,
)
from genai_autoscaler.app.settings import ControllerSettings
from genai_autoscaler.domain.alarm_event import AlarmSnapshot, AlarmState, AlarmStateChangeEvent
from genai_autoscaler.domain.bedrock import BedrockRoute, RouteKind
from genai_autoscaler.domain.demand import IDLE_LOOKBACK
from genai_autoscaler.domain.plan import Action, Workflow
from genai_autoscaler.domain.policy import SageMakerVariantPolicy, parse_policy_document
from genai_autoscaler.domain.signals import alarm_specs
from genai_autoscaler.domain.state import ObservedCapacity, TargetState
from genai_autoscaler.errors import TransientAwsError
from genai_autoscaler_tools.memory import (
    MemoryAlarms,
    MemoryState,
    RecordingNotifier,
    RecordingWorkflows,
    memory_controller,
)

from tests.unit.builders import NOW, ago, measured_window, observed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE: dict[str, Any] = yaml.safe_load((ROOT / "config" / "policies.example.yaml").read_text())
LLM = "variant/llm-prod/AllTraffic"
SETTINGS = ControllerSettings(stack_name="genai-autoscaler")


def event(name: str, **changes: Any) -> AlarmStateChangeEvent:
    raw = json.loads((ROOT / "events" / f"{name}.json").read_text())
    raw["detail"].update(changes)
    return AlarmStateChangeEvent.model_validate(raw)


def controller(document: dict[str, Any] | None = None, **observed_by_id: ObservedCapacity) -> Any:
    return memory_controller(document or EXAMPLE, observed_by_id or {LLM: observed(2)}, settings=SETTINGS)


def test_a_latency_alarm_starts_one_self_contained_workflow() -> None:
    ctl = controller()
    outcome = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW)
    assert outcome.dispatch is Dispatch.WORKFLOW
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    (request,) = workflows.started.values()
    scale = ScaleRequest.model_validate(request)
    assert (scale.plan.action, scale.plan.desired_capacity) == (Action.SCALE_OUT, 3)
    assert scale.target_policy.name == "llm-prod/AllTraffic"  # the policy travels with the plan


def test_the_same_event_twice_starts_the_workflow_once() -> None:
    ctl = controller()
    first = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW)
    second = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW)
    # The first took the target's lock for its execution: the second finds it in progress
    assert first.dispatch is Dispatch.WORKFLOW
    assert second.dispatch is Dispatch.NOTHING
    assert second.plan is not None
    assert f"in progress ({first.execution_arn.rsplit(':', 1)[-1]})" in second.plan.reason  # type: ignore[union-attr]
    assert len(ctl.workflows.started) == 1  # type: ignore[attr-defined]


def test_alarms_of_another_stack_are_not_its_business() -> None:
    tags = {"genai-autoscaler:managed-by": "other-stack"}
    outcome = dispatch_alarm(event("alarm_latency_alarm", alarmTags=tags), controller(), NOW)
    assert (outcome.plan, outcome.dispatch) == (None, Dispatch.NOTHING)
    assert "other-stack" in (outcome.note or "")


def test_tags_that_contradict_the_metric_are_not_trusted() -> None:
    tags = {
        "genai-autoscaler:managed-by": "genai-autoscaler",
        "genai-autoscaler:target": "variant/other/AllTraffic",
    }
    outcome = dispatch_alarm(event("alarm_latency_alarm", alarmTags=tags), controller(), NOW)
    assert outcome.plan is None


def test_a_tagged_endpoint_not_in_the_document_gets_the_default_policy() -> None:
    # Given an alarm the reconciler made for an endpoint picked up by its management tag
    raw = json.loads((ROOT / "events" / "alarm_latency_alarm.json").read_text())
    raw["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["EndpointName"] = (
        "tagged-ep"
    )
    raw["detail"]["configuration"]["metrics"][0]["metricStat"]["period"] = 60
    raw["detail"]["alarmTags"]["genai-autoscaler:target"] = "variant/tagged-ep/AllTraffic"
    raw["detail"]["alarmName"] = "genai-autoscaler.variant-tagged-ep-AllTraffic-latency_p95"
    # When it fires (9,100 ms against the 4,000 ms threshold the alarm evaluated)
    ctl = memory_controller({}, {"variant/tagged-ep/AllTraffic": observed(1)}, settings=SETTINGS)
    outcome = dispatch_alarm(AlarmStateChangeEvent.model_validate(raw), ctl, NOW)
    # Then it is scaled with the default policy: one more instance (latency does not say how much load)
    assert outcome.plan is not None
    assert outcome.plan.action is Action.SCALE_OUT
    assert outcome.plan.desired_capacity == 2


def test_advisory_reports_at_the_pace_of_real_actions() -> None:
    document = {**EXAMPLE, "defaults": {**EXAMPLE["defaults"], "advisory": True}}
    ctl = controller(document)
    first = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW)
    assert first.dispatch is Dispatch.NOTIFIED
    assert first.plan is not None
    assert first.plan.advisory
    notifier: RecordingNotifier = ctl.notifier  # type: ignore[assignment]
    assert notifier.published[0][0].startswith("GenAI Autoscaler [advisory]")
    assert not ctl.workflows.started  # type: ignore[attr-defined]
    # The advisory "scale-out" started the cooldown: a repeat within it stays quiet
    again = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW + timedelta(seconds=60))
    assert again.plan is not None
    assert "cooldown" in again.plan.reason
    assert len(notifier.published) == 1


def test_a_manual_change_is_reported_once_and_then_left_alone() -> None:
    ctl = controller()
    state: MemoryState = ctl.state  # type: ignore[assignment]
    state.states[LLM] = TargetState(target_id=LLM, last_known_capacity=3)
    reported = dispatch_alarm(event("alarm_latency_alarm"), ctl, NOW)
    assert reported.dispatch is Dispatch.NOTIFIED
    assert ctl.state.load(LLM).last_known_capacity == 2
    held = dispatch_alarm(event("alarm_concurrency_alarm"), ctl, NOW + timedelta(minutes=5))
    assert held.plan is not None
    assert held.plan.action is Action.IGNORE
    assert "left alone until" in held.plan.reason


def _snapshot(
    ctl: Any,
    document: dict[str, Any],
    states: dict[str, tuple[AlarmState, float | None]],
    since_seconds: float = 2000,
) -> None:
    alarms: MemoryAlarms = ctl.alarms
    policy = ctl.settings.effective_policies(document).by_name("llm-prod/AllTraffic")
    for spec in alarm_specs(policy):
        state, value = states[spec.signal.value]
        reason = (
            json.dumps({"recentDatapoints": [value], "threshold": spec.threshold})
            if value is not None
            else None
        )
        alarms.states[alarms.alarm_name(spec)] = AlarmSnapshot(
            spec.namespace,
            spec.metric_name,
            dict(spec.dimensions),
            spec.stat,
            spec.period,
            state,
            ago(since_seconds),
            reason,
        )


def test_evaluation_scales_in_after_the_window_and_leaves_bedrock_on_demand() -> None:
    ctl = controller(**{LLM: observed(4)})
    # The alarms went OK long ago at a high figure; the metric now peaks at 1.0 per instance
    _snapshot(ctl, EXAMPLE, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 7.9)})
    ctl.metrics.peaks[(LLM, "concurrency")] = 1.0
    outcomes = evaluate_targets(ctl, NOW)
    by_target = {o.plan.target: o for o in outcomes if o.plan}
    # Bedrock models are evaluated too (the way back is decided there); with no data their routing is held
    claude = by_target["anthropic.claude-3-5-sonnet-20240620-v1:0"]
    assert (claude.dispatch, claude.plan.action) == (Dispatch.NOTHING, Action.IGNORE)  # type: ignore[union-attr]
    llm = by_target["llm-prod/AllTraffic"]
    assert (llm.dispatch, llm.plan.action, llm.plan.desired_capacity) == (
        Dispatch.WORKFLOW,
        Action.SCALE_IN,
        2,
    )  # type: ignore[union-attr]


def test_missing_data_is_notified_once() -> None:
    ctl = controller()
    _snapshot(
        ctl,
        EXAMPLE,
        {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.INSUFFICIENT_DATA, None)},
    )
    first = [o for o in evaluate_targets(ctl, NOW) if o.dispatch is Dispatch.NOTIFIED]
    second = [o for o in evaluate_targets(ctl, NOW + timedelta(minutes=1)) if o.dispatch is Dispatch.NOTIFIED]
    assert len(first) == 1
    assert not second
    assert "No data for concurrency" in ctl.notifier.published[0][1]  # type: ignore[attr-defined]


def test_scale_in_is_sized_by_the_current_peak_not_the_alarms_last_figure() -> None:
    ctl = controller(**{LLM: observed(4)})
    _snapshot(ctl, EXAMPLE, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 7.9)})
    # With a current peak of 2.5 per instance, 4 instances need ceil(10 / (9 x 0.9)) = 2: to 2, at once
    ctl.metrics.peaks[(LLM, "concurrency")] = 2.5
    (sized,) = [o for o in evaluate_targets(ctl, NOW) if o.plan and o.plan.target == "llm-prod/AllTraffic"]
    assert sized.plan is not None
    assert (sized.plan.action, sized.plan.desired_capacity) == (Action.SCALE_IN, 2)
    assert "peak concurrency 10.0 needs 2" in sized.plan.reason
    # ... read over the stabilization window that just ended
    (metric, start, end) = next(q for q in ctl.metrics.queries if q[0] == "ConcurrentRequestsPerModel")
    assert (metric, end - start, end) == ("ConcurrentRequestsPerModel", timedelta(seconds=1800), NOW)
    # Without datapoints in the window: hold rather than scale in blind
    ctl = controller(**{LLM: observed(4)})
    _snapshot(ctl, EXAMPLE, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 7.9)})
    (llm,) = [o for o in evaluate_targets(ctl, NOW) if o.plan and o.plan.target == "llm-prod/AllTraffic"]
    assert llm.plan is not None
    assert llm.plan.action is Action.IGNORE
    assert "no concurrency figures" in llm.plan.reason


def test_a_fall_is_sized_over_the_window_the_targets_lulls_ask_for() -> None:
    # Given 4 instances, every signal OK for 700 s of the example's 1800, and the forecaster's measure a minute
    # ago that this target's demand, once fallen, does not come back within 600 s
    ctl = controller(**{LLM: observed(4)})
    _snapshot(
        ctl,
        EXAMPLE,
        {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 7.9)},
        since_seconds=700,
    )
    measure = measured_window(600, 1800, measured_ago=60, target_utilization=0.9)
    ctl.state.update(LLM, lambda state: state.model_copy(update={"scale_in_window": measure}))
    ctl.metrics.peaks[(LLM, "concurrency")] = 1.0
    (llm,) = [o for o in evaluate_targets(ctl, NOW) if o.plan and o.plan.target == "llm-prod/AllTraffic"]
    # Then the peak is read over those 600 s, and the fall (4 to the minimum of 2) goes at once
    assert llm.plan is not None
    assert (llm.plan.action, llm.plan.desired_capacity) == (Action.SCALE_IN, 2)
    (_, start, end) = next(q for q in ctl.metrics.queries if q[0] == "ConcurrentRequestsPerModel")
    assert (end - start, end) == (timedelta(seconds=600), NOW)


def test_one_targets_failure_does_not_stop_the_others() -> None:
    # Given SageMaker throttling every describe call
    ctl = controller(**{LLM: observed(4)})
    _snapshot(ctl, EXAMPLE, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 1.0)})
    ctl.metrics.peaks[(LLM, "concurrency")] = 1.0

    def throttled(target: Any) -> Any:
        raise TransientAwsError(f"describing {target.name}: ThrottlingException: Rate exceeded")

    ctl.capacity.observe = throttled  # type: ignore[method-assign]
    outcomes = evaluate_targets(ctl, NOW)
    # Then every SageMaker target was tried, each failure is named, and none stopped the loop
    sagemaker = [o for o in outcomes if o.plan is None or o.plan.kind != "bedrock_model"]
    assert [o.dispatch for o in sagemaker] == [Dispatch.FAILED] * 3
    assert "llama3-8b-ic: TransientAwsError: describing llama3-8b-ic: ThrottlingException" in (
        sagemaker[-1].note or ""
    )


def test_advisory_warm_ups_follow_the_warm_up_cooldown() -> None:
    # Given mme-prod at its maximum with models waiting to load, in advisory mode
    document = {**EXAMPLE, "defaults": {**EXAMPLE["defaults"], "advisory": True}}
    ctl = controller(document, **{"variant/mme-prod/AllTraffic": observed(4)})
    notices = []
    for minute in range(3):
        outcome = dispatch_alarm(event("alarm_mme_loading_wait"), ctl, NOW + timedelta(minutes=minute))
        notices.append(outcome.dispatch)
    # Then it reports the warm-up once, then waits out the cooldown
    assert notices == [Dispatch.NOTIFIED, Dispatch.NOTHING, Dispatch.NOTHING]


def test_a_bedrock_throttle_alarm_sizes_provisioned_throughput_from_cloudwatch() -> None:
    # Given Claude already on its cross-region profile, with Provisioned Throughput allowed
    claude = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    target_id = f"bedrock/{claude}"
    document = json.loads(json.dumps(EXAMPLE))
    bedrock = next(t for t in document["targets"] if t.get("model_id") == claude)["bedrock"]
    bedrock |= {
        "provisioned_throughput": {"tokens_per_minute_per_unit": 100_000, "hourly_price_per_unit_usd": 40.0},
        "max_model_units": 10,
        "hourly_budget_usd": 400,
        "caller_max_attempts": 1,  # each throttled attempt a request of its own
        "overflow": False,  # callers pass one modelId: the units carry the whole demand
    }
    ctl = controller(document)
    route = BedrockRoute(kind=RouteKind.PROFILE, model=f"us.{claude}", since=NOW - timedelta(hours=1))
    ctl.state.states[target_id] = TargetState(target_id=target_id, route=route)
    # And CloudWatch's busiest recent minute: 300k + 80k tokens over 250 invocations, 37 throttled
    for name, value in {
        "InputTokenCount": 300_000,
        "OutputTokenCount": 80_000,
        "Invocations": 250,
        "InvocationThrottles": 37,
    }.items():
        ctl.metrics.peaks[(target_id, name)] = value
    # When its throttle alarm fires
    outcome = dispatch_alarm(event("alarm_bedrock_throttles"), ctl, NOW)
    # Then Provisioned Throughput is sized from demand, throttled requests included:
    # (380,000 + 37 x 380,000 / 250) / 100,000 = 4.36 -> 5 units, at $40 an hour each
    assert outcome.plan is not None
    assert (outcome.plan.action, outcome.plan.model_units, outcome.plan.hourly_cost_usd) == (
        Action.SHIFT_TO_PROVISIONED,
        5,
        200.0,
    )
    # And the routing workflow is started with that plan
    assert outcome.dispatch is Dispatch.WORKFLOW
    workflows: RecordingWorkflows = ctl.workflows  # type: ignore[assignment]
    ((name, request),) = workflows.started.items()
    assert workflows.kinds[name] is Workflow.ROUTING
    assert ScaleRequest.model_validate(request).plan == outcome.plan


def test_a_burst_after_a_lull_without_datapoints_is_a_step_from_nothing_not_a_ramp() -> None:
    # Given llm-prod that served 300 requests a minute until 40 minutes ago, then none (SageMaker publishes
    # Invocations with each request: CloudWatch has no datapoint for those minutes), and a burst of about 1,200 a
    # minute in the last five whole minutes, noisy as real minutes are
    ctl = controller()
    minute = NOW.replace(second=0, microsecond=0)
    before = [(minute - timedelta(minutes=60 - i), 300.0) for i in range(20)]
    burst = [1173.0, 1042.0, 1119.0, 1295.0, 1180.0]
    ctl.metrics.points[(LLM, "Invocations")] = before + [
        (minute - timedelta(minutes=5 - i), value) for i, value in enumerate(burst)
    ]
    # When the concurrency alarm fires
    outcome = dispatch_alarm(event("alarm_concurrency_alarm"), ctl, NOW)
    # Then the minutes without a datapoint read as none: the burst is a step from nothing, which the concurrency
    # it raised already measures, and the scale-out is not grown for a trend (read from the burst's own minutes
    # alone, their noise would pass for a ramp)
    assert outcome.plan is not None
    assert "today's demand in" not in outcome.plan.reason
    (target,) = [t for t in parse_policy_document(EXAMPLE).targets if t.target_id == LLM]
    assert isinstance(target, SageMakerVariantPolicy)
    trend = _invocations(ctl, target, NOW)
    assert trend is not None
    assert trend.per_minute[:7] == (0.0,) * 7
    assert trend.per_minute[7:] == tuple(burst)
    assert trend.growth(600) == 1.0


def test_a_firing_alarm_sizes_the_scale_out_for_the_invocations_trend() -> None:
    # Given llm-prod's invocations rising 40 a minute over the last ten whole minutes (and a minute under way)
    ctl = controller()
    minute = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [
        (minute - timedelta(minutes=10 - i), 400.0 + 40 * i) for i in range(11)
    ]
    # When the concurrency alarm fires (19 in flight per instance against 8)
    outcome = dispatch_alarm(event("alarm_concurrency_alarm"), ctl, NOW)
    # Then the Invocations of the whole minutes before now were read (and an hour before them, in the same read,
    # for whether a minute without a datapoint is idle), and the scale-out grown for their trend
    (_metric, start, end) = next(q for q in ctl.metrics.queries if q[0] == "Invocations")
    assert end == minute
    assert end - start == timedelta(minutes=12) + IDLE_LOOKBACK
    assert outcome.plan is not None
    assert "today's demand in 600 s" in outcome.plan.reason
    assert outcome.plan.desired_capacity is not None
    assert outcome.plan.desired_capacity > 6


def _rising(ctl: Any) -> None:
    """llm-prod's invocations rising 40 a minute over the last ten whole minutes (and a minute under way)."""
    minute = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [
        (minute - timedelta(minutes=10 - i), 400.0 + 40 * i) for i in range(11)
    ]


def _peaks_by_window(ctl: Any, peaks: dict[timedelta, float | Exception]) -> None:
    """The concurrency's peak by how far back a read reaches (an exception: the read fails)."""

    def peak(query: Any, start: Any, end: Any) -> float | None:
        ctl.metrics.queries.append((query.metric_name, start, end))
        value = peaks[end - start]
        if isinstance(value, Exception):
            raise value
        return value

    ctl.metrics.peak = peak


def test_a_calm_evaluation_watches_for_a_ramp_its_alarms_have_not_caught() -> None:
    # Given llm-prod calm for 10 minutes since its last scale-out, 4 instances peaking at 8 in flight each over
    # the last two minutes (threshold 9: calm), and invocations rising 40 a minute over the last ten whole minutes
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 6.0)})
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=ago(600))
    ctl.metrics.peaks[(LLM, "concurrency")] = 8.0
    _rising(ctl)
    (llm,) = evaluate_targets(ctl, NOW)
    # Then it read the concurrency of the last two minutes and the invocations, and scaled out ahead of the alarm
    (_metric, start, end) = next(q for q in ctl.metrics.queries if q[0] == "ConcurrentRequestsPerModel")
    assert (end - start, end) == (timedelta(minutes=2), NOW)
    assert llm.plan is not None
    assert llm.plan.action is Action.SCALE_OUT
    assert llm.plan.reason.startswith("Invocations rising: concurrency per instance at 8.0 now")
    assert llm.plan.desired_capacity == 6  # 4 x 8 x 1.55 / 9, the threshold kept one cold start on


def test_a_ramp_is_measured_against_the_policys_threshold_not_the_alarms_old_one() -> None:
    # Given llm-prod's concurrency alarm whose last change recorded a threshold of 20 (before the policy's 9),
    # 4 instances peaking at 8 now, and invocations rising 40 a minute
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 6.0)})
    alarms: MemoryAlarms = ctl.alarms
    for name, alarm in alarms.states.items():
        if alarm.metric_name == "ConcurrentRequestsPerModel":
            stale = json.dumps({"recentDatapoints": [6.0], "threshold": 20.0})
            alarms.states[name] = dataclasses.replace(alarm, reason_data=stale)
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=ago(600))
    ctl.metrics.peaks[(LLM, "concurrency")] = 8.0
    _rising(ctl)
    (llm,) = evaluate_targets(ctl, NOW)
    # Then 8 x 1.55 is past the policy's 9: a scale-out ahead of the ramp
    assert llm.plan is not None
    assert llm.plan.action is Action.SCALE_OUT
    assert "past its threshold 9" in llm.plan.reason


def test_a_calm_target_whose_invocations_do_not_rise_costs_one_read() -> None:
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 6.0)})
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=ago(300))
    minute = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [
        (minute - timedelta(minutes=10 - i), 400.0) for i in range(11)
    ]
    evaluate_targets(ctl, NOW)
    assert [q[0] for q in ctl.metrics.queries] == ["Invocations"]


def test_a_ramp_is_projected_from_the_concurrency_of_now_not_the_scale_in_windows_peak() -> None:
    # Given llm-prod calm for an hour, its concurrency peaking at 8.5 over the stabilization window but at 4 over
    # the last two minutes, and invocations rising 40 a minute
    ctl = controller(**{LLM: observed(4)})
    _snapshot(ctl, EXAMPLE, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 7.9)})
    _peaks_by_window(ctl, {timedelta(seconds=1800): 8.5, timedelta(minutes=2): 4.0})
    _rising(ctl)
    (llm,) = [o for o in evaluate_targets(ctl, NOW) if o.plan and o.plan.target == "llm-prod/AllTraffic"]
    # Then the ramp goes by 4 x 1.55 (under 9): no scale-out; the window's peak sizes only the scale-in
    assert llm.plan is not None
    assert llm.plan.action is not Action.SCALE_OUT
    assert "peak concurrency 34.0 needs 5" in llm.plan.reason


def test_a_ramp_is_read_from_the_last_scale_on_and_a_failed_read_is_no_ramp() -> None:
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    # Given llm-prod scaled 30 s ago: the concurrency is read from then (per unit of the capacity of now)
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 6.0)})
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=ago(600), last_scale_in_at=ago(30))
    _rising(ctl)
    evaluate_targets(ctl, NOW)
    (_metric, start, end) = next(q for q in ctl.metrics.queries if q[0] == "ConcurrentRequestsPerModel")
    assert (start, end) == (ago(30), NOW)
    # And a concurrency read CloudWatch throttles is no ramp: the evaluation goes on (here: nothing to do)
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 6.0)})
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=ago(600))
    throttled = TransientAwsError("reading ConcurrentRequestsPerModel: ThrottlingException: Rate exceeded")
    _peaks_by_window(ctl, {timedelta(minutes=2): throttled})
    _rising(ctl)
    (llm,) = evaluate_targets(ctl, NOW)
    assert llm.dispatch is not Dispatch.FAILED
    assert llm.plan is not None
    assert llm.plan.action is Action.IGNORE


def test_a_calm_target_watching_no_concurrency_reads_no_invocations() -> None:
    document = copy.deepcopy({**EXAMPLE, "targets": EXAMPLE["targets"][:1]})
    document["targets"][0]["signals"] = {"concurrency_per_unit": None}  # the SLO alone: a latency alarm
    ctl = controller(document, **{LLM: observed(4)})
    _snapshot(ctl, document, {"latency_p95": (AlarmState.OK, 1e6)})
    evaluate_targets(ctl, NOW)
    assert not [q for q in ctl.metrics.queries if q[0] == "Invocations"]


def test_a_firing_alarm_is_sized_on_its_figure_of_now_not_the_one_it_fired_with() -> None:
    # Given llm-prod's concurrency alarm, fired at 20 per instance (threshold 9: a surge) and still in ALARM,
    # and the scale-out it asked for serving 4 instances since 30 s
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    ctl = controller(only_llm, **{LLM: observed(4)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.ALARM, 20.0)})
    ctl.state.states[LLM] = TargetState(target_id=LLM, last_scale_out_at=NOW - timedelta(seconds=30))
    # When the evaluator looks, with the 4 instances now at 10 per instance
    ctl.metrics.peaks[(LLM, "concurrency")] = 10.0
    (llm,) = evaluate_targets(ctl, NOW)
    # Then no surge is seen in the old figure: the cooldown holds (20 x 4 instances would have asked for 12)
    assert llm.plan is not None
    assert llm.plan.action is Action.IGNORE
    assert "concurrency per unit 10 (threshold 9); scale-out cooldown" in llm.plan.reason


def test_a_failed_read_of_the_invocations_still_answers_the_alarm() -> None:
    ctl = controller()

    def throttled(query: Any, start: Any, end: Any) -> Any:
        raise TransientAwsError("reading Invocations of llm-prod: ThrottlingException: Rate exceeded")

    ctl.metrics.series = throttled
    outcome = dispatch_alarm(event("alarm_concurrency_alarm"), ctl, NOW)
    assert outcome.dispatch is Dispatch.WORKFLOW
    assert outcome.plan is not None
    assert outcome.plan.desired_capacity == 6  # sized on the concurrency alone


def _scaled_out_by_an_alarm(minutes: list[float]) -> Any:
    """llm-prod at 8 instances, every signal OK, a scale-out an alarm sized decided 16 minutes ago and serving for
    ten (the scale-in cooldown), its concurrency peaking at 2 per instance over those ten, and `minutes` of
    invocations, one a minute, ending with the last whole minute."""
    only_llm = {**EXAMPLE, "targets": EXAMPLE["targets"][:1]}
    ctl = controller(only_llm, **{LLM: observed(8)})
    _snapshot(ctl, only_llm, {"latency_p95": (AlarmState.OK, 1e6), "concurrency": (AlarmState.OK, 2.0)})
    ctl.state.states[LLM] = TargetState(
        target_id=LLM, last_scale_out_at=ago(600), alarm_scale_out_decided_at=ago(960)
    )
    minute = NOW.replace(second=0, microsecond=0)
    ctl.metrics.points[(LLM, "Invocations")] = [
        (minute - timedelta(minutes=len(minutes) - i), value) for i, value in enumerate(minutes)
    ]
    _peaks_by_window(ctl, {timedelta(seconds=600): 2.0})
    return ctl


def test_capacity_a_scale_out_added_that_the_demand_never_used_is_given_back_after_the_cooldown() -> None:
    # Given invocations flat at 400 a minute since the scale-out's decision (held: nothing has fallen that
    # could return)
    ctl = _scaled_out_by_an_alarm([400.0] * 17)
    (llm,) = evaluate_targets(ctl, NOW)
    # Then it read them back to the decision (and an hour before it), read the concurrency over the ten minutes
    # the new capacity served, and scaled in to what they need: 8 x 2 / (9 x 0.9) -> 2
    (_, start, _end) = next(q for q in ctl.metrics.queries if q[0] == "Invocations")
    assert start == ago(960).replace(second=0) - IDLE_LOOKBACK
    assert llm.plan is not None
    assert (llm.plan.action, llm.plan.desired_capacity) == (Action.SCALE_IN, 2)


def test_a_burst_that_ended_since_the_scale_out_was_decided_keeps_the_whole_window() -> None:
    # Given a burst of 1,200 a minute that ended 13 minutes ago, before the capacity it asked for served, and
    # 200 a minute since: the demand fell, and may return
    ctl = _scaled_out_by_an_alarm([1200.0] * 4 + [200.0] * 13)
    (llm,) = evaluate_targets(ctl, NOW)
    # Then the policy's 30-minute window holds: no scale-in, no concurrency read
    assert llm.plan is not None
    assert llm.plan.action is not Action.SCALE_IN
    assert [q[0] for q in ctl.metrics.queries] == ["Invocations"]
