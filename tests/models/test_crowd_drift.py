"""The crowd's drifting error (``question.crowd_drift_sd``): told from a question that moves,
read by the instant updates as by the fit, simulated as modelled, saved and loaded."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.special import expit, logit

from models.config import HalfNormalPrior, ModelConfig, QuestionPriors, SamplerSettings
from models.dataset import Forecast, ForecastData, Question, Resolution
from models.forecast_model import ForecastModel
from models.simulate import EPOCH, realistic_forecasters, simulate
from tests.models.walk_checks import assert_saves_and_loads, gaussian_by_hand

WALK = QuestionPriors(drift_sd=HalfNormalPrior(sigma=0.15), crowd_drift_sd=None)
#: The defaults: the walk and the crowd's drift.
BOTH = ModelConfig()
QUICK = SamplerSettings(chains=2, tune=400, draws=400, seed=3, retries=1)
CROWD_SD, CROWD_DAYS = 0.8, 2.0


def _moody(seed: int, n_questions: int = 60, days: float = 20.0, per_question: int = 10):
    """Questions that stand still, forecast over ``days`` by 10 of 15 forecasters each, whose
    shared error on each question drifts (sd 0.8 at rest, returning in 2 days); the first
    two thirds resolve from the questions' log-odds."""
    rng = np.random.default_rng(seed)
    n_forecasters = 15
    beta = rng.normal(0.0, 0.3, n_forecasters)
    sigma = np.exp(rng.normal(-0.7, 0.3, n_forecasters))
    truth = rng.normal(-1.0, 1.5, n_questions)
    questions, forecasts, resolutions = [], [], []
    for q in range(n_questions):
        qid = f"q{q}"
        questions.append(Question(qid))
        times = np.sort(rng.uniform(0.0, days, per_question))
        mood, previous = CROWD_SD * rng.normal(), times[0]
        who = rng.choice(n_forecasters, per_question, replace=False)
        for e, t in zip(who, times, strict=True):
            f = np.exp(-(t - previous) / CROWD_DAYS)
            mood = f * mood + CROWD_SD * np.sqrt(1.0 - f * f) * rng.normal()
            previous = t
            m = truth[q] + mood + beta[e] + sigma[e] * rng.normal()
            forecasts.append(Forecast(qid, f"f{e}", EPOCH + timedelta(days=float(t)), float(m)))
        if q < 2 * n_questions // 3:
            outcome = int(rng.random() < expit(truth[q]))
            resolutions.append(Resolution(qid, outcome, EPOCH + timedelta(days=days)))
    return ForecastData(tuple(questions), tuple(forecasts), (), tuple(resolutions)), truth


@pytest.fixture(scope="module")
def moody_fits():
    data, truth = _moody(0)
    walk = ForecastModel(ModelConfig(question=WALK)).fit(data, sampler=QUICK)
    both = ForecastModel(BOTH).fit(data, sampler=QUICK)
    return data, truth, walk, both


@pytest.mark.slow
def test_a_drifting_crowd_is_told_from_a_question_that_moves(moody_fits):
    data, truth, walk, both = moody_fits
    assert both.diagnostics.publishable, both.diagnostics.reasons
    # The crowd's drift is learnt: the posterior median within 0.15 of the truth's 0.8 (on
    # data seeds 0-3 the medians were 0.70-0.78, the 90% intervals about +-0.09), far from 0.
    lo, median = np.quantile(both.draws["crowd_drift_sd"], [0.05, 0.5])
    assert abs(median - CROWD_SD) < 0.15 and lo > 0.4
    # With the crowd's drift in the model, the walk is not needed to explain the forecasts;
    # a model with the walk alone takes the crowd's moves for the question's.
    assert np.mean(both.draws["drift_sd"]) < 0.5 * np.mean(walk.draws["drift_sd"])
    assert {"drift_sd", "crowd_drift_sd"} <= set(both.population_summary())
    assert "crowd_drift_sd" not in walk.population_summary()
    # Where the open questions stand: the walk alone chases the crowd's latest mood.
    open_q = [q.id for q in data.questions[40:]]

    def error(post):
        p = np.array([x.probability for x in post.predict(open_q)])
        return np.mean((logit(p) - truth[40:]) ** 2)

    assert error(both) < 0.7 * error(walk)


