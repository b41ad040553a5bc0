"""Integration fixtures: the stack of template.yaml in moto (LocalAws), its real handlers, simulated time.

`launch(...)` deploys one LocalAws for the test, creates the endpoints, publishes the policy document (which
runs the reconciler through the SSM event, as in AWS) and returns a `Scenario`: the LocalAws plus the few
questions every test asks of it (what did the router answer, which workflows ran and through which states,
what was published). Nothing here touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from genai_autoscaler.domain.policy import deep_merge
from genai_autoscaler.domain.state import ActionRecord, TargetState
from genai_autoscaler_local.harness import REGION, LocalAws, WorkflowRun
from genai_autoscaler_local.lambda_runtime import Invocation
from genai_autoscaler_tools.sim.endpoint import EndpointModel, RequestProfile
from genai_autoscaler_tools.sim.policies import StaticPolicy
from genai_autoscaler_tools.sim.replay import Replay, ReplayConfig, replay

from tests.integration.iam import FUNCTIONS, iam_actions, not_allowed

LLM = "llm-prod/AllTraffic"
LLM_ID = "variant/llm-prod/AllTraffic"
IC = "llama3-8b-ic"
IC_ID = "inference-component/llama3-8b-ic"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def llm_policy(**overrides: Any) -> dict[str, Any]:
    """The llm-prod/AllTraffic policy most tests use (latency 4,000 ms, 4 concurrent per instance)."""
    base: dict[str, Any] = {
        "type": "sagemaker_variant",
        "endpoint_name": "llm-prod",
        "capacity": {"min": 1, "max": 4},
        "scale_out": {"max_step": 2, "cooldown_seconds": 300},
        "scale_in": {"max_step": 1, "cooldown_seconds": 600, "stabilization_seconds": 900},
        "signals": {"latency_p95_ms": 4000, "concurrency_per_unit": 4},
        "workflow": {"poll_interval_seconds": 30},
    }
    return deep_merge(base, overrides)


def ic_policy(**overrides: Any) -> dict[str, Any]:
    """An inference component that may sit at zero copies."""
    base: dict[str, Any] = {
        "type": "inference_component",
        "inference_component_name": IC,
        "endpoint_name": "shared-gpu-endpoint",
        "scale_to_zero": True,
        "capacity": {"min": 0, "max": 4},
        "workflow": {"poll_interval_seconds": 30},
    }
    return deep_merge(base, overrides)


def document(*targets: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "targets": list(targets)}


def sample_event(name: str) -> dict[str, Any]:
    """One of the sample events in events/ (a fresh copy)."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@dataclass
class Scenario:
    aws: LocalAws

    # ------------------------------------------------------------------ stimuli
    def alarm(self, target: str, signal: str, state: str, datapoints: list[float]) -> dict[str, Any]:
        """Move one of the controller's alarms; returns what the alarm router answered (its one delivery)."""
        return self.routed(self.aws.alarm(target, signal, state, datapoints))

    @staticmethod
    def routed(deliveries: list[Any]) -> dict[str, Any]:
        to_router = [d for d in deliveries if "AlarmRouterFunction" in d.target_arn]
        assert len(to_router) == 1, f"expected one delivery to the alarm router, got {deliveries}"
        assert to_router[0].error is None, to_router[0].error
        result: dict[str, Any] = to_router[0].result
        return result

    def evaluate(self) -> list[dict[str, Any]]:
        """One scheduled evaluation; returns the outcomes of the targets it acted on."""
        answer = self.aws.evaluate()
        assert "errorType" not in answer, answer
        outcomes: list[dict[str, Any]] = answer["outcomes"]
        return outcomes

    def advance(self, seconds: float) -> None:
        self.aws.clock.advance(seconds)

    # ------------------------------------------------------------------ observations
    def workflows(self) -> list[WorkflowRun]:
        """The scale workflows started since the last call, once finished."""
        return self.aws.wait_for_workflows(timeout=60)

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the scale workflow ever started."""
        arn = self.aws.stack.outputs["ScaleWorkflowArn"]
        executions: list[dict[str, Any]] = self.aws.sfn.list_executions(stateMachineArn=arn)["executions"]
        return executions

    def visited(self, run: WorkflowRun) -> list[str]:
        """The states an execution entered, in order."""
        events = self.aws.sfn.get_execution_history(executionArn=run.execution_arn)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    def step_calls(self, step: str) -> list[Invocation]:
        """Invocations of the ScaleSteps function for one workflow step, in order."""
        return [
            call
            for call in self.aws.lambdas.invocations
            if "ScaleStepsFunction" in call.function
            and isinstance(call.event, dict)
            and call.event.get("step") == step
        ]

    def router_calls(self) -> list[Invocation]:
        return [call for call in self.aws.lambdas.invocations if "AlarmRouterFunction" in call.function]

    def notifications(self) -> list[dict[str, str]]:
        return self.aws.notifications()

    def state(self, target_id: str = LLM_ID) -> TargetState:
        loaded: TargetState = self.aws.target_state(target_id)
        return loaded

    def history(self, target_id: str = LLM_ID) -> list[ActionRecord]:
        records: list[ActionRecord] = self.aws.history(target_id)
        return records

    def floor(self, endpoint: str = "llm-prod", variant: str = "AllTraffic") -> dict[str, Any]:
        """The Application Auto Scaling scalable target of a variant, as the service describes it."""
        found = boto3.client("application-autoscaling", region_name=REGION).describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[f"endpoint/{endpoint}/variant/{variant}"],
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        )["ScalableTargets"]
        assert len(found) == 1, found
        target: dict[str, Any] = found[0]
        return target

    def alarms(self) -> dict[str, dict[str, Any]]:
        """Every alarm under the controller's prefix, by name, as DescribeAlarms shows it."""
        prefix = f"{self.aws.stack_name}."
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        described = cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        return {alarm["AlarmName"]: alarm for alarm in described}

    def last_reconcile(self) -> dict[str, Any]:
        """The reconciler's report for the last event on the bus."""
        _, deliveries = self.aws.bus.delivered[-1]
        to_reconciler = [d for d in deliveries if "ReconcilerFunction" in d.target_arn]
        assert len(to_reconciler) == 1, deliveries
        assert to_reconciler[0].error is None, to_reconciler[0].error
        report: dict[str, Any] = to_reconciler[0].result
        return report


