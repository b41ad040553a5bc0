"""The stack's CloudWatch dashboard: a row per managed target (its demand, each signal the controller alarms on
with the alarm's threshold drawn across it, and the capacity the evaluator saw), and a row for the controller
itself. The reconciler keeps it in step with the managed targets (PutDashboard).

The body follows CloudWatch's "Dashboard Body Structure and Syntax": a `widgets` array of metric and text
widgets on a 24-column grid; each metric is `[namespace, name, dimension, value, ..., {options}]`, a metric-math
expression `{"expression": ..., "id": ...}` beside the metrics it reads (each with its own `id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genai_autoscaler.domain.alarm_event import SIGNAL_LABELS, format_figure
from genai_autoscaler.domain.policy import BedrockModelPolicy, SageMakerPolicy, TargetPolicy
from genai_autoscaler.domain.signals import AlarmSpec, bedrock_demand_queries, invocations_query

# What template.yaml gives every function (POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME): Powertools
# publishes the controller's metrics there, with the service as their one dimension.
CONTROLLER_NAMESPACE = "GenAIAutoscaler"
CONTROLLER_SERVICE = "genai-autoscaler"
CAPACITY_METRIC = "Capacity"  # per target (dimension `target`): what the evaluator saw each minute
ACTION_METRIC = "Actions"  # per action (dimension `action`): plans the router and the evaluator carried out

_WIDTH, _HEIGHT, _COLUMNS = 8, 6, 24
_CONTROLLER_METRICS = (
    ("AlarmEvents", "alarm events"),
    ("WorkflowsStarted", "workflows started"),
    ("EventsTooOld", "events too old (not acted on)"),
    ("EvaluationErrors", "evaluation errors"),
)


def dashboard_name(stack_name: str, region: str) -> str:
    """The dashboard's name: the stack's and its region's (dashboards are global to the account, so stacks of
    one name in two regions keep one each; letters, digits and hyphens are within PutDashboard's rules)."""
    return f"{stack_name}-{region}"


