"""Cross-validated backtests of aggregation rules on resolved questions.

Questions are split into folds; each method is trained on the other folds and predicts the
held-out one, and the held-out predictions of all folds are pooled and scored. A method is
any callable ``(train, heldout) -> probabilities`` (:data:`BacktestMethod`), so the Bayesian
model plugs in beside the reference rules of :mod:`models.aggregators`.

Leaks are impossible by construction: a method receives a training table without the
held-out questions, and a held-out table whose outcomes are NaN (:func:`mask_outcomes`);
both are read-only. Outcomes of held-out questions are read only to score the predictions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from models import scoring
from models.aggregators import REFERENCE_RULES, Aggregator
from models.dataset import ForecastData
from models.exceptions import DataError
from models.history import ForecastTable, to_forecast_data

if TYPE_CHECKING:
    from models.config import ModelConfig, SamplerSettings

#: A backtested method: ``(train, heldout) -> P(yes)`` for each of ``heldout.question_ids``.
#: ``train`` holds the training questions with their outcomes; ``heldout`` the held-out
#: questions with every outcome NaN.
BacktestMethod = Callable[[ForecastTable, ForecastTable], ArrayLike]


@dataclass(frozen=True, eq=False)
class MethodScore:
    """Scores of one method's pooled held-out predictions.

    Attributes
    ----------
    name : str
    brier, log_score, ece, sharpness : float
        As :func:`models.scoring.score_all` computes them (NaN if nothing was scored).
    n : int
        Number of scored (resolved, held-out) questions.
    question_ids : tuple of str
        The scored questions, fold by fold.
    probability : ndarray of float64
        The held-out prediction of each scored question.
    outcome : ndarray of float64
        Its outcome.
    fold_brier : tuple of float
        Brier score of each fold (NaN for a fold without resolved questions).
    ece_expected : float
        The ECE a calibrated forecaster issuing these same forecasts would have on average
        (:func:`models.scoring.calibration_check`): with few questions, ECE is large by
        chance alone.
    calibration_p : float
        Share of calibrated simulations with an ECE at least as large as ``ece``; below
        0.05 the method is miscalibrated beyond chance.
    """

    name: str
    brier: float
    log_score: float
    ece: float
    sharpness: float
    n: int
    question_ids: tuple[str, ...]
    probability: np.ndarray
    outcome: np.ndarray
    fold_brier: tuple[float, ...]
    ece_expected: float = math.nan
    calibration_p: float = math.nan


@dataclass(frozen=True)
class Comparison:
    """One method against another on the same scored questions (A minus B; negative: A better).

    Attributes
    ----------
    method, against : str
        Names of A and B.
    differences : dict of str to ScoreDifference
        ``brier``, ``log_score`` and ``ece``, each with its bootstrap interval over questions
        (:func:`models.scoring.paired_bootstrap`).
    """

    method: str
    against: str
    differences: dict[str, scoring.ScoreDifference]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"method", "against", "level", "<score>": {"difference", "low", ...}}``."""
        out: dict[str, Any] = {
            "method": self.method,
            "against": self.against,
            "level": scoring.INTERVAL_LEVEL,
        }
        for name, d in self.differences.items():
            out[name] = {
                "difference": d.difference,
                "low": d.low,
                "high": d.high,
                "share_better": d.share_a_better,
            }
        return out


def compare_methods(scores: Sequence[MethodScore], method: str, seed: int = 0) -> list[Comparison]:
    """Compare one method with every other, by paired bootstrap over the scored questions.

    Parameters
    ----------
    scores : sequence of MethodScore
        From :func:`run_reference_backtest` (all scored on the same questions).
    method : str
        Name of the method to compare (A), e.g. ``"model"``.
    seed : int, default 0
        Seed of the resampling; the same resampled questions serve every pair.

    Returns
    -------
    list of Comparison
        One per other method, in the order of ``scores``; empty if nothing was scored.
    """
    by_name = {s.name: s for s in scores}
    if method not in by_name:
        raise DataError(f"no method {method!r} among {sorted(by_name)}")
    a = by_name[method]
    if a.n == 0:
        return []
    out = []
    for other in scores:
        if other.name == method:
            continue
        if other.question_ids != a.question_ids:
            raise DataError(f"{method!r} and {other.name!r} were scored on different questions")
        differences = scoring.paired_bootstrap(
            a.probability, other.probability, a.outcome, seed=seed
        )
        out.append(Comparison(method=method, against=other.name, differences=differences))
    return out


