"""Does the model keep its lead when questions move while forecasters forecast them?

The closed-form model (``--model still``) reads each forecaster's latest forecast on a
question as a measurement of the question's one log-odds, however old it is; the default
reads it at its time (docs/model.md, "Questions that move"); a recency-weighted median (the reference rule
in the style of Metaculus's community prediction) trusts the newest forecasts most. The
shared data sets cannot tell which is right: forecastbench's forecasts were all made on
one day, GJP week 1's within eight days. This script simulates forecasts CSVs (no real
data: every number below is drawn here, seeded) in which each question's log-odds take a
Gaussian random walk over the 90 days it is open, with per-day variance ``D``;
forecasters forecast at uniform times, each with a bias, a discrimination and a noise of
their own, and the outcome is drawn from the walk's end. ``D = 0`` is the control: no
drift. It runs the 5-fold backtest of ``helsinki backtest`` (every reference rule and the
model) on each and prints the model's scores against the best rule's, as
``backtest_shapes.py`` does.

    .venv/bin/python benchmarks/backtest_drift.py                  # D = 0, 0.01, 0.025
    .venv/bin/python benchmarks/backtest_drift.py --drift 0.025 --seed 1
    .venv/bin/python benchmarks/backtest_drift.py --drift 0.025 --covariance
    .venv/bin/python benchmarks/backtest_drift.py --model still   # the closed form
    .venv/bin/python benchmarks/backtest_drift.py --model walk --mood 0.8

``--model`` picks the model (docs/model.md, "Questions that move"): ``both`` (the default
model: questions that move and a crowd whose error drifts), ``walk`` (questions that move,
no crowd drift), ``crowd`` (the crowd's drift alone), ``still`` (neither: the closed form).

``--mood SD`` adds to the simulated forecasts a drifting error shared by each question's
forecasters (the crowd's mood: sd SD at rest, returning to rest in 5 days, an
Ornstein-Uhlenbeck process in time), which the outcomes do not read. It is drawn from a
random stream of its own: the questions, forecasters and outcomes are those without it.

``--crowd-days DAYS`` sets the model's ``crowd_drift_days`` (how long it assumes the
crowd's error remembers; the simulated mood remembers 5 days).

``--covariance`` fits no model and runs no backtest: it asks which noise structure the
simulated forecasts show, by maximum likelihood of two Gaussian models of each question's
forecasts' log-odds around one level (``Normal(mu, tau^2)``, integrated out), each with a
noise sd ``sigma`` and a drift scale ``omega`` (log-odds per square root of a day):
independent staleness (forecast ``i``'s variance ``sigma^2 + omega^2 * age_i``, ages in
days behind the question's newest forecast) and the random walk itself (the same plus
covariance ``omega^2 * min(age_i, age_j)`` between two forecasts, which share the walk
behind the older one). It prints each model's ``omega`` and negative log-likelihood, and
first the mean squared gap between a forecast's log-odds and its question's newest, by age.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_shapes import result_line, run  # (it sets the compile cache and the import path)


def simulate_csv(
    path: Path,
    drift: float,
    seed: int,
    questions: int = 400,
    forecasters: int = 40,
    per_question: int = 8,
    days: int = 90,
    mood: float = 0.0,
    mood_days: float = 5.0,
) -> None:
    """Write a forecasts CSV whose questions' log-odds drift with per-day variance ``drift``
    (and whose crowd's error drifts with sd ``mood`` at rest)."""
    rng = np.random.default_rng(seed)
    mood_rng = np.random.default_rng([seed, 1])
    alpha = np.exp(rng.normal(0.0, 0.2, forecasters))
    beta = rng.normal(0.0, 0.3, forecasters)
    sigma = 0.2 + np.abs(rng.normal(0.0, 0.6, forecasters))
    first = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for q in range(questions):
        start = rng.normal(-1.0, 1.0)
        walk = start + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, np.sqrt(drift), days))])
        outcome = int(rng.random() < 1.0 / (1.0 + np.exp(-walk[-1])))
        opened = first + timedelta(days=int(rng.integers(0, 300)))
        drawn = []
        for e in rng.choice(forecasters, size=per_question, replace=False):
            t = rng.uniform(0.0, days)
            drawn.append((e, t, beta[e] + alpha[e] * walk[int(t)] + sigma[e] * rng.normal()))
        if mood > 0:  # the crowd's shared error at each forecast, in time order
            drawn.sort(key=lambda row: row[1])
            d, previous = mood * mood_rng.normal(), drawn[0][1]
            for i, (e, t, x) in enumerate(drawn):
                f = np.exp(-(t - previous) / mood_days)
                d, previous = f * d + mood * np.sqrt(1.0 - f * f) * mood_rng.normal(), t
                drawn[i] = (e, t, x + alpha[e] * d)
        for e, t, x in drawn:
            when = (opened + timedelta(days=t)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append([f"q{q}", f"f{e}", f"{1.0 / (1.0 + np.exp(-x)):.4f}", outcome, when])
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["question_id", "forecaster_id", "probability", "outcome", "created_at"])
        out.writerows(rows)


