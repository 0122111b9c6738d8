"""Previews: what a post of evidence or of an elicitation would do, and that nothing is written."""

from __future__ import annotations

import pytest

from tests.service.test_api_writes import EVIDENCE, _database, _problem

Q = "truce-by-2027"
SUMMIT = "summit-by-2027"
TWO_EFFECTS = {
    **EVIDENCE,
    "effects": [
        {"question_id": Q, "strength": "moderately-for"},
        {"question_id": SUMMIT, "likelihood_ratio": 0.5},
    ],
}
EVIDENCE_PREVIEW = "/v1/evidence/preview"
ELICITATION_PREVIEW = f"/v1/questions/{Q}/elicitations/preview"


def _served(client, question_id: str) -> dict:  # type: ignore[no-untyped-def]
    r = client.get(f"/v1/questions/{question_id}/forecast")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _unchanged(client, before) -> None:  # type: ignore[no-untyped-def]
    tables, posterior = _database(client)
    assert tables == before[0], "a preview wrote to the database"
    assert posterior is before[1], "a preview changed the live posterior"


def test_an_evidence_preview_is_what_the_post_serves_and_writes_nothing(live_client, keys):
    served = {q: _served(live_client, q) for q in (Q, SUMMIT)}
    before = _database(live_client)

    r = live_client.post(EVIDENCE_PREVIEW, json=TWO_EFFECTS, headers=keys.auth("forecaster"))
    assert r.status_code == 200, r.text
    _unchanged(live_client, before)
    preview = r.json()
    assert preview["not_in_fit"] == []
    got = {f["question_id"]: f for f in preview["forecasts"]}
    assert list(got) == [Q, SUMMIT]  # in the order of the effects
    for q, f in got.items():
        assert f["served"] == served[q]
        assert f["change"] == pytest.approx(f["probability"] - served[q]["probability"], abs=1e-12)
        assert f["tier"] == "instant" and f["fit_id"] == served[q]["fit_id"]
        assert f["interval"][0] < f["probability"] < f["interval"][1]
    # A ratio of 3 for the truce, of 0.5 for the summit: they move apart.
    assert got[Q]["change"] > 0.01 and got[SUMMIT]["change"] < -0.01

    posted = live_client.post("/v1/evidence", json=TWO_EFFECTS, headers=keys.auth("forecaster"))
    assert posted.status_code == 201, posted.text
    after = {f["question_id"]: f for f in posted.json()["forecasts"]}
    for q in (Q, SUMMIT):
        for field in ("probability", "median", "khat", "needs_refit", "as_of", "fit_id"):
            assert after[q][field] == got[q][field], (q, field)
        assert after[q]["interval"] == got[q]["interval"]
    assert posted.json()["needs_refit"] == preview["needs_refit"]


def test_an_evidence_preview_takes_the_evidence_already_posted_into_account(live_client, keys):
    """The preview starts from the live posterior, not from the published fit."""
    one = {**EVIDENCE, "effects": [{"question_id": Q, "likelihood_ratio": 4.0}]}
    first = live_client.post(EVIDENCE_PREVIEW, json=one, headers=keys.auth("forecaster")).json()
    assert live_client.post("/v1/evidence", json=one, headers=keys.auth("forecaster")).is_success
    second = live_client.post(EVIDENCE_PREVIEW, json=one, headers=keys.auth("forecaster")).json()
    (f1,), (f2,) = first["forecasts"], second["forecasts"]
    assert f2["served"]["probability"] == pytest.approx(f1["probability"], abs=1e-12)
    assert f2["probability"] > f1["probability"] + 0.01


def test_an_elicitation_preview_is_what_the_post_serves_and_writes_nothing(live_client, keys):
    body = {"quantiles": {"0.1": 0.6, "0.5": 0.8, "0.9": 0.92}}
    served = _served(live_client, Q)
    before = _database(live_client)

    r = live_client.post(ELICITATION_PREVIEW, json=body, headers=keys.auth("forecaster"))
    assert r.status_code == 200, r.text
    _unchanged(live_client, before)
    preview = r.json()
    assert preview["question_id"] == Q and preview["forecaster_id"] == "fred"
    f = preview["forecast"]
    assert f["served"] == served
    assert f["change"] == pytest.approx(f["probability"] - served["probability"], abs=1e-12)
    assert f["change"] > 0.01  # a forecaster far above the forecast pulls it up

    posted = live_client.post(
        f"/v1/questions/{Q}/elicitations", json=body, headers=keys.auth("forecaster")
    )
    assert posted.status_code == 201, posted.text
    out = posted.json()
    assert out["fitted"] == preview["fitted"]
    assert out["needs_refit"] == preview["needs_refit"]
    # The post is made a moment later than the preview: the question's walk over those
    # milliseconds is all that may differ.
    assert out["forecast"]["probability"] == pytest.approx(f["probability"], abs=1e-4)
    assert out["forecast"]["interval"] == pytest.approx(f["interval"], abs=1e-4)
    assert out["forecast"]["as_of"] >= f["as_of"] > served["as_of"]


