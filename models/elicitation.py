"""Elicitation: a forecaster's statement about a probability -> a fitted distribution, and pooling.

A forecaster states the probability ``P`` of a binary event in one of two ways.

**Quantiles** (:func:`fit_quantiles`): three or more quantiles of ``P`` at levels taken from
:data:`ALLOWED_LEVELS` (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95), as ``{level: value}`` with every
value in the open interval (0, 1) and values strictly increasing with level. Levels may be
given as numbers or as strings (``"0.1"``), as they arrive from JSON.

**A probability with an optional confidence** (:func:`fit_probability`): a probability ``p`` in
(0, 1), taken as the median of ``P``, and a confidence ``c`` in (0, 1) defined as the
forecaster's probability that the true probability lies within a factor of 2 in odds of ``p``::

    P(|logit(P) - logit(p)| < log 2) = c.

Under a logit-normal centred on ``logit(p)`` this gives ``2 * Phi(log 2 / sd) - 1 = c``, i.e.
``sd = log(2) / z_{(1 + c) / 2}`` on the logit scale (``c = 0.5`` -> sd 1.03, ``c = 0.9`` ->
sd 0.42). Without a confidence the statement is a point: logit sd 0 and no beta.

Two families are fitted to every statement:

* a **logit-normal**, ``logit(P) ~ Normal(logit_mean, logit_sd)``. From quantiles it is the
  least-squares line ``logit(q_p) = logit_mean + logit_sd * z_p`` with ``z_p`` the standard
  normal quantile (a closed-form regression);
* a **beta**, ``P ~ Beta(a, b)``, minimising the squared error of its quantiles against the
  stated ones (searched in ``log a, log b`` from a moment match of the logit-normal). For a
  probability with confidence the beta is matched to the logit-normal's 5/50/95% quantiles.

Each fit reports how far the family's quantiles are from the statement (root mean squared
difference on the probability scale): near 0 means the family can say what the forecaster
said; a clearly positive error means the stated quantiles are not of that shape.

Several fits are combined by :func:`linear_pool` (a mixture: mean and a 90% interval) or
:func:`logarithmic_pool` (a normalised weighted geometric mean of densities: a logit-normal).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from models._internal.logitnormal import logitnormal_moments, mixture_logit_quantile
from models._internal.quantile_fit import (
    beta_from_quantiles,
    beta_start_from_logitnormal,
    logitnormal_from_quantiles,
    rms,
)
from models.constants import INTERVAL_PROB
from models.exceptions import DataError

#: Quantile levels a forecaster may state.
ALLOWED_LEVELS: tuple[float, ...] = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)

#: Fewest quantiles that determine a two-parameter family with a check on the fit.
MIN_QUANTILES = 3

#: Levels every fit reports, whatever was stated: the median and the published 90% interval.
REPORTED_LEVELS: tuple[float, ...] = (
    round((1.0 - INTERVAL_PROB) / 2.0, 10),
    0.5,
    round((1.0 + INTERVAL_PROB) / 2.0, 10),
)

#: Half-width, on the logit scale, of "within a factor of 2 in odds".
LOG_ODDS_FACTOR_2 = math.log(2.0)

_LEVEL_TOLERANCE = 1e-9
_ALLOWED_TEXT = ", ".join(f"{level:g}" for level in ALLOWED_LEVELS)


def level_key(level: float) -> str:
    """The JSON key of a quantile level: ``0.1 -> "0.1"`` (accepted back by :func:`fit_quantiles`)."""
    return f"{level:g}"


def _json_levels(values: Mapping[float, float] | None) -> dict[str, float] | None:
    if values is None:
        return None
    return {level_key(level): float(value) for level, value in values.items()}


@dataclass(frozen=True)
class LogitNormal:
    """``logit(P) ~ Normal(logit_mean, logit_sd)``; ``logit_sd == 0`` is a point at ``expit(logit_mean)``."""

    logit_mean: float
    logit_sd: float

    @property
    def probability(self) -> float:
        """Mean of ``P`` (Gauss–Hermite quadrature)."""
        return logitnormal_moments(self.logit_mean, self.logit_sd)[0]

    @property
    def median(self) -> float:
        """Median of ``P``: ``expit(logit_mean)``."""
        return float(special.expit(self.logit_mean))

    def quantile(self, level: float) -> float:
        """Quantile of ``P`` at ``level`` in (0, 1)."""
        z = float(stats.norm.ppf(level))
        return float(special.expit(self.logit_mean + self.logit_sd * z))

    def interval(self, prob: float = INTERVAL_PROB) -> tuple[float, float]:
        """Central interval of ``P`` with mass ``prob``."""
        return self.quantile((1.0 - prob) / 2.0), self.quantile((1.0 + prob) / 2.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly content: parameters, mean, median and the 90% interval."""
        return {
            "logit_mean": float(self.logit_mean),
            "logit_sd": float(self.logit_sd),
            "probability": self.probability,
            "median": self.median,
            "interval": list(self.interval()),
            "interval_prob": INTERVAL_PROB,
        }


