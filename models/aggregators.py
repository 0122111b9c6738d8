"""Reference rules for pooling many forecasters' probabilities on a question into one.

They are the baselines the Bayesian model must beat in a backtest. Each rule is a class with
``fit(train)`` (reads outcomes of the training table only) and ``predict(table)`` (never reads
outcomes), and pools each forecaster's latest forecast on a question
(:meth:`~models.history.ForecastTable.latest_per_forecaster`).

A question with no forecasts is given the training base rate with add-one smoothing,
``(yes + 1) / (resolved + 2)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

from models.constants import PROB_EPS
from models.exceptions import DataError, NotFittedError
from models.history import ForecastTable

#: Probabilities are clipped to ``[LOGIT_CLIP, 1 - LOGIT_CLIP]`` before taking log-odds:
#: forecasts of 0 and 1 occur in real data and would otherwise be infinite. 0.01 (log-odds
#: ±4.6) is the service-wide ``PROB_EPS``; it reproduces the reference scores in
#: ``shared/data/README.md``.
LOGIT_CLIP = PROB_EPS

#: Bounds of the extremizing factor ``d`` of :class:`ExtremizedLogOdds`.
EXTREMIZE_BOUNDS = (0.5, 5.0)


def clipped_logit(p: ArrayLike, eps: float = LOGIT_CLIP) -> np.ndarray:
    """Log-odds of probabilities after clipping them to ``[eps, 1 - eps]``.

    Parameters
    ----------
    p : array_like of float
        Probabilities in [0, 1].
    eps : float, default :data:`LOGIT_CLIP`

    Returns
    -------
    ndarray of float64
    """
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.asarray(np.log(q) - np.log1p(-q))


def weighted_median(values: ArrayLike, weights: ArrayLike) -> float:
    """Median of the distribution putting mass ``weights`` on ``values``.

    The smallest value at which the cumulative weight reaches half the total; if it reaches
    exactly half there, the midpoint of that value and the next (so that equal weights give
    :func:`numpy.median`).

    Parameters
    ----------
    values : array_like of float, shape (n,)
    weights : array_like of float, shape (n,)
        Non-negative, not all zero.

    Returns
    -------
    float
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if v.size == 0 or v.shape != w.shape or np.any(w < 0) or not np.sum(w) > 0:
        raise DataError("weighted_median needs matching non-empty values and weights >= 0")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cumulative = np.cumsum(w)
    half = cumulative[-1] / 2.0
    i = int(np.searchsorted(cumulative, half * (1.0 - 1e-12)))
    if i + 1 < v.size and abs(cumulative[i] - half) <= 1e-12 * cumulative[-1]:
        return float((v[i] + v[i + 1]) / 2.0)
    return float(v[i])


