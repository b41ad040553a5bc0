"""What IAM enforcement costs the local harness: the demo (`make demo`) run with moto's IAM check on (as every
integration test runs) and off, alternating, in one process. Prints each run's seconds and the ratio of the
medians; timings are compared as a ratio within one run, as the machine is shared.

    .venv/bin/python scripts/bench_iam_enforcement.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from typing import Any

from genai_autoscaler_local import demo
from genai_autoscaler_local.harness import LocalAws


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for enforced in (True, False):

            def local_aws(*args: Any, _enforced: bool = enforced, **kwargs: Any) -> LocalAws:
                return LocalAws(*args, **{**kwargs, "enforce_iam": _enforced})

            demo.LocalAws = local_aws  # type: ignore[misc]
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                passed = demo.main() == 0
            seconds[enforced].append(time.perf_counter() - started)
            if not passed:
                print(f"the demo failed with IAM enforcement {'on' if enforced else 'off'}")
                return 1
    for enforced, runs in seconds.items():
        print(f"IAM enforced {'on ' if enforced else 'off'}: " + ", ".join(f"{s:.2f} s" for s in runs))
    ratio = statistics.median(seconds[True]) / statistics.median(seconds[False])
    print(f"median on / median off: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
