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
    return float(np.mean(_log_losses(parr, yarr, eps)))


def _log_losses(p: np.ndarray, y: np.ndarray, eps: float = LOG_SCORE_EPS) -> np.ndarray:
    """Each forecast's log loss, clipped as in :func:`log_score` (inputs already checked)."""
    q = np.clip(p, eps, 1.0 - eps)
    return -(y * np.log(q) + (1.0 - y) * np.log1p(-q))


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


#: Resamples of :func:`calibration_check` and :func:`paired_bootstrap`.
RESAMPLES = 2000

#: Central level of the intervals of :func:`paired_bootstrap`.
INTERVAL_LEVEL = 0.9

# Rows of simulated or resampled outcomes processed at once (bounds memory at large n).
_CHUNK_CELLS = 2_000_000


def _ece_rows(p: np.ndarray, y: np.ndarray, bins: int) -> np.ndarray:
    """ECE of each row of ``p`` and ``y`` (both shape ``(rows, n)``), vectorised."""
    rows, n = p.shape
    index = _bin_index(p, bins) + bins * np.arange(rows)[:, None]
    flat = index.ravel()
    size = rows * bins
    sum_p = np.bincount(flat, weights=p.ravel(), minlength=size).reshape(rows, bins)
    sum_y = np.bincount(flat, weights=y.ravel(), minlength=size).reshape(rows, bins)
    # sum_b n_b |mean_p_b - freq_b| = sum_b |sum_p_b - sum_y_b|; empty bins add 0.
    return np.abs(sum_p - sum_y).sum(axis=1) / n


def _check_resamples(resamples: int) -> None:
    if not isinstance(resamples, int | np.integer) or resamples < 1:
        raise DataError(f"resamples must be a positive integer, got {resamples!r}")


def _chunks(total: int, n: int) -> list[int]:
    step = max(1, _CHUNK_CELLS // max(n, 1))
    return [min(step, total - start) for start in range(0, total, step)]


@dataclass(frozen=True)
class CalibrationCheck:
    """How a forecaster's ECE compares with that of a calibrated one issuing the same forecasts.

    ``expected_ece`` is the mean ECE when every outcome is drawn as ``Bernoulli(p)``, i.e. the
    error that binning and a finite number of questions produce even under perfect
    calibration ("consistency resampling", Bröcker and Smith 2007). ``p_value`` is the share
    of those simulated ECEs at least as large as the observed one: small values (< 0.05)
    mean the forecasts are miscalibrated beyond chance; values near 0.5 or above mean the
    observed ECE is what chance alone gives.
    """

    ece: float
    expected_ece: float
    p_value: float


def calibration_check(
    p: ArrayLike,
    y: ArrayLike,
    bins: int = CALIBRATION_BINS,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> CalibrationCheck:
    """Test the observed ECE against outcomes simulated from the forecasts themselves.

    Parameters
    ----------
    p : array_like of float, shape (n,)
        Forecast probabilities of yes, in [0, 1].
    y : array_like of {0, 1}, shape (n,)
        Outcomes.
    bins : int, default 10
        Equal-width bins of the ECE.
    resamples : int, default 2000
        Simulated outcome sets.
    seed : int, default 0
        Seed of the simulation (the result is a pure function of the inputs and the seed).

    Returns
    -------
    CalibrationCheck
        The observed ECE, its mean under calibration and the one-sided p-value
        ``(1 + #{simulated >= observed}) / (1 + resamples)``.
    """
    parr, yarr = _check_py(p, y)
    _check_resamples(resamples)
    observed = expected_calibration_error(parr, yarr, bins)
    rng = np.random.default_rng(seed)
    simulated = []
    for rows in _chunks(int(resamples), parr.size):
        draws = (rng.random((rows, parr.size)) < parr).astype(np.float64)
        simulated.append(_ece_rows(np.broadcast_to(parr, draws.shape), draws, bins))
    sims = np.concatenate(simulated)
    # A tolerance keeps ties (identical bins, rounding) on the side of "as large".
    at_least = int(np.count_nonzero(sims >= observed - 1e-12))
    return CalibrationCheck(
        ece=observed,
        expected_ece=float(sims.mean()),
        p_value=(1 + at_least) / (1 + int(resamples)),
    )


@dataclass(frozen=True)
class ScoreDifference:
    """One score of forecasts A minus the same score of forecasts B, over the same questions.

    Negative means A is better (every score here is a loss). ``low`` and ``high`` bound the
    central bootstrap interval (resampling questions); ``share_a_better`` is the share of
    resamples in which A scored lower.
    """

    score: str
    difference: float
    low: float
    high: float
    share_a_better: float


def paired_bootstrap(
    p_a: ArrayLike,
    p_b: ArrayLike,
    y: ArrayLike,
    resamples: int = RESAMPLES,
    level: float = INTERVAL_LEVEL,
    seed: int = 0,
    bins: int = CALIBRATION_BINS,
) -> dict[str, ScoreDifference]:
    """Differences of Brier, log score and ECE between two forecasters, with bootstrap intervals.

    Questions are resampled with replacement; both forecasters are scored on the same
    resample, so what the questions share (how hard they were) cancels.

    Parameters
    ----------
    p_a, p_b : array_like of float, shape (n,)
        Two sets of forecasts of the same questions.
    y : array_like of {0, 1}, shape (n,)
        Outcomes.
    resamples : int, default 2000
    level : float, default 0.9
        Central interval, in (0, 1).
    seed : int, default 0
    bins : int, default 10
        Bins of the ECE.

    Returns
    -------
    dict of str to ScoreDifference
        Keys ``brier``, ``log_score`` and ``ece``; each ``difference`` is A's score minus B's
        on all questions.
    """
    a, yarr = _check_py(p_a, y)
    b, _ = _check_py(p_b, y)
    _check_resamples(resamples)
    if not 0.0 < level < 1.0:
        raise DataError(f"level must be in (0, 1), got {level!r}")
    n = yarr.size
    per_question = {
        "brier": (a - yarr) ** 2 - (b - yarr) ** 2,
        "log_score": _log_losses(a, yarr) - _log_losses(b, yarr),
    }
    rng = np.random.default_rng(seed)
    resampled: dict[str, list[np.ndarray]] = {"brier": [], "log_score": [], "ece": []}
    for rows in _chunks(int(resamples), n):
        idx = rng.integers(0, n, size=(rows, n))
        for name, diff in per_question.items():
            resampled[name].append(diff[idx].mean(axis=1))
        ys = yarr[idx]
        resampled["ece"].append(_ece_rows(a[idx], ys, bins) - _ece_rows(b[idx], ys, bins))
    whole = {
        "brier": float(per_question["brier"].mean()),
        "log_score": float(per_question["log_score"].mean()),
        "ece": expected_calibration_error(a, yarr, bins)
        - expected_calibration_error(b, yarr, bins),
    }
    tail = (1.0 - level) / 2.0 * 100.0
    out = {}
    for name, parts in resampled.items():
        sims = np.concatenate(parts)
        low, high = np.percentile(sims, [tail, 100.0 - tail])
        out[name] = ScoreDifference(
            score=name,
            difference=whole[name],
            low=float(low),
            high=float(high),
            share_a_better=float(np.mean(sims < 0.0)),
        )
    return out
