"""The question effects integrated out in closed form agree with brute-force integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit

from models._internal.marginal import (
    GH_LOG_WEIGHTS,
    GH_NODES,
    forecasts_marginal_loglik,
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


@pytest.mark.parametrize(
    ("mean", "sd", "scale", "offset"), [(0, 1, 1, 0), (-3, 2, 0.7, 1), (4, 0.3, 1.5, -2)]
)
def test_outcome_quadrature_matches_adaptive_quadrature(mean, sd, scale, offset):
    exact = integrate.quad(
        lambda x: expit(x * scale + offset) * stats.norm.pdf(x, mean, sd), -60, 60, limit=200
    )[0]
    nodes = mean + np.sqrt(2) * sd * GH_NODES
    gh = np.exp(GH_LOG_WEIGHTS + np.log(expit(nodes * scale + offset))).sum()
    assert gh == pytest.approx(exact, rel=1e-8)


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
