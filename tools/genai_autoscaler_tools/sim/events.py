"""Simulated time for a replay: a clock and the events scheduled on it, run at step boundaries."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # simulated time 0, so that runs are identical


class Scheduler:
    """`now` in seconds since EPOCH, and actions to run when it reaches them (in the order they were asked)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def moment(self, seconds: float) -> datetime:
        return EPOCH + timedelta(seconds=seconds)

    def seconds(self, moment: datetime) -> float:
        return (moment - EPOCH).total_seconds()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` at the first step boundary at or after `when`."""
        heapq.heappush(self._queue, (when, next(self._order), action))

    def every(self, interval: float, action: Callable[[], None]) -> None:
        def repeat() -> None:
            action()
            self.at(self.now + interval, repeat)

        self.at(interval, repeat)

    def run(self, process: Generator[float, None, None]) -> None:
        """Run a process now; each number it yields is how long it waits before it goes on."""

        def resume() -> None:
            try:
                delay = next(process)
            except StopIteration:
                return
            self.at(self.now + delay, resume)

        resume()

    def run_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.now + 1e-9:
            _, _, action = heapq.heappop(self._queue)
            action()
