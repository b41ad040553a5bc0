"""A target's latency SLO, stated the way LLM teams state it, and the latency threshold the controller takes from it.

Two forms:

- `p95_ms`: 95% of whole responses within this long. SageMaker's ModelLatency p95 measures exactly that.
- `ttft_ms` and `tpot_ms`: every response within `ttft_ms + output tokens x tpot_ms`. The deadline grows with the
  response, and a SageMaker endpoint publishes no token counts; so the latency alarm holds the p95 of ModelLatency
  (the traffic's long responses) to the deadline of the 95th-percentile response length, `p95_output_tokens`,
  which the team states from its own traffic (`genai-autoscaler tune --trace` measures it from a trace with
  token counts).

The threshold follows the SLO and the traffic's own request sizes: long-context prompts with long answers get a
threshold as long as their deadline, short chat a short one. What the SLO cannot tell is how busy an instance
may be; that is the concurrency signal's threshold, a property of the model server (its batch), not of the SLO.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LatencySLO(BaseModel):
    """The latency a target's users are promised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_ms: float | None = Field(
        None, gt=0, description="95% of whole responses within this many milliseconds (ModelLatency p95)."
    )
    ttft_ms: float | None = Field(
        None,
        gt=0,
        description="Per response: the whole response within ttft_ms + output tokens x tpot_ms. Time to first "
        "token allowed.",
    )
    tpot_ms: float | None = Field(None, gt=0, description="Per response: time allowed per output token.")
    p95_output_tokens: int | None = Field(
        None,
        ge=1,
        description="With ttft_ms and tpot_ms: the 95th percentile of the traffic's response lengths, in output "
        "tokens (SageMaker publishes no token counts; `genai-autoscaler tune --trace` measures it).",
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        per_response = {
            "ttft_ms": self.ttft_ms,
            "tpot_ms": self.tpot_ms,
            "p95_output_tokens": self.p95_output_tokens,
        }
        given = [name for name, value in per_response.items() if value is not None]
        if self.p95_ms is not None and given:
            raise ValueError(
                "state the SLO one way: p95_ms, or ttft_ms, tpot_ms and p95_output_tokens; "
                f"got p95_ms and {', '.join(given)}"
            )
        if self.p95_ms is None and len(given) < len(per_response):
            missing = [name for name in per_response if name not in given]
            raise ValueError(
                "state the SLO as p95_ms, or as ttft_ms, tpot_ms and p95_output_tokens together; "
                f"missing: {', '.join(missing)}"
            )
        return self

    @property
    def p95_latency_ms(self) -> float:
        """The p95 of whole-response latency that keeps the SLO: the latency alarm's threshold."""
        if self.p95_ms is not None:
            return self.p95_ms
        assert self.ttft_ms is not None
        assert self.tpot_ms is not None
        assert self.p95_output_tokens is not None
        return self.ttft_ms + self.p95_output_tokens * self.tpot_ms

    @property
    def deadline_s(self) -> tuple[float, float]:
        """(seconds, seconds per output token): a response of n tokens is due within the first + n x the second."""
        if self.p95_ms is not None:
            return self.p95_ms / 1000.0, 0.0
        assert self.ttft_ms is not None
        assert self.tpot_ms is not None
        return self.ttft_ms / 1000.0, self.tpot_ms / 1000.0
