"""The gate of the topic terms: does a fit's resolved data show that its groups differ?

models/topics.py; docs/model.md, "Topics". The test's statistic is checked against a
closed form, its verdict on simulated crowds whose groups differ or do not, and the switch
it sets in the model's data.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import chi2

from models.config import ModelConfig
from models.dataset import Forecast, ForecastData, Question, Resolution
from models.forecast_model import ModelStructure, encode, model_data, topic_effects_on
from models.simulate import EPOCH
from models.topics import (
    GroupEvidence,
    describe,
    group_evidence,
    latest_mean_logodds,
    topic_terms_on,
)


def test_latest_mean_logodds_by_hand() -> None:
    # Question 0: forecaster 0 says 1.0 then 3.0 (latest 3.0), forecaster 1 says -1.0.
    # Question 1: none. Question 2: forecaster 1 says 2.0 then 0.5.
    q = np.array([0, 0, 0, 2, 2])
    e = np.array([0, 1, 0, 1, 1])
    m = np.array([1.0, -1.0, 3.0, 2.0, 0.5])
    got = latest_mean_logodds(q, e, m, 4)
    assert got[0] == pytest.approx((3.0 - 1.0) / 2)
    assert np.isnan(got[1]) and np.isnan(got[3])
    assert got[2] == pytest.approx(0.5)


def test_statistic_equals_the_closed_form_of_a_crowd_at_even_odds() -> None:
    # A crowd that says 50% everywhere leaves only the intercepts: the common fit's is the
    # logit of the overall rate, each group's the logit of its own rate, and the statistic
    # is 2 * (n H(overall rate) - sum_g n_g H(rate_g)), H the Bernoulli entropy.
    y = np.array([1] * 9 + [0] * 3 + [1] * 2 + [0] * 10 + [1] * 5 + [0] * 5)
    g = np.array([0] * 12 + [1] * 12 + [2] * 10)

    def entropy(r: float) -> float:
        return -(r * np.log(r) + (1 - r) * np.log(1 - r))

    expected = 2 * (
        len(y) * entropy(y.mean())
        - sum((g == k).sum() * entropy(y[g == k].mean()) for k in range(3))
    )
    test = group_evidence(np.zeros(len(y)), y, g)
    assert test.statistic == pytest.approx(expected, rel=1e-4)
    assert (test.groups, test.questions, test.df) == (3, 34, 4)
    # Large groups: the bootstrap's p-value near the chi-squared one (within its draws'
    # error, 499 draws: about 0.02 at 0.2).
    assert test.p_value == pytest.approx(float(chi2.sf(expected, 4)), abs=0.05)


def _crowd(rng: np.random.Generator, slopes: list[float], per_group: int):
    """Questions whose crowd says ``theta / slope_g``: outcomes follow ``slope_g`` x crowd."""
    x, y, g = [], [], []
    for k, slope in enumerate(slopes):
        theta = rng.normal(-0.5, 1.8, per_group)
        x.append(theta / slope)
        y.append((rng.random(per_group) < expit(theta)).astype(int))
        g.append(np.full(per_group, k))
    return np.concatenate(x), np.concatenate(y), np.concatenate(g)


def test_groups_that_differ_are_told_apart_from_alike_ones() -> None:
    rng = np.random.default_rng(0)
    # One crowd hedges (outcomes follow 2.5 x its log-odds), the other does not.
    differ = group_evidence(*_crowd(rng, [2.5, 1.0], 150))
    # No bootstrap draw reached its statistic: the smallest p-value there is, 1 / 500.
    assert differ.p_value == pytest.approx(1 / 500)
    # Alike groups: over 40 sets, p below 0.01 about as often as chance says (1%).
    p = [group_evidence(*_crowd(rng, [1.6] * 4, 60)).p_value for _ in range(40)]
    assert all(v is not None for v in p)
    assert sum(v < 0.01 for v in p if v is not None) <= 2
    assert np.median([v for v in p if v is not None]) > 0.2


def test_small_groups_are_not_mistaken_for_differing_ones() -> None:
    # 480 questions in 80 alike groups of 6: the chi-squared reference distribution would
    # find them different in a quarter of the sets; the bootstrap's p-value does not.
    rng = np.random.default_rng(3)
    as_chi2, as_tested = [], []
    for _ in range(40):
        x = rng.normal(-1.0, 2.0, 480)
        y = (rng.random(480) < expit(1.5 * x - 0.5)).astype(int)
        test = group_evidence(x, y, np.arange(480) % 80)
        assert test.df == 158 and test.p_value is not None
        as_chi2.append(chi2.sf(test.statistic, test.df))
        as_tested.append(test.p_value)
    assert sum(p < 0.01 for p in as_chi2) >= 5  # what the test is for (a property of the case)
    assert sum(p < 0.01 for p in as_tested) <= 1


def test_questions_without_forecasts_and_single_groups_are_not_tested() -> None:
    x = np.array([0.5, np.nan, -1.0, 2.0])
    y = np.array([1, 0, 0, 1])
    one = group_evidence(x, y, np.array([0, 1, 0, 0]))  # group 1's question has no forecast
    assert (one.groups, one.questions, one.df, one.p_value) == (1, 3, 0, None)


def test_the_switch_follows_the_threshold() -> None:
    weak = GroupEvidence(groups=3, questions=90, statistic=3.0, df=4, p_value=0.56)
    strong = GroupEvidence(groups=3, questions=90, statistic=40.0, df=4, p_value=4e-8)
    untested = GroupEvidence(groups=1, questions=30, statistic=0.0, df=0, p_value=None)
    assert topic_terms_on(strong.p_value, 0.01, groups=3)
    assert not topic_terms_on(weak.p_value, 0.01, groups=3)
    assert topic_terms_on(weak.p_value, None, groups=3)  # null: always on with several groups
    assert not topic_terms_on(untested.p_value, 0.01, groups=3)
    assert not topic_terms_on(strong.p_value, None, groups=1)  # one group: nothing to tell apart
    assert describe(True, {**strong.to_dict(), "threshold": 0.01}).startswith("on: the groups")
    off = describe(False, {**weak.to_dict(), "threshold": 0.01})
    assert off.startswith("off: no evidence") and "p = 0.5600" in off
    assert describe(False, {**untested.to_dict(), "threshold": 0.01}).startswith("off: fewer")
    assert "before the evidence test" in describe(None, None)
    # With no threshold, the terms are on wherever there are two groups, tested or not.
    assert describe(True, {**untested.to_dict(), "threshold": None}).startswith("on: always")


def _data(slopes: list[float], per_group: int, seed: int) -> ForecastData:
    """Three forecasters on each question; group ``g``'s crowd says ``theta / slope_g``."""
    rng = np.random.default_rng(seed)
    questions, forecasts, resolutions = [], [], []
    for k, slope in enumerate(slopes):
        for i in range(per_group):
            qid = f"g{k}q{i:03d}"
            theta = rng.normal(-0.5, 1.8)
            questions.append(Question(qid, group=f"g{k}"))
            for e in range(3):
                m = theta / slope + rng.normal(0.0, 0.5)
                forecasts.append(Forecast(qid, f"f{e}", EPOCH + timedelta(days=e), m))
            y = int(rng.random() < expit(theta))
            resolutions.append(Resolution(qid, y, EPOCH + timedelta(days=30)))
    return ForecastData(tuple(questions), tuple(forecasts), resolutions=tuple(resolutions))


@pytest.mark.parametrize(
    ("slopes", "threshold", "on"),
    [
        ([2.5, 1.0], 0.01, True),  # groups that differ
        ([1.6, 1.6, 1.6], 0.01, False),  # alike groups
        ([1.6, 1.6, 1.6], None, True),  # the gate turned off: the terms are on
        ([1.6], None, False),  # a single group never has them
    ],
)
def test_encoding_switches_the_topic_terms(slopes, threshold, on) -> None:
    data = _data(slopes, 120, seed=2)
    base = ModelConfig()
    config = base.model_copy(
        update={"forecaster": base.forecaster.model_copy(update={"topic_evidence_p": threshold})}
    )
    encoded = encode(data, ModelStructure.for_data(data))
    assert topic_effects_on(config, encoded) is on
    arrays = model_data(config, encoded)
    assert float(arrays["topic_effects"]) == float(on)
    assert encoded.group_evidence is not None
    assert encoded.group_evidence.questions == 120 * len(slopes)
