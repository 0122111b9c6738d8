"""How a backtest fold scales: time per fold and peak memory at 5k, 20k and 50k forecasts.

The shape follows the target data set (50,000 forecasts, 15,000 questions, 2,000
forecasters: about 3.3 forecasts a question), simulated from the model with forecasters in
the range seen on real data and a heavy-tailed number of forecasts per forecaster
(:func:`shaped_data`). One fold = one fit on 80% of the questions with outcomes and
20% without, then predictions for the 20%. Each size runs in its own process, so its peak
memory is its own. The baseline, measured in the same run, is the mean-of-log-odds rule on
the same fold.

A fold's time is the fit and the predictions; compiling the model (once per process: the
folds of one size share it) is reported apart. Beside the times: leapfrog steps per draw
and step size (counts, which a loaded machine does not distort), the load average before
and after, the fit's diagnostics.

    .venv/bin/python benchmarks/backtest_scale.py            # 5k, 20k, 50k, one fold each
    .venv/bin/python benchmarks/backtest_scale.py --sizes 50000 --folds 5
    .venv/bin/python benchmarks/backtest_scale.py --sizes 5000 --target-accept 0.9 --tune 500
    .venv/bin/python benchmarks/backtest_scale.py --sizes 20000 --per-question 200   # dense
    .venv/bin/python benchmarks/backtest_scale.py --sizes 50000 --still   # the closed form
    .venv/bin/python benchmarks/backtest_scale.py --sizes 40000 --per-question 400 \
        --spread-days 120      # a survey season: forecasts read in time
    .venv/bin/python benchmarks/backtest_scale.py --sizes 50000 --write-csv big.csv

``--write-csv`` writes the simulated data of one size as a forecasts CSV and stops, so that
the whole ``helsinki backtest`` command can be run and timed on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")


def shaped_data(
    n_forecasts: int,
    seed: int = 0,
    per_question: float | None = None,
    spread_days: float | None = None,
):
    """Simulated data of the target shape, every question resolved.

    ``0.3 * n_forecasts`` questions in 5 groups, each with 3 or 4 forecasts (10 for every 3
    questions; ``per_question`` forecasts a question instead, when given: the dense shape of
    a survey such as GJP's, hundreds of forecasters on every question), from
    ``min(2000, n_forecasts // 25)`` forecasters with parameters in the range seen on real
    data (``realistic_forecasters``). How often a forecaster appears is
    heavy-tailed (log-normal activity, sd 1.5), as in the GJP data: about a quarter of
    them have 3 forecasts or fewer, a few have hundreds; each has at least one. A
    forecaster forecasts a question at most once. Forecasts and outcomes are drawn from the model.
    Every forecast is made at one instant, unless ``spread_days``: then each at its own time,
    uniform over that many days (the questions' truth holds still; what changes is the work:
    the model reads such forecasts in time, through its filter).

    Returns ``(data, sim_seconds)``.
    """
    import numpy as np
    from scipy.special import expit

    from models.dataset import Forecast, ForecastData, Question, Resolution
    from models.simulate import EPOCH, realistic_forecasters

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_q = int(n_forecasts * 0.3) if per_question is None else int(n_forecasts / per_question)
    n_f = min(2000, max(50, n_forecasts // 25))
    n_g = 5
    group = np.arange(n_q) % n_g
    mu_g = rng.normal(-1.5, 0.5, n_g)
    tau_g = rng.uniform(1.0, 2.5, n_g)
    theta = mu_g[group] + tau_g[group] * rng.standard_normal(n_q)
    par = realistic_forecasters(rng, n_f)
    noise = np.hypot(par["sigma"], 0.3)  # the model's noise floor
    activity = rng.lognormal(0.0, 1.5, n_f)
    activity /= activity.sum()
    per_q = np.full(n_q, n_forecasts // n_q)
    per_q[rng.permutation(n_q)[: n_forecasts - per_q.sum()]] += 1
    who = [rng.choice(n_f, size=k, replace=False, p=activity) for k in per_q]
    obs_q = np.repeat(np.arange(n_q), per_q)
    obs_e = np.concatenate(who)
    # Everyone forecasts at least once: a forecaster drawn no question takes over a
    # forecast from one who has several (on a question they are not already on).
    counts = np.bincount(obs_e, minlength=n_f)
    for e in np.flatnonzero(counts == 0):
        while True:
            i = int(rng.integers(obs_e.size))
            if counts[obs_e[i]] > 1 and e not in who[obs_q[i]]:
                counts[obs_e[i]] -= 1
                counts[e] += 1
                obs_e[i] = e
                break
    m = par["alpha"][obs_e] * theta[obs_q] + par["beta"][obs_e]
    m += noise[obs_e] * rng.standard_normal(obs_e.size)
    questions = tuple(Question(id=f"q{q:05d}", group=f"g{group[q]}") for q in range(n_q))
    # From a stream of its own, so the forecasts and outcomes are those of the same seed at one
    # instant.
    days = (
        np.zeros(obs_e.size)
        if spread_days is None
        else np.random.default_rng([seed, 1]).uniform(0, spread_days, obs_e.size)
    )
    forecasts = [
        Forecast(questions[q].id, f"f{e:04d}", EPOCH + timedelta(days=float(d)), float(x))
        for q, e, x, d in zip(obs_q, obs_e, m, days, strict=True)
    ]
    outcome = (rng.random(n_q) < expit(theta)).astype(int)
    resolutions = tuple(Resolution(questions[q].id, int(outcome[q])) for q in range(n_q))
    data = ForecastData(questions, tuple(forecasts), (), resolutions)
    return data, time.perf_counter() - t0


def write_csv(data, path: str | Path) -> None:
    """Write :func:`shaped_data`'s data as a forecasts CSV (format: the data README).

    One row a forecast, in the data's order: its question, forecaster, probability (the
    forecast's log-odds as a probability, 4 decimals), the question's outcome, when it was
    made (UTC, to the second) and the question's group.
    """
    from scipy.special import expit

    groups = {q.id: q.group for q in data.questions}
    outcome = {r.question_id: r.outcome for r in data.resolutions}
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["question_id", "forecaster_id", "probability", "outcome", "created_at", "group"]
        )
        for f in data.forecasts:
            out.writerow(
                [
                    f.question_id,
                    f.forecaster_id,
                    f"{expit(f.logit_center):.4f}",
                    outcome[f.question_id],
                    f.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    groups[f.question_id],
                ]
            )


def fold_data(data, k: int, seed: int = 0):
    """Fold ``k`` of 5: every question and forecast, outcomes of the other four folds.

    Returns ``(fold data, held-out question ids)``.
    """
    from models.backtest import question_folds
    from models.dataset import ForecastData

    fold_sets = question_folds(data.question_ids, n_folds=5, seed=seed)
    held = {str(q) for q in fold_sets[k]}
    train_res = tuple(r for r in data.resolutions if r.question_id not in held)
    return ForecastData(data.questions, data.forecasts, (), train_res), sorted(held)


def one_size(
    n_forecasts: int,
    folds: int,
    seed: int,
    overrides: dict,
    per_question: float | None = None,
    still: bool = False,
    spread_days: float | None = None,
) -> dict:
    import numpy as np
    from scipy.special import expit

    from models._internal.memory import release_free_memory, resident_mib
    from models.config import ModelConfig
    from models.forecast_model import (
        COMPILED,
        ForecastModel,
        ModelStructure,
        encode,
        rhat_by_variable,
    )
    from models.scoring import brier

    data, sim_seconds = shaped_data(n_forecasts, seed, per_question, spread_days)
    n_q = len(data.questions)
    outcome = {r.question_id: r.outcome for r in data.resolutions}
    config = ModelConfig()  # with the walk and the crowd's drift (docs/model.md)
    if still:  # questions that hold still: the closed form
        config = config.held_still()
    sampler = config.sampler.with_given(**overrides)
    model = ForecastModel(config)
    fits = []
    for k in range(folds):
        load_before = os.getloadavg()
        train, held_ids = fold_data(data, k, seed)
        held = set(held_ids)
        # Compile (once per structure and process) apart from the fold's own time.
        compiles = COMPILED.compilations
        t0 = time.perf_counter()
        structure = ModelStructure.for_data(train)
        COMPILED.get(structure, config, encode(train, structure))
        compile_s = time.perf_counter() - t0 if COMPILED.compilations > compiles else 0.0
        t1 = time.perf_counter()
        post = model.fit(train, sampler=sampler, retry=False)
        fit_s = time.perf_counter() - t1
        p = np.array([f.probability for f in post.predict(held_ids)])
        fold_s = time.perf_counter() - t1
        y = np.array([outcome[q] for q in held_ids])
        # Baseline on the same fold: mean of log-odds per question.
        t2 = time.perf_counter()
        sums: dict[str, list[float]] = {}
        for f in data.forecasts:
            if f.question_id in held:
                sums.setdefault(f.question_id, []).append(f.logit_center)
        base = np.array([expit(np.mean(sums.get(q, [0.0]))) for q in held_ids])
        base_s = time.perf_counter() - t2
        stats = post.posterior["sample_stats"]
        # The variables with the largest R-hat (the publish checks look at the questions'
        # probabilities only; this says which other variable mixes slowest).
        rhats = rhat_by_variable(post.posterior)
        worst = sorted(((round(r, 4), v) for v, r in rhats.items() if r == r), reverse=True)
        steps = np.asarray(stats["n_steps"])
        diag = post.diagnostics
        fits.append(
            {
                "fold": k,
                "fold_seconds": round(fold_s, 1),
                "compile_seconds": round(compile_s, 1),
                "sampling_seconds": round(diag.sampling_seconds, 1),
                "after_sampling_seconds": round(fit_s - diag.sampling_seconds, 1),
                "predict_seconds": round(fold_s - fit_s, 1),
                "steps_per_draw": round(float(steps.mean()), 1),
                "step_size": round(float(np.asarray(stats["step_size"]).mean()), 4),
                "gradients_in_draws": int(steps.sum()),
                "publishable": diag.publishable,
                "divergences": diag.divergences,
                "max_rhat": round(diag.max_rhat, 4),
                "max_rhat_all": round(diag.max_rhat_all, 4),
                "largest_rhat_variables": worst[:3],
                "min_ess_bulk": round(diag.min_ess_bulk),
                "brier_model": round(float(brier(p, y)), 4),
                "brier_mean_logodds": round(float(brier(base, y)), 4),
                "baseline_seconds": round(base_s, 4),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
        # The next fold's fit must not run beside this one's posterior (at 50k, a posterior
        # of this shape holds about a gigabyte): drop it and hand the memory back, then say
        # what the process holds between folds.
        del post, stats, rhats
        release_free_memory()
        fits[-1]["rss_mib_after_fold"] = round(resident_mib())
        # A 5-fold run at 50k takes hours: what each fold measured is kept as it finishes.
        print(
            json.dumps({"forecasts": len(data.forecasts), **fits[-1]}), file=sys.stderr, flush=True
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "forecasts": len(data.forecasts),
        "questions": n_q,
        "forecasters": len(data.forecaster_ids),
        "resolved_in_fit": len(train.resolutions),
        "sampler": sampler.model_dump(),
        "simulate_seconds": round(sim_seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "folds": fits,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    ap.add_argument("--folds", type=int, default=1, help="folds to run per size (of 5)")
    ap.add_argument("--seed", type=int, default=0)
    for name in ("tune", "draws", "chains"):
        ap.add_argument(f"--{name}", type=int, help=f"sampler {name} (default: the config's)")
    ap.add_argument(
        "--target-accept",
        type=float,
        help="at every size (default: the config's, which is lower from 20,000 forecasts)",
    )
    ap.add_argument(
        "--per-question",
        type=float,
        help="forecasts a question (default: the target shape's 3.3; 200: a dense survey)",
    )
    ap.add_argument(
        "--spread-days",
        type=float,
        help="each forecast at its own time over this many days (default: all at one instant)",
    )
    ap.add_argument(
        "--still",
        action="store_true",
        help="the model with questions that hold still (no walk, no crowd drift: closed form)",
    )
    ap.add_argument(
        "--write-csv",
        metavar="FILE",
        help="write the simulated data of the one size given as a forecasts CSV, then stop",
    )
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_csv:
        if len(args.sizes) != 1:
            ap.error("--write-csv takes one size: --sizes N")
        data, _ = shaped_data(args.sizes[0], args.seed, args.per_question, args.spread_days)
        write_csv(data, args.write_csv)
        print(f"wrote {len(data.forecasts)} forecasts to {args.write_csv}")
        return
    overrides = {
        k: v
        for k, v in (
            ("tune", args.tune),
            ("draws", args.draws),
            ("chains", args.chains),
            ("target_accept", args.target_accept),
        )
        if v is not None
    }
    if args.one:
        row = one_size(
            args.one,
            args.folds,
            args.seed,
            overrides,
            args.per_question,
            args.still,
            args.spread_days,
        )
        print(json.dumps(row))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--folds", str(args.folds)]
        cmd += ["--seed", str(args.seed)]
        if args.per_question is not None:
            cmd += ["--per-question", str(args.per_question)]
        if args.still:
            cmd += ["--still"]
        if args.spread_days is not None:
            cmd += ["--spread-days", str(args.spread_days)]
        for k, v in overrides.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        # The child's stderr passes through: its progress, one line per finished fold.
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{r['forecasts']:>6} forecasts {r['questions']:>6} questions "
            f"{r['forecasters']:>5} forecasters | peak {r['peak_rss_mib']} MiB",
            flush=True,
        )
        for f in r["folds"]:
            print(
                f"    fold {f['fold']}: {f['fold_seconds']:.0f} s (+ compile "
                f"{f['compile_seconds']:.0f} s): sampling {f['sampling_seconds']:.0f} s, "
                f"after it {f['after_sampling_seconds']:.0f} s, predict "
                f"{f['predict_seconds']:.0f} s | {f['steps_per_draw']} steps/draw at step "
                f"{f['step_size']} | publishable={f['publishable']} div={f['divergences']} "
                f"R-hat={f['max_rhat']} (all {f['max_rhat_all']}: "
                f"{f['largest_rhat_variables']}) ESS={f['min_ess_bulk']} | "
                f"Brier model {f['brier_model']} vs mean log-odds {f['brier_mean_logodds']} | "
                f"load {f['load_before'][0]} -> {f['load_after'][0]} | "
                f"resident after the fold {f['rss_mib_after_fold']} MiB",
                flush=True,
            )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        t_first = first["folds"][-1]["fold_seconds"]
        t_last = last["folds"][-1]["fold_seconds"]
        growth = (t_last / t_first) / (last["forecasts"] / first["forecasts"])
        print(
            f"time grows {t_last / t_first:.1f}x for {last['forecasts'] / first['forecasts']:.0f}x "
            f"the forecasts (ratio to linear: {growth:.2f})"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
