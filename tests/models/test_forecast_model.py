"""The hierarchical model: structure, fitting, diagnostics, predictions, instant updates."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.special import expit

from models.config import BetaPrior, ModelConfig, SamplerSettings
from models.constants import RELIABILITY_CLASSES
from models.dataset import Evidence, EvidenceEffect, Forecast, ForecastData, Question, Resolution
from models.evidence import epoch_seconds, evidence_offsets
from models.exceptions import DataError
from models.forecast_model import (
    COMPILED,
    Diagnostics,
    ForecastModel,
    ModelStructure,
    Posterior,
    capacity,
    next_attempt,
    rank_diagnostics,
)
from models.simulate import EPOCH, realistic_forecasters, simulate


def test_capacity_buckets_bound_the_padding():
    assert [capacity(n) for n in (1, 4, 5, 9, 64)] == [4, 4, 8, 16, 64]
    for n in (65, 100, 578, 2000, 15000):
        c = capacity(n)
        assert n <= c <= 1.25 * n + 1
    # Nearby sizes share a bucket, so they share one compiled model.
    assert capacity(570) == capacity(578)


def test_evidence_offsets_sum_log_lr_by_class_and_time():
    q_index = {"a": 0, "b": 1}
    ev = [
        Evidence("k1", EPOCH + timedelta(days=1), "rumour", (EvidenceEffect("a", 4.0),)),
        Evidence(
            "k2",
            EPOCH + timedelta(days=3),
            "official-statement",
            (EvidenceEffect("a", 0.5), EvidenceEffect("b", 2.0)),
        ),
    ]
    term_q = np.array([0, 0, 0, 1])
    term_t = epoch_seconds([EPOCH, EPOCH + timedelta(days=2), None, EPOCH + timedelta(days=3)])
    a = evidence_offsets(ev, q_index, term_q, term_t)
    r_rumour = RELIABILITY_CLASSES.index("rumour")
    r_off = RELIABILITY_CLASSES.index("official-statement")
    expected = np.zeros((4, len(RELIABILITY_CLASSES)))
    expected[1, r_rumour] = np.log(4.0)
    expected[2, r_rumour] = np.log(4.0)
    expected[2, r_off] = np.log(0.5)
    expected[3, r_off] = np.log(2.0)  # evidence at the same instant counts
    np.testing.assert_allclose(a, expected)


@pytest.mark.parametrize(
    ("chains", "draws", "phi"),
    [(4, 200, 0.5), (4, 201, 0.95), (2, 50, -0.3), (1, 40, 0.7), (3, 7, 0.2)],
)
def test_rank_diagnostics_equal_arviz_stats(chains, draws, phi):
    """The vectorised R-hat and bulk ESS are arviz_stats' own, ties and edge cases too."""
    import xarray as xr
    from arviz_stats import ess, rhat

    rng = np.random.default_rng(draws)
    k = 12
    x = np.zeros((chains, draws, k))
    noise = rng.standard_normal((chains, draws, k))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    x += rng.normal(0.0, 0.3, (chains, 1, k))  # chains that disagree a little
    x[:, :, 0] = 1.5  # constant
    x[0, 3, 1] = np.nan
    x[:, :, 2] = np.round(x[:, :, 2])  # many ties
    da = xr.DataArray(x, dims=("chain", "draw", "q"))
    with np.errstate(invalid="ignore", divide="ignore"):
        want_r, want_e = np.asarray(rhat(da)), np.asarray(ess(da, method="bulk"))
    got_r, got_e = rank_diagnostics(x)
    np.testing.assert_allclose(got_r, want_r, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got_e, want_e, rtol=1e-12, equal_nan=True)


def test_rhat_by_variable_names_the_slow_ones_and_leaves_out_drawn_after():
    import xarray as xr

    from models.forecast_model import rhat_by_variable

    rng = np.random.default_rng(0)
    mixed = rng.standard_normal((4, 300, 3))
    stuck = rng.standard_normal((4, 300, 2)) + np.arange(4)[:, None, None]  # chains disagree
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "a": (("chain", "draw", "f"), mixed),
                    "b": (("chain", "draw", "g"), stuck),
                    "theta": (("chain", "draw", "g"), stuck),  # drawn after sampling
                }
            )
        }
    )
    got = rhat_by_variable(tree)
    assert set(got) == {"a", "b"}
    assert got["a"] == pytest.approx(np.nanmax(rank_diagnostics(mixed)[0]))
    assert got["a"] < 1.01 and got["b"] > 1.5