def _per_question_mean(table: ForecastTable, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of per-forecast ``values`` on each question; NaN where it has none."""
    n = table.n_questions
    total = np.bincount(table.question, weights=weights * values, minlength=n)
    mass = np.bincount(table.question, weights=weights, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), np.nan)


def _forecasts_by_question(table: ForecastTable) -> list[np.ndarray]:
    """Positions of each question's forecasts, in file order."""
    order = np.argsort(table.question, kind="stable")
    bounds = np.searchsorted(table.question[order], np.arange(table.n_questions + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(table.n_questions)]


class Aggregator(ABC):
    """A rule pooling forecasters' latest forecasts on a question into one probability.

    Subclasses set ``name`` and implement ``_pool`` (and ``_fit`` if they learn anything).
    """

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self.base_rate_: float | None = None

    def fit(self, train: ForecastTable) -> Self:
        """Learn the rule's parameters from resolved training questions.

        Parameters
        ----------
        train : ForecastTable
            Training questions; only their outcomes are read (NaN ones are ignored).

        Returns
        -------
        Self
        """
        y = train.outcome[train.resolved]
        self.base_rate_ = float((np.sum(y) + 1.0) / (y.size + 2.0))
        self._fit(train.latest_per_forecaster())
        return self

    def predict(self, table: ForecastTable) -> np.ndarray:
        """Pooled probability of yes for each question of ``table``; outcomes are not read.

        Parameters
        ----------
        table : ForecastTable

        Returns
        -------
        ndarray of float64, shape (table.n_questions,)
            Aligned with ``table.question_ids``.

        Raises
        ------
        NotFittedError
            If :meth:`fit` has not been called.
        """
        if self.base_rate_ is None:
            raise NotFittedError(f"{type(self).__name__}.predict needs fit() first")
        pooled = self._pool(table.latest_per_forecaster())
        return np.where(np.isnan(pooled), self.base_rate_, pooled)

    def _fit(self, latest: ForecastTable) -> None:  # noqa: B027 - most rules learn nothing
        """Learn parameters from the training table's latest forecasts (default: nothing)."""

    @abstractmethod
    def _pool(self, latest: ForecastTable) -> np.ndarray:
        """Pooled probability per question (NaN where a question has no forecast)."""


class MeanProbability(Aggregator):
    """Arithmetic mean of the forecasters' probabilities (no clipping)."""

    name = "mean"

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        return _per_question_mean(latest, latest.probability, np.ones(latest.n_forecasts))


class MedianProbability(Aggregator):
    """Median of the forecasters' probabilities."""

    name = "median"

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        groups = _forecasts_by_question(latest)
        return np.array(
            [np.median(latest.probability[g]) if g.size else np.nan for g in groups],
            dtype=np.float64,
        )


class MeanLogOdds(Aggregator):
    """Logistic of the mean log-odds (geometric mean of odds), probabilities clipped first."""

    name = "mean_logodds"

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        return np.asarray(expit(self._mean_logodds(latest)))

    @staticmethod
    def _mean_logodds(latest: ForecastTable) -> np.ndarray:
        return _per_question_mean(
            latest, clipped_logit(latest.probability), np.ones(latest.n_forecasts)
        )


class ExtremizedLogOdds(Aggregator):
    """``logistic(d * mean log-odds)``, with ``d`` fitted on the training questions.

    ``d`` maximises the Bernoulli log-likelihood of the resolved training outcomes, within
    :data:`EXTREMIZE_BOUNDS`; ``d > 1`` pushes the pool away from 0.5 (a crowd of
    under-confident forecasters), ``d < 1`` towards it. Without resolved training questions
    ``d = 1``.
    """

    name = "extremized_logodds"

    def __init__(self) -> None:
        super().__init__()
        self.factor_: float = 1.0

    def _fit(self, latest: ForecastTable) -> None:
        x = MeanLogOdds._mean_logodds(latest)
        use = latest.resolved & ~np.isnan(x)
        x, y = x[use], latest.outcome[use]
        if y.size == 0:
            self.factor_ = 1.0
            return

        def negative_log_likelihood(d: float) -> float:
            return -float(np.sum(y * log_expit(d * x) + (1.0 - y) * log_expit(-d * x)))

        result = minimize_scalar(
            negative_log_likelihood,
            bounds=EXTREMIZE_BOUNDS,
            method="bounded",
            options={"xatol": 1e-6},
        )
        self.factor_ = float(result.x)

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        return np.asarray(expit(self.factor_ * MeanLogOdds._mean_logodds(latest)))


class RecencyWeightedMedian(Aggregator):
    """Weighted median in the style of Metaculus's community prediction.

    On each question the forecasters' latest forecasts are ordered by time, oldest first,
    and the ``n``-th gets weight ``exp(sqrt(n))``, as Metaculus documents; the pool is the
    :func:`weighted_median` of the probabilities. Forecasts made at the same instant are
    equally recent: they share the mean weight of their ranks (so a file whose forecasts
    all carry one timestamp gets the plain median, not one that depends on row order).
    """

    name = "recency_median"

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        out = np.full(latest.n_questions, np.nan)
        for qi, g in enumerate(_forecasts_by_question(latest)):
            if g.size == 0:
                continue
            g = g[np.argsort(latest.created_at[g], kind="stable")]
            rank = np.arange(1, g.size + 1, dtype=np.float64)
            # exp(sqrt(n)) scaled by its largest value: the same median, no overflow.
            weights = np.exp(np.sqrt(rank) - np.sqrt(rank[-1]))
            _, tie_block = np.unique(latest.created_at[g], return_inverse=True)
            block_mean = np.bincount(tie_block, weights=weights) / np.bincount(tie_block)
            weights = block_mean[tie_block]
            out[qi] = weighted_median(latest.probability[g], weights)
        return out


class SkillWeighted(Aggregator):
    """Weighted mean log-odds, forecasters weighted by their Brier score on training questions.

    Forecaster ``e`` with mean Brier ``b_e`` over ``n_e`` resolved training questions gets
    the shrunken score ``s_e = (n_e * b_e + m * B) / (n_e + m)``, where ``B`` is the median of
    the ``b_e`` and ``m = prior_questions`` (so one lucky forecast does not make an expert),
    and weight ``w_e = exp(-k * (s_e - median(s)))``. Forecasters without a training record
    get the median weight. ``k >= 0`` is chosen from ``k_grid`` by an inner cross-validation
    over the training questions (Brier score of the pool on inner held-out questions; ties
    go to the smaller ``k``), unless given.

    Parameters
    ----------
    k : float, optional
        A fixed sharpness of the weights; None fits it.
    prior_questions : float, default 5.0
        ``m``, the number of median-Brier questions each record is shrunk with.
    k_grid : tuple of float
        Candidates for ``k``.
    inner_folds : int, default 5
    seed : int, default 0
        Seed of the inner folds.
    """

    name = "skill_weighted"

    def __init__(
        self,
        k: float | None = None,
        *,
        prior_questions: float = 5.0,
        k_grid: tuple[float, ...] = (0.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0),
        inner_folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if k is not None and k < 0:
            raise DataError(f"k must be >= 0, got {k!r}")
        self.k = k
        self.prior_questions = prior_questions
        self.k_grid = k_grid
        self.inner_folds = inner_folds
        self.seed = seed
        self.k_: float = 0.0
        self.weights_: dict[str, float] = {}
        self.default_weight_: float = 1.0

    def _shrunk_brier(self, latest: ForecastTable, questions: np.ndarray) -> dict[str, float]:
        """Shrunken Brier score of each forecaster with forecasts on ``questions``."""
        use = np.isin(latest.question, questions) & latest.resolved[latest.question]
        f = latest.forecaster[use]
        err = (latest.probability[use] - latest.outcome[latest.question[use]]) ** 2
        nf = len(latest.forecaster_ids)
        count = np.bincount(f, minlength=nf)
        total = np.bincount(f, weights=err, minlength=nf)
        has = count > 0
        if not np.any(has):
            return {}
        raw = total[has] / count[has]
        prior = float(np.median(raw))
        m = self.prior_questions
        shrunk = (count[has] * raw + m * prior) / (count[has] + m)
        ids = [latest.forecaster_ids[i] for i in np.flatnonzero(has)]
        return dict(zip(ids, shrunk.tolist(), strict=True))

    @staticmethod
    def _weights(scores: dict[str, float], k: float) -> tuple[dict[str, float], float]:
        if not scores:
            return {}, 1.0
        s = np.array(list(scores.values()))
        w = np.exp(-k * (s - np.median(s)))
        return dict(zip(scores, w.tolist(), strict=True)), float(np.median(w))

    @staticmethod
    def _pool_with(latest: ForecastTable, weights: dict[str, float], default: float) -> np.ndarray:
        per_forecaster = np.array([weights.get(f, default) for f in latest.forecaster_ids])
        w = per_forecaster[latest.forecaster] if latest.n_forecasts else np.zeros(0)
        x = _per_question_mean(latest, clipped_logit(latest.probability), w)
        return np.asarray(expit(x))

    def _choose_k(self, latest: ForecastTable) -> float:
        resolved = np.flatnonzero(latest.resolved)
        n_folds = min(self.inner_folds, resolved.size)
        if n_folds < 2:
            return 0.0
        rng = np.random.default_rng(self.seed)
        folds = np.array_split(rng.permutation(resolved), n_folds)
        loss = np.zeros(len(self.k_grid))
        for fold in folds:
            scores = self._shrunk_brier(latest, np.setdiff1d(resolved, fold))
            for j, k in enumerate(self.k_grid):
                weights, default = self._weights(scores, k)
                p = self._pool_with(latest, weights, default)[fold]
                y = latest.outcome[fold]
                known = ~np.isnan(p)
                loss[j] += float(np.sum((p[known] - y[known]) ** 2))
        return float(self.k_grid[int(np.argmin(loss))])

    def _fit(self, latest: ForecastTable) -> None:
        self.k_ = float(self.k) if self.k is not None else self._choose_k(latest)
        scores = self._shrunk_brier(latest, np.arange(latest.n_questions))
        self.weights_, self.default_weight_ = self._weights(scores, self.k_)

    def _pool(self, latest: ForecastTable) -> np.ndarray:
        return self._pool_with(latest, self.weights_, self.default_weight_)


#: The reference rules by name, in the order backtests report them.
REFERENCE_RULES: dict[str, type[Aggregator]] = {
    rule.name: rule
    for rule in (
        MeanProbability,
        MedianProbability,
        MeanLogOdds,
        ExtremizedLogOdds,
        RecencyWeightedMedian,
        SkillWeighted,
    )
}