@dataclass(frozen=True)
class ElicitationFit:
    """A logit-normal and a beta fitted to one forecaster's statement.

    Attributes
    ----------
    logit_mean, logit_sd : float
        Parameters of the logit-normal, ``logit(P) ~ Normal(logit_mean, logit_sd)``.
    beta_a, beta_b : float or None
        Parameters of the beta; None for a bare probability (a point statement).
    stated : dict of float to float
        What the forecaster stated, level -> value; a probability is stated as ``{0.5: p}``.
    fitted_logitnormal : dict of float to float
        Logit-normal quantiles at the stated levels and at 0.05, 0.5 and 0.95.
    fitted_beta : dict of float to float or None
        Beta quantiles at the same levels; None when there is no beta.
    error_logitnormal : float
        Root mean squared difference between stated and fitted quantiles (probability scale).
    error_beta : float or None
        The same for the beta. For a probability with confidence it is measured against the
        logit-normal's 5/50/95% quantiles, which are what the beta was matched to.
    probability : float
        Mean of ``P`` under the logit-normal (Gauss–Hermite quadrature). Pulled towards 0.5
        relative to the median when ``logit_sd > 0``.
    median : float
        Median of ``P`` under the logit-normal: ``expit(logit_mean)``.
    confidence : float or None
        The stated confidence of a probability statement; None for quantiles or a bare
        probability.
    """

    logit_mean: float
    logit_sd: float
    beta_a: float | None
    beta_b: float | None
    stated: dict[float, float]
    fitted_logitnormal: dict[float, float]
    fitted_beta: dict[float, float] | None
    error_logitnormal: float
    error_beta: float | None
    probability: float
    median: float
    confidence: float | None = None

    @property
    def logitnormal(self) -> LogitNormal:
        """The fitted logit-normal as a distribution object."""
        return LogitNormal(self.logit_mean, self.logit_sd)

    @property
    def interval(self) -> tuple[float, float]:
        """The logit-normal's central 90% interval of ``P``."""
        low, _, high = REPORTED_LEVELS
        return self.fitted_logitnormal[low], self.fitted_logitnormal[high]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly content: plain floats, level keys as strings (``"0.05"``), None for absent.

        Returns
        -------
        dict
            Every field, plus ``interval`` (``[low, high]``) and ``interval_prob`` (0.9).
        """
        return {
            "logit_mean": float(self.logit_mean),
            "logit_sd": float(self.logit_sd),
            "beta_a": None if self.beta_a is None else float(self.beta_a),
            "beta_b": None if self.beta_b is None else float(self.beta_b),
            "stated": _json_levels(self.stated),
            "fitted_logitnormal": _json_levels(self.fitted_logitnormal),
            "fitted_beta": _json_levels(self.fitted_beta),
            "error_logitnormal": float(self.error_logitnormal),
            "error_beta": None if self.error_beta is None else float(self.error_beta),
            "probability": float(self.probability),
            "median": float(self.median),
            "confidence": None if self.confidence is None else float(self.confidence),
            "interval": list(self.interval),
            "interval_prob": INTERVAL_PROB,
        }


@dataclass(frozen=True)
class LinearPool:
    """A weighted mixture of fitted logit-normals: its mean and central interval of ``P``."""

    probability: float
    interval: tuple[float, float]
    interval_prob: float
    weights: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly content."""
        return {
            "probability": float(self.probability),
            "interval": [float(v) for v in self.interval],
            "interval_prob": float(self.interval_prob),
            "weights": [float(w) for w in self.weights],
        }