def test_bad_records_are_refused():
    q = (Question("a"),)
    with pytest.raises(DataError, match="unknown question 'b'"):
        ForecastData(q, forecasts=(Forecast("b", "e", EPOCH, 0.0),))
    with pytest.raises(DataError, match="reliability"):
        ForecastData(q, evidence=(Evidence("k", EPOCH, "gossip", (EvidenceEffect("a", 2.0),)),))
    with pytest.raises(DataError, match="likelihood ratio"):
        ForecastData(q, evidence=(Evidence("k", EPOCH, "rumour", (EvidenceEffect("a", -1.0),)),))
    with pytest.raises(DataError, match="outcome"):
        ForecastData(q, resolutions=(Resolution("a", 2),))
    with pytest.raises(DataError, match="probability"):
        Forecast.from_probability("a", "e", 1.5, EPOCH)


def test_fit_labels_posterior_and_reuses_the_compiled_model(quick_sampler):
    rng = np.random.default_rng(3)
    data, _ = simulate(rng, n_questions=12, n_forecasters=5, forecasts_per_question=4, n_resolved=8)
    model = ForecastModel()
    post = model.fit(data, sampler=quick_sampler)
    tree = post.posterior["posterior"]
    assert list(tree["theta"].coords["question"].values) == data.question_ids
    assert tree.sizes["chain"] == 2 and tree.sizes["draw"] == 300
    assert set(tree["w"].coords["reliability"].values) == set(RELIABILITY_CLASSES)
    before = COMPILED.compilations
    # A smaller data set of the same structure: new data, same compiled model.
    smaller, _ = simulate(rng, n_questions=10, n_forecasters=5, forecasts_per_question=3)
    assert ModelStructure.for_data(smaller) == ModelStructure.for_data(data)
    post2 = model.fit(smaller, sampler=quick_sampler)
    assert COMPILED.compilations == before
    assert len(post2.predict()) == 10
    for f in post2.predict():
        lo, hi = f.interval
        assert 0 < lo <= f.probability <= hi < 1 and f.interval_prob == 0.9


def test_a_short_fit_is_not_publishable_and_says_why():
    rng = np.random.default_rng(4)
    data, _ = simulate(rng, n_questions=12, n_forecasters=5, forecasts_per_question=4)
    tiny = SamplerSettings(chains=1, tune=50, draws=50, seed=0, retries=0)
    post = ForecastModel().fit(data, sampler=tiny)
    assert not post.diagnostics.publishable
    reasons = " ".join(post.diagnostics.reasons)
    assert "two chains" in reasons and "ESS" in reasons
    assert "max R-hat" not in reasons  # said once, not twice
    # No retry can pass R-hat with one chain: it is not tried.
    once = ForecastModel().fit(data, sampler=tiny.model_copy(update={"retries": 1}))
    assert once.diagnostics.attempts == 1 and not once.diagnostics.publishable


def test_a_retry_for_too_few_effective_draws_doubles_the_draws():
    """Slow mixing (ESS or R-hat) is retried with twice the draws; a passing fit is not."""
    rng = np.random.default_rng(4)
    data, _ = simulate(rng, n_questions=12, n_forecasters=5, forecasts_per_question=4)
    small = SamplerSettings(chains=2, tune=100, draws=100, seed=0, retries=1)
    # No fit of 2 x 100 draws can reach this ESS: the first attempt fails on ESS alone.
    strict = ModelConfig(publish={"min_ess_bulk": 10_000, "max_divergences": 10_000})
    post = ForecastModel(strict).fit(data, sampler=small)
    assert post.diagnostics.attempts == 2
    assert post.n_samples == 2 * 200
    lenient = ModelConfig(publish={"min_ess_bulk": 1, "max_rhat": 10.0, "max_divergences": 10_000})
    once = ForecastModel(lenient).fit(data, sampler=small)
    assert once.diagnostics.attempts == 1 and once.n_samples == 2 * 100


