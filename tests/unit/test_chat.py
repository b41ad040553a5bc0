"""A notification as Amazon Q Developer's custom notification (domain/chat.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from genai_autoscaler.domain.chat import DESCRIPTION_LIMIT, custom_notification
from genai_autoscaler.domain.notifications import (
    APPROVAL_TOKEN_LEAD,
    Notification,
    for_approval_request,
    for_pause,
)
from genai_autoscaler.domain.plan import Action, Plan
from genai_autoscaler.domain.state import PauseRecord
from genai_autoscaler.domain.targets import TargetKind

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def commitment() -> Plan:
    return Plan(
        action=Action.SHIFT_TO_PROVISIONED,
        target="claude",
        target_id="bedrock/claude",
        kind=TargetKind.BEDROCK_MODEL,
        reason="throttled requests 37 (threshold 5)",
        decided_at=NOW,
        model_units=5,
        hourly_cost_usd=200.0,
        commitment="OneMonth",
        needs_approval=True,
    )


def test_the_card_has_what_the_schema_requires_and_reads_like_the_email() -> None:
    pause = PauseRecord(by="arn:aws:iam::123456789012:user/dana", at=NOW, reason="load test")
    card = custom_notification(for_pause("llm-prod/AllTraffic", pause, resumed_by=None), "genai-prod")
    assert json.loads(json.dumps(card)) == card
    assert (card["version"], card["source"]) == ("1.0", "custom")
    content = card["content"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == "llm-prod/AllTraffic paused"
    assert "Paused by: arn:aws:iam::123456789012:user/dana" in content["description"]
    assert content["nextSteps"] == ["`genai-autoscaler resume llm-prod/AllTraffic --stack genai-prod`"]
    assert all(isinstance(k, str) for k in content["keywords"])
    assert card["metadata"]["threadId"] == "genai-prod/llm-prod/AllTraffic"  # a target's cards share a thread
    assert card["metadata"]["eventType"] == "paused"


def test_an_approval_request_card_carries_no_task_token_and_says_how_to_answer() -> None:
    request = for_approval_request(commitment(), "shift-1", 3600)
    notification = request.model_copy(update={"message": request.message + "AAAA-secret-token"})
    card = custom_notification(notification, "genai-prod")
    assert "AAAA-secret-token" not in json.dumps(card)
    assert APPROVAL_TOKEN_LEAD.strip() not in card["content"]["description"]
    assert "$200.00 per hour" in card["content"]["description"]
    assert card["content"]["nextSteps"][:2] == [
        "`genai-autoscaler approve shift-1 --stack genai-prod`",
        '`genai-autoscaler reject shift-1 --reason "WHY" --stack genai-prod`',
    ]


def test_a_long_message_is_cut_in_the_card_only() -> None:
    long = Notification(subject="GenAI Autoscaler: many", message="x" * 10_000)
    assert len(custom_notification(long, "s")["content"]["description"]) <= DESCRIPTION_LIMIT + 8
