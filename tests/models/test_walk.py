"""The Kalman filter of questions that move: against the dense Gaussian, the closed form with
no drift, and finite differences of its hand-written pullback."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models._internal.marginal import forecasts_marginal_loglik, one_instant, phi_posterior
from models._internal.walk import (
    DAY,
    filter_draws,
    filter_forward,
    filter_pullback,
    time_order,
    time_steps,
    walk_filter_op,
)


def _problem(seed: int, n_questions: int = 3, max_forecasts: int = 6):
    """Forecasts of a few questions, interleaved in time, with their model terms."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_forecasts + 1, n_questions)
    counts[0] = max(counts[0], 2)
    q = np.repeat(np.arange(n_questions), counts)
    seconds = rng.uniform(0, 20 * DAY, q.size)
    seconds[1] = seconds[0]  # two forecasts on one question at the same moment
    order = time_order(q, seconds)
    q, seconds = q[order], seconds[order]
    # Interleave the questions (the filter keeps a running state per question).
    by_time = np.argsort(seconds, kind="stable")
    dt = time_steps(q, seconds)
    n = q.size
    terms = {
        "a": np.exp(rng.normal(0, 0.3, n)),
        "r": rng.normal(-1, 2, n),
        "v": np.exp(rng.normal(-0.5, 0.5, n)),
        "mu": rng.normal(-1, 1, n_questions),
        "tau2": np.exp(rng.normal(0, 0.5, n_questions)),
    }
    return q, seconds, dt, terms, by_time


def _dense(q, seconds, terms, w, u=0.0, kappa=0.0):
    """log N(r; a mu, K) per question, with K the covariance of the walk and the crowd's
    drift, and phi(T)'s moments."""
    nq = terms["mu"].size
    ll, mean, var = np.zeros(nq), terms["mu"].copy(), terms["tau2"].copy()
    for j in range(nq):
        idx = np.flatnonzero(q == j)
        if not idx.size:
            continue
        a, r, v = terms["a"][idx], terms["r"][idx], terms["v"][idx]
        days = (seconds[idx] - seconds[idx].min()) / DAY
        # phi(t) = phi(t0) + W(t - t0): cov = tau2 + w min(s, t).
        cov_phi = terms["tau2"][j] + w * np.minimum.outer(days, days)
        # d: at rest from the first forecast, cov = u exp(-kappa |s - t|).
        cov_d = u * np.exp(-kappa * np.abs(np.subtract.outer(days, days)))
        cov = np.outer(a, a) * (cov_phi + cov_d) + np.diag(v)
        ll[j] = stats.multivariate_normal.logpdf(r, a * terms["mu"][j], cov)
        # phi(T), T the newest forecast: covariance with the forecasts is a * cov_phi[:, last].
        last = int(np.argmax(days))
        c_t = a * cov_phi[:, last]
        gain = np.linalg.solve(cov, c_t)
        mean[j] = terms["mu"][j] + gain @ (r - a * terms["mu"][j])
        var[j] = cov_phi[last, last] - gain @ c_t
    return ll, mean, var


#: (w, u, kappa): the walk alone, the crowd's drift alone, both, and a drift that never
#: returns (a shared error per question).
WALKS = [(0.0, 0.0, 0.0), (0.04, 0.0, 0.0), (0.5, 0.0, 0.0), (0.0, 0.3, 0.2), (0.05, 0.8, 1.5)]
WALKS += [(0.02, 0.4, 0.0)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("w", "u", "kappa"), WALKS)
def test_filter_matches_dense_gaussian(seed, w, u, kappa):
    q, seconds, dt, t, by_time = _problem(seed)
    want = _dense(q, seconds, t, w, u, kappa)
    got = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], w, u, kappa)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)
    # Questions interleaved in time give the same (the state is per question).
    s = by_time
    inter = filter_forward(
        q[s], t["a"][s], t["r"][s], t["v"][s], dt[s], t["mu"], t["tau2"], w, u, kappa
    )
    for g, e in zip(inter, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)