def test_large_data_sets_are_sampled_at_their_own_settings(sampled_settings):
    """From ``large_data_forecasts`` forecasts on, the first attempt takes longer steps and
    its own tuning and draws; a retry doubles those."""
    rng = np.random.default_rng(4)
    data, _ = simulate(rng, n_questions=12, n_forecasters=5, forecasts_per_question=4)
    n = len(data.forecasts)
    calls = sampled_settings
    small = SamplerSettings(
        chains=2, tune=100, draws=100, seed=0, retries=0, large_data_tune=60, large_data_draws=80
    )
    lenient = ModelConfig(publish={"min_ess_bulk": 1, "max_rhat": 10.0, "max_divergences": 10_000})
    for threshold, expected in (
        (n + 1, (100, 100, 0.95)),
        (n, (60, 80, 0.9)),
        (None, (100, 100, 0.95)),
    ):
        settings = small.model_copy(update={"large_data_forecasts": threshold})
        post = ForecastModel(lenient).fit(data, sampler=settings)
        assert calls[-1] == expected, (threshold, calls)
        assert post.n_samples == 2 * expected[1]
    # A retry takes twice the first attempt's tuning and (as ESS failed) draws; the small
    # steps of 0.99 only if the first attempt diverged, else the first attempt's target.
    strict = ModelConfig(publish={"min_ess_bulk": 10_000, "max_divergences": 10_000})
    calls.clear()
    settings = small.model_copy(update={"large_data_forecasts": n, "retries": 1})
    ForecastModel(strict).fit(data, sampler=settings)
    retry_target = 0.99 if calls.divergences[0] else 0.9
    assert calls == [(60, 80, 0.9), (120, 160, retry_target)]


def _failed(max_rhat: float, min_ess: float, divergences: int) -> Diagnostics:
    return Diagnostics(
        max_rhat=max_rhat, min_ess_bulk=min_ess, divergences=divergences, publishable=False
    )


@pytest.mark.parametrize(
    ("diag", "expected"),
    [
        # Slow mixing alone: twice the tuning and draws, the same steps.
        (_failed(1.0101, 630, 0), (1000, 1000, 0.9)),
        (_failed(1.005, 120, 0), (1000, 1000, 0.9)),
        # Divergences alone: twice the tuning, smaller steps, the same draws.
        (_failed(1.005, 900, 3), (1000, 500, 0.99)),
        # Both.
        (_failed(1.02, 900, 1), (1000, 1000, 0.99)),
    ],
)
def test_a_retry_takes_smaller_steps_only_after_divergences(diag, expected):
    """What failed decides the retry: divergences shorten the steps, slow mixing lengthens
    the chains, and every retry tunes twice as long."""
    publish = ModelConfig().publish
    assert next_attempt(diag, publish, 500, 500, 0.9) == expected
    # A target already above 0.99 is never lowered.
    tune, draws, target = next_attempt(diag, publish, 500, 500, 0.995)
    assert (tune, draws, target) == (expected[0], expected[1], 0.995)


def test_given_sampler_options_hold_at_every_size():
    """A user's tune, draws or target acceptance holds for large data sets too; the
    large-data settings not given stay, and so does the threshold."""
    base = SamplerSettings(large_data_forecasts=1000)
    assert base.first_attempt(999) == (1000, 1000, 0.95)
    assert base.first_attempt(1000) == (500, 500, 0.9)
    only_target = base.with_given(target_accept=0.8)
    assert only_target.first_attempt(999) == (1000, 1000, 0.8)
    assert only_target.first_attempt(1000) == (500, 500, 0.8)
    only_draws = base.with_given(draws=300, chains=2)
    assert only_draws.first_attempt(1000) == (500, 300, 0.9)
    assert (only_draws.chains, only_draws.large_data_forecasts) == (2, 1000)
    with pytest.raises(ValidationError, match="large_data_target_accept"):
        base.with_given(target_accept=1.5)


