"""What questions that move cost a gradient: the Kalman filter against the closed form.

With ``question.drift_sd`` or ``crowd_drift_sd`` set (the defaults), the model integrates each question's effect out with a
Kalman filter over its forecasts in time order (``models/_internal/walk.py``) instead of
the closed-form per-question sums (``models/_internal/marginal.py``). This script builds
both as PyTensor graphs of the same quantities (per question: the forecasts' log marginal
likelihood and the Gaussian of the question's effect given them, weighted into one
scalar), compiles value and gradient in the NUMBA backend that nutpie uses, and times
them at the shapes of the shared data sets and of the scale benchmark. Prints one line per
shape with both times and their ratio (the baseline is the closed form, run in the same
process). With ``--fits`` it also fits each shared data set (every forecaster's latest
forecasts, default settings) without the walk and the crowd's drift
(``ModelConfig().held_still()``, the baseline), with them (the defaults), and with them but
every question sent through the filter (as before questions whose forecasts share one
instant took the closed form: the same compiled model given other index data), and prints
the sampling seconds (compilation excluded), the leapfrog steps a draw and the ratios.

    .venv/bin/python benchmarks/drift_cost.py
    .venv/bin/python benchmarks/drift_cost.py --fits
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'cache' / 'pytensor'}")

from models._internal.marginal import (  # noqa: E402
    forecast_terms,
    forecasts_marginal_loglik,
    phi_posterior,
)
from models._internal.walk import walk_filter_op  # noqa: E402
from models.forecast_model import model_data as _MODEL_DATA  # noqa: E402

#: (name, questions, forecasts a question): forecastbench, GJP week 1, the 50k scale
#: benchmark, and a dense shape of hundreds of forecasters a question.
SHAPES = (
    ("forecastbench", 578, 8),
    ("gjp-week1", 14, 230),
    ("scale-50k", 15_000, 3),
    ("dense", 200, 250),
)


def _graphs():
    import pytensor
    import pytensor.tensor as pt

    q = pt.lvector("q")
    a, r, v, days = pt.dvectors("a", "r", "v", "days")
    mu, tau2, g1, g2 = pt.dvectors("mu", "tau2", "g1", "g2")
    w = pt.dscalar("w")
    nq = mu.shape[0]

    def per_question(x):
        return pt.inc_subtensor(pt.zeros(nq)[q], x)

    p, b, c, big_l = (per_question(x) for x in forecast_terms(a, r, v, pt.log))
    tau = pt.sqrt(tau2)
    mean, var = phi_posterior(p, b, mu, tau)
    closed = (
        forecasts_marginal_loglik(p, b, c, big_l, mu, tau, pt.log) + g1 * mean + g2 * var
    ).sum()
    ll_w, mean_w, var_w = walk_filter_op()(q, a, r, v, days, mu, tau2, w, 0.0, 0.5)
    walk = (ll_w + g1 * mean_w + g2 * var_w).sum()
    wrt = [a, r, v, mu, tau2]
    ins = [q, a, r, v, days, mu, tau2, g1, g2, w]
    compiled = {}
    for name, total, extra in (("closed form", closed, []), ("filter", walk, [w])):
        compiled[name] = pytensor.function(
            ins, [total, *pytensor.grad(total, wrt + extra)], mode="NUMBA", on_unused_input="ignore"
        )
    return compiled


def _inputs(n_questions: int, per_question: int, rng: np.random.Generator) -> list:
    n = n_questions * per_question
    q = np.repeat(np.arange(n_questions), per_question)
    days = np.where(np.r_[True, q[1:] != q[:-1]], 0.0, rng.exponential(1.0, n))
    return [
        q,
        np.exp(rng.normal(0, 0.3, n)),
        rng.normal(0, 1, n),
        np.exp(rng.normal(0, 0.5, n)),
        days,
        rng.normal(0, 1, n_questions),
        np.exp(rng.normal(0, 0.5, n_questions)),
        rng.normal(size=n_questions),
        rng.normal(size=n_questions),
        np.asarray(0.02),
    ]


def _seconds(f, args: list, repeats: int = 5) -> float:
    f(*args)  # warm
    best = np.inf
    for _ in range(repeats):
        loops = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < 0.2:
            f(*args)
            loops += 1
        best = min(best, elapsed / loops)
    return best


def _fits() -> None:
    import functools

    import models.forecast_model as fm
    from models.config import ModelConfig
    from models.history import read_forecasts_csv, to_forecast_data

    print(
        "one fit at the default settings (sampling only): without the walk and the crowd's "
        "drift (ModelConfig().held_still(), the baseline), with them (the default), and with "
        "them but every question through the filter (questions of one instant too)"
    )
    runs = (
        ("without", ModelConfig().held_still(), _MODEL_DATA),
        ("with", ModelConfig(), _MODEL_DATA),
        ("all filtered", ModelConfig(), functools.partial(_MODEL_DATA, instant_closed_form=False)),
    )
    for name in ("forecastbench-supers-2024-07-21.csv", "gjp-y1-week1.csv"):
        path = ROOT.parent / "shared" / "data" / name
        table = read_forecasts_csv(path)
        data = to_forecast_data(table.latest_per_forecaster())
        row, base = [], None
        for label, config, model_data in runs:
            fm.model_data = model_data
            try:
                post = fm.ForecastModel(config).fit(data)
            finally:
                fm.model_data = _MODEL_DATA
            steps = float(np.asarray(post.posterior["sample_stats"]["n_steps"]).mean())
            seconds = post.diagnostics.sampling_seconds
            base = seconds if base is None else base
            row.append(
                f"{label} {seconds:6.1f} s ({steps:4.1f} steps a draw, "
                f"{post.diagnostics.attempts} attempt(s), ratio {seconds / base:4.2f})"
            )
        print(f"{path.name:37s} " + ", ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", action="store_true", help="also fit the shared data sets")
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    compiled = _graphs()
    print("value + gradient, best of 5 (ms); baseline: the closed form, same process")
    for name, nq, per in SHAPES:
        inputs = _inputs(nq, per, rng)
        closed = _seconds(compiled["closed form"], inputs)
        walk = _seconds(compiled["filter"], inputs)
        print(
            f"{name:14s} {nq:6d} questions x {per:3d}: closed form {closed * 1e3:7.3f} ms, "
            f"filter {walk * 1e3:7.3f} ms, ratio {walk / closed:5.2f}"
        )
    if options.fits:
        _fits()


if __name__ == "__main__":
    main()
