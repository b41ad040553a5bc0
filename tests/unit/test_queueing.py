"""The request-by-request queue against the M/M/c formulas, for Poisson arrivals and exponential service.

Tolerances: 400,000 requests per case (the first 10% dropped as warm-up) leave a sampling error of about 1%
on the probability of waiting and 2-4% on the mean and p95 wait at 70-85% utilization, where successive
waits are strongly correlated; the tests allow 3% and 8%.
"""

from __future__ import annotations

import numpy as np
import pytest
from genai_autoscaler_tools.sim.queueing import (
    blocking_probability,
    erlang_c,
    mean_wait,
    serve_fifo,
    wait_quantile,
)

N = 400_000


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [(1, 0.5, 0.5), (2, 1.0, 1 / 3), (10, 0.0, 0.0)],
    ids=["M/M/1: the utilization", "textbook c=2 a=1", "no load"],
)
def test_erlang_c_known_values(servers: int, load: float, expected: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(expected)


def test_erlang_c_refuses_an_unstable_queue() -> None:
    with pytest.raises(ValueError, match="stable"):
        erlang_c(4, 4.0)


@pytest.mark.parametrize(
    ("servers", "arrival_rate"),
    [(1, 0.7), (4, 3.0), (16, 13.6)],
    ids=["1 slot at 70%", "4 slots at 75%", "16 slots at 85%"],
)
def test_the_replay_agrees_with_erlang_c(servers: int, arrival_rate: float) -> None:
    # Given Poisson arrivals and exponential service times (mean 1 s) through FIFO slots
    rng = np.random.default_rng(servers)
    arrivals = np.cumsum(rng.exponential(1 / arrival_rate, N))
    served = serve_fifo(arrivals, rng.exponential(1.0, N), servers)
    waits = served.waits[N // 10 :]
    # Then the probability of waiting, the mean and the p95 wait match M/M/c
    assert (waits > 1e-12).mean() == pytest.approx(erlang_c(servers, arrival_rate), rel=0.03)
    assert waits.mean() == pytest.approx(mean_wait(servers, arrival_rate, 1.0), rel=0.08)
    assert np.quantile(waits, 0.95) == pytest.approx(
        wait_quantile(servers, arrival_rate, 1.0, 0.95), rel=0.08
    )


def test_a_full_queue_fails_requests_as_m_m_c_k_predicts() -> None:
    # Given 4 slots, 6 waiting places, and more load than the slots can serve (110%)
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(1 / 4.4, N))
    served = serve_fifo(arrivals, rng.exponential(1.0, N), 4, queue_limit=6)
    # Then the failed fraction is M/M/c/K's blocking probability, and no failed request was served
    assert served.failed.mean() == pytest.approx(blocking_probability(4, 6, 4.4), rel=0.03)
    assert np.isnan(served.starts[served.failed]).all()
    assert not np.isnan(served.finishes[~served.failed]).any()


def test_every_request_is_accounted_for() -> None:
    rng = np.random.default_rng(3)
    arrivals = np.sort(rng.random(5_000) * 100)
    served = serve_fifo(arrivals, rng.exponential(2.0, 5_000), 8, queue_limit=20)
    started = ~np.isnan(served.starts)
    assert (started | served.failed).all()
    assert not (started & served.failed).any()
    assert (served.starts[started] >= arrivals[started]).all()
