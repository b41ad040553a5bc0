"""A notification as a chat card: the custom-notification format of Amazon Q Developer in chat applications
(formerly AWS Chatbot), which renders an SNS message in this shape as a card in Slack, Microsoft Teams or
Chime. Its administrator guide ("Custom notifications", "Event schema") states the fields: `version` "1.0" and
`source` "custom" (required), `content.description` (required; `textType` "client-markdown" is the one
supported), `content.title`, `content.nextSteps` and `content.keywords` (lists of strings), and `metadata`
(`threadId` to thread a target's cards, `summary`, `eventType`, `relatedResources`, `additionalContext`).

The card carries the same words as the e-mail, the title and the next steps standing apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

from genai_autoscaler.domain.notifications import APPROVAL_TOKEN_LEAD, Notification

VERSION, SOURCE, TEXT_TYPE = "1.0", "custom", "client-markdown"
DESCRIPTION_LIMIT = 3000  # what one Slack section renders; the full text stays in the e-mail and the history
PRODUCT = "GenAI Autoscaler: "


def custom_notification(notification: Notification, stack_name: str) -> dict[str, Any]:
    """`notification` as Amazon Q Developer's custom notification, for the stack `stack_name`."""
    title = notification.subject.removeprefix(PRODUCT)
    # A task token stays out of chat: the answer goes through the approval function, signed by the approver.
    text = notification.message.split(APPROVAL_TOKEN_LEAD, 1)[0].rstrip()
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 1] + "…"
    steps = [
        f"`{step} --stack {stack_name}`" if step.startswith("genai-autoscaler ") else step
        for step in notification.next_steps
    ]
    thread = notification.target or stack_name
    card: dict[str, Any] = {
        "version": VERSION,
        "source": SOURCE,
        "id": hashlib.sha256(f"{notification.subject}\n{notification.message}".encode()).hexdigest()[:32],
        "content": {
            "textType": TEXT_TYPE,
            "title": title,
            "description": "```\n" + text + "\n```",
            "nextSteps": steps,
            "keywords": [
                keyword for keyword in ("genai-autoscaler", stack_name, notification.target) if keyword
            ],
        },
        "metadata": {
            "threadId": f"{stack_name}/{thread}",
            "summary": title,
            "eventType": notification.event_type,
            "additionalContext": {
                "stack": stack_name,
                **({"target": notification.target} if notification.target else {}),
            },
        },
    }
    return card