def test_filter_without_drift_is_the_closed_form():
    q, _, dt, t, _ = _problem(7, n_questions=4)
    ll, mean, var = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], 0.0, 0, 0)
    nq = t["mu"].size

    def per_q(x):
        return np.bincount(q, weights=x, minlength=nq)

    a, r, v = t["a"], t["r"], t["v"]
    p, b = per_q(a**2 / v), per_q(a * r / v)
    c, big_l = per_q(r**2 / v), per_q(np.log(2 * np.pi * v))
    tau = np.sqrt(t["tau2"])
    np.testing.assert_allclose(
        ll, forecasts_marginal_loglik(p, b, c, big_l, t["mu"], tau, np.log), rtol=1e-10
    )
    want_mean, want_var = phi_posterior(p, b, t["mu"], tau)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-10)
    np.testing.assert_allclose(var, want_var, rtol=1e-10)


@pytest.mark.parametrize(("w", "u", "kappa"), WALKS)
def test_one_instant_is_the_filter(w, u, kappa):
    """Forecasts all made at one instant: the closed form with the crowd's error in the
    prior equals the filter and the dense Gaussian."""
    rng = np.random.default_rng(11)
    counts = np.array([1, 2, 5, 0, 9])
    q = np.repeat(np.arange(counts.size), counts)
    seconds, dt = np.full(q.size, 3 * DAY), np.zeros(q.size)
    t = {
        "a": np.exp(rng.normal(0, 0.3, q.size)),
        "r": rng.normal(-1, 2, q.size),
        "v": np.exp(rng.normal(-0.5, 0.5, q.size)),
        "mu": rng.normal(-1, 1, counts.size),
        "tau2": np.exp(rng.normal(0, 0.5, counts.size)),
    }
    a, r, v = t["a"], t["r"], t["v"]

    def per_q(x):
        return np.bincount(q, weights=x, minlength=counts.size)

    sums = (per_q(a**2 / v), per_q(a * r / v), per_q(r**2 / v), per_q(np.log(2 * np.pi * v)))
    got = one_instant(*sums, t["mu"], t["tau2"], u, np.log, np.sqrt)
    filtered = filter_forward(q, a, r, v, dt, t["mu"], t["tau2"], w, u, kappa)
    dense = _dense(q, seconds, t, w, u, kappa)
    for g, f, d in zip(got, filtered, dense, strict=True):
        np.testing.assert_allclose(g, f, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, d, rtol=1e-9, atol=1e-10)
    if u:  # the crowd's error counts: without it, the closed form is another one
        plain = one_instant(*sums, t["mu"], t["tau2"], 0.0, np.log, np.sqrt)
        assert np.abs(plain[0] - got[0]).max() > 1e-3


def test_the_model_integrates_instant_questions_in_closed_form():
    """The compiled model's log density and gradient are the same whether questions of
    forecasts of one instant take the closed form (as the model does) or the filter."""
    from datetime import timedelta

    import pymc as pm

    from models.config import ModelConfig
    from models.dataset import Forecast, ForecastData, Question, Resolution
    from models.forecast_model import ModelStructure, build_model, encode, model_data
    from models.simulate import EPOCH

    # Questions of one instant and questions over days, with 1 to 6 forecasts (2 to 4 may
    # be contentious), resolved and not, in two groups.
    days = {"i1": [0], "i3": [4, 4, 4], "i6": [1] * 6, "t2": [0, 2], "t4": [0, 1, 1, 5]}
    days["t6"] = [0, 0, 3, 4, 8, 9]
    outcomes = {"i1": 1, "i3": 0, "t2": 1, "t6": 0, "i6": 1}
    rng = np.random.default_rng(5)
    data = ForecastData(
        tuple(Question(q, group="g" + q[0]) for q in days),
        tuple(
            Forecast(q, f"f{i}", EPOCH + timedelta(days=d), float(rng.normal(-1, 1.5)))
            for q, ds in days.items()
            for i, d in enumerate(ds)
        ),
        resolutions=tuple(
            Resolution(q, y, EPOCH + timedelta(days=20)) for q, y in outcomes.items()
        ),
    )
    config = ModelConfig()
    structure = ModelStructure.for_data(data)
    encoded = encode(data, structure)
    arrays = model_data(config, encoded)
    nq = len(days)
    np.testing.assert_array_equal(arrays["question_timed"][:nq], [0, 0, 0, 1, 1, 1])
    model = build_model(structure, config, encoded)
    point = {
        k: v + 0.4 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()
    }
    f = model.compile_fn([model.logp(), model.dlogp()], inputs=model.value_vars)
    closed = f(point)
    every_question_filtered = model_data(config, encoded, instant_closed_form=False)
    assert every_question_filtered["question_timed"].all()
    assert every_question_filtered["obs_instant"].size == 0
    with model:
        pm.set_data(every_question_filtered)
    filtered = f(point)
    assert np.isfinite(closed[0])
    np.testing.assert_allclose(closed[0], filtered[0], rtol=1e-10)
    np.testing.assert_allclose(closed[1], filtered[1], rtol=1e-8, atol=1e-10)


