"""Do a set's groups differ in how their crowds err? What the training outcomes say, per fold.

The model's groups' terms ("Topics" in docs/model.md: a factor on the crowd's
discrimination and a shift to the outcomes, per group) earn their place where groups differ
(forecastbench's sources) and cost about 0.0008 of expected Brier where they do not
(docs/backtests.md, "Panels over several sets"); no prior tried served both. This script
measures whether a cheap test, run on a fold's training questions only, tells the two
apart: a logistic recalibration of each question's mean log-odds (the ``mean_logodds``
reference rule's, before its logistic) on its outcome, per group (a slope and an
intercept each) against one for all, and the likelihood-ratio statistic with its
chi-squared p-value (``2 (groups - 1)`` degrees of freedom). The folds are
``helsinki backtest``'s (5 at seed 0). Printed per set and fold: the groups, the training
questions, the statistic and its p-value.

    .venv/bin/python benchmarks/topic_evidence.py ../shared/data/forecastbench-supers-2024-07-21.csv
    .venv/bin/python benchmarks/topic_evidence.py --shuffle-groups ../shared/data/forecastbench-supers-2024-07-21.csv
    .venv/bin/python benchmarks/topic_evidence.py --panels 1 2 3 4 5 6 7 8    # crossed_groups.py, 20 x 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import chi2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from crossed_groups import write_csv  # noqa: E402

from models.aggregators import MeanLogOdds  # noqa: E402
from models.backtest import question_folds  # noqa: E402
from models.history import ForecastTable, read_forecasts_csv  # noqa: E402


def _neg_loglik(design: np.ndarray, y: np.ndarray) -> float:
    """The smallest negative Bernoulli log-likelihood of a logistic regression."""

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z)), design.T @ (expit(z) - y)

    return float(minimize(f, np.zeros(design.shape[1]), jac=True, method="BFGS").fun)


def evidence(table: ForecastTable, folds: int = 5, seed: int = 0) -> list[dict[str, float]]:
    """Per fold: the likelihood-ratio test of per-group recalibration on its training set."""
    latest = table.latest_per_forecaster()
    crowd = MeanLogOdds._mean_logodds(latest)  # NaN where a question has no forecast
    index = {q: i for i, q in enumerate(latest.question_ids)}
    rows = []
    for held in question_folds(table.resolved_question_ids(), folds, seed):
        train = latest.resolved & ~np.isnan(crowd)
        train[[index[q] for q in held]] = False
        x, y, g = crowd[train], latest.outcome[train], latest.group[train]
        groups = np.unique(g)
        onehot = (g[:, None] == groups[None, :]).astype(float)
        common = _neg_loglik(np.column_stack([x, np.ones_like(x)]), y)
        per_group = _neg_loglik(np.column_stack([onehot * x[:, None], onehot]), y)
        stat = max(2.0 * (common - per_group), 0.0)
        df = 2 * (len(groups) - 1)
        rows.append(
            {"groups": len(groups), "train": int(train.sum()), "lr": stat,
             "p": float(chi2.sf(stat, df)) if df else float("nan")}
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
            print(f"  fold {k}: {r['train']} training questions, LR {r['lr']:6.1f}, p {r['p']:.4f}")


if __name__ == "__main__":
    main()
