"""Cross-validated backtests: folds, masking, leaks, and the README's reference scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import scoring
from models.aggregators import ExtremizedLogOdds, MeanProbability
from models.backtest import (
    MethodScore,
    compare_methods,
    mask_outcomes,
    question_folds,
    run_reference_backtest,
)
from models.exceptions import DataError
from models.history import ForecastTable, read_forecasts_csv


def simulated_table(n_questions: int = 40, seed: int = 0) -> ForecastTable:
    """Questions with true log-odds z ~ N(0, 2^2); 5 forecasters report z / 2 + noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n_questions)
    y = (rng.random(n_questions) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    n_f = 5
    x = 0.5 * z[:, None] + rng.normal(0.0, 0.3, (n_questions, n_f))
    return ForecastTable(
        question_ids=tuple(f"q{i}" for i in range(n_questions)),
        forecaster_ids=tuple(f"f{j}" for j in range(n_f)),
        question=np.repeat(np.arange(n_questions), n_f),
        forecaster=np.tile(np.arange(n_f), n_questions),
        probability=(1.0 / (1.0 + np.exp(-x))).reshape(-1),
        created_at=np.zeros(n_questions * n_f),
        outcome=y,
        group=np.array(["g"] * n_questions),
    )


# --- folds -------------------------------------------------------------------------------


def test_question_folds_partition_the_questions() -> None:
    ids = [f"q{i}" for i in range(23)]
    folds = question_folds(ids, n_folds=5, seed=0)
    assert len(folds) == 5
    assert sorted(q for f in folds for q in f) == sorted(ids)
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    # Seeded: the same seed gives the same folds, another seed others.
    again = question_folds(ids, n_folds=5, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = question_folds(ids, n_folds=5, seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))


@pytest.mark.parametrize(
    ("ids", "n_folds"), [(["a", "b", "c"], 4), (["a", "b"], 1), (["a", "a"], 2)]
)
def test_question_folds_refuse_impossible_splits(ids: list[str], n_folds: int) -> None:
    with pytest.raises(DataError):
        question_folds(ids, n_folds=n_folds)


# --- masking and leaks -------------------------------------------------------------------


def test_mask_outcomes_hides_only_the_given_questions() -> None:
    table = simulated_table(6)
    masked = mask_outcomes(table, ["q1", "q4"])
    assert np.isnan(masked.outcome[[1, 4]]).all()
    np.testing.assert_array_equal(masked.outcome[[0, 2, 3, 5]], table.outcome[[0, 2, 3, 5]])
    assert not np.isnan(table.outcome).any()  # the original is untouched
    np.testing.assert_array_equal(masked.probability, table.probability)
    with pytest.raises(DataError, match="unknown"):
        mask_outcomes(table, ["nope"])


def test_methods_see_no_held_out_outcome() -> None:
    table = simulated_table(40)
    folds = question_folds(table.question_ids, n_folds=5, seed=0)
    seen: list[tuple[ForecastTable, ForecastTable]] = []

    def spy(train: ForecastTable, heldout: ForecastTable) -> np.ndarray:
        seen.append((train, heldout))
        return np.full(heldout.n_questions, 0.5)

    run_reference_backtest(table, folds, {"spy": spy})
    assert len(seen) == 5
    for (train, heldout), fold in zip(seen, folds, strict=True):
        assert heldout.question_ids == tuple(fold)
        assert np.isnan(heldout.outcome).all()
        assert not set(train.question_ids) & set(heldout.question_ids)
        assert not np.isnan(train.outcome).any()  # training outcomes are there to learn from
        with pytest.raises(DataError):  # no way back to a held-out question via train
            train.select_questions(heldout.question_ids[:1])
        with pytest.raises(ValueError, match="read-only"):
            heldout.outcome[0] = 1.0


def test_a_leaky_method_scores_no_better_than_chance() -> None:
    table = simulated_table(40)
    folds = question_folds(table.question_ids, n_folds=5, seed=0)

    def leaky(train: ForecastTable, heldout: ForecastTable) -> np.ndarray:
        # Return the outcome if it can see one, else a coin flip's 0.5.
        return np.where(np.isnan(heldout.outcome), 0.5, heldout.outcome)

    (score,) = run_reference_backtest(table, folds, {"leaky": leaky})
    assert score.n == 40
    assert score.brier == pytest.approx(0.25)  # what always saying 0.5 scores: no leak
    assert score.log_score == pytest.approx(np.log(2))

    # The same method on an unmasked held-out table would be perfect: the check has teeth.
    unmasked = table.select_questions(folds[0])
    assert scoring.brier(leaky(table, unmasked), unmasked.outcome) == 0.0


def test_unresolved_held_out_questions_are_predicted_but_not_scored() -> None:
    table = mask_outcomes(simulated_table(10), ["q3"])  # q3 has no outcome
    folds = question_folds(table.question_ids, n_folds=2, seed=0)
    (score,) = run_reference_backtest(table, folds, ["mean"])
    assert score.n == 9
    assert "q3" not in score.question_ids
    assert not np.isnan(score.outcome).any()


# --- the pluggable method interface ------------------------------------------------------


def test_reference_rules_are_fitted_on_the_other_folds_only() -> None:
    table = simulated_table(40, seed=3)
    folds = question_folds(table.question_ids, n_folds=4, seed=2)
    (score,) = run_reference_backtest(table, folds, ["extremized_logodds"])
    expected_p, expected_ids = [], []
    for k, fold in enumerate(folds):
        train_ids = [q for j, f in enumerate(folds) if j != k for q in f]
        rule = ExtremizedLogOdds().fit(table.select_questions(train_ids))
        expected_p.append(rule.predict(table.select_questions(fold)))
        expected_ids.extend(fold.tolist())
    np.testing.assert_allclose(score.probability, np.concatenate(expected_p), rtol=1e-12)
    assert score.question_ids == tuple(expected_ids)
    y = table.select_questions(expected_ids).outcome
    assert score.brier == pytest.approx(scoring.brier(np.concatenate(expected_p), y))
    # Fold scores: one per fold, and their size-weighted mean is the pooled score.
    sizes = np.array([len(f) for f in folds])
    assert np.dot(score.fold_brier, sizes) / sizes.sum() == pytest.approx(score.brier)


def test_plugged_in_method_and_default_methods() -> None:
    table = simulated_table(30)
    folds = question_folds(table.question_ids, n_folds=3, seed=0)

    def constant(train: ForecastTable, heldout: ForecastTable) -> list[float]:
        return [float(np.nanmean(train.outcome))] * heldout.n_questions

    scores = run_reference_backtest(table, folds, {"base_rate": constant})
    assert [s.name for s in scores] == ["base_rate"]
    assert isinstance(scores[0], MethodScore)
    everything = run_reference_backtest(table, folds)
    assert [s.name for s in everything] == [
        "mean",
        "median",
        "mean_logodds",
        "extremized_logodds",
        "recency_median",
        "skill_weighted",
    ]
    # Fold-independent, so equal to pooling every question at once.
    mean = everything[0]
    pooled = MeanProbability().fit(table).predict(table.select_questions(mean.question_ids))
    np.testing.assert_allclose(mean.probability, pooled)


def test_scores_carry_a_calibration_check_and_comparisons() -> None:
    table = simulated_table(200, seed=2)
    folds = question_folds(table.question_ids, n_folds=3, seed=0)
    scores = run_reference_backtest(table, folds, ["mean", "extremized_logodds"])
    for s in scores:
        check = scoring.calibration_check(s.probability, s.outcome)
        assert (s.ece_expected, s.calibration_p) == (check.expected_ece, check.p_value)
    # The forecasters halve the log-odds: their mean is under-confident beyond chance, and
    # extremizing (fitted on the other folds) beats it on every resample's Brier score.
    mean, extremized = scores
    assert mean.calibration_p < 0.02 and mean.ece > 1.5 * mean.ece_expected
    assert extremized.calibration_p > 0.1
    (comparison,) = compare_methods(scores, "extremized_logodds")
    assert (comparison.method, comparison.against) == ("extremized_logodds", "mean")
    brier = comparison.differences["brier"]
    assert brier.difference == pytest.approx(extremized.brier - mean.brier)
    assert brier.high < 0
    row = comparison.to_dict()
    assert row["brier"]["low"] == brier.low and row["level"] == scoring.INTERVAL_LEVEL
    with pytest.raises(DataError, match="no method"):
        compare_methods(scores, "model")


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (lambda train, heldout: np.full(heldout.n_questions + 1, 0.5), "predictions for"),
        (lambda train, heldout: np.full(heldout.n_questions, 1.5), "not probabilities"),
        (lambda train, heldout: np.full(heldout.n_questions, np.nan), "not probabilities"),
    ],
)
def test_bad_method_output_is_refused(method: object, message: str) -> None:
    table = simulated_table(10)
    folds = question_folds(table.question_ids, n_folds=2)
    with pytest.raises(DataError, match=message):
        run_reference_backtest(table, folds, {"bad": method})  # type: ignore[dict-item]


