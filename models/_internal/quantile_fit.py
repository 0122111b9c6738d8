"""Fitting a distribution of a probability to a few of its quantiles (as preliz's ``quartile``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

from models._internal.logitnormal import logitnormal_moments

#: Bounds of log(a) and log(b) in the beta search: a, b in [6e-7, 5e8] covers every beta a
#: forecaster can mean and keeps ``betaincinv`` away from its degenerate corners.
LOG_BETA_PARAM_BOUNDS = (-14.0, 20.0)


def logitnormal_from_quantiles(
    levels: NDArray[np.float64], values: NDArray[np.float64]
) -> tuple[float, float]:
    """Least-squares line ``logit(q_p) = mu + sd * z_p``: closed-form regression on ``z_p``.

    Returns ``(mu, sd)``; ``sd`` is the slope and may come out <= 0 only if the values do not
    increase with the levels (the caller checks that first).
    """
    z = stats.norm.ppf(levels)
    y = special.logit(values)
    zc = z - z.mean()
    sd = float(np.dot(zc, y - y.mean()) / np.dot(zc, zc))
    mu = float(y.mean() - sd * z.mean())
    return mu, sd


def beta_from_moments(mean: float, var: float) -> tuple[float, float]:
    """Beta ``(a, b)`` with the given mean and variance; concentration 2 when no beta has them."""
    concentration = mean * (1.0 - mean) / var - 1.0 if var > 0.0 else np.inf
    if not (np.isfinite(concentration) and concentration > 0.0):
        concentration = 2.0
    lo, hi = np.exp(LOG_BETA_PARAM_BOUNDS)
    a = float(np.clip(mean * concentration, lo, hi))
    b = float(np.clip((1.0 - mean) * concentration, lo, hi))
    return a, b


def beta_from_quantiles(
    levels: NDArray[np.float64],
    values: NDArray[np.float64],
    start: tuple[float, float],
) -> tuple[float, float]:
    """Beta ``(a, b)`` minimising the squared error of its quantiles against ``values``.

    Searches in ``(log a, log b)`` from ``start`` and, as a guard against a poor start, from the
    uniform beta ``(1, 1)``; the better of the two is kept.
    """

    def residuals(log_ab: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = np.exp(log_ab)
        return np.asarray(special.betaincinv(a, b, levels) - values, dtype=np.float64)

    lo, hi = LOG_BETA_PARAM_BOUNDS
    best: optimize.OptimizeResult | None = None
    for a0, b0 in (start, (1.0, 1.0)):
        x0 = np.clip(np.log([a0, b0]), lo + 1e-9, hi - 1e-9)
        result = optimize.least_squares(
            residuals, x0, bounds=(lo, hi), xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=2000
        )
        if best is None or result.cost < best.cost:
            best = result
    assert best is not None
    a, b = np.exp(best.x)
    return float(a), float(b)


def beta_start_from_logitnormal(mu: float, sd: float) -> tuple[float, float]:
    """Moment match of a logit-normal: the starting point of :func:`beta_from_quantiles`."""
    mean, var = logitnormal_moments(mu, sd)
    return beta_from_moments(mean, var)


def rms(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Root mean squared difference of two equally long arrays."""
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))
