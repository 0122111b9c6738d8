"""Forecasters who know little: does the model lose to a rule, or only to luck?

Simulated sets in which the model is the true generative model, so its best possible
forecast is known. Each question's log-odds is ``z ~ Normal(-0.9, 1)`` (about 30% yes, the
status quo of the shared sets) and its outcome ``Bernoulli(logistic(z))``. Eight of twenty
forecasters give each question one forecast: each sees ``z`` through independent noise (sd
2) and reports log-odds ``0.35 * seen - 0.585 + Normal(0, 0.3)``, under-confident and
pulled toward the base rate. The information is independent between forecasters, so the
best forecast extremizes their mean log-odds (about 1.8 times, the classic case for the
extremized rule).

The **oracle** forecasts with the true posterior, ``P(y | the question's forecasts)`` under
these exact parameters (on a grid over ``z``): what no method fitted on 64 questions can
beat on average. The script runs the same 5-fold backtest as ``helsinki backtest`` with
every reference rule, the model and the oracle, and prints per set each method's Brier and
log score, and the model's 90% paired bootstrap interval against the best rule and against
the oracle, then over the sets each method's mean scores and expected excess over the
oracle (standard errors over sets) and on how many sets it had the lowest Brier. A rule ahead of
the model where the oracle too is behind it is ahead by luck.

    .venv/bin/python benchmarks/backtest_weak_signal.py               # seeds 1, 2 and 3
    .venv/bin/python benchmarks/backtest_weak_signal.py --seeds 4 --write-csv weak4.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, logit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

QUESTIONS, FORECASTERS, PER_QUESTION = 80, 20, 8
Z_MEAN, Z_SD = -0.9, 1.0  # each question's log-odds
SEEN_SD = 2.0  # what one forecaster's view of z adds
SLOPE, INTERCEPT, REPORT_SD = 0.35, -0.9 * 0.65, 0.3  # reported = SLOPE * seen + INTERCEPT + ...


def write_csv(seed: int, path: Path) -> None:
    """One simulated set as a forecasts CSV (every forecast at one instant)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(Z_MEAN, Z_SD, QUESTIONS)
    y = rng.random(QUESTIONS) < expit(z)
    lines = ["question_id,forecaster_id,probability,outcome,created_at"]
    for q in range(QUESTIONS):
        for f in rng.choice(FORECASTERS, PER_QUESTION, replace=False):
            seen = z[q] + rng.normal(0, SEEN_SD)
            reported = SLOPE * seen + INTERCEPT + rng.normal(0, REPORT_SD)
            p = round(float(expit(reported)), 3)
            lines.append(f"q{q},f{f},{p},{int(y[q])},2024-07-21T00:00:00Z")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def oracle(train, heldout):  # type: ignore[no-untyped-def]
    """The true posterior of each held-out question given its forecasts (``train`` unused)."""
    latest = heldout.latest_per_forecaster()
    grid = np.linspace(Z_MEAN - 10 * Z_SD, Z_MEAN + 10 * Z_SD, 4001)
    log_prior = -0.5 * ((grid - Z_MEAN) / Z_SD) ** 2
    sd = np.hypot(SLOPE * SEEN_SD, REPORT_SD)  # a reported log-odds given z
    reported = logit(np.clip(latest.probability, 0.0005, 0.9995))  # the CSV's 3 decimals
    out = np.empty(latest.n_questions)
    for q in range(latest.n_questions):
        r = reported[latest.question == q]
        log_post = log_prior - 0.5 * (((r[:, None] - SLOPE * grid - INTERCEPT) / sd) ** 2).sum(0)
        w = np.exp(log_post - log_post.max())
        out[q] = np.sum(w * expit(grid)) / w.sum()
    return out


