"""boto3 clients, created on first use (not at import) with one retry and timeout configuration."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries absorb short throttling inside one Lambda call; longer trouble surfaces as
# TransientAwsError and is retried by the workflow's Retry with backoff.
_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
