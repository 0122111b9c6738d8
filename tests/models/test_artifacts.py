"""Saved posteriors describe themselves; a mismatched one is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from models import artifacts
from models.config import ModelConfig, PublishCriteria
from models.dataset import Forecast
from models.exceptions import DifferentModelError
from models.forecast_model import ForecastModel
from models.simulate import EPOCH, realistic_forecasters, simulate


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(8)
    data, _ = simulate(
        rng,
        n_questions=10,
        n_forecasters=5,
        forecasts_per_question=4,
        n_resolved=6,
        **realistic_forecasters(rng, 5),
    )
    from models.config import SamplerSettings

    sampler = SamplerSettings(chains=2, tune=300, draws=300, seed=1, retries=0)
    return ForecastModel().fit(data, sampler=sampler)


def test_round_trip_predicts_the_same_numbers(fitted, tmp_path):
    path = artifacts.save(fitted, tmp_path / "fit.nc")
    back = artifacts.load(path, config=fitted.config, data=fitted.data)
    assert back.fit_id == fitted.fit_id and back.created_at == fitted.created_at
    assert back.diagnostics == fitted.diagnostics
    for a, b in zip(fitted.predict(), back.predict(), strict=True):
        assert a.probability == b.probability and a.interval == b.interval
    # The instant update works on a loaded posterior too.
    new = Forecast(fitted.question_ids[-1], "f0001", EPOCH, 1.0)
    assert back.with_forecast(new).predict()[-1].probability == pytest.approx(
        fitted.with_forecast(new).predict()[-1].probability
    )


def test_saved_file_is_self_describing_netcdf(fitted, tmp_path):
    path = artifacts.save(fitted, tmp_path / "fit.nc")
    tree = xr.open_datatree(path, engine="h5netcdf")
    attrs = tree.attrs
    assert attrs["model_type"] == "helsinki-hierarchical-forecast"
    assert attrs["data_hash"] == fitted.data.content_hash()
    assert json.loads(attrs["sampler"])["draws"] == 300
    assert attrs["model_hash"] == artifacts.model_hash(fitted.config, fitted.data)
    theta = tree["posterior"]["theta"]
    assert list(theta.coords["question"].values) == fitted.question_ids


def test_mismatched_artifacts_are_refused(fitted, tmp_path):
    path = artifacts.save(fitted, tmp_path / "fit.nc")
    other_data = fitted.data.with_records(forecasts=(Forecast("q00000", "x", EPOCH, 0.0),))
    with pytest.raises(DifferentModelError, match="different data"):
        artifacts.load(path, data=other_data)
    other_config = ModelConfig(publish=PublishCriteria(max_rhat=1.05))
    with pytest.raises(DifferentModelError, match="different model config"):
        artifacts.load(path, config=other_config)
    # A file from another model version.
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    tree.attrs["model_version"] = "0.0.1"
    old = tmp_path / "old.nc"
    tree.to_netcdf(old, engine="h5netcdf")
    with pytest.raises(DifferentModelError, match="model version"):
        artifacts.load(old)


def test_posteriors_saved_before_topics_load_with_neutral_topics(fitted):
    """A posterior saved before topic factors existed (docs/model.md, "Topics") has factor
    1 and shift 0 in every group: what the model then was."""
    from models.forecast_model import flatten_draws

    post = fitted.posterior["posterior"].to_dataset()
    old = xr.DataTree.from_dict({"posterior": post.drop_vars(["group_scale", "group_shift"])})
    draws = flatten_draws(old)
    assert draws["group_scale"].shape == draws["tau_phi"].shape
    assert np.all(draws["group_scale"] == 1.0) and np.all(draws["group_shift"] == 0.0)
    # A one-group fit has exactly those values, so its draws are unchanged.
    new = flatten_draws(fitted.posterior)
    assert np.array_equal(new["group_scale"], draws["group_scale"])
    assert np.array_equal(new["theta"], draws["theta"])
