"""The instant updates' filter over many draws (``models._internal.walk.filter_draws``):
one compiled loop over the draws, against a Python loop that calls the compiled filter once
per draw (how it ran before 2026-12-08).

Random inputs of the shapes an update meets: 4,000 draws (the default sampler's), one
question with N forecasts a day apart. The two give the same numbers to the bit (checked
here); the figures are printed, never asserted.

    .venv/bin/python benchmarks/filter_draws_cost.py
    .venv/bin/python benchmarks/filter_draws_cost.py --draws 2000 --sizes 3 300 --repeat 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models._internal.walk import _jitted, filter_draws


def per_draw_loop(q, a, r, v, dt, mu, tau2, w, u, kappa):  # type: ignore[no-untyped-def]
    """The baseline: the compiled one-draw filter called from Python for each draw."""
    forward = _jitted()[0]
    k, nq = mu.shape
    ll, mean, var = np.empty((k, nq)), np.empty((k, nq)), np.empty((k, nq))
    for d in range(k):
        ll[d], mean[d], var[d] = forward(
            q, a[d], r[d], v[d], dt, mu[d], tau2[d], float(w[d]), float(u[d]), kappa
        )
    return ll, mean, var


def median_ms(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 30, 300])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k = args.draws
    print(f"{k} draws | forecasts | per-draw loop | one loop | speed-up | same numbers")
    for n in args.sizes:
        q = np.zeros(n, dtype=np.int64)
        a, v = rng.uniform(0.5, 1.5, (k, n)), rng.uniform(0.2, 1.0, (k, n))
        r = rng.normal(size=(k, n))
        dt = np.r_[0.0, np.ones(n - 1)]
        mu, tau2 = rng.normal(size=(k, 1)), rng.uniform(0.5, 2.0, (k, 1))
        w, u = rng.uniform(0.0, 0.1, k), rng.uniform(0.0, 0.1, k)
        inputs = (q, a, r, v, dt, mu, tau2, w, u, 0.5)
        same = all(
            np.array_equal(x, y)
            for x, y in zip(per_draw_loop(*inputs), filter_draws(*inputs), strict=True)
        )
        before = median_ms(lambda inputs=inputs: per_draw_loop(*inputs), args.repeat)
        after = median_ms(lambda inputs=inputs: filter_draws(*inputs), args.repeat)
        print(
            f"{'':11}| {n:9d} | {before:10.1f} ms | {after:5.1f} ms | {before / after:8.1f} | {same}"
        )


if __name__ == "__main__":
    main()
