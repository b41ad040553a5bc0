"""Every model of the shipped ServeGen trace replayed against every policy: real traffic beyond `make bench`'s.

`make bench` replays one ServeGen model (`m-large`) at one scale. The trace holds five: three of 14 days
(`m-large`, `m-mid`, `m-small`, the last two with gaps where the traffic stops for 10 minutes to 4 hours and comes
back at full at once) and two of one day (`deepseek-r1`, `mm-image`). Each is scaled as the synthetic shapes are,
so that its busiest 10 minutes ask for SHAPE_PEAK_INSTANCES times one instance's load-tested rate, and replayed
with the example target (its max raised to 64, so that max never decides, and the SLO its team would state for
the traffic), with issue 10's goals for the controller, pass or MISS. The models replay on a pool of worker
processes (`bench_policies.in_parallel`), each printed whole in this order: about three minutes here.

    python scripts/bench_servegen.py [--only MODEL ...] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from bench_policies import (
    SEED,
    SHAPE_MAX,
    SHAPE_PEAK_INSTANCES,
    TRACES,
    Checks,
    example_target,
    in_parallel,
    judged,
    peak_rate,
    reported,
    widened,
)
from genai_autoscaler_tools.sim.endpoint import EndpointModel
from genai_autoscaler_tools.sim.traces import RateSeries, rate_scale, read_trace

TRACE = TRACES / "servegen_aggregate_rate_10min.csv"
MODELS = ("m-large", "m-mid", "m-small", "deepseek-r1", "mm-image")


def _model(model: str) -> Checks:
    """One model of the trace, scaled and replayed against every policy: its table and the controller's goals."""
    endpoint = EndpointModel()
    raw = read_trace(TRACE, model=model)
    assert isinstance(raw, RateSeries)
    busiest = float(np.nanmax(raw.rates))
    scale = peak_rate(raw, endpoint) / busiest
    trace = rate_scale(raw, scale, SEED)
    began = time.perf_counter()
    checks = judged(
        f"ServeGen {model} x{scale:.4g} ({trace.duration / 86400:.0f} days; peak {busiest * scale:.1f} "
        f"requests/s = {SHAPE_PEAK_INSTANCES}x one instance's load-tested rate; max {SHAPE_MAX})",
        f"ServeGen {model}",
        trace,
        endpoint,
        widened(example_target()),
    )
    print(f"  replayed in {time.perf_counter() - began:.0f} s")
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=MODELS, help="the models to replay (default: all)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    done = in_parallel([(_model, (model,)) for model in args.only or MODELS])
    return reported([check for checks in done for check in checks], args.check)


if __name__ == "__main__":
    sys.exit(main())
