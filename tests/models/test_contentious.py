"""Contentious questions: the per-question noise mixture, checked against brute force.

The model integrates each question's log-odds out and mixes two noise levels per question
(docs/model.md, "Contentious questions"). These tests evaluate the compiled model's
likelihood term and the post-sampling draws of the components at fixed parameter values,
and compare both with numerical integration over the question effect.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad
from scipy.special import expit
from scipy.stats import norm

from models.config import BetaPrior, ModelConfig
from models.dataset import Forecast, ForecastData, Question, Resolution
from models.forecast_model import ModelStructure, _with_theta, build_model, encode, mixture_on
from models.simulate import EPOCH

# Two forecasters who disagree sharply (resolved yes), two who agree (unresolved), six on a
# question with more forecasts than a contentious question may have (resolved no), and a
# lone forecast far from the rest (resolved no), which has nothing to disagree with.
FORECASTS = {
    "split": [-4.6, 0.3],
    "agreed": [-1.0, -1.1],
    "crowded": [-2.0, 1.5, -0.5, 0.8, -3.0, 0.1],
    "lone": [3.0],
}
OUTCOMES = {"split": 1, "crowded": 0, "lone": 0}
# Two groups, so that each has its own level, spread and topic factor and shift.
GROUPS = {"split": "g1", "agreed": "g1", "crowded": "g2", "lone": "g2"}


def _data() -> ForecastData:
    questions = tuple(Question(q, group=GROUPS[q]) for q in FORECASTS)
    forecasts = tuple(
        Forecast(q, f"f{i}", EPOCH + timedelta(days=i), m)
        for q, ms in FORECASTS.items()
        for i, m in enumerate(ms)
    )
    resolutions = tuple(Resolution(q, y, EPOCH + timedelta(days=30)) for q, y in OUTCOMES.items())
    return ForecastData(questions, forecasts, resolutions=resolutions)


def _case(config: ModelConfig):
    """The model at a fixed, non-trivial point, and every quantity the brute force needs."""
    data = _data()
    structure = ModelStructure.for_data(data)
    encoded = encode(data, structure)
    model = build_model(structure, config, encoded)
    rng = np.random.default_rng(3)
    point = {
        k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()
    }
    # Topic factors and shifts well away from 1 and 0 (docs/model.md, "Topics").
    for name, values in (("group_scale_z", (1.2, -0.7)), ("group_shift_z", (-0.9, 0.6))):
        point[name] = np.zeros_like(point[name])
        point[name][:2] = values
    # A global level well away from 0: forecasters who differ in discrimination agree at a
    # share of it, where the pivot is learnt.
    point["forecast_level"] = np.asarray(-1.8)
    names = ["alpha_bar", "alpha", "beta", "sigma", "w", "mu_group_phi", "tau_phi"]
    names += ["contentious_share", "group_scale", "group_shift", "mu_global"]
    if config.forecaster.pivot_share is not None:
        names += ["pivot_share"]
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    values = dict(
        zip(names, model.compile_fn(outputs, inputs=model.value_vars)(point), strict=True)
    )
    term = model.compile_fn(
        model.logp(vars=[model["forecasts_and_outcomes"]], sum=True),
        inputs=model.value_vars,
        on_unused_input="ignore",
    )(point)
    return config, data, structure, encoded, values, float(term)


@pytest.fixture(scope="module")
def case():
    # The brute force reads forecasts as independent given the question: the model whose
    # questions hold still (the mixture is the same with the walk: tests/models/test_walk.py
    # checks the filter it then integrates with).
    # The topic terms on whatever the few outcomes say (the gate would turn them off here:
    # tests/models/test_topic_evidence.py), so the brute force checks them. The forecasters'
    # pivot learnt (off by default, where they pivot at 50%: the last test checks that).
    still = ModelConfig().held_still()
    forecaster = still.forecaster.model_copy(
        update={"topic_evidence_p": None, "pivot_share": BetaPrior(alpha=2.0, beta=2.0)}
    )
    config = still.model_copy(update={"forecaster": forecaster})
    return _case(config)


def _brute_force(config: ModelConfig, values: dict, question: str) -> tuple[float, float, float]:
    """log p(forecasts, outcome) of one question, its P(contentious | data), E[theta | data]."""
    fp = config.forecaster
    k2 = fp.contentious.noise_scale**2
    alpha_bar = float(values["alpha_bar"])
    g = sorted(set(GROUPS.values())).index(GROUPS[question])
    mu, tau = float(values["mu_group_phi"][g]), float(values["tau_phi"][g])
    # theta = phi / alpha_q + eta: the question's group's topic factor and shift.
    alpha_q = alpha_bar * float(values["group_scale"][g])
    eta = float(values["group_shift"][g])
    ms = FORECASTS[question]
    who = range(len(ms))
    a = np.array([values["alpha"][e] / alpha_bar for e in who])
    # Forecasters agree at the pivot, the global level on the forecast scale.
    pivot = float(values.get("pivot_share", 0.0) * values["mu_global"]) * alpha_bar
    c = np.array([values["beta"][e] + (1.0 - a[e]) * pivot for e in who])
    v = np.array([values["sigma"][e] ** 2 + fp.noise_floor**2 for e in who])

    def density(phi: float, inflate: float) -> float:
        d = norm.pdf(phi, mu, tau) * np.prod(norm.pdf(ms, a * phi + c, np.sqrt(v * inflate)))
        if question in OUTCOMES:
            p = expit(phi / alpha_q + eta)
            d *= p if OUTCOMES[question] == 1 else 1 - p
        return float(d)

    lo, hi = mu - 12 * tau, mu + 12 * tau
    usual = quad(density, lo, hi, args=(1.0,), points=[mu], limit=400, epsabs=0)[0]
    noisy = quad(density, lo, hi, args=(k2,), points=[mu], limit=400, epsabs=0)[0]
    may = 2 <= len(ms) <= fp.contentious.max_forecasts
    share = float(values["contentious_share"]) if may else 0.0
    total = (1 - share) * usual + share * noisy
    mean_theta = (
        (1 - share) * quad(lambda x: x * density(x, 1.0), lo, hi, points=[mu], limit=400)[0]
        + share * quad(lambda x: x * density(x, k2), lo, hi, points=[mu], limit=400)[0]
    ) / total / alpha_q + eta
    return float(np.log(total)), share * noisy / total, mean_theta


def test_likelihood_term_equals_numerical_integration(case):
    config, _, _, _, values, term = case
    # The topic factors and shifts are far from 1 and 0 at this point, so the brute force
    # below would catch a term that ignored them.
    assert np.all(np.abs(np.log(values["group_scale"][:2])) > 0.05)
    assert np.all(np.abs(values["group_shift"][:2]) > 0.05)
    expected = sum(_brute_force(config, values, q)[0] for q in FORECASTS)
    assert term == pytest.approx(expected, abs=1e-6)


def test_the_mixture_matters_where_forecasts_conflict(case):
    # Not a property of the code but of the case: if it failed, the tests above and below
    # would not tell a mixture from its usual component.
    config, _, _, _, values, _ = case
    p_split = _brute_force(config, values, "split")[1]
    p_agreed = _brute_force(config, values, "agreed")[1]
    assert p_split > 0.5 > p_agreed
    assert _brute_force(config, values, "crowded")[1] == 0.0
    assert _brute_force(config, values, "lone")[1] == 0.0


def _drawn(case, n: int):
    config, data, _, encoded, values, _ = case
    dims = {
        "alpha": ("forecaster",),
        "beta": ("forecaster",),
        "sigma": ("forecaster",),
        "w": ("reliability",),
        "mu_group_phi": ("group",),
        "tau_phi": ("group",),
        "group_scale": ("group",),
        "group_shift": ("group",),
    }
    post = xr.Dataset(
        {
            k: (("chain", "draw", *dims.get(k, ())), np.broadcast_to(v, (1, n, *np.shape(v))))
            for k, v in values.items()
        }
    )
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": xr.Dataset()})
    return _with_theta(tree, data, encoded, config, np.random.default_rng(0))["posterior"]


def test_drawn_components_and_question_effects_follow_their_posterior(case):
    config, _, _, _, values, _ = case
    n = 20_000
    drawn = _drawn(case, n)
    for j, q in enumerate(FORECASTS):
        _, p_contentious, mean_theta = _brute_force(config, values, q)
        flags = drawn["contentious"].values[0, :, j]
        theta = drawn["theta"].values[0, :, j]
        se = np.sqrt(max(p_contentious * (1 - p_contentious), 1e-4) / n)
        assert flags.mean() == pytest.approx(p_contentious, abs=5 * se), q
        assert theta.mean() == pytest.approx(mean_theta, abs=5 * theta.std() / np.sqrt(n)), q


def test_noise_scale_one_switches_the_mixture_off():
    config = ModelConfig.model_validate(
        {"forecaster": {"contentious": {"noise_scale": 1.0}}}
    ).held_still()
    assert not mixture_on(config) and mixture_on(ModelConfig())
    off = _case(config)
    _, _, _, _, values, term = off
    # With k = 1 both components are one Gaussian: the brute force is the plain model.
    assert term == pytest.approx(sum(_brute_force(config, values, q)[0] for q in FORECASTS))
    assert not _drawn(off, 100)["contentious"].values.any()


def test_a_forecast_that_makes_a_resolved_question_eligible_asks_for_a_refit(quick_sampler):
    from models.forecast_model import ForecastModel

    # "lone" is resolved with one forecast: a second one makes it possibly contentious,
    # which the draws cannot show; "split" (2 forecasts, resolved) stays eligible at 3.
    post = ForecastModel().fit(_data(), sampler=quick_sampler)
    second = Forecast("lone", "f1", EPOCH + timedelta(days=5), -1.0, id="x")
    assert post.with_forecast(second).needs_refit()
    third = Forecast("split", "f2", EPOCH + timedelta(days=5), -1.0, id="y")
    upd = post.with_forecast(third)
    assert upd.khat is not None and np.isfinite(upd.khat)


def test_forecasts_say_how_likely_their_question_is_contentious(quick_sampler):
    from models.forecast_model import ForecastModel

    # Three forecasters who agree to within 0.2 log-odds on 12 questions, and split by
    # 5 log-odds on one; a fourth question set is forecast by six (too many to be
    # contentious) and one by a single forecaster.
    rng = np.random.default_rng(2)
    forecasts = []
    for q in range(12):
        centre = rng.normal(-1.0, 1.5)
        for e in range(3):
            forecasts.append(Forecast(f"q{q}", f"f{e}", EPOCH, centre + rng.normal(0, 0.1)))
    forecasts += [Forecast("split", f"f{e}", EPOCH, m) for e, m in enumerate([-3.0, 2.0, -0.5])]
    forecasts += [Forecast("crowded", f"f{e % 3}x{e}", EPOCH, 0.2 * e) for e in range(6)]
    forecasts += [Forecast("lone", "f0", EPOCH, 4.0)]
    qids = sorted({f.question_id for f in forecasts})
    data = ForecastData(tuple(Question(q) for q in qids), tuple(forecasts))
    post = ForecastModel().fit(data, sampler=quick_sampler)
    by_q = {f.question_id: f for f in post.predict()}
    # Only questions with 2 to max_forecasts forecasts can be contentious.
    assert by_q["crowded"].contentious == 0.0 and by_q["lone"].contentious == 0.0
    assert by_q["split"].contentious > 0.9
    assert max(by_q[f"q{q}"].contentious for q in range(12)) < 0.05
    assert by_q["split"].to_dict()["contentious"] == by_q["split"].contentious
    # After an instant update it is the importance-weighted share of contentious draws. (A
    # forecast far from the others would need a refit: its weights would rest on the few
    # draws where q0 is contentious. This one moves the weights and is safe.)
    centre = np.mean([f.logit_center for f in forecasts if f.question_id == "q0"])
    upd = post.with_forecast(Forecast("q0", "f3", EPOCH + timedelta(days=5), centre + 0.6, id="z"))
    assert not upd.needs_refit()
    j = upd.question_ids.index("q0")
    flags = upd.draws["contentious"][:, j]
    expected = float(upd.weights @ flags)
    assert abs(expected - flags.mean()) > 1e-4  # weighted and plain shares differ
    (q0,) = upd.predict(["q0"])
    assert q0.contentious == pytest.approx(expected, abs=1e-12)
