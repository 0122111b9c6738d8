"""The question effects integrated out in closed form agree with brute-force integration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit, log_expit

from models._internal.marginal import (
    GH_NODES,
    GH_PROBS,
    MIX_PROBS,
    MIX_VARIANCES,
    OUTCOME_SD_SWITCH,
    _log_ndtr,
    _log_sigmoid,
    _make_kernel,
    forecasts_marginal_loglik,
    outcome_loglik,
    outcome_loglik_op,
    phi_posterior,
    sample_phi,
)


@pytest.mark.parametrize("seed", range(5))
def test_forecasts_marginal_matches_numerical_integration(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    a, c = np.exp(rng.normal(0, 0.3, n)), rng.normal(0, 0.5, n)
    v, m = np.exp(rng.normal(0, 0.5, n)), rng.normal(-1, 2, n)
    mu, tau = rng.normal(-1, 1), np.exp(rng.normal(0, 0.5))

    def integrand(phi: float) -> float:
        return float(
            np.prod(stats.norm.pdf(m, a * phi + c, np.sqrt(v))) * stats.norm.pdf(phi, mu, tau)
        )

    p, b = np.sum(a**2 / v), np.sum(a * (m - c) / v)
    cc, big_l = np.sum((m - c) ** 2 / v), np.sum(np.log(2 * np.pi * v))
    mean, var = phi_posterior(p, b, mu, tau)
    lo, hi = mean - 15 * np.sqrt(var), mean + 15 * np.sqrt(var)

    def quad(f):  # adaptive quadrature over where the integrand lives
        return integrate.quad(f, lo, hi, points=[mean], epsabs=0, epsrel=1e-12, limit=500)[0]

    brute = quad(integrand)
    closed = forecasts_marginal_loglik(p, b, cc, big_l, mu, tau, np.log)
    assert closed == pytest.approx(np.log(brute), rel=1e-8, abs=1e-9)
    # The conditional posterior's moments, against the same integrals.
    m1 = quad(lambda x: x * integrand(x)) / brute
    m2 = quad(lambda x: x**2 * integrand(x)) / brute
    assert mean == pytest.approx(m1, rel=1e-6, abs=1e-8)
    assert var == pytest.approx(m2 - m1**2, rel=1e-5)


def _adaptive_log_expectation(m: float, s: float) -> float:
    """log E[logistic(Z)], Z ~ Normal(m, s^2), by adaptive quadrature (split at the
    logistic's centre, relative tolerance 1e-13)."""

    def f(u: float) -> float:
        return float(np.exp(log_expit(m + s * u) + stats.norm.logpdf(u)))

    cuts = sorted({-13.0, 13.0, float(np.clip(-m / s, -13.0, 13.0))})
    total = sum(
        integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=500)[0]
        for a, b in itertools.pairwise(cuts)
    )
    return float(np.log(total))


#: The sd of Z a posterior produces runs from ~0.1 (many forecasts) to ~1.5 (3 noisy
#: forecasts); a resolved question without forecasts reaches the prior spread (2-3 and more).
OUTCOME_SDS = (0.05, 0.3, 0.7, 1.0, 1.2, 1.24, 1.25, 1.3, 1.5, 2.0, 2.5, 3.0, 4.0, 8.0)
OUTCOME_MEANS = np.linspace(-12.0, 12.0, 49)
#: Log-likelihood error allowed per question: summed over 12,000 resolved questions it stays
#: below 1e-3 even if every question were at the worst point.
OUTCOME_TOL = 5e-8


@pytest.fixture(scope="module")
def outcome_reference() -> dict[float, np.ndarray]:
    return {
        s: np.array([_adaptive_log_expectation(m, s) for m in OUTCOME_MEANS]) for s in OUTCOME_SDS
    }


