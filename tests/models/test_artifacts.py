"""Saved posteriors describe themselves; a mismatched one is refused."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
import xarray as xr

from models import artifacts
from models.config import ModelConfig, PublishCriteria
from models.dataset import Forecast, Question
from models.exceptions import DifferentModelError
from models.forecast_model import ForecastModel
from models.simulate import EPOCH, realistic_forecasters, simulate

UNASKED = "q-unasked"


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

    # And one question nobody has forecast yet: it rests on the prior.
    data = data.with_records(questions=(Question(UNASKED, group=data.questions[0].group),))
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


def test_each_question_is_served_as_of_its_newest_forecast(fitted, tmp_path):
    newest: dict = {}
    for f in fitted.data.forecasts:
        newest[f.question_id] = max(newest.get(f.question_id, f.created_at), f.created_at)
    served = {f.question_id: f.as_of for f in fitted.predict()}
    assert served == {q: newest.get(q) for q in fitted.question_ids}
    assert served[UNASKED] is None and len(newest) == len(served) - 1
    assert fitted.predict([UNASKED])[0].to_dict()["as_of"] is None
    # A past time: the current posterior with the evidence up to then, read at the same time.
    assert {f.question_id: f.as_of for f in fitted.predict(at=EPOCH)} == served
    back = artifacts.load(artifacts.save(fitted, tmp_path / "fit.nc"))
    assert {f.question_id: f.as_of for f in back.predict()} == served
    # A later forecast moves its question's time to its own; an older one does not.
    q, other = fitted.question_ids[0], fitted.question_ids[1]
    later = Forecast(q, "f0001", newest[q] + timedelta(days=3), 0.5)
    upd = fitted.with_forecast(later)
    assert {f.question_id: f.as_of for f in upd.predict()} == {**served, q: later.created_at}
    older = Forecast(other, "f0001", newest[other] - timedelta(days=1), 0.5)
    assert upd.with_forecast(older).predict([other])[0].as_of == newest[other]
    first = Forecast(UNASKED, "f0002", EPOCH + timedelta(days=400), 0.0)
    (after,) = fitted.with_forecast(first).predict([UNASKED])
    assert after.as_of == first.created_at
    assert after.to_dict()["as_of"] == first.created_at.isoformat()
    # The posterior updated from is unchanged.
    assert {f.question_id: f.as_of for f in fitted.predict()} == served


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
