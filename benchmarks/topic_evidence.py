"""Do a set's groups differ in how their crowds err? What the training outcomes say, per fold.

The model's groups' terms ("Topics" in docs/model.md: a factor on the crowd's
discrimination and a shift to the outcomes, per group) earn their place where groups differ
(forecastbench's sources) and cost about 0.0008 of expected Brier where they do not
(docs/backtests.md, "Panels over several sets"); no prior tried served both. Every fit
now runs a cheap test first, on its resolved questions only, and keeps the terms only
where it finds that groups differ (models/topics.py; ``forecaster.topic_evidence_p``): a
logistic recalibration of each question's crowd log-odds (the mean of its forecasters'
latest) on its outcome, per group (a slope and an intercept each) against one for all, and
the likelihood-ratio statistic with its p-value by a parametric bootstrap. This script runs that test, through the model's own encoding, on what each fold
of ``helsinki backtest`` (5 at seed 0) hands the model, without fitting. Printed per set
and fold: the groups, the training questions, the statistic and its p-value.

    .venv/bin/python benchmarks/topic_evidence.py ../shared/data/forecastbench-supers-2024-07-21.csv
    .venv/bin/python benchmarks/topic_evidence.py --shuffle-groups ../shared/data/forecastbench-supers-2024-07-21.csv
    .venv/bin/python benchmarks/topic_evidence.py --panels 1 2 3 4 5 6 7 8    # crossed_groups.py, 20 x 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from crossed_groups import write_csv  # noqa: E402

from models.backtest import ModelMethod, mask_outcomes, question_folds  # noqa: E402
from models.forecast_model import ModelStructure, encode, topic_test_inputs  # noqa: E402
from models.history import ForecastTable, read_forecasts_csv  # noqa: E402
from models.topics import group_evidence  # noqa: E402


def evidence(table: ForecastTable, folds: int = 5, seed: int = 0) -> list[dict[str, float]]:
    """Per fold: the test the model's fit runs on what it sees of the fold (its training
    questions' outcomes), through the model's own encoding (models/topics.py)."""
    method = ModelMethod()
    split = question_folds(table.resolved_question_ids(), folds, seed)
    rows = []
    for k, held in enumerate(split):
        masked = mask_outcomes(table, held)
        train = masked.select_questions([q for j, f in enumerate(split) if j != k for q in f])
        data = method.fold_data(train, masked.select_questions(held))
        encoded = encode(data, ModelStructure.for_data(data))
        test = encoded.group_evidence
        assert test is not None
        # Its cost, timed again on the same inputs: the whole test, and the statistic alone
        # (no bootstrap draws) as the baseline.
        args = topic_test_inputs(encoded.arrays)
        started = time.perf_counter()
        again = group_evidence(*args)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        group_evidence(*args, stop_after=0)
        baseline = time.perf_counter() - started
        assert again == test
        rows.append(
            {"groups": test.groups, "train": test.questions, "lr": test.statistic,
             "p": float("nan") if test.p_value is None else test.p_value,
             "seconds": seconds, "statistic_seconds": baseline}
        )  # fmt: skip
    return rows


def shuffled(table: ForecastTable, seed: int = 0) -> ForecastTable:
    """``table`` with its questions' groups permuted: groups that differ only by chance."""
    return replace(table, group=np.random.default_rng(seed).permutation(table.group))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--shuffle-groups", action="store_true", help="permute the files' groups")
    ap.add_argument("--panels", type=int, nargs="*", default=[], help="simulated panel seeds")
    args = ap.parse_args()
    sets = []
    for path in args.files:
        table = read_forecasts_csv(path)
        sets.append((path.name, shuffled(table) if args.shuffle_groups else table))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.panels:
            path = Path(tmp) / f"panel-{seed}.csv"
            write_csv(path, forecasters=20, questions=200, seed=seed)
            sets.append((f"panel seed {seed} (20 x 200)", read_forecasts_csv(path)))
    for name, table in sets:
        rows = evidence(table)
        print(f"{name}: {rows[0]['groups']} groups")
        for k, r in enumerate(rows, 1):
            print(
                f"  fold {k}: {r['train']} training questions, LR {r['lr']:6.1f}, p {r['p']:.4f}"
                f"  ({r['seconds']:.3f} s; the statistic alone {r['statistic_seconds']:.4f} s,"
                f" ratio {r['seconds'] / max(r['statistic_seconds'], 1e-9):.0f})"
            )


if __name__ == "__main__":
    main()
