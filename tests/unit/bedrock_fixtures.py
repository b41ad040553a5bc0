"""Figures shared by the tests of the fake Bedrock client and of the adapter (fixtures: conftest.py)."""

from __future__ import annotations

from genai_autoscaler_local.bedrock_fake import REGION

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MODEL_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL}"
PROVISIONING = 600
DAY = 86400
