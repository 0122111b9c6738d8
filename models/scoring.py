"""Proper scores and calibration of probability forecasts of binary outcomes.

Every function takes forecasts ``p`` (P(yes), in [0, 1]) and outcomes ``y`` (0 or 1) as
1-d arrays of the same length; unresolved questions must be dropped by the caller. Lower is
better for the Brier score, the log score and the calibration error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from models.exceptions import DataError

#: Default clipping of the log score: a forecast of 0 or 1 that is wrong costs -ln(1e-4) ≈ 9.2.
LOG_SCORE_EPS = 1e-4

#: Default number of equal-width bins on [0, 1] of the calibration measures.
CALIBRATION_BINS = 10


def _check_p(p: ArrayLike) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"forecasts must be a non-empty 1-d array, got shape {arr.shape}")
    if not np.all((arr >= 0.0) & (arr <= 1.0)):  # also rejects NaN
        raise DataError("forecasts must be probabilities in [0, 1]")
    return arr


def _check_py(p: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    parr = _check_p(p)
    yarr = np.asarray(y, dtype=np.float64)
    if yarr.shape != parr.shape:
        raise DataError(f"{parr.shape[0]} forecasts but outcomes of shape {yarr.shape}")
    if not np.all((yarr == 0.0) | (yarr == 1.0)):
        raise DataError("outcomes must be 0 or 1 (drop unresolved questions before scoring)")
    return parr, yarr


def brier(p: ArrayLike, y: ArrayLike) -> float:
    """Brier score: the mean squared difference between forecast and outcome.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.

    Returns
    -------
    float
        ``mean((p - y) ** 2)`` in [0, 1]; lower is better, 0.25 is always forecasting 0.5.
    """
    parr, yarr = _check_py(p, y)
    return float(np.mean((parr - yarr) ** 2))


def log_score(p: ArrayLike, y: ArrayLike, eps: float = LOG_SCORE_EPS) -> float:
    """Log score as a loss: the mean negative log-likelihood of the outcomes (natural log).

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.
    eps : float, default 1e-4
        Forecasts are clipped to ``[eps, 1 - eps]`` first, so that a confident miss costs
        ``-ln(eps)`` instead of infinity.

    Returns
    -------
    float
        ``-mean(y * ln(q) + (1 - y) * ln(1 - q))`` with ``q = clip(p, eps, 1 - eps)``;
        non-negative, lower is better, ``ln 2 ≈ 0.693`` is always forecasting 0.5.
    """
    if not 0.0 < eps < 0.5:
        raise DataError(f"eps must be in (0, 0.5), got {eps!r}")
    parr, yarr = _check_py(p, y)
    q = np.clip(parr, eps, 1.0 - eps)
    return float(-np.mean(yarr * np.log(q) + (1.0 - yarr) * np.log1p(-q)))


@dataclass(frozen=True, eq=False)
class ReliabilityTable:
    """Forecasts binned by value against the observed frequency of yes in each bin.

    Bin ``b`` holds forecasts in ``[edges[b], edges[b + 1])``; the last bin also holds 1.
    Empty bins have ``count`` 0 and NaN means.
    """

    edges: np.ndarray
    mean_forecast: np.ndarray
    observed_frequency: np.ndarray
    count: np.ndarray


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    if not isinstance(bins, int | np.integer) or bins < 1:
        raise DataError(f"bins must be a positive integer, got {bins!r}")
    # Rounding first puts forecasts on an edge (0.3 * 10 = 2.9999999999999996) in the upper bin.
    return np.minimum(np.floor(np.round(p * bins, 9)).astype(np.int64), bins - 1)


def reliability_table(p: ArrayLike, y: ArrayLike, bins: int = CALIBRATION_BINS) -> ReliabilityTable:
    """Per equal-width bin of forecast value: mean forecast, observed frequency and count.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.
    bins : int, default 10
        Number of equal-width bins on [0, 1].

    Returns
    -------
    ReliabilityTable
        Arrays of length ``bins`` (``edges`` has ``bins + 1``).
    """
    parr, yarr = _check_py(p, y)
    index = _bin_index(parr, bins)
    count = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=parr, minlength=bins)
    sum_y = np.bincount(index, weights=yarr, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_forecast = np.where(count > 0, sum_p / count, np.nan)
        observed = np.where(count > 0, sum_y / count, np.nan)
    return ReliabilityTable(
        edges=np.linspace(0.0, 1.0, bins + 1),
        mean_forecast=mean_forecast,
        observed_frequency=observed,
        count=count,
    )


def expected_calibration_error(p: ArrayLike, y: ArrayLike, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-width bins, weighted by bin counts.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.
    bins : int, default 10
        Number of equal-width bins on [0, 1] (see :func:`reliability_table`).

    Returns
    -------
    float
        ``sum_b (n_b / n) * |mean forecast_b - observed frequency_b|``, in [0, 1]; lower is
        better.
    """
    table = reliability_table(p, y, bins)
    used = table.count > 0
    gap = np.abs(table.mean_forecast[used] - table.observed_frequency[used])
    return float(np.sum(table.count[used] * gap) / np.sum(table.count))


def sharpness(p: ArrayLike) -> float:
    """How far forecasts stand from 0.5: the mean of ``|2p - 1|``.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].

    Returns
    -------
    float
        ``mean(|p - 0.5|) * 2`` in [0, 1]: 0 when every forecast is 0.5, 1 when every
        forecast is 0 or 1. Sharper is better only among calibrated forecasts.
    """
    parr = _check_p(p)
    return float(np.mean(np.abs(parr - 0.5)) * 2.0)


def score_all(p: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """All scores of one set of forecasts, with their default settings.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.

    Returns
    -------
    dict
        ``brier``, ``log_score``, ``ece`` (10 bins), ``sharpness`` and ``n`` (an int).
    """
    parr, yarr = _check_py(p, y)
    return {
        "brier": brier(parr, yarr),
        "log_score": log_score(parr, yarr),
        "ece": expected_calibration_error(parr, yarr),
        "sharpness": sharpness(parr),
        "n": int(parr.size),
    }