def test_drift_discounts_old_forecasts():
    """Two forecasts ten days apart that disagree: with drift, phi(T) follows the newer."""
    q = np.array([0, 0])
    a, v = np.ones(2), np.full(2, 0.25)
    r = np.array([-2.0, 1.0])
    dt = np.array([0.0, 10.0])
    mu, tau2 = np.array([0.0]), np.array([4.0])
    still = filter_forward(q, a, r, v, dt, mu, tau2, 0.0, 0.0, 0.0)[1][0]
    moving = filter_forward(q, a, r, v, dt, mu, tau2, 0.3, 0.0, 0.0)[1][0]
    assert still == pytest.approx(-0.5, abs=0.05)  # the average of the two
    assert moving > 0.5  # mostly the newer
    # The crowd's drift alone (no walk) averages them again (shrunk a little more to the
    # prior's 0 by the extra noise), less surely than without it.
    _, mean_d, var_d = filter_forward(q, a, r, v, dt, mu, tau2, 0.0, 1.0, 0.5)
    assert -0.5 < mean_d[0] < -0.35
    _, _, var_0 = filter_forward(q, a, r, v, dt, mu, tau2, 0.0, 0.0, 0.0)
    assert var_d[0] > var_0[0] + 0.3


def test_the_crowds_drift_discounts_forecasts_of_one_day():
    """Ten forecasts on one day and one ten days later, disagreeing: with no drift the ten
    outweigh the one; with the crowd's drift (shared by forecasts of one day) the question
    sits nearer halfway, as the ten share one error."""
    q = np.zeros(11, dtype=np.int64)
    a, v = np.ones(11), np.full(11, 0.5)
    r = np.r_[np.full(10, -2.0), 1.0]
    dt = np.r_[np.zeros(10), 10.0]
    mu, tau2 = np.array([0.0]), np.array([4.0])
    still = filter_forward(q, a, r, v, dt, mu, tau2, 0.0, 0.0, 0.0)[1][0]
    crowd = filter_forward(q, a, r, v, dt, mu, tau2, 0.0, 1.0, 1.0)[1][0]
    assert still < -1.6
    assert -1.0 < crowd < 0.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("w", "u", "kappa"), [(0.07, 0.0, 0.0), (0.07, 0.6, 0.3), (0.0, 0.5, 2.0)])
