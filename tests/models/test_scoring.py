"""Scores against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models import scoring
from models.exceptions import DataError


def test_brier_by_hand() -> None:
    # (0.9-1)^2 + (0.2-0)^2 + (0.5-1)^2 = 0.01 + 0.04 + 0.25 = 0.30; / 3 = 0.10
    assert scoring.brier([0.9, 0.2, 0.5], [1, 0, 1]) == pytest.approx(0.10, abs=1e-12)


def test_brier_extremes() -> None:
    assert scoring.brier([1.0, 0.0], [1, 0]) == 0.0
    assert scoring.brier([0.5, 0.5], [1, 0]) == 0.25
    assert scoring.brier([0.0, 1.0], [1, 0]) == 1.0


def test_log_score_by_hand() -> None:
    # -(ln 0.8 + ln(1 - 0.4)) / 2 = (0.2231436 + 0.5108256) / 2 = 0.3669846
    assert scoring.log_score([0.8, 0.4], [1, 0]) == pytest.approx(0.3669846, abs=1e-7)
    # Always 0.5: ln 2.
    assert scoring.log_score([0.5, 0.5, 0.5], [1, 0, 1]) == pytest.approx(math.log(2))


def test_log_score_clips_confident_misses() -> None:
    # p = 1 on a no and p = 0 on a yes are clipped to 1 - 1e-4 and 1e-4: each costs -ln(1e-4).
    assert scoring.log_score([1.0, 0.0], [0, 1]) == pytest.approx(-math.log(1e-4))
    assert scoring.log_score([1.0, 0.0], [0, 1], eps=0.01) == pytest.approx(-math.log(0.01))
    # A confident hit costs -ln(1 - 1e-4) ~ 1e-4, not 0.
    assert scoring.log_score([1.0], [1]) == pytest.approx(-math.log1p(-1e-4))


def test_expected_calibration_error_by_hand() -> None:
    p = [0.1, 0.15, 0.8, 0.85, 0.9]
    y = [0, 1, 1, 1, 0]
    # bin [0.1, 0.2): mean p 0.125, freq 0.5, gap 0.375, n 2
    # bin [0.8, 0.9): mean p 0.825, freq 1.0, gap 0.175, n 2
    # bin [0.9, 1.0]: mean p 0.9,   freq 0.0, gap 0.9,   n 1
    # ECE = (2 * 0.375 + 2 * 0.175 + 1 * 0.9) / 5 = 2.0 / 5 = 0.4
    assert scoring.expected_calibration_error(p, y) == pytest.approx(0.4)
    # With 2 bins: [0, 0.5) holds 0.1, 0.15 (gap 0.375); [0.5, 1] holds 0.8, 0.85, 0.9
    # (mean 0.85, freq 2/3, gap 0.18333); ECE = (2 * 0.375 + 3 * 0.183333) / 5 = 0.26
    assert scoring.expected_calibration_error(p, y, bins=2) == pytest.approx(0.26)


def test_perfectly_calibrated_bins_have_zero_error() -> None:
    # Bin [0.2, 0.3): five forecasts of 0.2, one yes -> frequency 0.2 = mean forecast.
    assert scoring.expected_calibration_error([0.2] * 5, [1, 0, 0, 0, 0]) == 0.0


def test_reliability_table_by_hand() -> None:
    table = scoring.reliability_table([0.1, 0.15, 0.8, 0.85, 0.9, 1.0], [0, 1, 1, 1, 0, 1])
    assert table.edges == pytest.approx(np.linspace(0, 1, 11))
    # 1.0 lands in the last bin, with 0.9.
    assert table.count.tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 2, 2]
    assert table.mean_forecast[1] == pytest.approx(0.125)
    assert table.observed_frequency[1] == pytest.approx(0.5)
    assert table.mean_forecast[9] == pytest.approx(0.95)
    assert table.observed_frequency[9] == pytest.approx(0.5)
    assert np.isnan(table.mean_forecast[0]) and np.isnan(table.observed_frequency[0])


def test_forecast_on_a_bin_edge_goes_to_the_upper_bin() -> None:
    # 0.3 * 10 is 2.9999999999999996 in floating point; it belongs in [0.3, 0.4).
    table = scoring.reliability_table([0.3, 0.7], [0, 1])
    assert table.count[3] == 1 and table.count[7] == 1


def test_sharpness_by_hand() -> None:
    # |2p - 1| = 0, 1, 0.6, 0.8 -> mean 0.6
    assert scoring.sharpness([0.5, 1.0, 0.2, 0.9]) == pytest.approx(0.6)
    assert scoring.sharpness([0.5, 0.5]) == 0.0
    assert scoring.sharpness([0.0, 1.0]) == 1.0


def test_score_all_combines_the_scores() -> None:
    p, y = [0.9, 0.2, 0.5], [1, 0, 1]
    scores = scoring.score_all(p, y)
    assert set(scores) == {"brier", "log_score", "ece", "sharpness", "n"}
    assert scores["n"] == 3
    assert scores["brier"] == pytest.approx(0.10)
    # -(ln 0.9 + ln 0.8 + ln 0.5) / 3 = (0.1053605 + 0.2231436 + 0.6931472) / 3 = 0.3405504
    assert scores["log_score"] == pytest.approx(0.3405504, abs=1e-7)
    # bins 9, 2, 5 each hold one forecast: gaps 0.1, 0.2, 0.5 -> ECE 0.8 / 3
    assert scores["ece"] == pytest.approx(0.8 / 3)
    # |2p - 1| = 0.8, 0.6, 0 -> 1.4 / 3
    assert scores["sharpness"] == pytest.approx(1.4 / 3)


@pytest.mark.parametrize(
    ("p", "y"),
    [
        ([0.5, 1.2], [1, 0]),  # probability above 1
        ([0.5, -0.1], [1, 0]),  # below 0
        ([0.5, math.nan], [1, 0]),  # not a number
        ([0.5, 0.5], [1, 0.5]),  # outcome not 0/1
        ([0.5, 0.5], [1, math.nan]),  # unresolved question left in
        ([0.5, 0.5], [1]),  # lengths differ
        ([], []),  # nothing to score
    ],
)
def test_bad_inputs_are_refused(p: list[float], y: list[float]) -> None:
    with pytest.raises(DataError):
        scoring.score_all(p, y)


def test_ece_rows_match_the_ece_of_each_row() -> None:
    rng = np.random.default_rng(3)
    p = rng.random((7, 40))
    y = (rng.random((7, 40)) < 0.4).astype(float)
    rows = scoring._ece_rows(p, y, 10)
    expected = [scoring.expected_calibration_error(p[i], y[i]) for i in range(7)]
    assert rows == pytest.approx(expected, abs=1e-12)


def test_calibration_check_by_hand() -> None:
    # 0.2 and 0.8 sit in different bins, so ECE = mean |p - y|; a calibrated forecaster's
    # expected |p - y| is 2 p (1 - p) = 0.32 for both.
    # Simulated outcomes (0, 1), (0, 0), (1, 1), (1, 0) give ECE 0.2, 0.5, 0.5, 0.8 with
    # chances 0.64, 0.16, 0.16, 0.04.
    hit = scoring.calibration_check([0.2, 0.8], [0, 1], resamples=8000, seed=1)
    assert hit.ece == pytest.approx(0.2)
    assert hit.expected_ece == pytest.approx(0.32, abs=0.01)
    assert hit.p_value == 1.0  # the smallest ECE possible
    # Both wrong: only the (1, 0) simulation is as bad.
    miss = scoring.calibration_check([0.2, 0.8], [1, 0], resamples=8000, seed=1)
    assert miss.ece == pytest.approx(0.8)
    assert miss.p_value == pytest.approx(0.04, abs=0.008)


def test_calibration_check_of_certain_forecasts() -> None:
    # Forecasts of 0 and 1 that came true: every simulation reproduces them, ECE 0 always.
    check = scoring.calibration_check([1.0, 0.0, 1.0], [1, 0, 1], resamples=50)
    assert check.ece == 0.0 and check.expected_ece == 0.0
    assert check.p_value == 1.0


def test_calibration_check_tells_chance_from_miscalibration() -> None:
    rng = np.random.default_rng(11)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(float)
    calibrated = scoring.calibration_check(p, y, seed=2)
    assert calibrated.p_value > 0.05
    assert calibrated.ece == pytest.approx(calibrated.expected_ece, abs=0.03)
    # Shrunk halfway to 0.5: under-confident, and far beyond chance with 400 questions.
    timid = scoring.calibration_check(0.5 + 0.5 * (p - 0.5), y, seed=2)
    assert timid.p_value < 0.01
    assert timid.ece > 3 * timid.expected_ece
    # A pure function of inputs and seed.
    assert scoring.calibration_check(p, y, seed=2) == calibrated


def test_paired_bootstrap_differences_by_hand() -> None:
    a, b, y = [0.9, 0.2, 0.6], [0.5, 0.5, 0.5], [1, 0, 1]
    diffs = scoring.paired_bootstrap(a, b, y, resamples=500)
    # Brier: A (0.01 + 0.04 + 0.16) / 3 = 0.07, B 0.25
    assert diffs["brier"].difference == pytest.approx(0.07 - 0.25)
    # log: A -(ln 0.9 + ln 0.8 + ln 0.6) / 3, B ln 2
    log_a = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert diffs["log_score"].difference == pytest.approx(log_a - math.log(2))
    # ECE: A's three bins give (0.1 + 0.2 + 0.4) / 3; B's single bin |0.5 - 2/3|.
    assert diffs["ece"].difference == pytest.approx(0.7 / 3 - 1 / 6)
    # A is better on every question, so on every resample.
    assert diffs["brier"].share_a_better == 1.0 and diffs["brier"].high < 0


def test_paired_bootstrap_of_one_question_has_no_spread() -> None:
    diffs = scoring.paired_bootstrap([0.7], [0.4], [1], resamples=100)
    d = diffs["brier"]
    assert d.low == pytest.approx(d.difference) and d.high == pytest.approx(d.difference)
    assert d.difference == pytest.approx(0.09 - 0.36)


def test_paired_bootstrap_interval_covers_noise_and_excludes_a_real_gap() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(float)
    # Two equally good forecasters (each off by independent noise): zero inside the interval.
    noisy_a = np.clip(p + rng.normal(0, 0.05, 300), 0, 1)
    noisy_b = np.clip(p + rng.normal(0, 0.05, 300), 0, 1)
    same = scoring.paired_bootstrap(noisy_a, noisy_b, y, seed=4)["brier"]
    assert same.low < 0 < same.high
    # The truth against a constant 0.5: clearly better.
    better = scoring.paired_bootstrap(p, np.full(300, 0.5), y, seed=4)
    assert better["brier"].high < 0 and better["log_score"].high < 0
    assert better["brier"].share_a_better > 0.99


@pytest.mark.parametrize(
    "kwargs", [{"resamples": 0}, {"level": 1.0}, {"level": 0.0}, {"resamples": 2.5}]
)
def test_paired_bootstrap_refuses_bad_settings(kwargs: dict) -> None:
    with pytest.raises(DataError):
        scoring.paired_bootstrap([0.5], [0.4], [1], **kwargs)
