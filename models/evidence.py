"""Evidence: likelihood ratios, the verbal strength scale, and evidence offsets on log-odds.

Under the model the log-odds of question q at time t is

    theta_q(t) = theta_q + sum_{k : t_k <= t} w_{r(k)} * log LR_kq

so the evidence enters every likelihood term through a matrix ``A`` (rows: the terms,
columns: reliability classes) with ``A[i, r] = sum of log LR_kq over the evidence of
class r on term i's question observed at or before term i's time``. The offset is then
``A @ w``, linear in the learned discounts ``w``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.constants import RELIABILITY_CLASSES
from models.dataset import Evidence, as_utc
from models.exceptions import DataError

#: Likelihood ratios beyond this (or below its inverse) are refused as absurd.
MAX_LIKELIHOOD_RATIO = 1000.0

#: A verbal strength scale, after Kass & Raftery's Bayes-factor categories, signed by direction.
VERBAL_LIKELIHOOD_RATIOS: dict[str, float] = {
    "strongly-against": 1 / 10,
    "moderately-against": 1 / 3,
    "weakly-against": 1 / 1.5,
    "neutral": 1.0,
    "weakly-for": 1.5,
    "moderately-for": 3.0,
    "strongly-for": 10.0,
}


def likelihood_ratio_from_verbal(strength: str) -> float:
    """Map a verbal strength (``"moderately-for"`` ...) to its likelihood ratio.

    Parameters
    ----------
    strength : str
        One of the keys of :data:`VERBAL_LIKELIHOOD_RATIOS`.

    Returns
    -------
    float
        P(evidence | yes) / P(evidence | no).
    """
    try:
        return VERBAL_LIKELIHOOD_RATIOS[strength]
    except KeyError:
        raise DataError(
            f"unknown verbal strength {strength!r}; use one of "
            + ", ".join(VERBAL_LIKELIHOOD_RATIOS)
        ) from None


def check_likelihood_ratio(value: float) -> float:
    """Return ``value`` if it is a usable likelihood ratio, else raise :class:`DataError`."""
    if not (isinstance(value, int | float) and math.isfinite(value)) or value <= 0:
        raise DataError(f"likelihood ratio must be a positive number, got {value!r}")
    if value > MAX_LIKELIHOOD_RATIO or value < 1 / MAX_LIKELIHOOD_RATIO:
        raise DataError(
            f"likelihood ratio {value} is beyond the accepted range "
            f"[1/{MAX_LIKELIHOOD_RATIO:g}, {MAX_LIKELIHOOD_RATIO:g}]; evidence that strong "
            "should resolve the question instead"
        )
    return float(value)


def reliability_index(reliability: str) -> int:
    try:
        return RELIABILITY_CLASSES.index(reliability)
    except ValueError:
        raise DataError(
            f"reliability must be one of {', '.join(RELIABILITY_CLASSES)}, got {reliability!r}"
        ) from None


def epoch_seconds(values: Sequence) -> np.ndarray:
    """Datetimes (or None meaning 'after everything') as float seconds since the epoch."""
    return np.array(
        [np.inf if v is None else as_utc(v).timestamp() for v in values], dtype=np.float64
    )


def evidence_offsets(
    evidence: Sequence[Evidence],
    question_index: dict[str, int],
    term_question: np.ndarray,
    term_time: np.ndarray,
) -> np.ndarray:
    """The matrix ``A`` of summed log likelihood ratios per reliability class.

    Parameters
    ----------
    evidence : sequence of Evidence
        The evidence in force (retracted items already left out).
    question_index : dict
        Question id -> position.
    term_question : ndarray of int, shape (n,)
        The question of each likelihood term (forecast, outcome or prediction).
    term_time : ndarray of float, shape (n,)
        The time of each term, seconds since the epoch (``inf`` for "after all evidence").

    Returns
    -------
    ndarray, shape (n, len(RELIABILITY_CLASSES))
    """
    a = np.zeros((len(term_question), len(RELIABILITY_CLASSES)), dtype=np.float64)
    for ev in evidence:
        r = reliability_index(ev.reliability)
        t_k = as_utc(ev.observed_at).timestamp()
        for eff in ev.effects:
            q = question_index[eff.question_id]
            mask = (term_question == q) & (term_time >= t_k)
            a[mask, r] += math.log(eff.likelihood_ratio)
    return a