# --- validation --------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _parse_level(key: object) -> float:
    if isinstance(key, str):
        try:
            level = float(key.strip())
        except ValueError:
            raise DataError(
                f"quantile level {key!r} is not a number: use any three or more of {_ALLOWED_TEXT}"
            ) from None
    elif _is_number(key):
        level = float(key)  # type: ignore[arg-type]
    else:
        raise DataError(
            f"quantile level {key!r} is not a number: use any three or more of {_ALLOWED_TEXT}"
        )
    for allowed in ALLOWED_LEVELS:
        if abs(level - allowed) <= _LEVEL_TOLERANCE:
            return allowed
    raise DataError(
        f"quantile level {key!r} is not allowed: use any three or more of {_ALLOWED_TEXT}"
    )


def _check_probability_value(value: object, what: str) -> float:
    if not _is_number(value):
        raise DataError(f"{what} must be a number strictly between 0 and 1, got {value!r}")
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        raise DataError(f"{what} is NaN: give a number strictly between 0 and 1")
    if not 0.0 < x < 1.0:
        raise DataError(
            f"{what} is {x:g}, outside the open interval (0, 1): give a number strictly "
            "between 0 and 1 (e.g. 0.001 rather than 0, 0.999 rather than 1)"
        )
    return x


def _validate_quantiles(quantiles: Mapping[float | str, float]) -> dict[float, float]:
    if not isinstance(quantiles, Mapping):
        raise DataError(
            f"quantiles must be a mapping {{level: value}}, got {type(quantiles).__name__}"
        )
    stated: dict[float, float] = {}
    raw_keys: dict[float, object] = {}
    for key, value in quantiles.items():
        level = _parse_level(key)
        if level in stated:
            raise DataError(
                f"quantile level {level:g} is given twice (as {raw_keys[level]!r} and {key!r}): "
                "give each level once"
            )
        raw_keys[level] = key
        stated[level] = _check_probability_value(value, f"quantile at level {level:g}")
    if len(stated) < MIN_QUANTILES:
        given = ", ".join(f"{level:g}" for level in sorted(stated)) or "none"
        raise DataError(
            f"need at least {MIN_QUANTILES} quantiles, got {len(stated)} (levels: {given}): "
            f"add quantiles at other levels among {_ALLOWED_TEXT}"
        )
    stated = dict(sorted(stated.items()))
    items = list(stated.items())
    for (lower_level, lower), (upper_level, upper) in itertools.pairwise(items):
        if not upper > lower:
            raise DataError(
                f"quantiles must increase strictly with level, but level {lower_level:g} has "
                f"{lower:g} and level {upper_level:g} has {upper:g}: a higher level needs a "
                "larger value"
            )
    return stated


def _check_weights(weights: Sequence[float] | None, n: int) -> NDArray[np.float64]:
    if n == 0:
        raise DataError("pooling needs at least one fit, got none")
    if weights is None:
        return np.full(n, 1.0 / n)
    if len(weights) != n:
        raise DataError(f"got {len(weights)} weights for {n} fits: give one weight per fit")
    if not all(_is_number(w) for w in weights):
        raise DataError(f"weights must be numbers, got {list(weights)!r}")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0.0) or w.sum() <= 0.0:
        raise DataError(
            f"weights must be finite, non-negative and not all zero, got {w.tolist()!r}"
        )
    return w / w.sum()


# --- fitting -----------------------------------------------------------------------------


def _reported_levels(stated_levels: Sequence[float]) -> NDArray[np.float64]:
    return np.array(sorted(set(stated_levels) | set(REPORTED_LEVELS)), dtype=np.float64)


def _logitnormal_quantiles(
    mu: float, sd: float, levels: NDArray[np.float64]
) -> NDArray[np.float64]:
    return np.asarray(special.expit(mu + sd * stats.norm.ppf(levels)), dtype=np.float64)


