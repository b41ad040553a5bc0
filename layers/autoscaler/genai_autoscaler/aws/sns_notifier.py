"""Notifier on SNS: the prose to the stack's topic (its e-mail subscription comes from the NotificationEmail
parameter), and, where the stack names one (ChatTopicArn), the card to the topic a chat channel of Amazon Q
Developer in chat applications is subscribed to."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from genai_autoscaler.app.ports import Notifier
from genai_autoscaler.aws.errors import translate
from genai_autoscaler.domain.chat import custom_notification
from genai_autoscaler.domain.notifications import Notification

log = logging.getLogger(__name__)


class SnsNotifier(Notifier):
    def __init__(self, sns: Any, topic_arn: str, chat_topic_arn: str = "", stack_name: str = ""):
        self._sns = sns
        self._topic_arn = topic_arn
        self._chat_topic_arn = chat_topic_arn
        self._stack_name = stack_name

    def publish(self, subject: str, message: str) -> None:
        try:
            self._sns.publish(TopicArn=self._topic_arn, Subject=subject, Message=message)
        except ClientError as exc:
            raise translate(exc, f"publishing to {self._topic_arn}") from exc

    def chat(self, notification: Notification) -> None:
        """Best effort: the e-mail carries the same words, and a chat topic that refuses must not fail what
        the controller did; the refusal is logged."""
        if not self._chat_topic_arn:
            return
        card = custom_notification(notification, self._stack_name)
        try:
            self._sns.publish(TopicArn=self._chat_topic_arn, Message=json.dumps(card))
        except (ClientError, BotoCoreError) as exc:
            log.warning("the chat card was not published to %s: %s", self._chat_topic_arn, exc)
