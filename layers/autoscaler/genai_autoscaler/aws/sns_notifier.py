"""Notifier on SNS (the stack's topic; its e-mail subscription comes from the NotificationEmail parameter)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from genai_autoscaler.app.ports import Notifier
from genai_autoscaler.aws.errors import translate


class SnsNotifier(Notifier):
    def __init__(self, sns: Any, topic_arn: str):
        self._sns = sns
        self._topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> None:
        try:
            self._sns.publish(TopicArn=self._topic_arn, Subject=subject, Message=message)
        except ClientError as exc:
            raise translate(exc, f"publishing to {self._topic_arn}") from exc
