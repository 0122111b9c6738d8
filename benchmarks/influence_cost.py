"""What moves a forecast: the cost of leaving each input out (``Posterior.influence``),
against the instant update that adds one forecast (``Posterior.with_forecast``).

Fits the priors catalog once (the default model and sampler, the checkout's compile cache),
then, for each size N, gives one catalog question N forecasts of its own (forecasters of
the fit, made an hour apart, their log-odds near the question's) and times:

* **influence**: ``influence(question)``, which leaves out the newest 50 of them one by one
  (each a pass over the others: the work grows as N times min(N, 50));
* **baseline** (same process, same posterior): one instant update by one more forecast,
  which is what a post costs.

The figures are printed, never asserted.

    .venv/bin/python benchmarks/influence_cost.py
    .venv/bin/python benchmarks/influence_cost.py --sizes 3 30 300 --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import load_catalog
from models.dataset import Forecast
from models.forecast_model import ForecastModel, Posterior

ROOT = Path(__file__).resolve().parents[1]


def with_forecasts(post: Posterior, question_id: str, n: int, seed: int) -> Posterior:
    """``post`` with ``n`` more forecasts on ``question_id`` by the fit's own forecasters."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 26, tzinfo=UTC)
    level = float(np.mean([f.logit_center for f in post.data.forecasts]))
    extra = tuple(
        Forecast(
            question_id=question_id,
            forecaster_id=post.forecaster_ids[i % len(post.forecaster_ids)],
            created_at=start + timedelta(hours=i),
            logit_center=float(level + rng.normal(0.0, 0.5)),
            logit_spread=0.3,
            id=f"bench-{i}",
        )
        for i in range(n)
    )
    data = dataclasses.replace(post.data, forecasts=post.data.forecasts + extra)
    return dataclasses.replace(post, data=data, _new_forecasters={})


def timed(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 30, 100, 300])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    catalog = load_catalog(ROOT / "priors")
    t = time.perf_counter()
    post = ForecastModel(catalog.model_config).fit(catalog.to_forecast_data())
    print(f"catalog fit: {time.perf_counter() - t:.1f} s, {post.n_samples} draws")
    question = post.question_ids[0]
    post.influence(question)  # compiles the filter's loops once (numba), as a server does
    print("forecasts | inputs left out | influence (median) | one instant update | ratio")
    for n in args.sizes:
        big = with_forecasts(post, question, n, seed=n)
        shown = len(big.influence(question).inputs)
        cost = timed(lambda big=big: big.influence(question), args.repeat)
        one = Forecast(
            question_id=question,
            forecaster_id=post.forecaster_ids[0],
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
            logit_center=-1.0,
            logit_spread=0.3,
            id="bench-new",
        )
        base = timed(lambda big=big, one=one: big.with_forecast(one), args.repeat)
        total = sum(f.question_id == question for f in big.data.forecasts)
        print(
            f"{total:9d} | {shown:15d} | {cost:15.2f} s | {1000 * base:15.1f} ms | "
            f"{cost / base:5.0f}"
        )


if __name__ == "__main__":
    main()
