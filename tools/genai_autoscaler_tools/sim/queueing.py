"""Queueing: requests waiting for one of a fleet's concurrency slots.

`serve_fifo` replays requests one by one through `slots` parallel servers with a bounded queue (a request
that arrives to a full queue fails), as an endpoint with `instances x concurrency` slots does. `erlang_c` and
friends are the M/M/c formulas it is checked against: for Poisson arrivals and exponential service times the
replay must agree with them (tests/unit/test_queueing.py states the tolerance).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arriving request waits, for `servers` servers and offered load λ/μ (in Erlangs).

    Computed through the Erlang B recursion, which stays stable for hundreds of servers.
    Raises ValueError when the load is not below the number of servers (the queue would grow without bound).
    """
    if servers < 1:
        raise ValueError(f"servers must be at least 1, got {servers}")
    if not 0 <= offered_load < servers:
        raise ValueError(f"offered load {offered_load} must be in [0, {servers}) for a stable queue")
    blocking = 1.0  # Erlang B with 0 servers
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    utilization = offered_load / servers
    return blocking / (1 - utilization + utilization * blocking)


def mean_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean time in queue (before service) of M/M/c, in the time unit of the rates."""
    load = arrival_rate / service_rate
    return erlang_c(servers, load) / (servers * service_rate - arrival_rate)


def wait_quantile(servers: int, arrival_rate: float, service_rate: float, q: float) -> float:
    """The q-quantile of the time in queue of M/M/c: P(W > t) = C(c, a) exp(-(cμ - λ) t)."""
    waiting = erlang_c(servers, arrival_rate / service_rate)
    if waiting <= 1 - q:
        return 0.0
    return math.log(waiting / (1 - q)) / (servers * service_rate - arrival_rate)


def blocking_probability(servers: int, queue_limit: int, offered_load: float) -> float:
    """Probability that an arrival finds the queue full, for M/M/c with `queue_limit` waiting places (M/M/c/K)."""
    terms = [offered_load**n / math.factorial(n) for n in range(servers)]
    top = offered_load**servers / math.factorial(servers)
    terms += [top * (offered_load / servers) ** k for k in range(queue_limit + 1)]
    return terms[-1] / sum(terms)


@dataclass(frozen=True)
class Served:
    """What happened to each request: when it started and finished, or that it failed (queue full)."""

    arrivals: Floats
    starts: Floats
    finishes: Floats
    failed: npt.NDArray[np.bool_]

    @property
    def waits(self) -> Floats:
        """Time in queue of each served request."""
        return (self.starts - self.arrivals)[~self.failed]


def serve_fifo(arrivals: Floats, service_times: Floats, slots: int, queue_limit: int | None = None) -> Served:
    """Replay requests (sorted arrival times, each with its service time) through `slots` FIFO servers.

    A request that finds `queue_limit` requests already waiting fails at once (starts and finishes are NaN
    for it). O(n log slots).
    """
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    if arrivals.size != service_times.size:
        raise ValueError("arrivals and service_times differ in length")
    n = arrivals.size
    starts = np.full(n, np.nan)
    finishes = np.full(n, np.nan)
    failed = np.zeros(n, dtype=np.bool_)
    free_at = [0.0] * slots  # a heap of the times each slot becomes free
    waiting_starts: list[float] = []  # a heap of the start times of the requests admitted but not yet started
    for i in range(n):
        now = float(arrivals[i])
        while waiting_starts and waiting_starts[0] <= now:
            heapq.heappop(waiting_starts)
        if queue_limit is not None and len(waiting_starts) >= queue_limit and free_at[0] > now:
            failed[i] = True
            continue
        begin = max(now, heapq.heappop(free_at))
        end = begin + float(service_times[i])
        heapq.heappush(free_at, end)
        starts[i], finishes[i] = begin, end
        if begin > now:
            heapq.heappush(waiting_starts, begin)
    return Served(arrivals=arrivals, starts=starts, finishes=finishes, failed=failed)