Launch = Callable[..., Scenario]


def record_calls(aws: LocalAws, calls: set[tuple[str, str]]) -> None:
    """Record (function logical id, IAM action) of every call a handler makes through the controller's clients."""
    logical = {aws.stack.resource(function): function for function in FUNCTIONS}

    def called(prefix: str, operation: str, params: dict[str, Any]) -> None:
        if aws.lambdas.running is not None:
            function = logical[aws.lambdas.running]
            calls.update((function, action) for action in iam_actions(prefix, operation, params))

    aws.world.observers.append(called)
    aws.bedrock.observers.append(lambda operation, params: called("bedrock", operation, params))


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Deploy the stack in moto for this test: `launch(document, endpoints={"llm-prod": 1}, ...)`.

    At the end, every AWS call a handler made must be allowed by its role in template.yaml (iam.py)."""
    calls: set[tuple[str, str]] = set()
    stacks: list[LocalAws] = []
    with ExitStack() as stack:

        def start(
            policies: dict[str, Any] | None = None,
            endpoints: dict[str, int] | None = None,
            parameters: dict[str, str] | None = None,
            provisioning_seconds: float = 360,
            stack_name: str = "genai-local",
        ) -> Scenario:
            aws = stack.enter_context(
                LocalAws(
                    parameters=parameters,
                    stack_name=stack_name,
                    provisioning_seconds=provisioning_seconds,
                    quiet=True,
                    enforce_iam=True,
                )
            )
            # Runs before the mock closes: no workflow thread is left calling a stopped moto.
            stack.callback(_let_workflows_finish, aws)
            record_calls(aws, calls)
            stacks.append(aws)
            for name, instances in (endpoints or {}).items():
                aws.create_endpoint(name, instances=instances)
            scenario = Scenario(aws)
            if policies is not None:
                aws.publish_policies(policies)
                assert scenario.last_reconcile()["created"], "the reconciler created no alarm"
            return scenario

        yield start
    for aws in stacks:
        missing = not_allowed(aws.stack, calls)
        assert not missing, f"calls the role in template.yaml does not allow: {missing}"


def _let_workflows_finish(aws: LocalAws) -> None:
    with suppress(TimeoutError):
        aws.wait_for_workflows(timeout=30)


# ------------------------------------------------------------------ what the simulator publishes, in CloudWatch


class _Watched(StaticPolicy):
    """A fixed fleet whose simulated world is kept, to read what its CloudWatch published."""

    def attach(self, replay: Replay) -> None:
        self.world = replay
        super().attach(replay)


def published(sigmas: float, minutes: int) -> dict[str, dict[float, float]]:
    """What the simulator's CloudWatch publishes for 4 instances serving 1.5 and 2.5 requests/s in turn, a
    minute each, for `minutes`, read with `sigmas` (a load that changes by the minute: a 10 s Maximum read
    against another minute's figures would not measure `sigmas` back)."""
    rates = np.repeat(np.resize([1.5, 2.5], minutes), 6)
    counts = np.random.default_rng(0).poisson(rates * 10.0)
    fleet = _Watched(4)
    model = EndpointModel(concurrency_peak_sigmas=sigmas)
    replay(counts, rates, model, RequestProfile.default(), fleet, ReplayConfig(seed=0), 4)
    return fleet.world.cloudwatch.series


def put_published(cloudwatch: Any, series: dict[str, dict[float, float]], start: datetime) -> None:
    """What the simulator published (`published`), from `start`, in CloudWatch as SageMaker sends it for
    llm-prod/AllTraffic: the concurrency every 10 s (high resolution), the rest per minute."""
    periods = {"Invocations/Sum": 60, "InvocationsPerInstance/Sum": 60, "ModelLatency/Average": 60}
    periods["ConcurrentRequestsPerModel/Maximum"] = 10
    for key, period in periods.items():
        data = [
            {
                "MetricName": key.split("/")[0],
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "llm-prod"},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": start + timedelta(seconds=at),
                "Value": value,
                "StorageResolution": 1 if period == 10 else 60,
            }
            for at, value in sorted(series[key].items())
        ]
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