def test_outcomes_and_forecasts_move_the_posterior_the_right_way(quick_sampler):
    """Two questions, same forecasts; the one forecast high should come out higher."""
    qs = (Question("hi"), Question("lo"))
    fc = []
    for e in range(6):
        fc.append(Forecast.from_probability("hi", f"e{e}", 0.8, EPOCH))
        fc.append(Forecast.from_probability("lo", f"e{e}", 0.2, EPOCH))
    post = ForecastModel().fit(ForecastData(qs, tuple(fc)), sampler=quick_sampler)
    p = {f.question_id: f.probability for f in post.predict()}
    assert p["hi"] > 0.6 > 0.4 > p["lo"]


def _evidence_case(later_forecast: bool):
    rng = np.random.default_rng(11)
    # A fixed data set, drawn when the base-rate prior's sd was 0.5: an update whose later
    # forecast leaves importance sampling safe (k-hat < 0.7), so that it can be compared
    # with a refit. (Drawn with sd 1 the same seed gives k-hat 0.80, where a refit is due.)
    drawn_with = ModelConfig.model_validate({"question": {"base_logit": {"sigma": 0.5}}})
    data, _ = simulate(
        rng,
        n_questions=16,
        n_forecasters=6,
        forecasts_per_question=5,
        n_resolved=10,
        config=drawn_with,
        **realistic_forecasters(rng, 6),
    )
    q = data.questions[12].id
    t_ev = EPOCH + timedelta(days=200)  # after every simulated forecast
    extra = ()
    if later_forecast:
        extra = (Forecast(q, "f0001", t_ev + timedelta(days=1), 1.0),)
        data = data.with_records(forecasts=extra)
    ev = Evidence("new", t_ev, "verified-report", (EvidenceEffect(q, 6.0),))
    return data, ev, q


