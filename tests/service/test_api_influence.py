"""GET /v1/questions/{id}/forecast/influence: what moves a forecast, through the real app."""

from __future__ import annotations

import pytest

from models.forecast_model import InputInfluence, QuestionInfluence
from tests.service.conftest import post_evidence

Q = "truce-by-2027"


def test_every_input_is_listed_with_its_pull(live_client, keys):
    talks = post_evidence(live_client, keys, 4.0, "Talks announced")
    neutral = post_evidence(live_client, keys, 1.0, "A statement of nothing")
    post_evidence(live_client, keys, 4.0, "Summit planned", question_id="summit-by-2027")

    r = live_client.get(f"/v1/questions/{Q}/forecast/influence")
    assert r.status_code == 200, r.text
    body = r.json()
    served = live_client.get(f"/v1/questions/{Q}/forecast").json()
    assert body["served"] == served and body["group"] == "settlement"
    # The same draws, the question's redrawn given its forecast: Monte Carlo apart (the
    # test fit has 400 draws).
    assert abs(body["probability"] - served["probability"]) < 0.04
    inputs = {i["id"]: i for i in body["inputs"]}
    assert set(inputs) == {talks, neutral, "tester:0"}  # not the summit's evidence
    # Evidence observed after every forecast on the question: left out exactly.
    assert inputs[talks]["influence"] > 0.05 and inputs[talks]["khat"] is None
    assert inputs[talks]["label"] == "Talks announced" and inputs[talks]["likelihood_ratio"] == 4
    assert inputs[neutral]["influence"] == 0.0 and inputs[neutral]["reliable"] is True
    tester = inputs["tester:0"]
    assert tester["type"] == "elicitation" and tester["label"] == "tester"
    assert tester["median"] == pytest.approx(0.2, abs=1e-6)  # its stated probability
    for item in body["inputs"]:
        if item["reliable"]:
            assert item["probability_without"] == pytest.approx(
                body["probability"] - item["influence"]
            )
    assert body["inputs"][0]["id"] == talks  # the largest pull first
    lo, hi = body["group_prior"]["interval"]
    assert (
        lo < body["group_prior"]["probability"] < hi and body["group_prior"]["interval_prob"] == 0.9
    )
    assert body["elicitations_not_shown"] == 0


def test_it_is_computed_once_per_state_and_revalidates(live_client, keys):
    cache = live_client.app.state.influence
    url = f"/v1/questions/{Q}/forecast/influence"
    first = live_client.get(url)
    computed = cache.computed
    again = live_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and cache.computed == computed
    post_evidence(live_client, keys, 4.0, "Talks announced")
    after = live_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200 and cache.computed == computed + 1
    assert len(after.json()["inputs"]) == len(first.json()["inputs"]) + 1


def test_before_any_fit_it_is_a_503(client):
    r = client.get(f"/v1/questions/{Q}/forecast/influence")
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem")


def test_it_is_refused_where_nothing_can_move_the_forecast(live_client, keys):
    r = live_client.get("/v1/questions/no-such-question/forecast/influence")
    assert r.status_code == 404
    new = {"id": "talks-by-2027", "title": "Talks by 2027?", "group": "settlement"}
    assert live_client.post("/v1/questions", json=new, headers=keys.auth("admin")).is_success
    assert live_client.get("/v1/questions/talks-by-2027/forecast/influence").status_code == 503
    resolved = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 1, "resolved_at": "2026-07-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    assert resolved.status_code == 200, resolved.text
    r = live_client.get(f"/v1/questions/{Q}/forecast/influence")
    assert r.status_code == 409 and "outcome" in r.json()["detail"]


def test_a_pull_the_draws_cannot_tell_is_shown_without_numbers_and_last(live_client):
    """k-hat above 0.7: the number would be the reweighting's, not the model's."""
    from service.domain.influence import _Computed, _inputs

    posterior = live_client.app.state.live.current
    forecast = next(f for f in posterior.data.forecasts if f.question_id == Q)
    fake = QuestionInfluence(
        question_id=Q,
        probability=0.3,
        group_prior=0.2,
        group_prior_interval=(0.01, 0.6),
        inputs=[
            InputInfluence("forecast", forecast.id or "", 0.1, 0.2, 0.95, forecast),
            InputInfluence("forecast", forecast.id or "", 0.29, 0.01, 0.2, forecast),
        ],
    )
    from datetime import UTC, datetime

    shown = _inputs(_Computed(fake, datetime.now(UTC)), Q)
    assert [(i.reliable, i.influence, i.probability_without) for i in shown] == [
        (True, 0.01, 0.29),
        (False, None, None),
    ]
    assert shown[1].khat == 0.95
