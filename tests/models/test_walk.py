"""The Kalman filter of questions that move: against the dense Gaussian, the closed form with
no drift, and finite differences of its hand-written pullback."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from models._internal.marginal import forecasts_marginal_loglik, phi_posterior
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


def _dense(q, seconds, terms, w):
    """log N(r; a mu, K) per question, with K the walk's covariance, and phi(T)'s moments."""
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
        cov = np.outer(a, a) * cov_phi + np.diag(v)
        ll[j] = stats.multivariate_normal.logpdf(r, a * terms["mu"][j], cov)
        # phi(T), T the newest forecast: covariance with the forecasts is a * cov_phi[:, last].
        last = int(np.argmax(days))
        c_t = a * cov_phi[:, last]
        gain = np.linalg.solve(cov, c_t)
        mean[j] = terms["mu"][j] + gain @ (r - a * terms["mu"][j])
        var[j] = cov_phi[last, last] - gain @ c_t
    return ll, mean, var


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("w", [0.0, 0.04, 0.5])
def test_filter_matches_dense_gaussian(seed, w):
    q, seconds, dt, t, by_time = _problem(seed)
    want = _dense(q, seconds, t, w)
    got = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], w)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)
    # Questions interleaved in time give the same (the state is per question).
    s = by_time
    inter = filter_forward(q[s], t["a"][s], t["r"][s], t["v"][s], dt[s], t["mu"], t["tau2"], w)
    for g, e in zip(inter, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)


def test_filter_without_drift_is_the_closed_form():
    q, _, dt, t, _ = _problem(7, n_questions=4)
    ll, mean, var = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], 0.0)
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


def test_drift_discounts_old_forecasts():
    """Two forecasts ten days apart that disagree: with drift, phi(T) follows the newer."""
    q = np.array([0, 0])
    a, v = np.ones(2), np.full(2, 0.25)
    r = np.array([-2.0, 1.0])
    dt = np.array([0.0, 10.0])
    mu, tau2 = np.array([0.0]), np.array([4.0])
    still = filter_forward(q, a, r, v, dt, mu, tau2, 0.0)[1][0]
    moving = filter_forward(q, a, r, v, dt, mu, tau2, 0.3)[1][0]
    assert still == pytest.approx(-0.5, abs=0.05)  # the average of the two
    assert moving > 0.5  # mostly the newer


@pytest.mark.parametrize("seed", range(3))
def test_pullback_matches_finite_differences(seed):
    q, _, dt, t, _ = _problem(seed + 10, max_forecasts=5)
    w = 0.07
    rng = np.random.default_rng(seed)
    nq = t["mu"].size
    g_ll, g_mean, g_var = rng.normal(size=nq), rng.normal(size=nq), rng.normal(size=nq)

    def objective(a, r, v, mu, tau2, w_):
        ll, mean, var = filter_forward(q, a, r, v, dt, mu, tau2, w_)
        return float(g_ll @ ll + g_mean @ mean + g_var @ var)

    args = [t["a"], t["r"], t["v"], t["mu"], t["tau2"]]
    grads = filter_pullback(q, *args[:3], dt, *args[3:], w, g_ll, g_mean, g_var)
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
    ll, mean, var = filter_draws(q, a, r, v, dt, mu, tau2, w)
    for d in range(k):
        want = filter_forward(q, a[d], r[d], v[d], dt, mu[d], tau2[d], w[d])
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
    mu, tau2, w = pt.dvector("mu"), pt.dvector("tau2"), pt.dscalar("w")
    ll, mean, var = walk_filter_op()(q, a, r, v, dt, mu, tau2, w)
    total = (g_ll * ll).sum() + (g_mean * mean).sum() + (g_var * var).sum()
    inputs = [a, r, v, mu, tau2, w]
    f = pytensor.function(inputs, [total, *pytensor.grad(total, inputs)], mode=mode)
    values = [t["a"], t["r"], t["v"], t["mu"], t["tau2"], 0.05]
    out = f(*values)
    want = filter_forward(q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], 0.05)
    assert out[0] == pytest.approx(g_ll @ want[0] + g_mean @ want[1] + g_var @ want[2])
    grads = filter_pullback(
        q, t["a"], t["r"], t["v"], dt, t["mu"], t["tau2"], 0.05, g_ll, g_mean, g_var
    )
    for got, e in zip(out[1:], grads, strict=True):
        np.testing.assert_allclose(got, e, rtol=1e-10)


def test_op_verify_grad_with_one_output_unused():
    from pytensor.gradient import verify_grad

    q, _, dt, t, _ = _problem(6)
    op = walk_filter_op()

    def f(a, r, v, mu, tau2, w):
        ll, mean, _ = op(q, a, r, v, dt, mu, tau2, w)
        return ll.sum() + (mean**2).sum()

    verify_grad(
        f,
        [t["a"], t["r"], t["v"], t["mu"], t["tau2"], np.asarray(0.05)],
        rng=np.random.default_rng(0),
        abs_tol=1e-6,
        rel_tol=1e-6,
    )