def test_the_filter_in_the_fit_equals_the_instant_updates_gaussian(moody_fits):
    """`_gaussian` (instant updates) is the model's filter, the crowd's drift included."""
    data, _, _, both = moody_fits
    d = 11  # one draw, by hand
    got, want = gaussian_by_hand(both, data, data.questions[50].id, d)
    assert got == pytest.approx(want, rel=1e-10)
    # ...and the crowd's drift acts there: the draw's is far from zero.
    assert both.draws["crowd_drift_sd"][d] > 0.3


@pytest.mark.slow
def test_a_new_forecast_on_a_moody_question_agrees_with_a_refit(moody_fits):
    data, _, _, both = moody_fits
    open_q = [q.id for q in data.questions[40:]]
    qid = min(open_q, key=lambda k: abs(both.predict([k])[0].probability - 0.5))
    newest = max(f.created_at for f in data.forecasts if f.question_id == qid)
    before = both.predict([qid])[0].probability
    new = Forecast(qid, "f3", newest + timedelta(days=1), float(logit(before)) + 2.5, id="el-1")
    upd = both.with_forecast(new)
    assert upd.khat is not None and not upd.needs_refit()
    sampler = SamplerSettings(chains=4, tune=800, draws=1500, seed=0, retries=1)
    refit = ForecastModel(BOTH).fit(data.with_records(forecasts=(new,)), sampler=sampler)
    assert refit.diagnostics.publishable
    p_upd, p_refit = upd.predict([qid])[0].probability, refit.predict([qid])[0].probability
    assert abs(p_upd - p_refit) < 0.02
    assert abs(before - p_refit) > 0.05  # not trivial: the forecast moved the question


def test_a_fit_with_a_drifting_crowd_saves_and_loads(moody_fits, tmp_path):
    data, _, _, both = moody_fits
    assert_saves_and_loads(both, data, BOTH, "crowd_drift_sd", tmp_path)


def test_simulate_draws_the_crowds_drift_and_leaves_the_rest_alone():
    kw = {"n_questions": 30, "n_forecasters": 12, "forecasts_per_question": 8}
    kw.update(realistic_forecasters(np.random.default_rng(5), 12))
    crowd = ModelConfig(
        question=QuestionPriors(drift_sd=None, crowd_drift_sd=HalfNormalPrior(sigma=1.0))
    )
    drifting, truth = simulate(np.random.default_rng(4), crowd_drift_sd=2.0, config=crowd, **kw)
    still, truth_still = simulate(np.random.default_rng(4), crowd_drift_sd=0.0, config=crowd, **kw)
    assert truth.crowd_drift_sd == 2.0 and truth_still.crowd_drift_sd == 0.0
    # The outcomes' log-odds do not read the crowd's error...
    np.testing.assert_array_equal(truth.theta_now, truth_still.theta_now)

    def spread(data):
        """The sd of forecasts around their question's mean, after each forecaster's own."""
        m = np.array([f.logit_center for f in data.forecasts])
        q = np.array([f.question_id for f in data.forecasts])
        e = np.array([f.forecaster_id for f in data.forecasts])
        for key in (q, e):
            for k in np.unique(key):
                m[key == k] -= m[key == k].mean()
        return m.std()

    # ...but the forecasts do: they scatter more.
    assert spread(drifting) > spread(still) + 0.3
    # A config without the crowd's drift draws as before it existed (and that is the
    # default of simulate: questions that hold still).
    plain, _ = simulate(np.random.default_rng(4), **kw)
    again, _ = simulate(np.random.default_rng(4), config=ModelConfig().held_still(), **kw)
    assert plain.forecasts == again.forecasts