def run(seed: int, path: Path, truth=None, config=None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The 5-fold backtest of ``path``: every rule, the model (at ``config``, default the
    default model), and ``truth`` (the oracle of the set's generator; this module's
    :func:`oracle` by default) in the same folds.

    Besides each method's scores: its mean squared difference to the oracle's forecasts
    (``excess_brier``) and mean Kullback-Leibler divergence from them (``excess_log``).
    The oracle's forecast being the true ``P(y | forecasts)``, these are the Brier and log
    score the method loses to it on average over outcomes: the same comparison as the
    scores' difference, without the outcomes' noise."""
    from models.aggregators import REFERENCE_RULES
    from models.backtest import (
        aggregator_method,
        compare_methods,
        model_method,
        question_folds,
        run_reference_backtest,
    )
    from models.history import read_forecasts_csv

    table = read_forecasts_csv(path)
    folds = question_folds(table.resolved_question_ids(), 5, 0)
    methods = {rule: aggregator_method(REFERENCE_RULES[rule]) for rule in REFERENCE_RULES}
    model = model_method(config)
    methods["model"] = model
    methods["oracle"] = truth or oracle
    started = time.perf_counter()
    scores = run_reference_backtest(table, folds, methods=methods)
    seconds = time.perf_counter() - started
    best = min((s for s in scores if s.name not in ("model", "oracle")), key=lambda s: s.brier)
    against = {c.against: c for c in compare_methods(scores, "model", 0)}

    def interval(name: str) -> dict[str, float]:
        d = against[name].differences["brier"]
        return {"difference": d.difference, "low": d.low, "high": d.high}

    truest = {s.name: s for s in scores}["oracle"]
    order = {q: i for i, q in enumerate(truest.question_ids)}

    def excess(s) -> dict[str, float]:  # type: ignore[no-untyped-def]
        o = truest.probability[[order[q] for q in s.question_ids]]
        p = np.clip(s.probability, 1e-6, 1 - 1e-6)
        kl = o * np.log(o / p) + (1 - o) * np.log((1 - o) / (1 - p))
        return {"excess_brier": float(np.mean((p - o) ** 2)), "excess_log": float(np.mean(kl))}

    return {
        "seed": seed,
        "scores": {
            s.name: {"brier": s.brier, "log_score": s.log_score, **excess(s)} for s in scores
        },
        "best_rule": best.name,
        "model_minus_best_rule": interval(best.name),
        "model_minus_oracle": interval("oracle"),
        "publishable_folds": sum(f.publishable for f in model.fits),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--write-csv", type=Path, help="write the one set of --seeds here, and stop")
    args = ap.parse_args()
    if args.write_csv:
        if len(args.seeds) != 1:
            ap.error("--write-csv takes one seed: give --seeds N")
        write_csv(args.seeds[0], args.write_csv)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            path = Path(tmp) / f"weak-{seed}.csv"
            write_csv(seed, path)
            rows.append(run(seed, path))
            report(rows[-1])
    summarise(rows)
    print(json.dumps(rows))


def report(r: dict) -> None:  # type: ignore[type-arg]
    """One set's scores, best first, and the model's intervals against the best rule and
    the oracle."""
    s = r["scores"]
    order = sorted(s, key=lambda name: s[name]["brier"])
    print(
        f"seed {r['seed']}: Brier / log score, best first ({r['seconds']} s, "
        f"{r['publishable_folds']}/5 folds publishable)"
    )
    print(f"  {'':<20} Brier   log     from the oracle: Brier  log")
    for name in order:
        print(
            f"  {name:<20} {s[name]['brier']:.4f}  {s[name]['log_score']:.4f}"
            f"  {s[name]['excess_brier']:.5f}  {s[name]['excess_log']:.5f}"
        )
    for label, key in (
        ("best rule, " + r["best_rule"], "model_minus_best_rule"),
        ("oracle", "model_minus_oracle"),
    ):
        d = r[key]
        print(
            f"  model minus {label}: Brier {d['difference']:+.4f} "
            f"[{d['low']:+.4f}, {d['high']:+.4f}]"
        )
    sys.stdout.flush()


def summarise(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Over the sets: each method's mean Brier and log score and its expected excess over
    the oracle (the standard errors over sets), and on how many sets it had the lowest
    Brier of the methods other than the oracle."""
    if len(rows) < 2:
        return
    names = list(rows[0]["scores"])
    methods = [name for name in names if name != "oracle"]
    wins = dict.fromkeys(methods, 0)
    for r in rows:
        wins[min(methods, key=lambda name: r["scores"][name]["brier"])] += 1

    def over_sets(name: str, score: str) -> tuple[float, float]:
        own = np.array([r["scores"][name][score] for r in rows])
        return own.mean(), own.std(ddof=1) / np.sqrt(len(rows))

    print(
        f"over {len(rows)} sets: mean (standard error over sets); Brier and log score from the "
        "oracle: the expected excess; lowest Brier of the methods"
    )
    for name in sorted(names, key=lambda name: over_sets(name, "excess_brier")[0]):
        b, lg = over_sets(name, "brier"), over_sets(name, "log_score")
        eb, el = over_sets(name, "excess_brier"), over_sets(name, "excess_log")
        print(
            f"  {name:<20} Brier {b[0]:.4f} ({b[1]:.4f})  log {lg[0]:.4f} ({lg[1]:.4f})"
            f"  from the oracle: Brier {eb[0]:.5f} ({eb[1]:.5f})  log {el[0]:.5f} ({el[1]:.5f})"
            + (f"  lowest in {wins[name]}" if name in wins else "")
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
