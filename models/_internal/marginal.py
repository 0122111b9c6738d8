"""The question effects integrated out of the model, and drawn back afterwards.

Given everything else, a question's forecasts are linear-Gaussian in its forecast-scale
effect ``phi`` (``m_i = a_i phi + c_i + eps_i``, ``eps_i ~ Normal(0, v_i)``) under the prior
``phi ~ Normal(mu, tau^2)``. With the per-question sums

    P = sum a_i^2 / v_i,   B = sum a_i (m_i - c_i) / v_i,
    C = sum (m_i - c_i)^2 / v_i,   L = sum log(2 pi v_i)

the forecasts' marginal likelihood and the conditional posterior of ``phi`` are closed
form (Sherman-Morrison on a rank-one update of a diagonal covariance). An outcome adds
``Bernoulli(logistic(phi / alpha_bar + o))``, whose expectation under that Gaussian is a
one-dimensional integral, done by Gauss-Hermite quadrature.

The functions take ``log`` so that one formula serves numpy (tests, post-processing) and
PyTensor (the model graph).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Gauss-Hermite quadrature of the outcome term; 40 nodes put the error of a logistic
#: integrand far below sampling noise (checked against adaptive quadrature in the tests).
GH_NODES, GH_WEIGHTS = np.polynomial.hermite.hermgauss(40)
GH_LOG_WEIGHTS = np.log(GH_WEIGHTS / np.sqrt(np.pi))


def forecasts_marginal_loglik(
    p: Any, b: Any, c: Any, big_l: Any, mu: Any, tau: Any, log: Callable[[Any], Any]
) -> Any:
    """log p(forecasts of each question | everything but phi), phi integrated out."""
    t2 = tau**2
    s = b - mu * p
    quad = c - 2.0 * mu * b + mu**2 * p
    return -0.5 * (big_l + log(1.0 + t2 * p) + quad - t2 * s**2 / (1.0 + t2 * p))


def phi_posterior(p: Any, b: Any, mu: Any, tau: Any) -> tuple[Any, Any]:
    """Mean and variance of phi given the forecasts (before any outcome)."""
    prec = 1.0 / tau**2 + p
    return (mu / tau**2 + b) / prec, 1.0 / prec


def sample_phi(
    rng: np.random.Generator,
    mean: np.ndarray,
    var: np.ndarray,
    outcome_logit_scale: np.ndarray | None = None,
    outcome_offset: np.ndarray | None = None,
    outcome: np.ndarray | None = None,
    max_rounds: int = 10_000,
) -> np.ndarray:
    """Exact draws of phi from its conditional posterior, one per element of ``mean``.

    Unresolved: the Gaussian itself. Resolved (``outcome`` not NaN): the Gaussian tilted by
    ``Bernoulli(outcome | logistic(phi * outcome_logit_scale + outcome_offset))``, drawn by
    rejection from the Gaussian (acceptance = the outcome's likelihood, at most 1).
    """
    sd = np.sqrt(var)
    draw = mean + sd * rng.standard_normal(mean.shape)
    if outcome is None:
        return draw
    assert outcome_logit_scale is not None and outcome_offset is not None
    pending = ~np.isnan(outcome)
    sign = np.where(outcome == 1, 1.0, -1.0)
    for _ in range(max_rounds):
        if not pending.any():
            return draw
        idx = np.nonzero(pending)[0]
        z = draw[idx] * outcome_logit_scale[idx] + outcome_offset[idx]
        accept = rng.random(idx.size) < 1.0 / (1.0 + np.exp(-sign[idx] * z))
        pending[idx[accept]] = False
        redo = idx[~accept]
        draw[redo] = mean[redo] + sd[redo] * rng.standard_normal(redo.size)
    raise RuntimeError("rejection sampling of question effects did not finish")