def question_folds(
    question_ids: Iterable[str], n_folds: int = 5, seed: int = 0
) -> list[np.ndarray]:
    """Split questions into ``n_folds`` folds of near-equal size by a seeded permutation.

    Pass the resolved questions (``table.resolved_question_ids()``): only they can be scored.

    Parameters
    ----------
    question_ids : iterable of str
        Distinct question ids; their order and ``seed`` fix the folds.
    n_folds : int, default 5
    seed : int, default 0

    Returns
    -------
    list of ndarray of str
        ``n_folds`` disjoint arrays of ids covering every question.

    Raises
    ------
    DataError
        If ids repeat, or ``n_folds`` is below 2 or above the number of questions.
    """
    ids = np.array([str(q) for q in question_ids], dtype=np.str_)
    if len(set(ids.tolist())) != ids.size:
        raise DataError("question ids to split into folds are repeated")
    if ids.size < 2:
        raise DataError(f"{ids.size} question(s) to split into folds: a backtest needs at least 2")
    if not 2 <= n_folds <= ids.size:
        raise DataError(
            f"{n_folds} folds of {ids.size} questions: give between 2 and {ids.size} folds"
        )
    permuted = ids[np.random.default_rng(seed).permutation(ids.size)]
    return list(np.array_split(permuted, n_folds))


def mask_outcomes(table: ForecastTable, question_ids: Iterable[str]) -> ForecastTable:
    """A copy of ``table`` in which the outcomes of ``question_ids`` are NaN.

    Parameters
    ----------
    table : ForecastTable
    question_ids : iterable of str
        Questions whose outcomes to hide; each must be in the table.

    Returns
    -------
    ForecastTable
        The original is left unchanged.

    Raises
    ------
    DataError
        If an id is not in the table.
    """
    position = {q: i for i, q in enumerate(table.question_ids)}
    hide = [str(q) for q in question_ids]
    unknown = [q for q in hide if q not in position]
    if unknown:
        raise DataError(f"cannot mask unknown questions: {unknown[:5]}")
    outcome = table.outcome.copy()
    outcome[[position[q] for q in hide]] = np.nan
    return replace(table, outcome=outcome)


def aggregator_method(rule: Callable[[], Aggregator]) -> BacktestMethod:
    """Wrap a reference rule as a :data:`BacktestMethod`: a fresh rule fitted on ``train``.

    Parameters
    ----------
    rule : callable returning an Aggregator
        E.g. a class of :data:`models.aggregators.REFERENCE_RULES`.

    Returns
    -------
    BacktestMethod
    """

    def method(train: ForecastTable, heldout: ForecastTable) -> np.ndarray:
        return rule().fit(train).predict(heldout)

    return method


@dataclass(frozen=True)
class ModelFitRecord:
    """Diagnostics of the model's fit on one backtest fold.

    Attributes
    ----------
    fold : int
        0-based position of the fold, in the order the backtest called the method.
    train_questions, heldout_questions : int
    forecasts : int
        Forecasts in the fitted data (each forecaster's latest per question).
    publishable : bool
        Whether the fit passed the publish checks (R-hat, ESS, divergences).
    divergences : int
    max_rhat : float
        Largest R-hat of the fit's question probabilities.
    min_ess_bulk : float
    attempts : int
        Sampling attempts (a fit that fails the checks is retried).
    sampling_seconds : float
        Time spent sampling in the last attempt (the one whose draws are kept).
    seconds : float
        Wall time of the whole fold: building the data, compiling, sampling, predicting.
    reasons : tuple of str
        Why the fit is not publishable (empty if it is).
    topic_effects : bool or None
        Whether the groups' factors and shifts were on (docs/model.md, "Topics").
    topic_p : float or None
        The p-value of the test of whether the training questions' groups differ
        (models/topics.py); None with fewer than two groups that have resolved questions.
    """

    fold: int
    train_questions: int
    heldout_questions: int
    forecasts: int
    publishable: bool
    divergences: int
    max_rhat: float
    min_ess_bulk: float
    attempts: int
    sampling_seconds: float
    seconds: float
    reasons: tuple[str, ...] = ()
    topic_effects: bool | None = None
    topic_p: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (``reasons`` a list)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["reasons"] = list(self.reasons)
        return d


