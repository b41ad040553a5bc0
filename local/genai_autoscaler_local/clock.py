"""Simulated time: starts at the real time, moves only when told (or when a workflow Wait/Retry waits)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, start: datetime | None = None):
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def __call__(self) -> datetime:
        return self.now()
