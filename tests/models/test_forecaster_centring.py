"""Which forecasters sample their bias and noise centred (docs/model.md, "Parametrisation" 4).

Centring pays where a forecaster's forecasts outweigh the population prior. Forecasters
alike in bias and noise make that prior tight however many forecasts each has, and centred
they funnel: forecastbench's sources manifold, metaculus, polymarket and infer (914
forecasts) diverged in every first attempt with their three forecasters of 50 or more
forecasts centred, and in none non-centred.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.forecast_model import (
    CENTRE_FORECASTER_AT,
    ModelStructure,
    between_variance,
    encode,
    forecasters_to_centre,
)
from models.history import read_forecasts_csv, to_forecast_data
from models.simulate import simulate


def test_between_variance_by_hand():
    # Two estimates 0 and d with one sampling variance v: weights 1/v, Cochran's
    # Q = d^2 / (2 v), denominator 2/v - 1/v = 1/v, so D = (Q - 1) v = d^2 / 2 - v.
    assert between_variance(np.array([0.0, 1.0]), np.array([0.1, 0.1])) == pytest.approx(0.4)
    assert between_variance(np.array([0.0, 0.3]), np.array([0.1, 0.1])) == 0.0  # 0.045 - 0.1
    # Three estimates, unequal variances 0.1, 0.1, 0.2: weights 10, 10, 5 (sum 25, squares
    # 225); mean (0 + 10 + 10) / 25 = 0.8; Q = 10 * 0.64 + 10 * 0.04 + 5 * 1.44 = 14;
    # D = (14 - 2) / (25 - 9) = 0.75.
    y, v = np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.1, 0.2])
    assert between_variance(y, v) == pytest.approx(0.75)


def _crossed(bias: np.ndarray, noise: np.ndarray, n_questions: int, seed: int) -> np.ndarray:
    """The centring mask of forecasters who each forecast every one of ``n_questions``."""
    rng = np.random.default_rng(seed)
    data, _ = simulate(
        rng,
        n_questions=n_questions,
        n_forecasters=len(bias),
        forecasts_per_question=len(bias),
        n_resolved=n_questions // 2,
        alpha=np.ones(len(bias)),
        beta=bias,
        sigma=noise,
    )
    arrays = encode(data, ModelStructure.for_data(data)).arrays
    return arrays["forecaster_centred"][: len(data.forecaster_ids)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alike_forecasters_are_not_centred_however_many_forecasts(seed):
    alike = _crossed(np.zeros(5), np.ones(5), 200, seed)
    assert alike.sum() == 0
    assert _crossed(np.zeros(12), np.ones(12), 200, seed).sum() == 0  # enough, but alike
    # Forecasters that differ in bias and noise, on the same 200 questions: all centred.
    differ = _crossed(np.linspace(-1.0, 1.0, 5), np.linspace(0.4, 1.6, 5), 200, seed)
    assert list(differ) == [1.0] * 5
    # The same forecasters with fewer forecasts each than CENTRE_FORECASTER_AT: none.
    few = _crossed(
        np.linspace(-1.0, 1.0, 5), np.linspace(0.4, 1.6, 5), CENTRE_FORECASTER_AT - 1, seed
    )
    assert few.sum() == 0


def test_forecasters_who_share_no_question_are_not_centred():
    # Two forecasters with 100 forecasts each on questions of their own: nothing compares
    # them, so nothing shows that their data outweigh the prior.
    obs_q = np.arange(200)
    obs_e = np.repeat([0, 1], 100)
    obs_m = np.where(obs_e == 0, -1.0, 1.0) + np.random.default_rng(0).standard_normal(200)
    assert forecasters_to_centre(obs_q, obs_e, obs_m, 2).sum() == 0


def _mask_of_csv(path, groups: set[str] | None = None) -> tuple[int, int]:
    table = read_forecasts_csv(path).of_groups(groups).latest_per_forecaster()
    data = to_forecast_data(table, eps=0.01)
    arrays = encode(data, ModelStructure.for_data(data)).arrays
    counts = np.bincount(arrays["obs_forecaster"], minlength=len(data.forecaster_ids))
    return int((counts >= CENTRE_FORECASTER_AT).sum()), int(arrays["forecaster_centred"].sum())


def test_on_forecastbench_forecasters_alike_are_not_centred(shared_data, monkeypatch):
    import models.forecast_model as forecast_model

    csv = shared_data / "forecastbench-supers-2024-07-21.csv"
    four_sources = {"manifold", "metaculus", "polymarket", "infer"}
    # The whole set: 37 forecasters with 50 forecasts or more, who differ: all centred.
    assert _mask_of_csv(csv) == (37, 37)
    # Four of its sources: three with 50 or more, too few to centre among 40.
    assert _mask_of_csv(csv, four_sources) == (3, 0)
    # Nor would they be centred were three enough: the supers' biases there do not differ
    # beyond chance (the between-forecaster variance is estimated at 0).
    monkeypatch.setattr(forecast_model, "MIN_CENTRED_FORECASTERS", 1)
    assert _mask_of_csv(csv, four_sources) == (3, 0)


def _thinned(shared_data, k: int):  # type: ignore[no-untyped-def]
    """Forecastbench with at most ``k`` forecasters a question (drawn at seed 0, as
    benchmarks/backtest_shapes.py draws them)."""
    table = read_forecasts_csv(shared_data / "forecastbench-supers-2024-07-21.csv")
    return to_forecast_data(table.at_most_per_question(k, seed=0), eps=0.01)


def test_a_few_forecasters_of_many_forecasts_are_not_centred_on_forecastbench_thinned(
    shared_data, monkeypatch
):
    """Thinned to two forecasters a question, four forecasters keep 50 forecasts or more:
    centred, every first attempt diverged (4 of 4 sampler seeds, 2 to 17 divergent
    transitions), non-centred none did. Thinned to four, 14 keep 50 or more: centred, none
    of 7 first attempts diverged."""
    import models.forecast_model as forecast_model

    two, four = _thinned(shared_data, 2), _thinned(shared_data, 4)

    def centred(data) -> int:  # type: ignore[no-untyped-def]
        return int(encode(data, ModelStructure.for_data(data)).arrays["forecaster_centred"].sum())

    assert (centred(two), centred(four)) == (0, 14)
    monkeypatch.setattr(forecast_model, "MIN_CENTRED_FORECASTERS", 1)
    assert (centred(two), centred(four)) == (4, 14)


def test_a_few_of_many_forecasts_among_many_are_not_centred_unless_they_are_all():
    rng = np.random.default_rng(1)

    def mask(n_many: int, n_light: int) -> np.ndarray:
        obs_q, obs_e, obs_m = [], [], []
        bias, noise = np.linspace(-1.0, 1.0, n_many), np.linspace(0.3, 1.2, n_many)
        for e in range(n_many):  # 200 forecasts each, biases and noise far apart
            obs_q += list(range(200))
            obs_e += [e] * 200
            obs_m += list(bias[e] + noise[e] * rng.standard_normal(200))
        for e in range(n_many, n_many + n_light):  # 10 forecasts each
            qs = rng.choice(200, size=10, replace=False)
            obs_q += list(qs)
            obs_e += [e] * 10
            obs_m += list(rng.normal(0.0, 1.0, 10))
        n = n_many + n_light
        return forecasters_to_centre(np.array(obs_q), np.array(obs_e), np.array(obs_m), n)

    assert mask(6, 0).sum() == 6  # every forecaster has many: centred, however few
    assert mask(6, 30).sum() == 0  # six of 36: none
    assert list(np.flatnonzero(mask(12, 30))) == list(range(12))  # twelve: those twelve