class ModelMethod:
    """The Bayesian model as a :data:`BacktestMethod`, recording each fold's fit diagnostics.

    Each call fits one :class:`~models.forecast_model.ForecastModel` to the training
    questions (forecasts and outcomes) together with the held-out questions' forecasts
    (without outcomes), and returns the posterior mean P(yes) of each held-out question. The
    held-out forecasts inform the forecasters' parameters and their own questions; no
    held-out outcome is seen (the backtest hands over a masked table, and this method
    passes only training questions to ``include_outcomes_for``).

    Parameters
    ----------
    config : ModelConfig, optional
        Hyperpriors, sampler settings and publish criteria; default ``ModelConfig()``.
    sampler : SamplerSettings, optional
        Overrides ``config.sampler``.
    progress : bool, default False
        Show the sampler's progress bar.

    Attributes
    ----------
    fits : list of ModelFitRecord
        One per call, in call order.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        sampler: SamplerSettings | None = None,
        *,
        progress: bool = False,
    ) -> None:
        from models.config import ModelConfig

        self.config = config or ModelConfig()
        self.sampler = sampler
        self.progress = progress
        self.fits: list[ModelFitRecord] = []

    def __call__(self, train: ForecastTable, heldout: ForecastTable) -> np.ndarray:
        from models.forecast_model import ForecastModel

        started = time.perf_counter()
        data = self.fold_data(train, heldout)
        posterior = ForecastModel(self.config).fit(
            data, sampler=self.sampler, progress=self.progress
        )
        heldout_ids = list(heldout.question_ids)
        p = np.array([f.probability for f in posterior.predict(heldout_ids)], dtype=np.float64)
        diag = posterior.diagnostics
        self.fits.append(
            ModelFitRecord(
                fold=len(self.fits),
                train_questions=train.n_questions,
                heldout_questions=heldout.n_questions,
                forecasts=len(data.forecasts),
                publishable=bool(diag.publishable),
                divergences=int(diag.divergences),
                max_rhat=float(diag.max_rhat),
                min_ess_bulk=float(diag.min_ess_bulk),
                attempts=int(diag.attempts),
                sampling_seconds=float(diag.sampling_seconds),
                seconds=time.perf_counter() - started,
                reasons=tuple(diag.reasons),
                topic_effects=diag.topic_effects,
                topic_p=(diag.topic_evidence or {}).get("p_value"),
            )
        )
        # Posterior means lie in (0, 1) up to rounding; clip so the backtest's check holds.
        return np.clip(p, 0.0, 1.0)

    def fold_data(self, train: ForecastTable, heldout: ForecastTable) -> ForecastData:
        """What a fold's fit sees: every forecaster's latest forecasts on the training and
        held-out questions, and the training questions' outcomes only."""
        clash = set(train.question_ids) & set(heldout.question_ids)
        if clash:
            raise DataError(f"questions both in training and held out: {sorted(clash)[:5]}")
        eps = self.config.probability_eps
        train_data = to_forecast_data(train.latest_per_forecaster(), eps=eps)
        # Held-out outcomes are already NaN; include_outcomes_for=() makes sure that no
        # Resolution comes from them even if a caller passes an unmasked table.
        heldout_data = to_forecast_data(
            heldout.latest_per_forecaster(), eps=eps, include_outcomes_for=()
        )
        return ForecastData(
            questions=train_data.questions + heldout_data.questions,
            forecasts=train_data.forecasts + heldout_data.forecasts,
            resolutions=train_data.resolutions,
        )


def model_method(
    config: ModelConfig | None = None,
    sampler: SamplerSettings | None = None,
    *,
    progress: bool = False,
) -> ModelMethod:
    """The Bayesian forecast model as a :data:`BacktestMethod`.

    Parameters
    ----------
    config : ModelConfig, optional
        Default ``ModelConfig()``.
    sampler : SamplerSettings, optional
        Overrides ``config.sampler`` (e.g. small settings in tests).
    progress : bool, default False
        Show the sampler's progress bar.

    Returns
    -------
    ModelMethod
        Callable ``(train, heldout) -> probabilities``; its ``fits`` list records each
        fold's fit diagnostics.
    """
    return ModelMethod(config, sampler, progress=progress)


def _resolve_methods(
    methods: Mapping[str, BacktestMethod] | Sequence[str] | None,
) -> dict[str, BacktestMethod]:
    if methods is None:
        methods = list(REFERENCE_RULES)
    if isinstance(methods, Mapping):
        return dict(methods)
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in REFERENCE_RULES]
    if unknown:
        raise DataError(f"unknown reference rules {unknown}; known: {', '.join(REFERENCE_RULES)}")
    return {m: aggregator_method(REFERENCE_RULES[m]) for m in methods}


