"""Groups alike in spread: what centring their spreads costs on a fully crossed set.

A set in which every forecaster forecasts every question (as a panel of forecasters, or of
forecasting programs, asked the same questions), with groups (sources) that differ in
level but not in their questions' spread. 40 forecasters, 400 questions in 5 groups; the
question log-odds ``theta ~ Normal(level_g, 1.6)`` with ``level_g ~ Normal(-0.9, 0.6)``;
each forecaster reports ``disc_e * (theta + c_q) + bias_e + Normal(0, noise_e)`` where
``c_q ~ Normal(0, 0.6)`` is the crowd's shared error on the question,
``disc_e ~ LogNormal(-0.3, 0.4)``, ``bias_e ~ Normal(0, 0.3)``,
``noise_e ~ LogNormal(log 0.7, 0.5)``; all forecasts of a question at one instant.

One backtest fold (fold 1 of ``helsinki backtest``'s five at seed 0: the other folds'
outcomes, every forecast) is fitted twice in one process at the default settings, retry
on, as a backtest fits it: with the groups' spreads centred by
``group_spreads_to_centre`` (the default), and with the size rule alone that preceded it
(every group of 50 questions or more centred: the baseline). Printed per fit: attempts,
seconds, the returned attempt's divergences, R-hat and bulk ESS, the fit's warnings (an
earlier attempt's divergences and its refit), and the ratio of the times.

    .venv/bin/python benchmarks/crossed_groups.py
    .venv/bin/python benchmarks/crossed_groups.py --write-csv crossed.csv   # the set, then stop
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

GROUPS = ("acled", "manifold", "metaculus", "fred", "wiki")
QUESTION_SD, CROWD_SD = 1.6, 0.6  # the questions' spread in a group; the crowd's shared error


@dataclass(frozen=True)
class Panel:
    """One simulated crossed set: the generating parameters and the forecasts as written."""

    group: np.ndarray  # per question, an index into GROUPS
    level: np.ndarray  # per group, its questions' mean log-odds
    outcome: np.ndarray  # per question, bool
    disc: np.ndarray  # per forecaster
    bias: np.ndarray  # per forecaster
    noise: np.ndarray  # per forecaster
    probability: np.ndarray  # (questions, forecasters), rounded to 3 decimals


def simulate(forecasters: int = 40, questions: int = 400, seed: int = 1) -> Panel:
    """The crossed set's parameters and forecasts (the generator of the module docstring)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, len(GROUPS), questions)
    level = rng.normal(-0.9, 0.6, len(GROUPS))
    theta = level[g] + rng.normal(0, QUESTION_SD, questions)
    y = rng.random(questions) < expit(theta)
    crowd = rng.normal(0, CROWD_SD, questions)
    disc = np.exp(rng.normal(-0.3, 0.4, forecasters))
    bias = rng.normal(0, 0.3, forecasters)
    noise = np.exp(rng.normal(np.log(0.7), 0.5, forecasters))
    p = np.empty((questions, forecasters))
    for q in range(questions):
        p[q] = np.round(expit(disc * (theta[q] + crowd[q]) + bias + rng.normal(0, noise)), 3)
    return Panel(g, level, y, disc, bias, noise, p)


def write_csv(path: Path, forecasters: int = 40, questions: int = 400, seed: int = 1) -> Panel:
    """The crossed set as a forecasts CSV (each question's forecasts at one instant)."""
    panel = simulate(forecasters, questions, seed)
    day0 = np.datetime64("2024-07-21")
    lines = ["question_id,forecaster_id,probability,outcome,created_at,group"]
    for q in range(questions):
        stamp = f"{day0 + np.timedelta64(q // 50, 'D')}T00:00:00Z"
        lines += [
            f"q{q},m{e},{panel.probability[q, e]},{int(panel.outcome[q])},{stamp},"
            f"{GROUPS[panel.group[q]]}"
            for e in range(forecasters)
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return panel


def fold_data(path: Path):  # type: ignore[no-untyped-def]
    """Fold 1 of 5 at seed 0: the questions and outcomes of ``helsinki backtest``'s fold 1,
    in the file's order (the backtest puts the held-out questions last, which changes the
    sampler's path, not the posterior)."""
    from models.backtest import mask_outcomes, question_folds
    from models.history import read_forecasts_csv, to_forecast_data

    table = read_forecasts_csv(path)
    held = set(question_folds(table.resolved_question_ids(), 5, 0)[0].tolist())
    train = [q for q in table.question_ids if q not in held]
    latest = mask_outcomes(table, held).latest_per_forecaster()
    return to_forecast_data(latest, include_outcomes_for=train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-csv", type=Path, help="write the set and stop")
    args = parser.parse_args()
    if args.write_csv:
        write_csv(args.write_csv)
        return

    import models.forecast_model as fm

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crossed.csv"
        write_csv(path)
        data = fold_data(path)
    by_spread = fm.group_spreads_to_centre

    def by_size(question_group, obs_q, obs_m, n_groups):  # type: ignore[no-untyped-def]
        return np.bincount(question_group, minlength=n_groups) >= fm.CENTRE_GROUP_SPREAD_AT

    warnings: list[str] = []  # the fit's own account of a divergent attempt and its refit

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    logging.getLogger(fm.__name__).addHandler(Recorder(logging.WARNING))
    print(f"{len(data.forecasts)} forecasts, {len(data.questions)} questions, fold 1 of 5")
    seconds = {}
    for name, rule in (
        ("default (spreads compared)", by_spread),
        ("baseline (size alone)", by_size),
    ):
        fm.group_spreads_to_centre = rule
        try:
            model = fm.ForecastModel()
            if not seconds:  # compile outside the timing (both share the compiled model)
                structure = fm.ModelStructure.for_data(data)
                fm.COMPILED.get(structure, model.config, fm.encode(data, structure))
            warnings.clear()
            started = time.perf_counter()
            d = model.fit(data).diagnostics
            seconds[name] = time.perf_counter() - started
        finally:
            fm.group_spreads_to_centre = by_spread
        print(
            f"{name:28s} {seconds[name]:7.1f} s  attempts {d.attempts}  divergences {d.divergences}"
            f"  max R-hat {d.max_rhat:.4f}  min bulk ESS {d.min_ess_bulk:,.0f}"
            f"  publishable {d.publishable}",
            flush=True,
        )
        for message in warnings:
            print(f"    {message}", flush=True)
    base, new = seconds["baseline (size alone)"], seconds["default (spreads compared)"]
    print(f"baseline / default: {base / new:.2f}")


if __name__ == "__main__":
    main()
