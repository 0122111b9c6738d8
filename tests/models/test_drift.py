"""Questions that move while open (``question.drift_sd``): the fit learns the walk, reads the
newest forecasts most, and its instant updates agree with the Kalman filter and a refit."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.special import expit

from models.config import HalfNormalPrior, ModelConfig, QuestionPriors, SamplerSettings
from models.dataset import Evidence, EvidenceEffect, Forecast, ForecastData, Question, Resolution
from models.forecast_model import ForecastModel, ModelStructure, encode
from models.simulate import EPOCH
from tests.models.walk_checks import assert_saves_and_loads, gaussian_by_hand

#: The walk alone (the crowd's drift: tests/models/test_crowd_drift.py).
DRIFT = ModelConfig(
    question=QuestionPriors(drift_sd=HalfNormalPrior(sigma=0.15), crowd_drift_sd=None)
)
# Two retries: a fresh CI machine's first two attempts of the walk's fit once took two
# divergent transitions each (2026-11-28); the third tunes four times as long.
QUICK = SamplerSettings(chains=2, tune=400, draws=400, seed=3, retries=2)


def _walking(seed: int, n_questions: int = 60, drift_sd: float = 0.25, days: int = 60):
    """Questions whose log-odds walk with ``drift_sd`` a day; 10 forecasters with their own
    bias and noise forecast each at 8 uniform times; the first two thirds resolve from the
    walk's value at the question's newest forecast."""
    rng = np.random.default_rng(seed)
    n_forecasters = 10
    beta = rng.normal(0.0, 0.3, n_forecasters)
    sigma = np.exp(rng.normal(-0.7, 0.3, n_forecasters))
    questions, forecasts, resolutions = [], [], []
    finals = np.empty(n_questions)
    for q in range(n_questions):
        qid = f"q{q}"
        questions.append(Question(qid))
        walk = rng.normal(-1.0, 1.5) + np.concatenate(
            [[0.0], np.cumsum(rng.normal(0.0, drift_sd, days))]
        )
        times = np.sort(rng.uniform(0.0, days, 8))
        for e, t in zip(rng.choice(n_forecasters, 8, replace=False), times, strict=True):
            m = walk[int(t)] + beta[e] + sigma[e] * rng.normal()
            when = EPOCH + timedelta(days=float(t))
            forecasts.append(Forecast(qid, f"f{e}", when, float(m)))
        finals[q] = walk[int(times[-1])]
        if q < 2 * n_questions // 3:
            outcome = int(rng.random() < expit(finals[q]))
            resolutions.append(Resolution(qid, outcome, EPOCH + timedelta(days=days)))
    data = ForecastData(tuple(questions), tuple(forecasts), (), tuple(resolutions))
    return data, finals


@pytest.fixture(scope="module")
def walking_fits():
    data, finals = _walking(0)
    moving = ForecastModel(DRIFT).fit(data, sampler=QUICK)
    still = ForecastModel(ModelConfig().held_still()).fit(data, sampler=QUICK)
    return data, finals, moving, still


def test_encode_orders_forecasts_by_question_then_time():
    data, _ = _walking(1, n_questions=5)
    shuffled = ForecastData(data.questions, data.forecasts[::-1], (), data.resolutions)
    enc = encode(shuffled, ModelStructure.for_data(shuffled)).arrays
    q, days = enc["obs_question"], enc["obs_days"]
    assert np.all(np.diff(q) >= 0)
    assert np.all(days >= 0)
    # Each question's first forecast has no step, and the steps add up to its time span.
    for j, question in enumerate(data.questions):
        times = sorted(f.created_at for f in data.forecasts if f.question_id == question.id)
        span = (times[-1] - times[0]).total_seconds() / 86_400
        assert days[q == j][0] == 0.0
        assert days[q == j].sum() == pytest.approx(span)


@pytest.mark.slow
def test_the_fit_learns_the_walk_and_tracks_where_questions_stand_now(walking_fits):
    data, finals, moving, still = walking_fits
    assert moving.diagnostics.publishable, moving.diagnostics.reasons
    drift = moving.draws["drift_sd"]
    # The walk is on the forecast scale, where the simulated forecasters read the truth one
    # to one: the truth's 0.25 lies inside the fit's 90% interval, far from zero.
    lo, hi = np.quantile(drift, [0.05, 0.95])
    assert lo < 0.25 < hi and lo > 0.1
    assert "drift_sd" in moving.population_summary()
    assert "drift_sd" not in still.population_summary()
    # Where each question stands at its newest forecast: the moving model is closer.
    open_q = [q.id for q in data.questions[40:]]
    truth = finals[40:]

    def error(post):
        theta = np.array([p.probability for p in post.predict(open_q)])
        return np.mean((np.log(theta / (1 - theta)) - truth) ** 2)

    assert error(moving) < 0.8 * error(still)


def test_the_filter_in_the_fit_equals_the_instant_updates_gaussian(walking_fits):
    """`_gaussian` (instant updates) is the model's filter: check one question by hand."""
    data, _, moving, _ = walking_fits
    got, want = gaussian_by_hand(moving, data, data.questions[50].id, d=7)
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.slow
def test_an_old_forecast_moves_a_moving_question_less_than_a_new_one(walking_fits):
    data, _, moving, _ = walking_fits
    qid = data.questions[55].id  # at about 0.5, its forecasts spread over 40 days
    times = [f.created_at for f in data.forecasts if f.question_id == qid]
    before = moving.predict([qid])[0].probability
    shift = []
    for when in (min(times) + timedelta(days=1), max(times) + timedelta(days=1)):
        upd = moving.with_forecast(Forecast(qid, "f1", when, -1.5, id="x"))
        assert not upd.needs_refit()
        shift.append(upd.predict([qid])[0].probability - before)
    # Forty days of walk behind the newest forecasts: the old statement says little about
    # now, the new one a lot.
    assert shift[1] < -0.05
    assert abs(shift[0]) < 0.25 * abs(shift[1])