def _checked_prediction(name: str, raw: ArrayLike, heldout: ForecastTable) -> np.ndarray:
    p = np.asarray(raw, dtype=np.float64).reshape(-1)
    if p.shape != (heldout.n_questions,):
        raise DataError(
            f"method {name!r} returned {p.size} predictions for {heldout.n_questions} questions"
        )
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise DataError(f"method {name!r} returned values that are not probabilities in [0, 1]")
    return p


def run_reference_backtest(
    table: ForecastTable,
    folds: Sequence[Iterable[str]],
    methods: Mapping[str, BacktestMethod] | Sequence[str] | None = None,
) -> list[MethodScore]:
    """Cross-validate methods over question folds and score the pooled held-out predictions.

    For each fold, every method gets ``train``, the questions of the other folds with their
    outcomes, and ``heldout``, the fold's questions with outcomes masked to NaN, and returns
    one probability per held-out question. Questions in no fold are not used. Held-out
    questions without an outcome are predicted but not scored.

    Parameters
    ----------
    table : ForecastTable
        All forecasts (methods reduce them to the latest per forecaster themselves).
    folds : sequence of iterables of str
        Disjoint sets of question ids, e.g. from :func:`question_folds`.
    methods : mapping of name to BacktestMethod, or sequence of rule names, optional
        Methods to compare; names refer to :data:`models.aggregators.REFERENCE_RULES`.
        None means every reference rule.

    Returns
    -------
    list of MethodScore
        One per method, in the given order.

    Raises
    ------
    DataError
        If folds overlap or name unknown questions, or a method returns the wrong number of
        predictions or values outside [0, 1].
    """
    fold_ids = [[str(q) for q in fold] for fold in folds]
    all_ids = [q for fold in fold_ids for q in fold]
    if len(set(all_ids)) != len(all_ids):
        raise DataError("folds overlap: a question is in two folds")
    unknown = sorted(set(all_ids).difference(table.question_ids))
    if unknown:
        raise DataError(f"folds name questions not in the table: {unknown[:5]}")
    resolved_methods = _resolve_methods(methods)

    predictions: dict[str, list[np.ndarray]] = {name: [] for name in resolved_methods}
    for k, heldout_ids in enumerate(fold_ids):
        # Both tables come from the masked copy: held-out outcomes are absent from both.
        masked = mask_outcomes(table, heldout_ids)
        train_ids = [q for j, fold in enumerate(fold_ids) if j != k for q in fold]
        train = masked.select_questions(train_ids)
        heldout = masked.select_questions(heldout_ids)
        for name, method in resolved_methods.items():
            predictions[name].append(_checked_prediction(name, method(train, heldout), heldout))

    # Scoring is the only place that reads held-out outcomes.
    truth = table.select_questions(all_ids)
    fold_outcomes = np.split(truth.outcome, np.cumsum([len(f) for f in fold_ids])[:-1])
    scored_ids = tuple(q for q, r in zip(all_ids, truth.resolved, strict=True) if r)
    results = []
    for name in resolved_methods:
        fold_brier = tuple(
            scoring.brier(p[~np.isnan(y)], y[~np.isnan(y)]) if np.any(~np.isnan(y)) else math.nan
            for p, y in zip(predictions[name], fold_outcomes, strict=True)
        )
        p_all = np.concatenate(predictions[name]) if predictions[name] else np.zeros(0)
        keep = truth.resolved
        p_scored, y_scored = p_all[keep], truth.outcome[keep]
        if p_scored.size:
            scores = scoring.score_all(p_scored, y_scored)
            check = scoring.calibration_check(p_scored, y_scored)
            expected, calibration_p = check.expected_ece, check.p_value
        else:
            scores = dict.fromkeys(("brier", "log_score", "ece", "sharpness"), math.nan)
            expected = calibration_p = math.nan
        results.append(
            MethodScore(
                name=name,
                brier=scores["brier"],
                log_score=scores["log_score"],
                ece=scores["ece"],
                sharpness=scores["sharpness"],
                n=int(p_scored.size),
                question_ids=scored_ids,
                probability=p_scored,
                outcome=y_scored,
                fold_brier=fold_brier,
                ece_expected=expected,
                calibration_p=calibration_p,
            )
        )
    return results
