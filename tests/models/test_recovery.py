"""The model recovers the parameters it was simulated from, and its posteriors are calibrated.

Both are real sampling runs (marked ``slow``; CI runs them).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models.config import (
    BetaPrior,
    HalfNormalPrior,
    ModelConfig,
    QuestionPriors,
    SamplerSettings,
)
from models.forecast_model import ForecastModel
from models.simulate import realistic_forecasters, simulate


def _inside(draws: np.ndarray, truth: np.ndarray, mass: float = 0.9) -> np.ndarray:
    lo, hi = np.quantile(draws, [(1 - mass) / 2, 1 - (1 - mass) / 2], axis=0)
    return (lo <= truth) & (truth <= hi)


@pytest.mark.slow
def test_parameter_recovery_on_simulated_data():
    rng = np.random.default_rng(2024)
    n_f = 10
    true_w = np.array([0.85, 0.6, 0.4, 0.15])
    data, truth = simulate(
        rng,
        n_questions=60,
        n_forecasters=n_f,
        forecasts_per_question=6,
        n_groups=3,
        n_resolved=40,
        evidence_per_question=0.6,
        w=true_w,
        **realistic_forecasters(rng, n_f),
    )
    post = ForecastModel().fit(data)
    assert post.diagnostics.publishable, post.diagnostics.reasons
    d = post.draws
    # Forecasters appear in data order; map them back to the simulation's indices.
    order = [int(f[1:]) for f in post.forecaster_ids]
    cover = {
        "theta": _inside(d["theta"], truth.theta).mean(),
        "forecasters": np.concatenate(
            [
                _inside(d["alpha"], truth.alpha[order]),
                _inside(d["beta"], truth.beta[order]),
                _inside(d["sigma"], truth.sigma[order]),
            ]
        ).mean(),
        "w": _inside(d["w"], true_w).mean(),
    }
    print("90% interval coverage:", cover)
    # Expected 0.9 each; the bounds are about 2.5 binomial sd below (60, 30, 4 values).
    assert cover["theta"] >= 0.8
    assert cover["forecasters"] >= 0.75
    assert cover["w"] >= 0.75
    # Not merely wide: the intervals are informative about the questions (the true log-odds
    # spread over 9.6 units here, 5% to 95%). They are wider than the simulation's noise
    # alone: the simulated crowd errs alike in all three groups, which 13 resolved questions
    # a group cannot show, so each group's topic factor and shift stay uncertain
    # (docs/model.md, "Topics"); measured median 3.0, 0.31 of the true range.
    width = np.subtract(*np.quantile(d["theta"], [0.95, 0.05], axis=0))
    true_range = np.subtract(*np.quantile(truth.theta, [0.95, 0.05]))
    assert np.median(width) < 0.35 * true_range
    assert np.corrcoef(d["theta"].mean(0), truth.theta)[0, 1] > 0.9


@pytest.mark.slow
@pytest.mark.parametrize("moving", [False, True], ids=["still", "moving"])
def test_simulation_based_calibration_ranks_are_uniform(moving):
    """SBC (Talts et al. 2018): the rank of the truth among posterior draws is uniform.

    ``moving``: questions that move (docs/model.md), with a walk wide enough to matter
    (``drift_sd`` from a half-normal of scale 1 a day, forecasts on days 0 to 3), and a
    crowd whose error drifts (``crowd_drift_sd`` from a half-normal of scale 1, returning to
    rest in 2 days): also the ranks of both scales and of the open question on the forecast
    scale.
    """
    rng = np.random.default_rng(7)
    sampler = SamplerSettings(chains=2, tune=300, draws=400, seed=0, retries=0)
    config = ModelConfig().held_still()
    # Still: with the forecasters' pivot learnt (docs/model.md, "Forecasters"), drawn from
    # its prior by the simulation as by the model.
    forecaster = config.forecaster.model_copy(
        update={"pivot_share": BetaPrior(alpha=1.0, beta=1.0)}
    )
    config = config.model_copy(update={"forecaster": forecaster})
    if moving:
        config = ModelConfig(
            question=QuestionPriors(
                drift_sd=HalfNormalPrior(sigma=1.0), crowd_drift_sd=HalfNormalPrior(sigma=1.0)
            )
        )
    model = ForecastModel(config)
    n_sims, thin = 120, 8  # 100 thinned draws: ranks 0..100
    names = ("theta_resolved", "theta_open", "alpha", "beta", "sigma")
    names += ("phi_open", "drift_sd", "crowd_drift_sd") if moving else ("pivot_share",)
    ranks: dict[str, list[int]] = {n: [] for n in names}
    for i in range(n_sims):
        data, truth = simulate(
            rng,
            n_questions=8,
            n_forecasters=4,
            forecasts_per_question=4 if moving else 3,
            n_resolved=5,
            config=config,
        )
        post = model.fit(data, sampler=sampler.model_copy(update={"seed": i}))
        d = {k: v[::thin] for k, v in post.draws.items()}
        j = 0  # the first forecaster of the fit, and its index in the simulation:
        e = int(post.forecaster_ids[j][1:])
        pairs = {
            "theta_resolved": (d["theta"][:, 0], truth.theta[0]),
            "theta_open": (d["theta"][:, 7], truth.theta[7]),
            "alpha": (d["alpha"][:, j], truth.alpha[e]),
            "beta": (d["beta"][:, j], truth.beta[e]),
            "sigma": (d["sigma"][:, j], truth.sigma[e]),
        }
        if not moving:
            pairs["pivot_share"] = (d["pivot_share"], truth.pivot_share)
        if moving:
            # The open question on the forecast scale, where the walk is. (That theta is
            # where the question stands at its newest forecast, and not at its first, SBC
            # at this size does not tell apart: tests/models/test_drift.py does.)
            phi = d["theta"][:, 7] * d["alpha_bar"]
            pairs["phi_open"] = (phi, truth.theta[7] * truth.alpha_bar)
            pairs["drift_sd"] = (d["drift_sd"], truth.drift_sd)
            pairs["crowd_drift_sd"] = (d["crowd_drift_sd"], truth.crowd_drift_sd)
        for name, (draws, value) in pairs.items():
            ranks[name].append(int((draws < value).sum()))
    n_draws = len(d["theta"])
    for name in names:
        counts = np.histogram(ranks[name], bins=6, range=(0, n_draws + 1))[0]
        p = stats.chisquare(counts).pvalue
        print(f"SBC {name}: bins {counts.tolist()} p={p:.3f}")
        # Six or eight tests at 0.002 each: by Bonferroni, a false alarm in at most 1.2% or
        # 1.6% of runs.
        assert p > 0.002, f"ranks of {name} are not uniform: {counts.tolist()}"
