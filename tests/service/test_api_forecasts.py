"""Questions and forecasts: listing, reading, ETag / 304, past times, history with causes."""

from __future__ import annotations

import csv
import io

import pytest

from tests.service.conftest import catalog_as_of, post_evidence, retract_evidence

Q = "truce-by-2027"


def test_questions_list_pages_with_a_cursor(client):
    first = client.get("/v1/questions", params={"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert [q["id"] for q in body["items"]] == ["sanctions-relief-by-2027", "summit-by-2027"]
    assert set(body["items"][0]) >= {"id", "title", "group", "resolves_at", "forecast"}
    assert body["next"] == "summit-by-2027"
    second = client.get("/v1/questions", params={"limit": 2, "cursor": body["next"]}).json()
    assert [q["id"] for q in second["items"]] == [Q] and second["next"] is None


def test_questions_list_filters_by_status_and_group_across_pages(client, keys):
    admin = keys.auth("admin")
    r = client.post(
        "/v1/questions/summit-by-2027/resolution",
        json={"outcome": 0, "resolved_at": "2026-06-01T00:00:00Z"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/v1/questions/sanctions-relief-by-2027/annulment", json={"reason": "void"}, headers=admin
    )
    assert r.status_code == 200, r.text

    def ids(**params: str | int) -> list[str]:
        out, cursor = [], None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            body = client.get("/v1/questions", params=query).json()
            out += [(q["id"], q["status"]) for q in body["items"]]
            if body["next"] is None:
                return out  # type: ignore[return-value]
            cursor = body["next"]

    assert ids(status="open") == [(Q, "open")]
    assert ids(status="resolved", limit=1) == [("summit-by-2027", "resolved")]
    assert ids(status="annulled") == [("sanctions-relief-by-2027", "annulled")]
    assert [i for i, _ in ids(group="settlement", limit=1)] == ["summit-by-2027", Q]
    assert ids(group="settlement", status="open") == [(Q, "open")]
    assert len(ids()) == 3
    r = client.get("/v1/questions", params={"group": "nowhere"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
    assert "the groups are: belarus, settlement" in r.json()["detail"]
    assert client.get("/v1/questions", params={"status": "closed"}).status_code == 422


def test_questions_list_finds_text_in_titles_and_ids_in_any_case(client, keys):
    r = client.post(
        "/v1/questions",
        json={
            "id": "line-of-contact",
            "title": "A 100% frozen_line by 2027?",
            "group": "settlement",
        },
        headers=keys.auth("admin"),
    )
    assert r.status_code == 201, r.text

    def ids(**params: str | int) -> list[str]:
        out, cursor = [], None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            r = client.get("/v1/questions", params=query)
            assert r.status_code == 200, r.text
            out += [q["id"] for q in r.json()["items"]]
            if r.json()["next"] is None:
                return out
            cursor = r.json()["next"]

    assert ids(q="TRUCE") == [Q]  # the title, in any case
    assert ids(q="relief-by") == ["sanctions-relief-by-2027"]  # the id (its title: "relieved")
    assert ids(q="  summit ") == ["summit-by-2027"]  # the text is trimmed
    every = ["line-of-contact", "sanctions-relief-by-2027", "summit-by-2027", Q]
    assert ids(q="By 2027", limit=1) == every  # `next` pages through the matches
    # LIKE's wildcards are matched as themselves.
    assert ids(q="%") == ids(q="_") == ids(q="0% frozen_") == ["line-of-contact"]
    assert ids(q="truce", status="resolved") == [] and ids(q="truce", group="belarus") == []
    assert ids(q="no such words") == []
    for blank in ("", "   "):
        r = client.get("/v1/questions", params={"q": blank})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
        assert "q" in r.json()["detail"]


def test_forecast_without_a_published_fit_is_a_503_problem(client):
    r = client.get(f"/v1/questions/{Q}/forecast")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/no-published-fit")


def test_forecast_of_an_unknown_question_is_404(live_client):
    r = live_client.get("/v1/questions/no-such-question/forecast")
    assert r.status_code == 404 and "GET /v1/questions" in r.json()["detail"]


def test_forecast_comes_from_the_published_fit_with_etag_and_304(live_client, published_artifact):
    from models.artifacts import load

    r = live_client.get(f"/v1/questions/{Q}/forecast")
    assert r.status_code == 200
    f = r.json()
    assert set(f) >= {
        "question_id",
        "probability",
        "interval",
        "interval_prob",
        "tier",
        "fit_id",
        "computed_at",
        "as_of",
        "cause",
    }
    assert f["fit_id"] == "fit-fixture" and f["tier"] == "refit"
    assert f["cause"] == {"type": "fit", "id": "fit-fixture"}
    lo, hi = f["interval"]
    assert 0 < lo < f["probability"] < hi < 1 and f["interval_prob"] == 0.9
    (fitted,) = load(published_artifact).predict([Q])
    assert f["probability"] == pytest.approx(fitted.probability, rel=1e-12)
    assert f["contentious"] == pytest.approx(fitted.contentious, abs=1e-12)
    assert 0.0 <= f["contentious"] <= 1.0
    etag = r.headers["etag"]
    again = live_client.get(f"/v1/questions/{Q}/forecast", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    other = live_client.get(f"/v1/questions/{Q}/forecast", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200
    listed = live_client.get("/v1/questions").json()["items"]
    assert {q["id"]: q["forecast"]["probability"] for q in listed}[Q] == f["probability"]


def test_every_forecast_served_shows_the_newest_forecast_it_reads_as_of(live_client, keys):
    """`as_of`: the time of the question's newest forecast (elicitation) in the posterior."""
    expected = catalog_as_of()
    assert expected[Q] is not None and None in expected.values()  # one question has none
    for q, as_of in expected.items():
        assert live_client.get(f"/v1/questions/{q}/forecast").json()["as_of"] == as_of
        # A past time is read from the same posterior, so from the same newest forecast.
        past = live_client.get(f"/v1/questions/{q}/forecast", params={"at": "2026-03-01T00:00:00Z"})
        assert past.json()["as_of"] == as_of
    listed = live_client.get("/v1/questions").json()["items"]
    assert {q["id"]: q["forecast"]["as_of"] for q in listed} == expected

    # A new elicitation moves its question's time to its own; other questions keep theirs.
    r = live_client.post(
        f"/v1/questions/{Q}/elicitations",
        json={"probability": 0.3},
        headers=keys.auth("forecaster"),
    )
    assert r.status_code == 201, r.text
    created_at = live_client.get(f"/v1/elicitations/{r.json()['id']}").json()["created_at"]
    assert created_at != expected[Q]
    assert r.json()["forecast"]["as_of"] == created_at
    assert live_client.get(f"/v1/questions/{Q}/forecast").json()["as_of"] == created_at
    listed = live_client.get("/v1/questions").json()["items"]
    assert {q["id"]: q["forecast"]["as_of"] for q in listed} == {**expected, Q: created_at}

    # Evidence is applied on top: the question is still read at its newest forecast.
    r = live_client.post(
        "/v1/evidence",
        headers=keys.auth("forecaster"),
        json={
            "title": "Talks",
            "observed_at": "2026-06-01T12:00:00Z",
            "reliability": "official-statement",
            "effects": [
                {"question_id": Q, "strength": "strongly-for"},
                {"question_id": "sanctions-relief-by-2027", "likelihood_ratio": 2.0},
            ],
        },
    )
    assert r.status_code == 201, r.text
    got = {f["question_id"]: f["as_of"] for f in r.json()["forecasts"]}
    assert got == {Q: created_at, "sanctions-relief-by-2027": None}
    assert live_client.get(f"/v1/questions/{Q}/forecast").json()["as_of"] == created_at

    # The history, in JSON and CSV (a last column: the others keep their places).
    history = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    assert [h["as_of"] for h in history] == [expected[Q], created_at, created_at]
    text = live_client.get(f"/v1/questions/{Q}/forecast/history", params={"format": "csv"}).text
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames is not None and reader.fieldnames[-1] == "as_of"
    assert [row["as_of"] for row in reader] == [expected[Q], created_at, created_at]
    other = "sanctions-relief-by-2027"
    text = live_client.get(f"/v1/questions/{other}/forecast/history", params={"format": "csv"}).text
    assert [row["as_of"] for row in csv.DictReader(io.StringIO(text))] == ["", ""]


def test_etag_changes_when_evidence_moves_the_forecast(live_client, keys):
    before = live_client.get(f"/v1/questions/{Q}/forecast")
    r = live_client.post(
        "/v1/evidence",
        headers=keys.auth("forecaster"),
        json={
            "title": "Both sides announce talks",
            "observed_at": "2026-06-01T12:00:00Z",
            "reliability": "official-statement",
            "effects": [{"question_id": Q, "strength": "strongly-for"}],
        },
    )
    assert r.status_code == 201, r.text
    after = live_client.get(
        f"/v1/questions/{Q}/forecast", headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    assert after.json()["probability"] > before.json()["probability"]
    assert after.json()["tier"] == "instant"
    # The probability before the evidence, under the same posterior, is the old one.
    past = live_client.get(f"/v1/questions/{Q}/forecast", params={"at": "2026-03-01T00:00:00Z"})
    assert past.status_code == 200 and "etag" in past.headers
    assert abs(past.json()["probability"] - before.json()["probability"]) < 1e-9
    history = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    assert [h["cause"]["type"] for h in history] == ["fit", "evidence"]
    assert history[1]["cause"]["id"] == r.json()["id"]
    assert history[1]["previous_probability"] == history[0]["probability"]
    none = live_client.get(
        f"/v1/questions/{Q}/forecast/history", params={"until": "2000-01-01T00:00:00Z"}
    )
    assert none.json()["items"] == []


def test_a_past_forecast_revalidates_after_a_retraction_and_other_evidence(live_client, keys):
    """The chain of updates is rebuilt after a retraction and may come back to as many
    updates with other ones in it: an `?at=` ETag must name the contents, not the count."""

    url, at = f"/v1/questions/{Q}/forecast", {"at": "2026-07-01T00:00:00Z"}
    raised = post_evidence(live_client, keys, 8.0)
    first = live_client.get(url, params=at)
    retract_evidence(live_client, keys, raised)
    post_evidence(live_client, keys, 0.125)
    again = live_client.get(url, params=at, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200, "a 304 here would keep the retracted evidence's forecast"
    assert again.json()["probability"] < first.json()["probability"] - 0.1


def test_fits_latest_and_by_id(live_client, client):
    latest = live_client.get("/v1/fits/latest")
    assert latest.status_code == 200 and latest.json()["status"] == "published"
    assert live_client.get(f"/v1/fits/{latest.json()['id']}").json()["id"] == "fit-fixture"
    assert live_client.get("/v1/fits/fit-nope").status_code == 404


def test_health_ready_metrics_and_openapi(live_client):
    assert live_client.get("/healthz").json() == {"status": "ok"}
    ready = live_client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["fit_id"] == "fit-fixture"
    # No worker under start_worker=False (tests/service/test_worker_supervision.py has one).
    assert ready["worker"] == {"state": "not_started", "restarts": 0, "last_exit_code": None}
    live_client.get(f"/v1/questions/{Q}/forecast")
    text = live_client.get("/metrics").text
    for name in (
        "helsinki_request_duration_seconds_bucket",
        "helsinki_fit_queue_depth",
        "helsinki_fit_duration_seconds_count",
        'helsinki_fit_worker_state{state="not_started"} 1.0',
        "helsinki_fit_worker_restarts_total 0.0",
    ):
        assert name in text
    assert "/v1/questions/{question_id}/forecast" in text
    assert "/v1/evidence" in live_client.get("/openapi.json").json()["paths"]


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["errors"], body
    return body  # type: ignore[no-any-return]


def test_a_cursor_that_is_not_a_next_is_a_422(client):
    problem = _problem(client.get("/v1/questions", params={"cursor": "garbage"}), 422)
    assert "invalid cursor" in problem["detail"] and "`next`" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["query", "cursor"]
    # The cursor a page hands out still works.
    nxt = client.get("/v1/questions", params={"limit": 1}).json()["next"]
    assert client.get("/v1/questions", params={"cursor": nxt}).status_code == 200


def test_history_since_later_than_until_is_a_422_naming_both(live_client):
    r = live_client.get(
        f"/v1/questions/{Q}/forecast/history",
        params={"since": "2026-06-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"},
    )
    problem = _problem(r, 422)
    assert "since" in problem["detail"] and "until" in problem["detail"], problem
    r = live_client.get(
        f"/v1/questions/{Q}/forecast/history",
        params={"since": "2026-06-01T00:00:00Z", "until": "2026-06-01T00:00:00Z", "format": "csv"},
    )
    assert r.status_code == 200  # an empty range is not an error; a backwards one is


@pytest.mark.parametrize(
    "at,needle",
    [
        ("2999-01-01T00:00:00Z", "in the future"),
        ("2025-06-01T00:00:00Z", "before question 'truce-by-2027' opened"),
        ("2025-12-31T23:59:59", "opens_at 2026-01-01T00:00:00Z"),  # no zone: UTC
    ],
)
def test_forecast_at_in_the_future_or_before_the_question_opened_is_a_422(live_client, at, needle):
    problem = _problem(live_client.get(f"/v1/questions/{Q}/forecast", params={"at": at}), 422)
    assert needle in problem["detail"] and problem["errors"][0]["loc"] == ["query", "at"]
    opened = live_client.get(f"/v1/questions/{Q}/forecast", params={"at": "2026-01-01T00:00:00Z"})
    assert opened.status_code == 200, opened.text