def test_pullback_matches_finite_differences(seed, w, u, kappa):
    q, _, dt, t, _ = _problem(seed + 10, max_forecasts=5)
    rng = np.random.default_rng(seed)
    nq = t["mu"].size
    g_ll, g_mean, g_var = rng.normal(size=nq), rng.normal(size=nq), rng.normal(size=nq)

    def objective(a, r, v, mu, tau2, w_, u_=u, kappa_=kappa):
        ll, mean, var = filter_forward(q, a, r, v, dt, mu, tau2, w_, u_, kappa_)
        return float(g_ll @ ll + g_mean @ mean + g_var @ var)

    args = [t["a"], t["r"], t["v"], t["mu"], t["tau2"]]
    grads = filter_pullback(q, *args[:3], dt, *args[3:], w, u, kappa, g_ll, g_mean, g_var)
    h = 1e-6
    for k, (x, g) in enumerate(zip(args, grads[:5], strict=True)):
        for i in range(x.size):
            up = [y.copy() for y in args]
            down = [y.copy() for y in args]
            up[k][i] += h
            down[k][i] -= h
            numeric = (objective(*up, w) - objective(*down, w)) / (2 * h)
            assert g[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (k, i)
    numeric_w = (objective(*args, w + h) - objective(*args, w - h)) / (2 * h)
    assert grads[5] == pytest.approx(numeric_w, rel=1e-5, abs=1e-6)
    numeric_u = (objective(*args, w, u + h) - objective(*args, w, u - h)) / (2 * h)
    assert grads[6] == pytest.approx(numeric_u, rel=1e-5, abs=1e-6)
    if u > 0:  # kappa acts only through the crowd's drift
        numeric_k = (objective(*args, w, u, kappa + h) - objective(*args, w, u, kappa - h)) / (
            2 * h
        )
        assert grads[7] == pytest.approx(numeric_k, rel=1e-5, abs=1e-6)
        assert abs(grads[7]) > 1e-4


def test_filter_draws_is_filter_forward_per_draw():
    q, _, dt, t, _ = _problem(3)
    rng = np.random.default_rng(1)
    k = 5
    a = t["a"] * np.exp(rng.normal(0, 0.1, (k, q.size)))
    r = t["r"] + rng.normal(0, 0.1, (k, q.size))
    v = t["v"] * np.exp(rng.normal(0, 0.1, (k, q.size)))
    mu = t["mu"] + rng.normal(0, 0.1, (k, t["mu"].size))
    tau2 = t["tau2"] * np.exp(rng.normal(0, 0.1, (k, t["mu"].size)))
    w = np.exp(rng.normal(-3, 0.5, k))
    u = np.exp(rng.normal(-1, 0.5, k))
    ll, mean, var = filter_draws(q, a, r, v, dt, mu, tau2, w, u, 0.4)
    for d in range(k):
        want = filter_forward(q, a[d], r[d], v[d], dt, mu[d], tau2[d], w[d], u[d], 0.4)
        for got, e in zip((ll[d], mean[d], var[d]), want, strict=True):
            np.testing.assert_allclose(got, e, rtol=1e-12)


def test_time_steps_restart_at_each_question():
    q = np.array([1, 0, 1, 0, 0])
    seconds = np.array([5, 3, 1, 2, 2], dtype=float) * DAY
    order = time_order(q, seconds)
    np.testing.assert_array_equal(order, [3, 4, 1, 2, 0])
    np.testing.assert_allclose(time_steps(q[order], seconds[order]), [0, 0, 1, 0, 4])


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_op_value_and_gradient(mode):
    import pytensor
    import pytensor.tensor as pt

    q, _, dt, t, _ = _problem(5, n_questions=4)
    rng = np.random.default_rng(2)
    nq = t["mu"].size
    g_ll, g_mean, g_var = rng.normal(size=nq), rng.normal(size=nq), rng.normal(size=nq)
    a, r, v = pt.dvector("a"), pt.dvector("r"), pt.dvector("v")
    mu, tau2 = pt.dvector("mu"), pt.dvector("tau2")
    w, u, kappa = pt.dscalar("w"), pt.dscalar("u"), pt.dscalar("kappa")
    ll, mean, var = walk_filter_op()(q, a, r, v, dt, mu, tau2, w, u, kappa)
    total = (g_ll * ll).sum() + (g_mean * mean).sum() + (g_var * var).sum()
    inputs = [a, r, v, mu, tau2, w, u, kappa]
    f = pytensor.function(inputs, [total, *pytensor.grad(total, inputs)], mode=mode)
    scalars = (0.05, 0.3, 0.7)
    values = [t["a"], t["r"], t["v"], t["mu"], t["tau2"], *scalars]
    out = f(*values)
    want = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], *scalars)
    assert out[0] == pytest.approx(g_ll @ want[0] + g_mean @ want[1] + g_var @ want[2])
    grads = filter_pullback(
        q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], *scalars, g_ll, g_mean, g_var
    )
    for got, e in zip(out[1:], grads, strict=True):
        np.testing.assert_allclose(got, e, rtol=1e-10)


def test_op_verify_grad_with_one_output_unused():
    from pytensor.gradient import verify_grad

    q, _, dt, t, _ = _problem(6)
    op = walk_filter_op()

    def f(a, r, v, mu, tau2, w, u, kappa):
        ll, mean, _ = op(q, a, r, v, dt, mu, tau2, w, u, kappa)
        return ll.sum() + (mean**2).sum()

    scalars = [np.asarray(0.05), np.asarray(0.4), np.asarray(0.6)]
    verify_grad(
        f,
        [t["a"], t["r"], t["v"], t["mu"], t["tau2"], *scalars],
        rng=np.random.default_rng(0),
        abs_tol=1e-6,
        rel_tol=1e-6,
    )