def test_an_elicitation_preview_reads_the_forecaster_of_the_key(live_client, keys):
    """The fit knows the catalog's one forecaster (tester), not fred: fred's statement would
    switch on the forecasters' deviations (a refit), tester's is absorbed at once."""
    from service.serving import create_key

    tester = {
        "Authorization": f"Bearer {create_key(live_client.app.state.settings, 'forecaster', 'tester')}"
    }
    body = {"probability": 0.85}
    url = f"/v1/questions/{SUMMIT}/elicitations"
    as_fred = live_client.post(url + "/preview", json=body, headers=keys.auth("forecaster")).json()
    as_tester = live_client.post(url + "/preview", json=body, headers=tester).json()
    assert (as_fred["forecaster_id"], as_fred["needs_refit"]) == ("fred", True)
    assert (as_tester["forecaster_id"], as_tester["needs_refit"]) == ("tester", False)
    assert as_tester["forecast"]["khat"] < 0.7 and as_tester["forecast"]["change"] > 0.01

    posted = live_client.post(url, json=body, headers=tester)
    assert posted.status_code == 201, posted.text
    assert posted.json()["needs_refit"] is False
    assert posted.json()["forecast"]["probability"] == pytest.approx(
        as_tester["forecast"]["probability"], abs=1e-4
    )


@pytest.mark.parametrize(
    "path,body",
    [(EVIDENCE_PREVIEW, TWO_EFFECTS), (ELICITATION_PREVIEW, {"probability": 0.3})],
    ids=["evidence", "elicitation"],
)
def test_a_preview_needs_a_forecaster_key_and_refuses_what_the_post_refuses(
    live_client, keys, path, body
):
    before = _database(live_client)
    assert live_client.post(path, json=body).status_code == 401
    r = live_client.post(path, json=body, headers=keys.auth("reader"))
    assert "forecaster" in _problem(r, 403)["detail"]
    if path == EVIDENCE_PREVIEW:
        missing = {**body, "effects": [{"question_id": "no-such-thing", "likelihood_ratio": 2}]}
        r = live_client.post(path, json=missing, headers=keys.auth("forecaster"))
        bad = {**body, "effects": [{"question_id": Q, "likelihood_ratio": -1}]}
    else:
        r = live_client.post(
            "/v1/questions/no-such-thing/elicitations/preview",
            json=body,
            headers=keys.auth("forecaster"),
        )
        bad = {"probability": 0.3, "quantiles": {"0.5": 0.3}}
    assert "no-such-thing" in _problem(r, 404)["detail"]
    _problem(live_client.post(path, json=bad, headers=keys.auth("forecaster")), 422)
    _unchanged(live_client, before)

    resolved = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 0, "resolved_at": "2026-07-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    assert resolved.status_code == 200, resolved.text
    _problem(live_client.post(path, json=body, headers=keys.auth("forecaster")), 409)


def test_questions_outside_the_published_fit_are_named_not_previewed(live_client, keys):
    new = {"id": "talks-by-2027", "title": "Talks by 2027?", "group": "settlement"}
    assert live_client.post("/v1/questions", json=new, headers=keys.auth("admin")).is_success
    body = {
        **EVIDENCE,
        "effects": [
            {"question_id": "talks-by-2027", "likelihood_ratio": 2.0},
            {"question_id": Q, "likelihood_ratio": 2.0},
        ],
    }
    before = _database(live_client)
    r = live_client.post(EVIDENCE_PREVIEW, json=body, headers=keys.auth("forecaster"))
    assert r.status_code == 200, r.text
    assert r.json()["not_in_fit"] == ["talks-by-2027"]
    assert [f["question_id"] for f in r.json()["forecasts"]] == [Q]
    r = live_client.post(
        "/v1/questions/talks-by-2027/elicitations/preview",
        json={"probability": 0.3},
        headers=keys.auth("forecaster"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["forecast"] is None and r.json()["needs_refit"] is True
    assert r.json()["fitted"]["probability"] == pytest.approx(0.3, abs=0.05)
    _unchanged(live_client, before)


def test_before_any_fit_a_preview_says_what_waits_for_one(client, keys):
    before = _database(client)
    r = client.post(EVIDENCE_PREVIEW, json=TWO_EFFECTS, headers=keys.auth("forecaster"))
    assert r.status_code == 200, r.text
    assert r.json() == {"forecasts": [], "not_in_fit": [Q, SUMMIT], "needs_refit": False}
    r = client.post(ELICITATION_PREVIEW, json={"probability": 0.3}, headers=keys.auth("forecaster"))
    assert r.status_code == 200 and r.json()["forecast"] is None
    _unchanged(client, before)