def noise_structures(path: Path) -> dict[str, dict[str, float]]:
    """Maximum-likelihood fits of the two noise structures of ``--covariance``."""
    from scipy.optimize import minimize

    from models.aggregators import clipped_logit
    from models.history import read_forecasts_csv

    table = read_forecasts_csv(path)
    logit = clipped_logit(table.probability)  # as the model reads them
    questions = []
    for q in range(table.n_questions):
        rows = np.flatnonzero(table.question == q)
        rows = rows[np.argsort(table.created_at[rows], kind="stable")]
        days = table.created_at[rows] / 86400.0
        questions.append((days[-1] - days, logit[rows]))

    def nll(x: np.ndarray, walk: bool) -> float:
        mu, sigma2, tau2, omega2 = x[0], *np.exp(2 * x[1:])
        total = 0.0
        for age, m in questions:
            cov = np.diag(np.full(len(m), sigma2)) + tau2
            cov += omega2 * (np.minimum.outer(age, age) if walk else np.diag(age))
            _, logdet = np.linalg.slogdet(cov)
            r = m - mu
            total += 0.5 * (logdet + r @ np.linalg.solve(cov, r) + len(m) * np.log(2 * np.pi))
        return total

    # The raw sign of drift: how far a forecast's log-odds lie from its question's newest.
    ages = np.concatenate([age[:-1] for age, _ in questions])
    gaps = np.concatenate([(m[:-1] - m[-1]) ** 2 for _, m in questions])
    for lo, hi in ((0, 15), (15, 30), (30, 45), (45, 60), (60, 90)):
        near = (ages >= lo) & (ages < hi)
        print(f"  ages {lo}-{hi} days: mean squared gap to the newest {gaps[near].mean():.2f}")
    out = {}
    for name, walk in (("independent staleness", False), ("random walk", True)):
        fits = [
            minimize(nll, [-1.0, 0.0, 0.0, start], args=(walk,), method="Nelder-Mead",
                     options={"maxiter": 3000})
            for start in (-3.0, -1.8)
        ]  # fmt: skip
        best = min(fits, key=lambda f: f.fun)
        sigma, tau, omega = np.exp(best.x[1:])
        out[name] = {"omega": omega, "sigma": sigma, "tau": tau, "nll": best.fun}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--drift", type=float, nargs="+", default=[0.0, 0.01, 0.025])
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulation and the folds")
    ap.add_argument("--covariance", action="store_true", help="the noise structures, no backtest")
    ap.add_argument("--model", choices=["both", "walk", "crowd", "still"], default="both")
    ap.add_argument("--mood", type=float, default=0.0, metavar="SD", help="simulate a crowd's mood")
    ap.add_argument("--crowd-days", type=float, metavar="DAYS", help="the model's crowd_drift_days")
    args = ap.parse_args()
    from models.config import ModelConfig

    config = ModelConfig()
    off = {"both": {}, "walk": {"crowd_drift_sd": None}, "crowd": {"drift_sd": None}}
    if args.model == "still":
        config = config.held_still()
    else:
        question = config.question.model_copy(update=off[args.model])
        config = config.model_copy(update={"question": question})
    if args.crowd_days is not None:
        question = config.question.model_copy(update={"crowd_drift_days": args.crowd_days})
        config = config.model_copy(update={"question": question})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for drift in args.drift:
            path = Path(tmp) / f"drift-{drift}.csv"
            simulate_csv(path, drift, args.seed, mood=args.mood)
            if args.covariance:
                for name, fit in noise_structures(path).items():
                    print(
                        f"D={drift:<6} {name:<22} omega {fit['omega']:.4f} sigma "
                        f"{fit['sigma']:.3f} tau {fit['tau']:.3f} | -log-likelihood {fit['nll']:.1f}",
                        flush=True,
                    )
                continue
            # K above every count: all kept.
            r = run(f"drift {drift}", path, 10**9, args.seed, config)
            rows.append(r)
            print(f"D={drift:<6} ({90 * drift:.2f} over 90 days) | " + result_line(r), flush=True)
    if rows:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
