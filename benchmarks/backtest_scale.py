"""How a backtest fold scales: time per fold and peak memory at 5k, 20k and 50k forecasts.

The shape follows the target data set (50,000 forecasts, 15,000 questions, 2,000
forecasters: about 3.3 forecasts a question), simulated from the model with forecasters in
the range seen on real data. One fold = one fit on 80% of the questions with outcomes and
20% without, then predictions for the 20%. Each size runs in its own process, so its peak
memory is its own. The baseline, measured in the same run, is the mean-of-log-odds rule on
the same fold.

    .venv/bin/python benchmarks/backtest_scale.py            # 5k, 20k, 50k
    .venv/bin/python benchmarks/backtest_scale.py --sizes 5000 --folds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")


def one_size(n_forecasts: int, folds: int, seed: int) -> dict:
    import numpy as np
    from scipy.special import expit

    from models.backtest import question_folds
    from models.dataset import ForecastData
    from models.forecast_model import COMPILED, ForecastModel
    from models.scoring import brier
    from models.simulate import realistic_forecasters, simulate

    rng = np.random.default_rng(seed)
    n_q = int(n_forecasts * 0.3)
    n_f = min(2000, max(50, n_forecasts // 25))
    t0 = time.perf_counter()
    # 10 forecasts for every 3 questions: simulate 3 or 4 per question.
    data_a, truth_a = simulate(
        rng,
        n_questions=n_q,
        n_forecasters=n_f,
        forecasts_per_question=3,
        n_groups=5,
        **realistic_forecasters(rng, n_f),
    )
    extra = n_forecasts - len(data_a.forecasts)
    fc = list(data_a.forecasts)
    by_q = rng.choice(n_q, size=extra, replace=False)
    params = realistic_forecasters(np.random.default_rng(seed + 1), n_f)
    from models.dataset import Forecast
    from models.simulate import EPOCH

    for q in by_q:
        e = int(rng.integers(n_f))
        m = params["alpha"][e] * truth_a.theta[q] + params["beta"][e] + rng.normal()
        fc.append(Forecast(data_a.questions[q].id, f"x{e:04d}", EPOCH, float(m)))
    data = ForecastData(data_a.questions, tuple(fc), (), data_a.resolutions)
    sim_seconds = time.perf_counter() - t0
    outcome = {r.question_id: r.outcome for r in data.resolutions}
    qids = data.question_ids
    fold_sets = question_folds(qids, n_folds=5, seed=seed)
    model = ForecastModel()
    fits = []
    for k in range(folds):
        held = {str(q) for q in fold_sets[k]}
        train_res = tuple(r for r in data.resolutions if r.question_id not in held)
        fold_data = ForecastData(data.questions, data.forecasts, (), train_res)
        compiles = COMPILED.compilations
        t1 = time.perf_counter()
        post = model.fit(fold_data, retry=False)
        fit_s = time.perf_counter() - t1
        held_ids = sorted(held)
        p = np.array([f.probability for f in post.predict(held_ids)])
        y = np.array([outcome[q] for q in held_ids])
        # Baseline on the same fold: mean of log-odds per question.
        t2 = time.perf_counter()
        sums: dict[str, list[float]] = {}
        for f in data.forecasts:
            if f.question_id in held:
                sums.setdefault(f.question_id, []).append(f.logit_center)
        base = np.array([expit(np.mean(sums.get(q, [0.0]))) for q in held_ids])
        base_s = time.perf_counter() - t2
        fits.append(
            {
                "fold": k,
                "seconds": round(fit_s, 2),
                "compiled_in_this_fold": COMPILED.compilations > compiles,
                "sampling_seconds": round(post.diagnostics.sampling_seconds, 2),
                "publishable": post.diagnostics.publishable,
                "divergences": post.diagnostics.divergences,
                "max_rhat": round(post.diagnostics.max_rhat, 4),
                "brier_model": round(float(brier(p, y)), 4),
                "brier_mean_logodds": round(float(brier(base, y)), 4),
                "baseline_seconds": round(base_s, 4),
            }
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "forecasts": len(data.forecasts),
        "questions": n_q,
        "forecasters": len(data.forecaster_ids),
        "simulate_seconds": round(sim_seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "folds": fits,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    ap.add_argument("--folds", type=int, default=1, help="folds to run per size (of 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.folds, args.seed)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--folds", str(args.folds)]
        cmd += ["--seed", str(args.seed)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        warm = [f["seconds"] for f in r["folds"] if not f["compiled_in_this_fold"]]
        print(
            f"{r['forecasts']:>6} forecasts {r['questions']:>6} questions "
            f"{r['forecasters']:>5} forecasters | fold fit "
            + ", ".join(f"{f['seconds']:.1f}s" for f in r["folds"])
            + (f" (warm mean {sum(warm) / len(warm):.1f}s)" if warm else "")
            + f" | peak {r['peak_rss_mib']} MiB",
            flush=True,
        )
        for f in r["folds"]:
            print(
                f"    fold {f['fold']}: publishable={f['publishable']} div={f['divergences']} "
                f"R-hat={f['max_rhat']} Brier model {f['brier_model']} vs mean log-odds "
                f"{f['brier_mean_logodds']}; model/baseline time "
                f"{f['seconds'] / max(f['baseline_seconds'], 1e-6):.0f}x"
            )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        t_first = first["folds"][-1]["seconds"]
        t_last = last["folds"][-1]["seconds"]
        growth = (t_last / t_first) / (last["forecasts"] / first["forecasts"])
        print(
            f"time grows {t_last / t_first:.1f}x for {last['forecasts'] / first['forecasts']:.0f}x "
            f"the forecasts (ratio to linear: {growth:.2f})"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