def dashboard_body(
    targets: Sequence[TargetPolicy],
    alarms: Sequence[AlarmSpec],
    region: str,
    workflow_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard for `targets`, with the thresholds of `alarms` (the reconciler's wanted alarms)."""
    widgets: list[dict[str, Any]] = []
    row = 0
    for target in targets:
        panels = [_demand(target, region)]
        panels += [_signal(spec, region) for spec in alarms if spec.target_id == target.target_id]
        if isinstance(target, SageMakerPolicy):
            panels.append(_capacity(target, region))
        widgets.append(_text(f"## {target.name}\n{target.kind.value} · `{target.target_id}`", row))
        row += 1
        row = _place(panels, widgets, row)
    widgets.append(_text("## The controller", row))
    row = _place(_controller(region, workflow_arns), widgets, row + 1)
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


def _place(panels: list[dict[str, Any]], widgets: list[dict[str, Any]], row: int) -> int:
    """Lay `panels` out three to a row from `row`; returns the row after them."""
    per_row = _COLUMNS // _WIDTH
    for index, panel in enumerate(panels):
        x, y = (index % per_row) * _WIDTH, row + (index // per_row) * _HEIGHT
        widgets.append({"type": "metric", "x": x, "y": y, "width": _WIDTH, "height": _HEIGHT, **panel})
    return row + -(-len(panels) // per_row) * _HEIGHT


def _text(markdown: str, row: int) -> dict[str, Any]:
    return {
        "type": "text",
        "x": 0,
        "y": row,
        "width": _COLUMNS,
        "height": 1,
        "properties": {"markdown": markdown},
    }


def _metric(namespace: str, name: str, dimensions: Sequence[tuple[str, str]], **options: Any) -> list[Any]:
    flat = [part for pair in dimensions for part in pair]
    return [namespace, name, *flat, *([options] if options else [])]


def _properties(
    title: str, region: str, metrics: list[Any], stat: str, period: int, **more: Any
) -> dict[str, Any]:
    return {
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stat": stat,
            "period": period,
            "metrics": metrics,
            **more,
        }
    }


def _demand(target: TargetPolicy, region: str) -> dict[str, Any]:
    if isinstance(target, BedrockModelPolicy):
        queries = bedrock_demand_queries(target)
        tokens = [
            _metric(q.namespace, q.metric_name, q.dimensions, id=f"m{i}", visible=False)
            for i, q in enumerate((queries["InputTokenCount"], queries["OutputTokenCount"]))
        ]
        invocations = queries["Invocations"]
        return _properties(
            "Invocations and tokens per minute",
            region,
            [
                _metric(
                    invocations.namespace,
                    invocations.metric_name,
                    invocations.dimensions,
                    label="invocations",
                ),
                *tokens,
                [
                    {
                        "expression": "m0 + m1",
                        "label": "tokens (input + output)",
                        "id": "tokens",
                        "yAxis": "right",
                    }
                ],
            ],
            "Sum",
            60,
        )
    query = invocations_query(target)
    return _properties(
        "Invocations per minute",
        region,
        [_metric(query.namespace, query.metric_name, query.dimensions, label="invocations")],
        "Sum",
        60,
    )


def _signal(spec: AlarmSpec, region: str) -> dict[str, Any]:
    label = SIGNAL_LABELS.get(spec.signal, spec.signal.value)
    limit = f"alarm above {format_figure(spec.threshold, spec.unit)}"
    if spec.summed_metrics:
        metrics: list[Any] = [
            _metric(spec.namespace, name, spec.dimensions, id=f"m{i}", visible=False)
            for i, name in enumerate(spec.summed_metrics)
        ]
        if spec.reserved_per_invocation is not None:  # `r` of the expression: max_tokens x invocations
            reserved = f"{spec.reserved_per_invocation} * m2"
            metrics.append([{"expression": reserved, "id": "r", "visible": False}])
        metrics.append([{"expression": spec.expression(), "label": label, "id": "summed"}])
    else:
        metrics = [_metric(spec.namespace, spec.metric_name, spec.dimensions, label=label)]
    return _properties(
        f"{label} ({spec.stat}, {spec.period} s)",
        region,
        metrics,
        spec.stat,
        spec.period,
        annotations={"horizontal": [{"label": limit, "value": spec.threshold, "color": "#d62728"}]},
    )


def _capacity(target: SageMakerPolicy, region: str) -> dict[str, Any]:
    bounds = target.capacity
    return _properties(
        "Capacity (as the evaluator saw it each minute)",
        region,
        [
            _metric(
                CONTROLLER_NAMESPACE,
                CAPACITY_METRIC,
                (("service", CONTROLLER_SERVICE), ("target", target.target_id)),
                label="capacity",
            )
        ],
        "Maximum",
        60,
        annotations={
            "horizontal": [
                {"label": f"max {bounds.max}", "value": bounds.max},
                {"label": f"min {bounds.min}", "value": bounds.min},
            ]
        },
    )


def _controller(region: str, workflow_arns: Sequence[str]) -> list[dict[str, Any]]:
    service = (("service", CONTROLLER_SERVICE),)
    panels = [
        _properties(
            "Events and decisions",
            region,
            [
                _metric(CONTROLLER_NAMESPACE, name, service, label=label)
                for name, label in _CONTROLLER_METRICS
            ],
            "Sum",
            300,
        ),
        _properties(
            "Actions by kind",
            region,
            [
                [
                    {
                        "expression": f"SEARCH('{{{CONTROLLER_NAMESPACE},action,service}} "
                        f"MetricName=\"{ACTION_METRIC}\"', 'Sum', 300)",
                        "id": "actions",
                    }
                ]
            ],
            "Sum",
            300,
        ),
    ]
    if workflow_arns:
        panels.append(
            _properties(
                "Workflows failed",
                region,
                [
                    _metric(
                        "AWS/States",
                        "ExecutionsFailed",
                        (("StateMachineArn", arn),),
                        label=arn.rsplit(":", 1)[-1],
                    )
                    for arn in workflow_arns
                ],
                "Sum",
                300,
            )
        )
    return panels
