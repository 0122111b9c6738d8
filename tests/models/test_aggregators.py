"""Reference aggregation rules against hand-computed pools, and parameter recovery."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from models.aggregators import (
    LOGIT_CLIP,
    REFERENCE_RULES,
    ExtremizedLogOdds,
    MeanLogOdds,
    MeanProbability,
    MedianProbability,
    RecencyWeightedMedian,
    SkillWeighted,
    clipped_logit,
    weighted_median,
)
from models.exceptions import DataError, NotFittedError
from models.history import ForecastTable


def make_table(
    rows: list[tuple[str, str, float, float]], outcome: dict[str, float] | None = None
) -> ForecastTable:
    """A table from (question, forecaster, probability, created_at) rows."""
    outcome = outcome or {}
    qids = list(dict.fromkeys(r[0] for r in rows))
    fids = list(dict.fromkeys(r[1] for r in rows))
    return ForecastTable(
        question_ids=tuple(qids),
        forecaster_ids=tuple(fids),
        question=np.array([qids.index(r[0]) for r in rows]),
        forecaster=np.array([fids.index(r[1]) for r in rows]),
        probability=np.array([r[2] for r in rows]),
        created_at=np.array([r[3] for r in rows]),
        outcome=np.array([outcome.get(q, np.nan) for q in qids]),
        group=np.array(["g"] * len(qids)),
    )


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def lo(p: float) -> float:
    return math.log(p / (1.0 - p))


#: q1: a's latest 0.2 (their earlier 0.8 is superseded), b 0.5, c 0.9.
#: q2: a 0.6, b 1.0 (clipped to 0.99 before log-odds).
TINY = make_table(
    [
        ("q1", "a", 0.8, 1.0),
        ("q1", "b", 0.5, 2.0),
        ("q1", "c", 0.9, 3.0),
        ("q1", "a", 0.2, 4.0),
        ("q2", "a", 0.6, 1.0),
        ("q2", "b", 1.0, 2.0),
    ],
    {"q1": 1.0, "q2": 0.0},
)


def test_mean_by_hand() -> None:
    # q1: (0.2 + 0.5 + 0.9) / 3 = 0.53333; q2: (0.6 + 1.0) / 2 = 0.8 (no clipping)
    p = MeanProbability().fit(TINY).predict(TINY)
    assert p.tolist() == pytest.approx([1.6 / 3, 0.8])


def test_median_by_hand() -> None:
    # q1: median(0.2, 0.5, 0.9) = 0.5; q2: median(0.6, 1.0) = 0.8
    p = MedianProbability().fit(TINY).predict(TINY)
    assert p.tolist() == pytest.approx([0.5, 0.8])


def test_mean_logodds_by_hand() -> None:
    # q1: odds 0.25, 1, 9 -> geometric mean 2.25 ** (1/3) = 1.310371 -> p = 0.567169
    # q2: odds 1.5 and 0.99/0.01 = 99 -> sqrt(148.5) = 12.186058 -> p = 0.924162
    p = MeanLogOdds().fit(TINY).predict(TINY)
    g1, g2 = 2.25 ** (1 / 3), math.sqrt(148.5)
    assert p.tolist() == pytest.approx([g1 / (1 + g1), g2 / (1 + g2)])
    assert p.tolist() == pytest.approx([0.567169, 0.924162], abs=1e-6)


def test_extremized_factor_by_hand() -> None:
    # Four training questions, each pooled at log-odds x = logit(0.6) = ln 1.5; three resolve
    # yes. The likelihood is maximised where logistic(d x) = 3/4, i.e. d = ln 3 / ln 1.5.
    rows = [(f"t{i}", f, 0.6, 0.0) for i in range(4) for f in ("a", "b")]
    train = make_table(rows, {"t0": 1.0, "t1": 1.0, "t2": 1.0, "t3": 0.0})
    rule = ExtremizedLogOdds().fit(train)
    assert rule.factor_ == pytest.approx(math.log(3) / math.log(1.5), abs=1e-4)  # 2.7095
    # Predicting q1 of TINY: logistic(d * (lo 0.2 + lo 0.5 + lo 0.9) / 3)
    x = (lo(0.2) + lo(0.5) + lo(0.9)) / 3
    assert rule.predict(TINY)[0] == pytest.approx(logistic(rule.factor_ * x), abs=1e-9)


def test_extremized_factor_stays_in_bounds() -> None:
    # Perfectly separated training data would push d to infinity: it stops at 5.
    train = make_table([("t1", "a", 0.7, 0.0), ("t2", "a", 0.3, 0.0)], {"t1": 1.0, "t2": 0.0})
    assert ExtremizedLogOdds().fit(train).factor_ == pytest.approx(5.0, abs=1e-3)
    # Pools on the wrong side of 0.5 every time push it down to 0.5.
    wrong = make_table([("t1", "a", 0.3, 0.0), ("t2", "a", 0.7, 0.0)], {"t1": 1.0, "t2": 0.0})
    assert ExtremizedLogOdds().fit(wrong).factor_ == pytest.approx(0.5, abs=1e-3)
    # No resolved training question: no extremizing.
    assert ExtremizedLogOdds().fit(make_table([("t", "a", 0.3, 0.0)])).factor_ == 1.0


def _simulate(shrink: float, seed: int) -> ForecastTable:
    """600 questions with true log-odds z ~ N(0, 2^2); 12 forecasters each report
    logistic(shrink * z + N(0, 0.3^2)); outcomes drawn from the true probabilities."""
    rng = np.random.default_rng(seed)
    n_q, n_f = 600, 12
    z = rng.normal(0.0, 2.0, n_q)
    y = (rng.random(n_q) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    rows = [
        (f"q{q}", f"f{f}", float(logistic(shrink * z[q] + rng.normal(0.0, 0.3))), 0.0)
        for q in range(n_q)
        for f in range(n_f)
    ]
    return make_table(rows, {f"q{q}": y[q] for q in range(n_q)})


def test_extremizing_factor_recovered_on_underconfident_forecasters() -> None:
    # Forecasters report half the true log-odds: the pool must be stretched by about 2.
    table = _simulate(shrink=0.5, seed=11)
    d = ExtremizedLogOdds().fit(table).factor_
    assert 1.5 < d < 2.7
    # It is the maximum of the Bernoulli log-likelihood (a grid search agrees to its step).
    x = clipped_logit(table.probability).reshape(600, 12).mean(axis=1)
    grid = np.arange(0.5, 5.0, 0.001)
    q = 1.0 / (1.0 + np.exp(-grid[:, None] * x[None, :]))
    log_lik = (table.outcome * np.log(q) + (1 - table.outcome) * np.log1p(-q)).sum(axis=1)
    assert d == pytest.approx(grid[np.argmax(log_lik)], abs=2e-3)
    # Calibrated forecasters: no stretching needed.
    d_calibrated = ExtremizedLogOdds().fit(_simulate(shrink=1.0, seed=11)).factor_
    assert 0.75 < d_calibrated < 1.3


def test_recency_median_by_hand() -> None:
    # Latest forecasts ordered by time: 0.1 (n=1), 0.9 (n=2), 0.3 (n=3), 0.6 (n=4), with
    # weights e^sqrt(n) = 2.718, 4.113, 5.652, 7.389 (total 19.873, half 9.936).
    # By value: 0.1 (2.718), 0.3 (5.652 -> cum 8.370), 0.6 (7.389 -> cum 15.759): median 0.6,
    # where the unweighted median is (0.3 + 0.6) / 2 = 0.45.
    rows = [
        ("q1", "d", 0.6, 40.0),
        ("q1", "b", 0.9, 20.0),
        ("q1", "a", 0.1, 10.0),
        ("q1", "c", 0.3, 30.0),
        ("q1", "b", 0.2, 5.0),  # b's older forecast: not used
    ]
    table = make_table(rows)
    assert RecencyWeightedMedian().fit(table).predict(table).tolist() == [0.6]
    assert MedianProbability().fit(table).predict(table).tolist() == pytest.approx([0.45])
    # If a updates last (0.1 becomes newest, weight 7.389): 0.9 (n=1, 2.718), 0.3 (n=2,
    # 4.113), 0.6 (n=3, 5.652), 0.1 (n=4, 7.389). By value: 0.1 (7.389), 0.3 (cum 11.502):
    # median 0.3.
    updated = make_table([*rows, ("q1", "a", 0.1, 50.0)])
    assert RecencyWeightedMedian().fit(updated).predict(updated).tolist() == [0.3]


def test_recency_median_ties_share_their_weight() -> None:
    # All four at one instant: equal weights, the plain median (0.3 + 0.6) / 2, whatever the
    # row order.
    rows = [("q1", f, p, 0.0) for f, p in zip("abcd", (0.6, 0.9, 0.1, 0.3), strict=True)]
    for order in (rows, rows[::-1]):
        table = make_table(order)
        assert RecencyWeightedMedian().fit(table).predict(table).tolist() == pytest.approx([0.45])
    # a, b, c tie for oldest: each gets (e^1 + e^sqrt2 + e^sqrt3) / 3 = 12.483 / 3 = 4.161;
    # d, newest, e^2 = 7.389 (total 19.873, half 9.936). By value: 0.1 (4.161), 0.2 (cum
    # 8.322), 0.3 (cum 12.483): median 0.3, in every order of the tied rows.
    tied = [("q1", "a", 0.1, 1.0), ("q1", "b", 0.2, 1.0), ("q1", "c", 0.3, 1.0)]
    for order in (tied, tied[::-1], [tied[1], tied[2], tied[0]]):
        table = make_table([*order, ("q1", "d", 0.9, 2.0)])
        assert RecencyWeightedMedian().fit(table).predict(table).tolist() == [0.3]


def test_weighted_median() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 7, 10):
        values = rng.random(n)
        assert weighted_median(values, np.ones(n)) == pytest.approx(np.median(values))
    # Masses 1, 1, 3 on 0.1, 0.2, 0.9: half of 5 is reached at 0.9.
    assert weighted_median([0.9, 0.1, 0.2], [3, 1, 1]) == 0.9
    # Exactly half at 0.2: midpoint with the next value.
    assert weighted_median([0.1, 0.2, 0.9], [1, 1, 2]) == pytest.approx(0.55)
    with pytest.raises(DataError):
        weighted_median([], [])


def test_skill_weighted_by_hand() -> None:
    # Training: q1 resolves yes, q2 no.
    #   a: 0.9, 0.2 -> Brier ((0.1)^2 + (0.2)^2) / 2 = 0.025
    #   b: 0.6, 0.5 -> Brier ((0.4)^2 + (0.5)^2) / 2 = 0.205
    #   c: 0.3, 0.6 -> Brier ((0.7)^2 + (0.6)^2) / 2 = 0.425
    train = make_table(
        [
            ("q1", "a", 0.9, 0.0),
            ("q1", "b", 0.6, 0.0),
            ("q1", "c", 0.3, 0.0),
            ("q2", "a", 0.2, 0.0),
            ("q2", "b", 0.5, 0.0),
            ("q2", "c", 0.6, 0.0),
        ],
        {"q1": 1.0, "q2": 0.0},
    )
    # Held out: a 0.7, b 0.4, c 0.5 and d (no record) 0.8.
    test = make_table(
        [("h", "a", 0.7, 0.0), ("h", "b", 0.4, 0.0), ("h", "c", 0.5, 0.0), ("h", "d", 0.8, 0.0)]
    )

    # No shrinkage (m = 0), k = 10: median Brier 0.205, so
    # w_a = exp(-10 (0.025 - 0.205)) = e^1.8, w_b = 1, w_c = exp(-2.2); d gets the median 1.
    rule = SkillWeighted(k=10.0, prior_questions=0.0).fit(train)
    w = {"a": math.exp(1.8), "b": 1.0, "c": math.exp(-2.2), "d": 1.0}
    x = {"a": lo(0.7), "b": lo(0.4), "c": 0.0, "d": lo(0.8)}
    expected = logistic(sum(w[f] * x[f] for f in w) / sum(w.values()))
    assert rule.predict(test)[0] == pytest.approx(expected)  # 0.7039
    assert rule.weights_["a"] == pytest.approx(math.exp(1.8))

    # Shrinkage m = 2: each record of n = 2 questions is averaged with 2 at the median 0.205:
    # s = (2 b + 2 * 0.205) / 4 -> 0.115, 0.205, 0.315; w = e^0.9, 1, e^-1.1.
    shrunk = SkillWeighted(k=10.0, prior_questions=2.0).fit(train)
    w = {"a": math.exp(0.9), "b": 1.0, "c": math.exp(-1.1), "d": 1.0}
    expected = logistic(sum(w[f] * x[f] for f in w) / sum(w.values()))
    assert shrunk.predict(test)[0] == pytest.approx(expected)


def test_skill_weighted_with_k_zero_is_mean_logodds() -> None:
    table = _simulate(shrink=1.0, seed=5)
    np.testing.assert_allclose(
        SkillWeighted(k=0.0).fit(table).predict(table),
        MeanLogOdds().fit(table).predict(table),
        rtol=1e-12,
    )


def test_skill_weighted_learns_to_trust_the_skilled() -> None:
    # 200 questions; 3 forecasters see the truth (log-odds z + small noise), 9 are noise.
    rng = np.random.default_rng(7)
    n_q = 200
    z = rng.normal(0.0, 2.0, n_q)
    y = (rng.random(n_q) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    rows = []
    for q in range(n_q):
        for f in range(12):
            x = z[q] + rng.normal(0.0, 0.3) if f < 3 else rng.normal(0.0, 1.5)
            rows.append((f"q{q}", f"f{f}", logistic(x), 0.0))
    table = make_table(rows, {f"q{q}": y[q] for q in range(n_q)})
    train = table.select_questions(table.question_ids[:150])
    test = table.select_questions(table.question_ids[150:])
    rule = SkillWeighted().fit(train)
    assert rule.k_ > 0
    assert min(rule.weights_[f"f{f}"] for f in range(3)) > max(
        rule.weights_[f"f{f}"] for f in range(3, 12)
    )
    p_skill = rule.predict(test)
    p_mean = MeanLogOdds().fit(train).predict(test)
    brier = lambda p: float(np.mean((p - test.outcome) ** 2))  # noqa: E731
    assert brier(p_skill) < brier(p_mean)


@pytest.mark.parametrize("name", list(REFERENCE_RULES))
def test_predictions_do_not_read_outcomes(name: str) -> None:
    table = _simulate(shrink=0.7, seed=2)
    train = table.select_questions(table.question_ids[:200])
    test = table.select_questions(table.question_ids[200:300])
    hidden = replace(test, outcome=np.full(test.n_questions, np.nan))
    flipped = replace(test, outcome=1.0 - test.outcome)
    rule = REFERENCE_RULES[name]().fit(train)
    p = rule.predict(test)
    assert p.shape == (100,) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(p, rule.predict(hidden))
    np.testing.assert_array_equal(p, rule.predict(flipped))


@pytest.mark.parametrize("name", list(REFERENCE_RULES))
def test_rules_need_fit_and_fall_back_to_the_base_rate(name: str) -> None:
    rule = REFERENCE_RULES[name]()
    with pytest.raises(NotFittedError):
        rule.predict(TINY)
    # A question without forecasts gets (yes + 1) / (resolved + 2) = (1 + 1) / (2 + 2) = 0.5
    # from TINY, and (0 + 1) / (1 + 2) = 1/3 from a training set of one "no".
    empty = ForecastTable(
        question_ids=("x",),
        forecaster_ids=(),
        question=np.zeros(0),
        forecaster=np.zeros(0),
        probability=np.zeros(0),
        created_at=np.zeros(0),
        outcome=np.array([np.nan]),
        group=np.array(["g"]),
    )
    assert rule.fit(TINY).predict(empty).tolist() == [0.5]
    one_no = make_table([("t", "a", 0.4, 0.0)], {"t": 0.0})
    assert REFERENCE_RULES[name]().fit(one_no).predict(empty).tolist() == pytest.approx([1 / 3])


def test_clipped_logit_uses_the_module_constant() -> None:
    assert LOGIT_CLIP == 0.01
    np.testing.assert_allclose(
        clipped_logit([0.0, 0.5, 1.0]), [math.log(0.01 / 0.99), 0.0, math.log(0.99 / 0.01)]
    )