def test_outcome_term_matches_adaptive_quadrature(outcome_reference):
    for s, exact in outcome_reference.items():
        ll, _, _ = outcome_loglik(OUTCOME_MEANS, np.full(OUTCOME_MEANS.size, s))
        np.testing.assert_allclose(ll, exact, rtol=0, atol=OUTCOME_TOL, err_msg=f"sd {s}")


def test_smaller_rules_fail_the_outcome_tolerance(outcome_reference):
    """The tolerance has teeth: fewer nodes, or Gauss-Hermite alone, miss it."""
    kernel = _make_kernel(_log_ndtr, _log_sigmoid)  # plain Python, same code as compiled

    def worst(gh_n: int, mix_n: int, switch: float) -> float:
        x, w = np.polynomial.hermite.hermgauss(gh_n)
        # A smaller mixture rule: the largest-weight nodes, renormalised.
        keep = np.argsort(MIX_PROBS)[::-1][:mix_n]
        v, p = MIX_VARIANCES[keep], MIX_PROBS[keep] / MIX_PROBS[keep].sum()
        err = 0.0
        for s, exact in outcome_reference.items():
            ll = kernel(
                OUTCOME_MEANS, np.full(OUTCOME_MEANS.size, s), x, w / np.sqrt(np.pi), v, p, switch
            )[0]
            err = max(err, float(np.max(np.abs(ll - exact))))
        return err

    assert worst(GH_NODES.size, MIX_VARIANCES.size, OUTCOME_SD_SWITCH) < OUTCOME_TOL
    assert worst(16, MIX_VARIANCES.size, OUTCOME_SD_SWITCH) > OUTCOME_TOL
    assert worst(GH_NODES.size, 12, OUTCOME_SD_SWITCH) > OUTCOME_TOL
    # The old rule, 40 Gauss-Hermite nodes for every sd, fails for wide conditionals.
    assert worst(40, MIX_VARIANCES.size, np.inf) > OUTCOME_TOL


def test_mixture_rule_has_the_logistic_moments():
    """E[L^2k] = (2k-1)!! E[V^k]: pi^2/3, 7 pi^4/15, 31 pi^6/21 for the logistic."""
    assert MIX_PROBS.sum() == pytest.approx(1.0, abs=1e-14)
    assert MIX_PROBS @ MIX_VARIANCES == pytest.approx(np.pi**2 / 3, rel=1e-13)
    assert 3 * MIX_PROBS @ MIX_VARIANCES**2 == pytest.approx(7 * np.pi**4 / 15, rel=1e-13)
    assert 15 * MIX_PROBS @ MIX_VARIANCES**3 == pytest.approx(31 * np.pi**6 / 21, rel=1e-12)
    assert GH_PROBS.sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("s", [0.2, 1.0, 1.24, 1.26, 3.0])
def test_outcome_term_derivatives_match_finite_differences(s):
    m = np.linspace(-9.0, 9.0, 19)
    ss = np.full(m.size, s)
    _, d_m, d_s = outcome_loglik(m, ss)
    h = 1e-6
    fd_m = (outcome_loglik(m + h, ss)[0] - outcome_loglik(m - h, ss)[0]) / (2 * h)
    fd_s = (outcome_loglik(m, ss + h)[0] - outcome_loglik(m, ss - h)[0]) / (2 * h)
    np.testing.assert_allclose(d_m, fd_m, atol=1e-7)
    np.testing.assert_allclose(d_s, fd_s, atol=1e-7)


