"""Panels: does the model lose to a rule where every forecaster forecasts every question?

Simulated panels from the generator of ``crossed_groups.py`` (forecasters who differ in
discrimination, bias and noise; five groups that differ in level; each question's forecasts
at one instant, sharing the crowd's error on it), at several seeds. The **oracle** forecasts
with the true posterior, ``P(y | the question's forecasts)`` under the generating parameters:
what no method fitted on the other folds can beat on average. Given a question's forecasts
``r_e`` (log-odds, as read from the CSV), ``(r_e - bias_e) / disc_e`` reads ``theta + c``
with noise ``noise_e / disc_e``; their precision-weighted mean reads ``theta`` with variance
``1 / sum(disc_e^2 / noise_e^2) + CROWD_SD^2``, and ``theta ~ Normal(level_g, QUESTION_SD)``:
the posterior of ``theta`` is Gaussian, and ``P(y)`` its mean of ``logistic(theta)``.

For each seed, the same 5-fold backtest as ``helsinki backtest`` with every reference rule,
the model and the oracle (``backtest_weak_signal.run``); then, over the seeds, each
method's mean Brier and log score and its expected excess over the oracle (its mean
squared difference to the oracle's forecasts for Brier, the mean Kullback-Leibler
divergence for log score: what it loses to the oracle, without the outcomes' noise), with
standard errors over sets, and on how many sets it had the lowest Brier. A rule ahead of
the model on one set where the oracle too is behind it is ahead by luck; over sets, the
excess says which method loses information.

    .venv/bin/python benchmarks/backtest_panel.py                          # 20 x 200, seeds 1-8
    .venv/bin/python benchmarks/backtest_panel.py --forecasters 40 --questions 400 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_weak_signal import report, run, summarise  # (it sets the compile cache and path)
from crossed_groups import CROWD_SD, QUESTION_SD, Panel, write_csv

NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(40)  # for E[logistic(theta)]


def oracle_of(panel: Panel):  # type: ignore[no-untyped-def]
    """The true posterior of each held-out question of ``panel`` given its forecasts."""

    def oracle(train, heldout):  # type: ignore[no-untyped-def]
        latest = heldout.latest_per_forecaster()
        reported = logit(np.clip(latest.probability, 0.0005, 0.9995))  # the CSV's 3 decimals
        forecaster = np.array([int(f[1:]) for f in latest.forecaster_ids])  # "m12" -> 12
        out = np.empty(latest.n_questions)
        for q, qid in enumerate(latest.question_ids):
            rows = latest.question == q
            e = forecaster[latest.forecaster[rows]]
            precision = panel.disc[e] ** 2 / panel.noise[e] ** 2
            seen = (reported[rows] - panel.bias[e]) / panel.disc[e]
            read_var = 1.0 / precision.sum() + CROWD_SD**2
            read = np.sum(precision * seen) / precision.sum()
            level = panel.level[panel.group[int(qid[1:])]]
            var = 1.0 / (1.0 / QUESTION_SD**2 + 1.0 / read_var)
            mean = var * (level / QUESTION_SD**2 + read / read_var)
            out[q] = np.sum(WEIGHTS * expit(mean + np.sqrt(var) * NODES)) / WEIGHTS.sum()
        return out

    return oracle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 9)))
    ap.add_argument("--forecasters", type=int, default=20)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--model-config", type=Path, help="the model's priors (default: the default)")
    args = ap.parse_args()
    config = None
    if args.model_config:
        from models.catalog import load_model_config

        config = load_model_config(args.model_config)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            path = Path(tmp) / f"panel-{seed}.csv"
            panel = write_csv(path, args.forecasters, args.questions, seed)
            rows.append(run(seed, path, truth=oracle_of(panel), config=config))
            report(rows[-1])
    summarise(rows)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