def test_bad_folds_and_names_are_refused() -> None:
    table = simulated_table(10)
    with pytest.raises(DataError, match="overlap"):
        run_reference_backtest(table, [["q0", "q1"], ["q1", "q2"]], ["mean"])
    with pytest.raises(DataError, match="not in the table"):
        run_reference_backtest(table, [["q0"], ["zz"]], ["mean"])
    with pytest.raises(DataError, match="unknown reference rules"):
        run_reference_backtest(table, [["q0"], ["q1"]], ["mode"])


# --- the README's reference scores on the shared files ----------------------------------

#: shared/data/README.md: 5-fold CV by question, latest forecast per forecaster, Brier.
README_BRIER = {
    "forecastbench-supers-2024-07-21.csv": {
        "mean": 0.1197,
        "median": 0.1184,
        "mean_logodds": 0.1194,
        "extremized_logodds": 0.1191,
    },
    "gjp-y1-week1.csv": {
        "mean": 0.1359,
        "median": 0.1254,
        "mean_logodds": 0.1206,
        "extremized_logodds": 0.1090,
    },
}

#: Mean, median and mean log-odds learn nothing, so their held-out predictions do not depend
#: on the folds: they must match the README to its rounding (4 decimals, +-5e-5).
#: The extremizing factor is fitted on the other folds, so its score depends on the fold
#: assignment, which differs from the README's. Over seeds 0-39 we measured a spread of
#: 0.1175-0.1186 on ForecastBench (578 questions) and 0.106-0.130 on GJP (14 questions, 3
#: resolved yes, folds of 2-3 questions). So we allow 0.003 on ForecastBench and 0.01 on GJP
#: (about the noise of one fold assignment there), for our fixed seed 0.
TOLERANCE = {
    "forecastbench-supers-2024-07-21.csv": {"extremized_logodds": 0.003},
    "gjp-y1-week1.csv": {"extremized_logodds": 0.01},
}
FOLD_FREE_TOLERANCE = 6e-5


@pytest.mark.parametrize("name", list(README_BRIER))
def test_backtest_reproduces_the_readme(shared_data: Path, name: str) -> None:
    table = read_forecasts_csv(shared_data / name)
    folds = question_folds(table.resolved_question_ids(), n_folds=5, seed=0)
    scores = run_reference_backtest(table, folds)
    print(f"\n{name}: 5-fold CV, seed 0, n = {scores[0].n}")
    for s in scores:
        print(
            f"  {s.name:20s} brier {s.brier:.4f}  log {s.log_score:.4f}  ece {s.ece:.4f}"
            f"  sharpness {s.sharpness:.4f}"
        )
    by_name = {s.name: s for s in scores}
    for method, expected in README_BRIER[name].items():
        tolerance = TOLERANCE[name].get(method, FOLD_FREE_TOLERANCE)
        assert by_name[method].brier == pytest.approx(expected, abs=tolerance), method
    # Every rule beats the climatology of the file (always forecasting its base rate).
    y = table.outcome
    climatology = scoring.brier(np.full(y.size, y.mean()), y)
    for s in scores:
        assert s.n == table.n_questions
        assert s.brier < climatology, s.name