@pytest.mark.slow
def test_evidence_update_is_exact_when_no_forecast_follows_it(quick_sampler):
    data, ev, q = _evidence_case(later_forecast=False)
    post = ForecastModel().fit(data, sampler=quick_sampler)
    upd = post.with_evidence(ev)
    assert upd.khat is None and upd.tier == "instant"
    r = RELIABILITY_CLASSES.index("verified-report")
    j = post.question_ids.index(q)
    expected = expit(post.draws["theta"][:, j] + post.draws["w"][:, r] * np.log(6.0)).mean()
    assert upd.predict([q])[0].probability == pytest.approx(expected, abs=1e-12)
    assert upd.predict([q])[0].probability > post.predict([q])[0].probability + 0.05
    # Before the evidence's time, nothing changed.
    before = upd.predict([q], at=ev.observed_at - timedelta(seconds=1))[0]
    assert before.probability == pytest.approx(post.predict([q])[0].probability, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("later_forecast", [False, True])
def test_instant_evidence_update_agrees_with_refit(later_forecast):
    full_sampler = SamplerSettings(chains=4, tune=1000, draws=2000, seed=0)
    data, ev, q = _evidence_case(later_forecast)
    model = ForecastModel()
    post = model.fit(data, sampler=full_sampler)
    upd = post.with_evidence(ev)
    if later_forecast:
        assert upd.khat is not None  # reweighted, not merely shifted
        assert upd.khat < 0.7
    refit = model.fit(data.with_records(evidence=(ev,)), sampler=full_sampler)
    assert refit.diagnostics.publishable
    assert abs(upd.predict([q])[0].probability - refit.predict([q])[0].probability) < 0.02
    # Left out of the refit again, the evidence gives back the fit without it.
    pulled = {x.id: x for x in refit.influence(q).inputs}["new"]
    assert pulled.influence > 0.05
    assert abs(pulled.probability_without - post.predict([q])[0].probability) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("forecaster", ["f0002", "someone-new"])
def test_instant_elicitation_update_agrees_with_refit(forecaster):
    # Long chains: the question is wide open, and both sides carry Monte Carlo error.
    full_sampler = SamplerSettings(chains=4, tune=1000, draws=3000, seed=0)
    rng = np.random.default_rng(5)
    data, _ = simulate(
        rng,
        n_questions=16,
        n_forecasters=6,
        forecasts_per_question=5,
        n_resolved=10,
        **realistic_forecasters(rng, 6),
    )
    q = data.questions[13].id
    new = Forecast(q, forecaster, EPOCH + timedelta(days=300), 2.5, id="el-1")
    _update_agrees_with_refit(ForecastModel(), data, new, full_sampler)


def _update_agrees_with_refit(
    model: ForecastModel, data: ForecastData, new: Forecast, sampler: SamplerSettings
) -> Posterior:
    """Fit ``data`` with one forecast kept on ``new``'s question (so that a new one moves it
    visibly), and check that the instant update by ``new`` agrees with a refit."""
    q = new.question_id
    kept = [f for f in data.forecasts if f.question_id == q][:1]
    data = ForecastData(
        data.questions,
        tuple(f for f in data.forecasts if f.question_id != q) + tuple(kept),
        data.evidence,
        data.resolutions,
    )
    post = model.fit(data, sampler=sampler)
    upd = post.with_forecast(new)
    assert upd.khat is not None and upd.khat < 0.7 and not upd.needs_refit()
    refit = model.fit(data.with_records(forecasts=(new,)), sampler=sampler)
    assert abs(upd.predict([q])[0].probability - refit.predict([q])[0].probability) < 0.02
    # The update really moved the forecast (else agreement would be trivial).
    assert abs(upd.predict([q])[0].probability - post.predict([q])[0].probability) > 0.02
    # Left out of the refit again, the new forecast gives back the fit without it (and with
    # one forecast left, the question can no longer be contentious: the mixture changes).
    influence = refit.influence(q)
    pulled = {x.id: x for x in influence.inputs}["el-1"]
    assert pulled.khat is not None and pulled.khat < 0.7
    assert abs(pulled.probability_without - post.predict([q])[0].probability) < 0.02
    assert abs(influence.probability - refit.predict([q])[0].probability) < 0.01
    return post


def _with_pivot(config: ModelConfig) -> ModelConfig:
    """``config`` with the forecasters' pivot learnt (docs/model.md, "Forecasters")."""
    forecaster = config.forecaster.model_copy(
        update={"pivot_share": BetaPrior(alpha=1.0, beta=1.0)}
    )
    return config.model_copy(update={"forecaster": forecaster})


@pytest.mark.slow
def test_instant_update_agrees_with_refit_where_forecasters_pivot_at_the_level():
    """With the pivot learnt, a forecaster who hedges far more than the others reads a
    question as ``a_e (phi - P) + P + beta_e``: the update must take the pivot's offset
    ``(1 - a_e) P`` as the fit does, or it misreads the statement by ``(1 - a_e) P / a_e``."""
    full_sampler = SamplerSettings(chains=4, tune=1000, draws=3000, seed=0)
    rng = np.random.default_rng(5)
    par = realistic_forecasters(rng, 6)
    # f0002 hedges (its statements sit close to the pivot), and is precise enough on its
    # 30-odd questions for the fit to learn that (relative discrimination about 0.5).
    par["alpha"][2], par["sigma"][2] = 0.35, 0.3
    theta = rng.normal(-2.0, 1.5, 40)  # a level well below 50%, where the pivot is
    data, truth = simulate(
        rng,
        n_questions=40,
        n_forecasters=6,
        forecasts_per_question=5,
        n_resolved=30,
        theta=theta,
        pivot_share=1.0,
        config=_with_pivot(ModelConfig().held_still()),
        **par,
    )
    assert truth.pivot_share == 1.0 and truth.level == pytest.approx(theta.mean())
    new = Forecast(data.questions[33].id, "f0002", EPOCH + timedelta(days=300), -0.5, id="el-1")
    post = _update_agrees_with_refit(
        ForecastModel(_with_pivot(ModelConfig())), data, new, full_sampler
    )
    # The case is one where the pivot matters: f0002 hedges, and the pivot is far from 0.
    assert post.diagnostics.publishable
    j = post.forecaster_ids.index("f0002")
    assert (post.draws["alpha"][:, j] / post.draws["alpha_bar"]).mean() < 0.7
    assert post.draws["pivot_share"].mean() > 0.5


@pytest.mark.slow
def test_a_surprising_elicitation_reports_khat_above_threshold(quick_sampler):
    """Many confident forecasters at 3%; a near-noiseless statement at 99.9% cannot be absorbed."""
    qs = (Question("q"),)
    fc = tuple(Forecast.from_probability("q", f"e{e}", 0.03, EPOCH) for e in range(25))
    post = ForecastModel().fit(ForecastData(qs, fc), sampler=quick_sampler)
    shock = Forecast.from_probability("q", "e0", 0.99, EPOCH + timedelta(days=1), eps=1e-3)
    upd = post.with_forecast(shock)
    assert upd.khat is not None and upd.khat > 0.7
    assert upd.needs_refit()


def test_a_lone_forecaster_is_the_population_and_a_second_one_needs_a_refit(quick_sampler):
    """With one forecaster its deviations from the population are off (docs/model.md)."""
    from models.forecast_model import ModelStructure, encode

    rng = np.random.default_rng(8)
    data, _ = simulate(
        rng, n_questions=30, n_forecasters=1, forecasts_per_question=1, n_resolved=20
    )
    (fid,) = data.forecaster_ids
    arrays = encode(data, ModelStructure.for_data(data)).arrays
    assert float(arrays["forecaster_effects"]) == 0.0
    assert arrays["forecaster_centred"].sum() == 0  # a free centred variable would funnel
    post = ForecastModel().fit(data, sampler=quick_sampler)
    d = post.draws
    np.testing.assert_allclose(d["alpha"][:, 0], d["alpha_bar"])
    np.testing.assert_allclose(d["beta"][:, 0], d["beta_mu"])
    np.testing.assert_allclose(np.log(d["sigma"][:, 0]), d["log_sigma_mu"])
    assert post.diagnostics.divergences == 0
    # The same forecaster on an open question is absorbed; a second forecaster switches the
    # deviations on, which is another model: only a refit will do.
    open_q = next(
        q.id for q in data.questions if q.id not in {r.question_id for r in data.resolutions}
    )
    same = post.with_forecast(Forecast(open_q, fid, EPOCH + timedelta(days=1), 0.5))
    assert not same.needs_refit(), same.khat
    other = post.with_forecast(Forecast(open_q, "someone-new", EPOCH + timedelta(days=1), 0.5))
    assert other.needs_refit() and other.khat == float("inf")


@pytest.mark.slow
def test_no_double_counting_of_evidence():
    """A forecaster who moves by exactly the evidence's discounted log LR adds no further move."""
    # The two probabilities compared are sampled apart, each with a Monte Carlo error of
    # sd / sqrt(ESS) = 0.24 / sqrt(ESS). At the default 4 x 1000 draws (ESS ~4,000) that is
    # 0.004 each, and their difference, whose expectation is +0.003 (the re-forecast also
    # narrows the uncertain weight of the evidence), crossed 0.01 on one seed. At 4 x 8000
    # (ESS ~17,000) the difference's error is 0.0026: 0.01 is 2.7 of them above the
    # expected +0.003, and a model that reads the echo as news moves by 0.05.
    full_sampler = SamplerSettings(chains=4, tune=1000, draws=8000, seed=0)
    # Questions that hold still: with the walk, e0's re-forecast, the newest on q, would
    # also say where q stands now, and the echo would not be the only thing it says.
    cfg = ModelConfig().held_still()
    rel = "official-statement"
    prior = cfg.evidence.weights[rel]
    w_mean = prior.alpha / (prior.alpha + prior.beta)
    lr = 8.0
    rng = np.random.default_rng(2)
    qs = tuple(Question(f"q{i}") for i in range(8))
    centres = dict(zip([q.id for q in qs], rng.normal(-0.5, 1.0, len(qs)), strict=True))
    centres["q"] = -0.85  # about 0.3
    qs = (Question("q"), *qs[1:])
    base_list = [
        Forecast(q.id, f"e{e}", EPOCH, float(centres.get(q.id, -0.85) + rng.normal(0, 0.7)))
        for e in range(6)
        for q in qs
    ]
    # e0 starts at the others' consensus on q, so its re-forecast carries no noise of its own.
    others = [f.logit_center for f in base_list if f.question_id == "q" and f.forecaster_id != "e0"]
    base_list[0] = Forecast("q", "e0", EPOCH, float(np.mean(others)))
    base = tuple(base_list)
    t_ev = EPOCH + timedelta(days=10)
    ev = Evidence("k", t_ev, rel, (EvidenceEffect("q", lr),))
    model = ForecastModel(cfg)
    no_evidence = model.fit(ForecastData(qs, base), sampler=full_sampler)
    evidence_only = model.fit(ForecastData(qs, base, (ev,)), sampler=full_sampler)
    # e0 re-forecasts after the evidence, moving by exactly the discounted log LR on its own
    # scale: alpha_e0 * w * log LR.
    alpha_e0 = evidence_only.forecaster_summary()[0]["alpha"]["mean"]
    assert evidence_only.forecaster_ids[0] == "e0"
    shift = alpha_e0 * w_mean * np.log(lr)
    moved = Forecast("q", "e0", t_ev + timedelta(days=1), base[0].logit_center + shift)
    both = model.fit(ForecastData(qs, (*base, moved), (ev,)), sampler=full_sampler)
    p0 = no_evidence.predict(["q"])[0].probability
    p1 = evidence_only.predict(["q"])[0].probability
    p2 = both.predict(["q"])[0].probability
    assert no_evidence.diagnostics.publishable and both.diagnostics.publishable
    assert p1 > p0 + 0.1  # the evidence moved the aggregate
    assert p2 <= p1 + 0.01  # the echo of it did not move it further
    # A model that read the re-forecast as independent information would have moved on.
    naive = model.fit(
        ForecastData(qs, (*base, Forecast("q", "e0", EPOCH, moved.logit_center)), (ev,)),
        sampler=full_sampler,
    )
    assert naive.predict(["q"])[0].probability > p1 + 0.01


@pytest.mark.slow
def test_alike_forecasters_are_refitted_non_centred_when_centred_ones_diverge(
    sampled_settings, monkeypatch
):
    # Five identical forecasters, each on all 60 questions: each has enough forecasts to be
    # sampled centred, but the population spread of bias and noise is near zero, where the
    # centred form funnels. forecasters_to_centre sees that they are alike and centres none
    # (tests/models/test_forecaster_centring.py); here they are centred by their count alone,
    # as before that rule, so that the refit is what mends the fit.
    import models.forecast_model as forecast_model

    monkeypatch.setattr(
        forecast_model,
        "forecasters_to_centre",
        lambda obs_q, obs_e, obs_m, n: np.bincount(obs_e, minlength=n) >= 50,
    )
    rng = np.random.default_rng(5)
    data, _ = simulate(
        rng,
        n_questions=60,
        n_forecasters=5,
        forecasts_per_question=5,
        n_resolved=45,
        alpha=np.ones(5),
        beta=np.zeros(5),
        sigma=np.ones(5),
    )
    # (One retry: the calls below are the refit's and the retry's.)
    settings = ModelConfig().sampler.model_copy(update={"seed": 1, "retries": 1})
    # (Measured on the model whose questions hold still.)
    still = ModelConfig().held_still()
    first = ForecastModel(still).fit(data, sampler=settings.model_copy(update={"retries": 0}))
    assert first.diagnostics.centred_forecasters == 5
    assert first.diagnostics.divergences > 0 and not first.diagnostics.publishable
    calls = sampled_settings
    calls.clear()
    post = ForecastModel(still).fit(data, sampler=settings)
    d = post.diagnostics
    assert d.centred_forecasters == 0 and d.publishable, d.reasons
    # A change of coordinates, not a longer run: the refit keeps the first one's settings.
    assert calls[:2] == [(settings.tune, settings.draws, settings.target_accept)] * 2
    # And it is the cure: centred, over ten divergent transitions (18 to 97 of 4,000
    # measured, by machine); non-centred at the same settings, at most a stray one (0 or 1
    # of 4,000 measured; a stray one is retried).
    assert calls.divergences[0] >= 10 and calls.divergences[1] <= 2, calls.divergences
    # Nor does it use up the retry: a refit that then fails on ESS is retried as usual.
    calls.clear()
    strict = ModelConfig(publish={"min_ess_bulk": 100_000}).held_still()
    again = ForecastModel(strict).fit(data, sampler=settings)
    assert again.diagnostics.attempts == 3 and not again.diagnostics.publishable
    assert [c[:2] for c in calls] == [
        (settings.tune, settings.draws),
        (settings.tune, settings.draws),
        (2 * settings.tune, 2 * settings.draws),
    ]
