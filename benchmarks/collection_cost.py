"""What a full garbage collection costs in a process with a model compiled, frozen or not.

Every fit collects unreachable cycles before it samples (``models._internal.memory``). A
full collection scans every object the collector tracks, and most of them belong to the
compiled models, which live as long as the process. Compiling freezes them out of the
collector's passes (``freeze_long_lived``). This script fits a data set once (compiling its
model, or several models with ``--structures``), then times ``gc.collect()`` as the service
runs (frozen) and, as the baseline in the same process, after ``gc.unfreeze()``.

    .venv/bin/python benchmarks/collection_cost.py                  # forecastbench, 1 model
    .venv/bin/python benchmarks/collection_cost.py --structures 3   # 3 compiled models
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "forecastbench-supers-2024-07-21.csv"


def timed_collections(repeats: int) -> float:
    """The median seconds of ``repeats`` full collections."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--structures",
        type=int,
        default=1,
        help="models compiled, each for half the questions of the one before",
    )
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from models.config import SamplerSettings
    from models.forecast_model import COMPILED, ForecastModel
    from models.history import read_forecasts_csv, to_forecast_data

    table = read_forecasts_csv(args.data).latest_per_forecaster()
    model = ForecastModel()
    short = SamplerSettings(chains=2, tune=100, draws=100, seed=0, retries=0)
    # Other structures: the first n questions (a smaller padded size compiles anew).
    for k in range(args.structures):
        subset = table.select_questions(table.question_ids[: len(table.question_ids) >> k])
        data = to_forecast_data(subset)
        started = time.perf_counter()
        model.fit(data, sampler=short)
        print(
            f"fit {k + 1} ({len(data.questions)} questions): {time.perf_counter() - started:.1f} s"
        )
    print(f"models compiled: {COMPILED.compilations}")
    frozen = gc.get_freeze_count()
    print(f"objects the collector tracks: {len(gc.get_objects()):,}, and {frozen:,} frozen")
    with_freeze = timed_collections(args.repeats)
    gc.unfreeze()
    without = timed_collections(args.repeats)
    print(f"full collection, frozen (as the service runs): {1000 * with_freeze:.3f} ms")
    print(f"full collection, unfrozen (baseline):          {1000 * without:.3f} ms")
    print(f"unfrozen / frozen: {without / with_freeze:,.0f}")


if __name__ == "__main__":
    main()