@pytest.mark.parametrize(("m", "s"), [(-800.0, 0.5), (-400.0, 3.0), (-3000.0, 5.0)])
def test_outcome_term_is_finite_far_in_the_tail(m, s):
    """Where the probability underflows, the sums are redone in log space."""
    ll, d_m, d_s = outcome_loglik(np.array([m]), np.array([s]))
    assert np.isfinite(ll).all() and ll[0] < -300
    h = 1e-4
    fd_m = (outcome_loglik(np.array([m + h]), np.array([s]))[0] - ll) / h
    fd_s = (outcome_loglik(np.array([m]), np.array([s + h]))[0] - ll) / h
    assert d_m[0] == pytest.approx(fd_m[0], rel=1e-3)
    assert d_s[0] == pytest.approx(fd_s[0], rel=1e-3)


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_outcome_op_value_and_gradient_in_pytensor(mode):
    import pytensor
    import pytensor.tensor as pt

    m, s = pt.dvector("m"), pt.dvector("s")
    total = outcome_loglik_op()(m, s)[0].sum()
    f = pytensor.function([m, s], [total, *pytensor.grad(total, [m, s])], mode=mode)
    mv, sv = np.linspace(-5.0, 5.0, 11), np.linspace(0.1, 3.0, 11)
    ll, d_m, d_s = outcome_loglik(mv, sv)
    got = f(mv, sv)
    assert got[0] == pytest.approx(ll.sum(), rel=1e-14)
    np.testing.assert_allclose(got[1], d_m, rtol=1e-14)
    np.testing.assert_allclose(got[2], d_s, rtol=1e-14)


def test_sample_phi_draws_the_tilted_posterior():
    """Resolved yes: draws follow Normal(mean, var) reweighted by logistic(phi)."""
    rng = np.random.default_rng(0)
    n = 200_000
    mean, var = np.full(n, -1.0), np.full(n, 1.5)
    draws = sample_phi(rng, mean, var, np.ones(n), np.zeros(n), np.ones(n))
    grid = np.linspace(-10, 8, 20001)
    dens = stats.norm.pdf(grid, -1.0, np.sqrt(1.5)) * expit(grid)
    dens /= np.trapezoid(dens, grid)
    expected_mean = np.trapezoid(grid * dens, grid)
    assert draws.mean() == pytest.approx(expected_mean, abs=0.01)
    # Unresolved questions are the Gaussian itself.
    plain = sample_phi(rng, mean, var, np.ones(n), np.zeros(n), np.full(n, np.nan))
    assert plain.mean() == pytest.approx(-1.0, abs=0.01)
    assert plain.var() == pytest.approx(1.5, rel=0.02)


@pytest.mark.parametrize(
    ("mean", "sd", "scale", "offset", "outcome"),
    [
        (-30.0, 1.0, 1.0, 0.0, 1.0),  # yes where the forecasts said 1e-13
        (25.0, 2.0, 1.5, 0.5, 0.0),  # no where they said almost surely yes
        (-4.0, 20.0, 50.0, 0.0, 1.0),  # very wide and steep: a stuck chain's draws
    ],
)
def test_sample_phi_finishes_on_surprising_outcomes(mean, sd, scale, offset, outcome):
    """Under the Gaussian envelope these would take ~1e13 rounds; the tangent one is exact.

    The draws' mean and sd match the tilted density computed on a grid.
    """
    rng = np.random.default_rng(1)
    n = 100_000
    draws = sample_phi(
        rng,
        np.full(n, mean),
        np.full(n, sd**2),
        np.full(n, scale),
        np.full(n, offset),
        np.full(n, outcome),
        max_rounds=200,
    )
    grid = np.linspace(mean - 12 * sd, mean + 12 * sd, 400_001)
    sign = 1.0 if outcome == 1.0 else -1.0
    log_dens = stats.norm.logpdf(grid, mean, sd) - np.logaddexp(
        0.0, -sign * (grid * scale + offset)
    )
    dens = np.exp(log_dens - log_dens.max())
    dens /= np.trapezoid(dens, grid)
    expected_mean = np.trapezoid(grid * dens, grid)
    expected_sd = np.sqrt(np.trapezoid((grid - expected_mean) ** 2 * dens, grid))
    se = expected_sd / np.sqrt(n)
    assert abs(draws.mean() - expected_mean) < 5 * se
    assert draws.std() == pytest.approx(expected_sd, rel=0.02)