def _beta_quantiles(a: float, b: float, levels: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(special.betaincinv(a, b, levels), dtype=np.float64)


def _as_dict(levels: NDArray[np.float64], values: NDArray[np.float64]) -> dict[float, float]:
    return {float(level): float(value) for level, value in zip(levels, values, strict=True)}


def fit_quantiles(quantiles: Mapping[float | str, float]) -> ElicitationFit:
    """Fit a logit-normal and a beta to stated quantiles of a probability.

    Parameters
    ----------
    quantiles : Mapping of float or str to float
        ``{level: value}`` with at least three levels among 0.05, 0.1, 0.25, 0.5, 0.75, 0.9,
        0.95 (numbers or strings such as ``"0.1"``), values in (0, 1) strictly increasing with
        level.

    Returns
    -------
    ElicitationFit
        Both fits, their quantiles at the stated levels and at 0.05/0.5/0.95, and their errors.

    Raises
    ------
    DataError
        If a level is not allowed or repeated, fewer than three quantiles are given, a value is
        NaN or outside (0, 1), or the values do not increase strictly with level.

    Examples
    --------
    >>> fit = fit_quantiles({"0.1": 0.1064, "0.5": 0.3, "0.9": 0.6069})
    >>> round(fit.median, 3), round(fit.logit_sd, 2)
    (0.3, 1.0)
    """
    stated = _validate_quantiles(quantiles)
    levels = np.array(list(stated), dtype=np.float64)
    values = np.array(list(stated.values()), dtype=np.float64)

    mu, sd = logitnormal_from_quantiles(levels, values)
    if not (math.isfinite(mu) and math.isfinite(sd) and sd > 0.0):
        # Unreachable for strictly increasing values; kept so a bad fit can never pass silently.
        raise DataError(
            f"the quantiles {stated!r} imply a logit sd of {sd:g}: they must increase strictly "
            "with level"
        )
    a, b = beta_from_quantiles(levels, values, start=beta_start_from_logitnormal(mu, sd))

    reported = _reported_levels(list(stated))
    fitted_ln = _logitnormal_quantiles(mu, sd, reported)
    fitted_beta = _beta_quantiles(a, b, reported)
    at_stated = np.isin(reported, levels)
    return ElicitationFit(
        logit_mean=mu,
        logit_sd=sd,
        beta_a=a,
        beta_b=b,
        stated=stated,
        fitted_logitnormal=_as_dict(reported, fitted_ln),
        fitted_beta=_as_dict(reported, fitted_beta),
        error_logitnormal=rms(fitted_ln[at_stated], values),
        error_beta=rms(fitted_beta[at_stated], values),
        probability=logitnormal_moments(mu, sd)[0],
        median=float(special.expit(mu)),
    )


def confidence_to_logit_sd(confidence: float) -> float:
    """Logit sd of a logit-normal with mass ``confidence`` within a factor of 2 in odds.

    Parameters
    ----------
    confidence : float
        ``c`` in (0, 1): ``P(|logit(P) - logit(p)| < log 2) = c``.

    Returns
    -------
    float
        ``log(2) / z_{(1 + c) / 2}``.
    """
    c = _check_probability_value(confidence, "confidence")
    return LOG_ODDS_FACTOR_2 / float(stats.norm.ppf((1.0 + c) / 2.0))


def fit_probability(probability: float, confidence: float | None = None) -> ElicitationFit:
    """Fit a logit-normal (and, with a confidence, a beta) to a stated probability.

    Parameters
    ----------
    probability : float
        ``p`` in (0, 1), taken as the median of ``P``: ``logit_mean = logit(p)``.
    confidence : float, optional
        ``c`` in (0, 1), the forecaster's probability that ``P`` is within a factor of 2 in
        odds of ``p``; gives ``logit_sd = log(2) / z_{(1 + c) / 2}``. None (default) is a
        point statement: ``logit_sd = 0`` and no beta.

    Returns
    -------
    ElicitationFit
        With ``stated = {0.5: p}``. With a confidence the beta is matched to the
        logit-normal's 5/50/95% quantiles and ``error_beta`` is measured against them.

    Raises
    ------
    DataError
        If ``probability`` or ``confidence`` is not a number in the open interval (0, 1).
    """
    p = _check_probability_value(probability, "probability")
    c = None if confidence is None else _check_probability_value(confidence, "confidence")
    mu = float(special.logit(p))
    sd = 0.0 if c is None else confidence_to_logit_sd(c)

    reported = np.array(REPORTED_LEVELS, dtype=np.float64)
    fitted_ln = _logitnormal_quantiles(mu, sd, reported)
    median_index = REPORTED_LEVELS.index(0.5)
    a: float | None = None
    b: float | None = None
    fitted_beta: dict[float, float] | None = None
    error_beta: float | None = None
    if sd > 0.0:
        a, b = beta_from_quantiles(reported, fitted_ln, start=beta_start_from_logitnormal(mu, sd))
        beta_values = _beta_quantiles(a, b, reported)
        fitted_beta = _as_dict(reported, beta_values)
        error_beta = rms(beta_values, fitted_ln)
    return ElicitationFit(
        logit_mean=mu,
        logit_sd=sd,
        beta_a=a,
        beta_b=b,
        stated={0.5: p},
        fitted_logitnormal=_as_dict(reported, fitted_ln),
        fitted_beta=fitted_beta,
        error_logitnormal=abs(float(fitted_ln[median_index]) - p),
        error_beta=error_beta,
        probability=logitnormal_moments(mu, sd)[0],
        median=float(special.expit(mu)),
        confidence=c,
    )


# --- pooling -----------------------------------------------------------------------------


def linear_pool(
    fits: Sequence[ElicitationFit], weights: Sequence[float] | None = None
) -> LinearPool:
    """Linear opinion pool: the weighted mixture of the fits' logit-normals.

    Parameters
    ----------
    fits : sequence of ElicitationFit
        At least one fit. Point statements (``logit_sd == 0``) are point masses.
    weights : sequence of float, optional
        One non-negative weight per fit, normalised to sum to 1; equal weights by default.

    Returns
    -------
    LinearPool
        ``probability``: the mixture mean (weighted mean of the fits' means); ``interval``: the
        mixture's central 90% interval, from its CDF inverted numerically on the logit scale.

    Raises
    ------
    DataError
        If there are no fits or the weights are not one finite, non-negative number per fit
        with a positive sum.
    """
    w = _check_weights(weights, len(fits))
    mus = np.array([f.logit_mean for f in fits], dtype=np.float64)
    sds = np.array([f.logit_sd for f in fits], dtype=np.float64)
    means = np.array([f.probability for f in fits], dtype=np.float64)
    low, high = ((1.0 - INTERVAL_PROB) / 2.0, (1.0 + INTERVAL_PROB) / 2.0)
    interval = (
        float(special.expit(mixture_logit_quantile(mus, sds, w, low))),
        float(special.expit(mixture_logit_quantile(mus, sds, w, high))),
    )
    return LinearPool(
        probability=float(np.dot(w, means)),
        interval=interval,
        interval_prob=INTERVAL_PROB,
        weights=tuple(float(x) for x in w),
    )


def logarithmic_pool(
    fits: Sequence[ElicitationFit], weights: Sequence[float] | None = None
) -> LogitNormal:
    """Logarithmic opinion pool: the normalised weighted geometric mean of the fits' densities.

    With weights summing to 1 the pool of logit-normals is again a logit-normal (the Jacobian
    ``1 / (p (1 - p))`` appears with total power 1), whose logit scale is the precision-weighted
    normal: precision ``sum_i w_i / sd_i**2`` and mean ``sum_i (w_i / sd_i**2) mu_i / precision``.

    Point statements: if any fit with positive weight has ``logit_sd == 0`` the precision weighting is undefined (a
    point has infinite precision and would silence every forecaster who stated uncertainty).
    The pool is then the classical logarithmic pool of the forecasters' central probabilities:
    a point (``logit_sd = 0``) at the weighted average of *all* fits' logit means (interval
    statements contribute their centre only), i.e. the
    weighted geometric mean of their median odds.

    Parameters
    ----------
    fits : sequence of ElicitationFit
        At least one fit.
    weights : sequence of float, optional
        One non-negative weight per fit, normalised to sum to 1; equal weights by default.

    Returns
    -------
    LogitNormal
        The pooled distribution of ``P``.

    Raises
    ------
    DataError
        If there are no fits or the weights are not one finite, non-negative number per fit
        with a positive sum.
    """
    w = _check_weights(weights, len(fits))
    mus = np.array([f.logit_mean for f in fits], dtype=np.float64)
    sds = np.array([f.logit_sd for f in fits], dtype=np.float64)
    if np.any(sds[w > 0.0] == 0.0):
        return LogitNormal(logit_mean=float(np.dot(w, mus)), logit_sd=0.0)
    keep = w > 0.0
    precisions = w[keep] / sds[keep] ** 2
    precision = float(precisions.sum())
    return LogitNormal(
        logit_mean=float(np.dot(precisions, mus[keep]) / precision),
        logit_sd=float(1.0 / math.sqrt(precision)),
    )