@pytest.mark.slow
def test_instant_updates_of_a_moving_question_agree_with_a_refit(walking_fits):
    data, _, moving, _ = walking_fits
    qid = data.questions[55].id
    newest = max(f.created_at for f in data.forecasts if f.question_id == qid)
    new = Forecast(qid, "f2", newest + timedelta(days=2), 1.5, id="el-1")
    ev = Evidence(
        "ev-1", newest - timedelta(days=20), "official-statement", (EvidenceEffect(qid, 3.0),)
    )
    sampler = SamplerSettings(chains=4, tune=800, draws=1500, seed=0, retries=1)
    model = ForecastModel(DRIFT)
    j = moving._positions[qid]
    theta, w = moving.draws["theta"][:, j], moving.draws["w"][:, 0]  # (official statements)
    # Without the refilter: the old forecast moved by the new statement's Kalman gain
    # alone, or the evidence added on top of forecasts that already saw it.
    unchanged = moving.predict([qid])[0].probability
    naive_evidence = float(np.mean(expit(theta + w * np.log(3.0))))
    for upd, changed, wrong in (
        (moving.with_forecast(new), data.with_records(forecasts=(new,)), unchanged),
        (moving.with_evidence(ev), data.with_records(evidence=(ev,)), naive_evidence),
    ):
        assert upd.khat is not None and not upd.needs_refit()
        refit = model.fit(changed, sampler=sampler)
        assert refit.diagnostics.publishable
        p_upd, p_refit = upd.predict([qid])[0].probability, refit.predict([qid])[0].probability
        assert abs(p_upd - p_refit) < 0.02
        # ...and agreement is not trivial: the answer without the update is far off.
        assert abs(wrong - p_refit) > 0.05


def test_a_moving_fit_saves_and_loads_with_its_walk(walking_fits, tmp_path):
    data, _, moving, _ = walking_fits
    assert_saves_and_loads(moving, data, DRIFT, "drift_sd", tmp_path)
