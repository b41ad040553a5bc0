"""The operator commands' tables, drawn with rich: colour on a terminal, none when stdout is a pipe or a file
(rich decides; NO_COLOR is honoured)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_ALARM_STYLE = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "yellow", "MISSING": "bold red"}


def _console() -> Console:
    # On a terminal, the table fits its width; into a pipe or a file, rows are not folded (grep finds them).
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 1000)


def _when(iso: str | None) -> str:
    return "" if iso is None else datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


def _capacity(row: dict[str, Any]) -> str:
    if "route" in row:
        route = row["route"]
        units = (
            f", {route['model_units']} MU (${route['hourly_cost_usd']:,.2f}/h)"
            if route["model_units"]
            else ""
        )
        tier = ", Priority tier" if route.get("service_tier") == "priority" else ""
        return escape(f"{route['kind']}: {route['model']}{units}{tier}")
    capacity = row["capacity"]
    bounds = f"[{capacity['min']}, {capacity['max']}]"
    if not capacity["found"]:
        return escape(f"not found in SageMaker {bounds}")
    floor = f", AAS floor {capacity['aas_floor']}" if capacity["aas_floor"] is not None else ""
    routing = row.get("routing")
    routed = f"\nrouting {routing['strategy']}" if routing else ""
    reading = row.get("concurrency_reading")
    read = (
        f"\nconcurrency Maximum reads mean + {reading['peak_sigmas']:.2f} sd"
        if reading and reading["peak_sigmas"] is not None
        else ""
    )
    return escape(
        f"{capacity['desired']} desired, {capacity['serving']} serving ({capacity['status']}) {bounds}{floor}"
        + routed
        + read
    )


def _alarms(alarms: dict[str, str]) -> str:
    return "\n".join(
        f"{signal} [{_ALARM_STYLE.get(state, '')}]{state}[/]"
        if state in _ALARM_STYLE
        else f"{signal} {state}"
        for signal, state in alarms.items()
    )


def _mode(mode: dict[str, Any]) -> str:
    if mode["mode"] == "paused":
        return f"[bold yellow]paused[/] by {escape(mode['by'])}\n{escape(mode['reason'])}"
    return str(mode["mode"])


def _activity(row: dict[str, Any]) -> str:
    lines = []
    if row["in_flight"]:
        lines.append(
            f"in flight: {row['in_flight']['execution']} (lock until {_when(row['in_flight']['until'])})"
        )
    for name, until in row.get("cooldowns", {}).items():
        lines.append(f"{name.replace('_', '-')} cooldown until {_when(until)}")
    for event in row.get("events", []):
        lines.append(
            f"event {event['name']}: {event['capacity']} for {event['duration_minutes']} min at "
            f"{event['schedule']} {event['timezone']}"
        )
    hold = row.get("hold")
    if hold:
        floor = f" at {hold['floor']}+" if hold["floor"] is not None else ""
        lines.append(f"held{floor} until {_when(hold['until'])} ({hold['kind']})")
    last = row["last_action"]
    if last:
        change = (
            f" {last['from']}->{last['to']}" if last["from"] is not None and last["to"] is not None else ""
        )
        lines.append(f"last: {last['action']}{change} {last['outcome']} at {_when(last['at'])}")
    return escape("\n".join(lines)) or "-"


def _forecast(row: dict[str, Any]) -> str:
    forecast = row.get("forecast")
    if forecast is None:
        return "-"
    return f"floor {forecast['floor']}" if forecast["floor"] is not None else escape(str(forecast["why"]))


def status_table(stack: str, now: datetime, rows: list[dict[str, Any]], dashboard: str | None) -> None:
    table = Table(title=f"{stack} at {now:%Y-%m-%d %H:%M:%S} UTC", title_justify="left", show_lines=True)
    for column in ("target", "kind", "capacity / route", "alarms", "mode", "activity", "forecast"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["target"],
            row["kind"],
            _capacity(row),
            _alarms(row["alarms"]),
            _mode(row["mode"]),
            _activity(row),
            _forecast(row),
        )
    console = _console()
    console.print(table)
    for row in rows:
        for said in (row.get("routing"), row.get("concurrency_reading")):
            if said and said["advice"]:
                console.print(escape(f"{row['target']} {said['advice']}"), soft_wrap=True)
    if dashboard:
        console.print(f"dashboard: {dashboard}", soft_wrap=True)


def history_table(target: str, records: list[dict[str, Any]]) -> None:
    table = Table(title=f"{target}: what the controller did, newest first", title_justify="left")
    for column in ("when (UTC)", "action", "outcome", "capacity", "started by", "why"):
        table.add_column(column, overflow="fold")
    for record in records:
        change = (
            f"{record['from']} -> {record['to']}"
            if record["from"] is not None and record["to"] is not None
            else ""
        )
        why = escape(record["reason"]) + (
            f"\n[red]{escape(record['error'])}[/]" if record.get("error") else ""
        )
        table.add_row(
            _when(record["at"]),
            record["action"],
            record["outcome"],
            change,
            escape(record["started_by"]),
            why,
        )
    console = _console()
    if not records:
        console.print(f"{target}: no history in the window asked for")
        return
    console.print(table)


def approvals_table(stack: str, rows: list[dict[str, Any]]) -> None:
    console = _console()
    if not rows:
        console.print(f"{stack}: no commitment waits for approval")
        return
    table = Table(title=f"{stack}: commitments waiting for approval", title_justify="left")
    for column in ("execution", "target", "commitment", "cost", "asked (UTC)", "rejected if unanswered by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            escape(row["execution"]),
            escape(row["target"]),
            f"{row['model_units']} model unit(s), {row['commitment']}",
            f"${row['hourly_cost_usd']:,.2f}/h",
            _when(row["requested_at"]),
            _when(row["expires_at"]),
        )
    console.print(table)
    console.print(
        "answer: genai-autoscaler approve EXECUTION, or reject EXECUTION --reason TEXT", soft_wrap=True
    )


def events_table(stack: str, events: list[dict[str, Any]], holds: dict[str, dict[str, Any]]) -> None:
    console = _console()
    if events:
        table = Table(title=f"{stack}: planned events, newest first", title_justify="left")
        for column in ("execution", "status", "target", "capacity", "hold", "started (UTC)", "reason"):
            table.add_column(column, overflow="fold")
        for event in events:
            table.add_row(
                escape(event["execution"]),
                event["status"],
                escape(str(event["target"])),
                str(event["desired_capacity"]),
                f"{event['hold_minutes'] or 0} min",
                _when(event["started"]),
                escape(str(event["reason"])),
            )
        console.print(table)
    else:
        console.print(f"{stack}: no planned events")
    for target, hold in holds.items():
        floor = f" at {hold['floor']} or more" if hold["floor"] is not None else ""
        console.print(
            f"{escape(target)} is held{floor} until {_when(hold['until'])} ({escape(hold['kind'])}); "
            f"`event cancel {escape(target)}` lifts it"
        )
