"""What moves a question: each forecast and evidence item left out (Posterior.influence).

The agreement of a left-out input with a fit without it is checked beside the instant
updates' agreement with refits (tests/models/test_forecast_model.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.config import SamplerSettings
from models.dataset import Evidence, EvidenceEffect, Forecast, ForecastData, Question, Resolution
from models.exceptions import DataError
from models.forecast_model import ForecastModel, Posterior
from models.simulate import EPOCH

STATED = {"e0": 0.2, "e1": 0.25, "e2": 0.3, "e3": 0.2, "e4": 0.25, "high": 0.4, "low": 0.12}
# Enough draws that the pull of a forecast left out is known to a few thousandths.
SAMPLER = SamplerSettings(chains=4, tune=1000, draws=3000, seed=1, retries=0)


def _data(drop: str | None = None) -> ForecastData:
    """Seven forecasters on an open question (in the order of STATED, an hour apart), the
    same on a resolved one and on another open one; ``drop``'s forecast on "open" left out."""
    forecasts = []
    for i, (who, p) in enumerate(STATED.items()):
        if who != drop:
            forecasts.append(Forecast.from_probability("open", who, p, EPOCH + timedelta(hours=i)))
        forecasts.append(Forecast.from_probability("closed", who, 0.3, EPOCH))
        forecasts.append(Forecast.from_probability("other", who, 0.4, EPOCH))
    return ForecastData(
        (Question("open"), Question("closed"), Question("other")),
        tuple(forecasts),
        resolutions=(Resolution("closed", 0, EPOCH + timedelta(days=1)),),
    )


@pytest.fixture(scope="module")
def fitted() -> Posterior:
    return ForecastModel().fit(_data(), sampler=SAMPLER)


def _evidence(evidence_id: str, question_id: str, ratio: float) -> Evidence:
    when = EPOCH + timedelta(days=2)  # after every forecast: an exact shift
    return Evidence(evidence_id, when, "verified-report", (EvidenceEffect(question_id, ratio),))


@pytest.mark.slow
def test_a_forecast_left_out_gives_what_a_fit_without_it_gives(fitted):
    influence = fitted.influence("open")
    assert abs(influence.probability - fitted.predict(["open"])[0].probability) < 0.005
    assert len(influence.inputs) == len(STATED) and influence.forecasts_not_shown == 0
    # These forecasts carry no ids: each is named by its place among the question's.
    pulls = {x.id: x for x in influence.inputs}
    mine = [f for f in fitted.data.forecasts if f.question_id == "open"]
    pull_of = {f.forecaster_id: pulls[f"forecast {i}"] for i, f in enumerate(mine)}
    for x in influence.inputs:
        assert x.probability_without == pytest.approx(influence.probability - x.influence)
    # "low" stands furthest from the others: the largest pull, and down.
    assert influence.inputs[0] is pull_of["low"] and pull_of["low"].influence < -0.015
    sizes = [abs(x.influence) for x in influence.inputs]
    assert sizes == sorted(sizes, reverse=True)
    # Against fits without them: the pull is the refit's difference. (Both carry Monte Carlo
    # error, and a fresh compile cache draws other numbers: at 2,000 draws a chain, over
    # sampler seeds 1-3, they differed by up to 0.006, against pulls of -0.019 to -0.026
    # for "low"; docs/model.md, "What moves a forecast". 3,000 draws a chain, and a margin.)
    served = fitted.predict(["open"])[0].probability
    for who in ("low", "e2"):
        refit = ForecastModel().fit(_data(drop=who), sampler=SAMPLER)
        assert pull_of[who].khat is not None and pull_of[who].khat < 0.7
        refit_pull = served - refit.predict(["open"])[0].probability
        assert pull_of[who].influence == pytest.approx(refit_pull, abs=0.012)
    # The group's prior: wide, where no forecaster is.
    lo, hi = influence.group_prior_interval
    assert lo < influence.group_prior < hi and hi - lo > 0.3


@pytest.mark.slow
def test_evidence_is_weighed_and_a_neutral_item_pulls_nothing(fitted):
    updated = fitted
    for item in (
        _evidence("for", "open", 4.0),
        _evidence("neutral", "open", 1.0),
        _evidence("elsewhere", "other", 4.0),
    ):
        updated = updated.with_evidence(item)
    influence = updated.influence("open")
    pulls = {x.id: x for x in influence.inputs}
    assert "elsewhere" not in pulls
    assert pulls["neutral"].influence == 0.0 and pulls["neutral"].khat is None
    # Evidence after every forecast only shifts the log-odds: left out, exactly undone.
    assert pulls["for"].influence > 0.05 and pulls["for"].khat is None
    before = fitted.influence("open").probability
    assert abs(pulls["for"].probability_without - before) < 0.01


@pytest.mark.slow
def test_only_the_newest_forecasts_are_left_out_and_resolved_questions_are_refused(fitted):
    influence = fitted.influence("open", max_forecasts=2)
    assert len(influence.inputs) == 2 and influence.forecasts_not_shown == len(STATED) - 2
    # The two newest: "high" and "low" were stated last.
    assert {x.id for x in influence.inputs} == {
        f"forecast {len(STATED) - 2}",
        f"forecast {len(STATED) - 1}",
    }
    with pytest.raises(DataError, match="resolved"):
        fitted.influence("closed")
    with pytest.raises(DataError, match="unknown question"):
        fitted.influence("nowhere")
