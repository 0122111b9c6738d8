"""Writes: the role ladder, bad input as problem+json, instant updates, idempotency, concurrency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

Q = "truce-by-2027"
EVIDENCE = {
    "title": "Talks announced",
    "observed_at": "2026-06-01T12:00:00Z",
    "source_url": "https://example.org/news/1",
    "reliability": "verified-report",
    "effects": [{"question_id": Q, "likelihood_ratio": 2.0}],
}


def _evidence_id(client, keys) -> str:
    r = client.post("/v1/evidence", headers=keys.auth("forecaster"), json=EVIDENCE)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# Every write: (method, path with {id}, the id that exists, role needed, role just below, body)
WRITES = [
    ("POST", "/v1/questions/{id}/elicitations", Q, "forecaster", "reader", {"probability": 0.3}),
    (
        "POST",
        "/v1/evidence",
        None,
        "forecaster",
        "reader",
        EVIDENCE,
    ),
    ("POST", "/v1/evidence/{id}/retraction", "evidence", "forecaster", "reader", {"reason": "x"}),
    (
        "POST",
        "/v1/questions",
        None,
        "admin",
        "forecaster",
        {"id": "new-question", "title": "New?", "group": "settlement"},
    ),
    ("PATCH", "/v1/questions/{id}", Q, "admin", "forecaster", {"title": "Truce by 2027?"}),
    (
        "POST",
        "/v1/questions/{id}/resolution",
        Q,
        "admin",
        "forecaster",
        {"outcome": 1, "resolved_at": "2026-07-01T00:00:00Z"},
    ),
    ("POST", "/v1/questions/{id}/annulment", Q, "admin", "forecaster", {"reason": "ambiguous"}),
]


@pytest.mark.parametrize(
    "method,template,existing,role,below,body", WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES]
)
def test_role_ladder(live_client, keys, method, template, existing, role, below, body):
    """anonymous -> wrong role -> not found -> valid, for every write."""
    if existing == "evidence":
        existing = _evidence_id(live_client, keys)
    path = template.replace("{id}", existing or "")

    r = live_client.request(method, path, json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = live_client.request(method, path, json=body, headers={"Authorization": "Bearer hk_wrong"})
    assert r.status_code == 401

    r = live_client.request(method, path, json=body, headers=keys.auth(below))
    assert r.status_code == 403 and role in r.json()["detail"]

    if existing is not None:
        missing = template.replace("{id}", "no-such-thing")
        r = live_client.request(method, missing, json=body, headers=keys.auth(role))
        assert r.status_code == 404, r.text
    elif template == "/v1/evidence":
        bad = {**body, "effects": [{"question_id": "no-such-thing", "likelihood_ratio": 2}]}
        r = live_client.request(method, template, json=bad, headers=keys.auth(role))
        assert r.status_code == 404, r.text

    r = live_client.request(method, path, json=body, headers=keys.auth(role))
    assert r.status_code in (200, 201), r.text
    if role == "forecaster":  # admin may do what a forecaster may
        again = dict(body)
        if template == "/v1/evidence/{id}/retraction":
            path = template.replace("{id}", _evidence_id(live_client, keys))
        r = live_client.request(method, path, json=again, headers=keys.auth("admin"))
        assert r.status_code in (200, 201), r.text


def _problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    return body


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"probability": 0}, "greater than 0"),
        ({"probability": 1.5}, "less than 1"),
        ({"probability": "high"}, "valid number"),
        ({"quantiles": {"0.1": 0.5, "0.5": 0.4, "0.9": 0.6}}, "increase strictly"),
        ({"quantiles": {"0.1": 0.1, "0.5": 0.4, "0.9": 1.2}}, "strictly between 0 and 1"),
        ({"quantiles": {"0.1": 0.1, "0.5": 0.2}}, "at least 3 quantiles"),
        ({"probability": 0.3, "quantiles": {"0.1": 0.1, "0.5": 0.2, "0.9": 0.3}}, "either"),
        ({}, "either"),
    ],
)
def test_bad_elicitations_are_422_problems_that_say_what_to_fix(live_client, keys, body, needle):
    r = live_client.post(f"/v1/questions/{Q}/elicitations", json=body, headers=keys.auth("admin"))
    problem = _problem(r, 422)
    assert needle in problem["detail"], problem


@pytest.mark.parametrize(
    "effect,needle",
    [
        ({"likelihood_ratio": 0}, "positive"),
        ({"likelihood_ratio": -2}, "positive"),
        ({"likelihood_ratio": 1001}, "beyond the accepted range"),
        ({"likelihood_ratio": 1e-4}, "beyond the accepted range"),
        ({"strength": "very-for"}, "strongly-for"),
        ({}, "either"),
    ],
)
def test_bad_likelihood_ratios_are_422_problems(live_client, keys, effect, needle):
    body = {**EVIDENCE, "effects": [{"question_id": Q, **effect}]}
    problem = _problem(live_client.post("/v1/evidence", json=body, headers=keys.auth("admin")), 422)
    assert needle in problem["detail"] and problem["errors"], problem


def test_evidence_from_the_future_is_a_422_problem(live_client, keys):
    body = {**EVIDENCE, "observed_at": "2999-01-01T00:00:00Z"}
    problem = _problem(live_client.post("/v1/evidence", json=body, headers=keys.auth("admin")), 422)
    assert "in the future" in problem["detail"], problem


def test_bad_reliability_and_missing_fields_list_every_error(live_client, keys):
    body = {"title": "", "reliability": "tweet", "effects": []}
    problem = _problem(live_client.post("/v1/evidence", json=body, headers=keys.auth("admin")), 422)
    where = {tuple(e["loc"]) for e in problem["errors"]}
    assert {("body", "title"), ("body", "observed_at"), ("body", "reliability")} <= where
    assert "official-statement" in problem["detail"]


def test_malformed_json_is_a_400_problem(live_client, keys):
    r = live_client.post(
        "/v1/evidence",
        content=b'{"title": "x",',
        headers={**keys.auth("admin"), "Content-Type": "application/json"},
    )
    assert "JSON" in _problem(r, 400)["title"]


def test_a_body_over_the_limit_is_a_413_problem(live_client, keys):
    body = {**EVIDENCE, "title": "x" * 5000}
    r = live_client.post("/v1/evidence", json=body, headers=keys.auth("admin"))
    assert "4096 bytes" in _problem(r, 413)["detail"]


def test_resolved_and_annulled_questions_refuse_new_statements_with_409(live_client, keys):
    admin = keys.auth("admin")
    r = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": True, "resolved_at": "2026-07-01T00:00:00Z"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["refit_job_id"] is not None
    r = live_client.post(
        f"/v1/questions/{Q}/elicitations", json={"probability": 0.3}, headers=admin
    )
    assert "resolved" in _problem(r, 409)["detail"]
    assert _problem(live_client.post("/v1/evidence", json=EVIDENCE, headers=admin), 409)
    other = "summit-by-2027"
    r = live_client.post(f"/v1/questions/{other}/annulment", json={"reason": "void"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "annulled"
    r = live_client.post(
        f"/v1/questions/{other}/elicitations", json={"probability": 0.3}, headers=admin
    )
    assert "annulled" in _problem(r, 409)["detail"]
    r = live_client.post(
        f"/v1/questions/{other}/annulment", json={"reason": "again"}, headers=admin
    )
    _problem(r, 409)


def test_elicitation_returns_the_fitted_distribution_and_the_instant_forecast(live_client, keys):
    r = live_client.post(
        f"/v1/questions/{Q}/elicitations",
        json={"quantiles": {"0.1": 0.3, "0.5": 0.5, "0.9": 0.7}},
        headers=keys.auth("forecaster"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["forecaster_id"] == "fred"
    assert set(body["fitted"]) >= {"logit_mean", "logit_sd", "interval", "interval_prob"}
    assert body["forecast"]["tier"] == "instant"
    assert body["forecast"]["cause"] == {"type": "elicitation", "id": body["id"]}
    assert body["needs_refit"] == (body["refit_job_id"] is not None)
    with_confidence = live_client.post(
        f"/v1/questions/{Q}/elicitations",
        json={"probability": 0.4, "confidence": 0.8},
        headers=keys.auth("forecaster"),
    )
    assert with_confidence.status_code == 201
    assert with_confidence.json()["fitted"]["confidence"] == 0.8


def test_evidence_returns_instant_forecasts_of_every_affected_question(live_client, keys):
    body = {
        **EVIDENCE,
        "effects": [
            {"question_id": Q, "strength": "moderately-for"},
            {"question_id": "summit-by-2027", "likelihood_ratio": 0.5},
        ],
    }
    before = {
        q: live_client.get(f"/v1/questions/{q}/forecast").json()["probability"]
        for q in (Q, "summit-by-2027")
    }
    r = live_client.post("/v1/evidence", json=body, headers=keys.auth("forecaster"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["id"].startswith("ev-") and out["refit_job_id"] is not None
    got = {f["question_id"]: f for f in out["forecasts"]}
    assert set(got) == {Q, "summit-by-2027"}
    assert all(f["tier"] == "instant" for f in got.values())
    assert got[Q]["probability"] > before[Q]
    assert got["summit-by-2027"]["probability"] < before["summit-by-2027"]
    # A second post while the first refit is still queued joins the same job (coalescing).
    r2 = live_client.post("/v1/evidence", json=EVIDENCE, headers=keys.auth("forecaster"))
    assert r2.json()["refit_job_id"] == out["refit_job_id"]
    # Retraction: a new record; the instant update is undone at once.
    r3 = live_client.post(
        f"/v1/evidence/{out['id']}/retraction", json={"reason": "misreported"},
        headers=keys.auth("forecaster"),
    )  # fmt: skip
    assert r3.status_code == 201
    summit = {f["question_id"]: f for f in r3.json()["forecasts"]}["summit-by-2027"]
    assert abs(summit["probability"] - before["summit-by-2027"]) < 1e-9
    again = live_client.post(
        f"/v1/evidence/{out['id']}/retraction", json={"reason": "twice"},
        headers=keys.auth("forecaster"),
    )  # fmt: skip
    _problem(again, 409)


def test_idempotency_key_makes_a_retried_post_safe(live_client, keys):
    headers = {**keys.auth("forecaster"), "Idempotency-Key": "retry-1"}
    first = live_client.post("/v1/evidence", json=EVIDENCE, headers=headers)
    second = live_client.post("/v1/evidence", json=EVIDENCE, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    history = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    assert [h["cause"]["type"] for h in history].count("evidence") == 1
    changed = {**EVIDENCE, "title": "Another"}
    r = live_client.post("/v1/evidence", json=changed, headers=headers)
    assert "different request" in _problem(r, 422)["detail"]


def test_a_failed_write_leaves_nothing_behind(live_client, keys):
    body = {
        **EVIDENCE,
        "effects": [
            {"question_id": Q, "likelihood_ratio": 2.0},
            {"question_id": "no-such-thing", "likelihood_ratio": 2.0},
        ],
    }
    r = live_client.post("/v1/evidence", json=body, headers=keys.auth("forecaster"))
    _problem(r, 404)
    history = live_client.get(f"/v1/questions/{Q}/forecast/history").json()["items"]
    assert [h["cause"]["type"] for h in history] == ["fit"]


def test_fifty_concurrent_evidence_posts_are_all_stored_and_in_the_next_fit(published, keys):
    from sqlalchemy import func, select

    from service.app import create_app
    from service.store.tables import EvidenceRow, FitJobRow, ForecastHistoryRow

    app = create_app(published)
    app.state.live.refresh()  # ASGITransport does not run the lifespan

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(
                *[
                    c.post(
                        "/v1/evidence",
                        json={**EVIDENCE, "title": f"report {i}"},
                        headers=keys.auth("forecaster"),
                    )
                    for i in range(50)
                ]
            )

    responses = asyncio.run(post_all())
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses][:3]
    assert len({r.json()["id"] for r in responses}) == 50
    assert len({r.json()["refit_job_id"] for r in responses}) == 1  # coalesced
    with app.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(EvidenceRow)) == 50
        assert session.scalar(select(func.count()).select_from(FitJobRow)) == 1
        evidence_points = session.scalar(
            select(func.count())
            .select_from(ForecastHistoryRow)
            .where(ForecastHistoryRow.cause_type == "evidence")
        )
        assert evidence_points == 50
    assert len(app.state.live.current.data.evidence) == 50
    # ...and all reflected in the next fit.
    from service.jobs.worker import work_once
    from tests.service.conftest import relaxed_config

    fit = work_once(published, app.state.session_factory, "test-worker", config=relaxed_config())
    assert fit is not None and fit.status == "published", fit.reason
    assert set(fit.inputs["evidence"]) == {r.json()["id"] for r in responses}
    app.state.engine.dispose()


# --- bad input is refused whole: a clear 4xx problem, and nothing written -----------------


def _database(client) -> tuple[dict[str, list[tuple]], object]:  # type: ignore[no-untyped-def]
    """Every row of every table, and the live posterior: the same before and after a
    refused write."""
    from sqlalchemy import select

    from service.store.tables import Base

    with client.app.state.session_factory() as session:
        tables = {
            t.name: sorted(map(tuple, session.execute(select(t)).all()), key=repr)
            for t in Base.metadata.sorted_tables
        }
    return tables, client.app.state.live.current


def _refused(client, r: httpx.Response, status: int, before: tuple) -> dict:  # type: ignore[no-untyped-def]
    problem = _problem(r, status)
    tables, posterior = _database(client)
    assert tables == before[0], "a refused write left something in the database"
    assert posterior is before[1], "a refused write changed the live posterior"
    return problem


def test_a_chunked_body_over_the_limit_is_a_413_problem_like_one_with_content_length(
    live_client, keys
):
    body = json.dumps({**EVIDENCE, "title": "x" * 5000}).encode()

    def chunks() -> Iterator[bytes]:  # no length known up front: Transfer-Encoding: chunked
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    before = _database(live_client)
    headers = {**keys.auth("forecaster"), "Content-Type": "application/json"}
    r = live_client.post("/v1/evidence", content=chunks(), headers=headers)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert "4096 bytes" in _refused(live_client, r, 413, before)["detail"]
    # Under the limit, a chunked body is read as usual.
    small = json.dumps(EVIDENCE).encode()
    r = live_client.post("/v1/evidence", content=iter([small[:50], small[50:]]), headers=headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(
    "method,template,existing,role,below,body", WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES]
)
def test_a_json_body_sent_as_another_media_type_is_a_415_that_names_the_header(
    live_client, keys, content_type, method, template, existing, role, below, body
):
    if existing == "evidence":
        existing = _evidence_id(live_client, keys)
    path = template.replace("{id}", existing or "")
    before = _database(live_client)
    r = live_client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={**keys.auth("admin"), "Content-Type": content_type},
    )
    problem = _refused(live_client, r, 415, before)
    assert "Content-Type: application/json" in problem["detail"], problem
    assert content_type in problem["detail"]
    # The same body declared as JSON (with a charset) goes through.
    r = live_client.request(
        method,
        path,
        content=json.dumps(body).encode(),
        headers={**keys.auth("admin"), "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code in (200, 201), r.text


@pytest.mark.parametrize(
    "fields",
    [
        {"opens_at": "2027-06-01T00:00:00Z", "resolves_at": "2027-01-01T00:00:00Z"},
        {"opens_at": "2027-01-01T00:00:00Z", "resolves_at": "2027-01-01T00:00:00Z"},
        {"opens_at": "2027-01-01T02:00:00+02:00", "resolves_at": "2026-12-31T23:00:00"},
    ],
)
def test_a_question_that_opens_after_it_resolves_is_a_422_naming_both(live_client, keys, fields):
    before = _database(live_client)
    body = {"id": "backwards", "title": "Backwards?", **fields}
    r = live_client.post("/v1/questions", json=body, headers=keys.auth("admin"))
    problem = _refused(live_client, r, 422, before)
    assert "opens_at" in problem["detail"] and "resolves_at" in problem["detail"], problem
    assert "must be before" in problem["detail"] and problem["errors"]
    assert live_client.get("/v1/questions/backwards").status_code == 404


def test_times_written_with_an_offset_come_back_in_utc_with_z(live_client, keys):
    body = {
        "id": "offsets",
        "title": "Offsets?",
        "opens_at": "2027-01-01T02:00:00+02:00",
        "resolves_at": "2027-06-01T00:00:00",  # no zone: UTC
    }
    r = live_client.post("/v1/questions", json=body, headers=keys.auth("admin"))
    assert r.status_code == 201, r.text
    expected = {"opens_at": "2027-01-01T00:00:00Z", "resolves_at": "2027-06-01T00:00:00Z"}
    assert {k: r.json()[k] for k in expected} == expected
    stored = live_client.get("/v1/questions/offsets").json()
    assert {k: stored[k] for k in expected} == expected


def test_patching_resolves_at_before_the_question_opens_is_a_422_naming_both(live_client, keys):
    was = live_client.get(f"/v1/questions/{Q}").json()
    before = _database(live_client)
    r = live_client.patch(
        f"/v1/questions/{Q}",
        json={"title": "Changed?", "resolves_at": "2025-06-01T00:00:00Z"},
        headers=keys.auth("admin"),
    )
    problem = _refused(live_client, r, 422, before)
    assert "opens_at (2026-01-01T00:00:00Z)" in problem["detail"], problem
    assert "resolves_at (2025-06-01T00:00:00Z)" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "resolves_at"]
    assert live_client.get(f"/v1/questions/{Q}").json() == was


@pytest.mark.parametrize(
    "resolved_at,needle",
    [
        ("2999-01-01T00:00:00Z", "resolved_at (2999-01-01T00:00:00Z) is in the future"),
        ("2025-12-01T00:00:00Z", "before the question opened (opens_at 2026-01-01T00:00:00Z)"),
    ],
)
def test_a_resolution_in_the_future_or_before_the_question_opened_is_a_422(
    live_client, keys, resolved_at, needle
):
    before = _database(live_client)
    r = live_client.post(
        f"/v1/questions/{Q}/resolution",
        json={"outcome": 1, "resolved_at": resolved_at},
        headers=keys.auth("admin"),
    )
    problem = _refused(live_client, r, 422, before)
    assert needle in problem["detail"], problem
    assert problem["errors"][0]["loc"] == ["body", "resolved_at"]
    assert live_client.get(f"/v1/questions/{Q}").json()["status"] == "open"


@pytest.mark.parametrize(
    "url", ["not a url", "javascript:alert(1)", "ftp://example.org/x", "https://", "example.org"]
)
def test_a_source_url_that_is_not_a_web_address_is_a_422(live_client, keys, url):
    before = _database(live_client)
    body = {**EVIDENCE, "source_url": url}
    r = live_client.post("/v1/evidence", json=body, headers=keys.auth("forecaster"))
    problem = _refused(live_client, r, 422, before)
    assert "source_url" in problem["detail"] and "http or https URL" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "source_url"]


@pytest.mark.parametrize(
    "path,raw,field",
    [
        (f"/v1/questions/{Q}/elicitations", '{"probability": NaN}', "probability"),
        (
            f"/v1/questions/{Q}/elicitations",
            '{"probability": 0.3, "confidence": NaN}',
            "confidence",
        ),
        (
            f"/v1/questions/{Q}/elicitations",
            '{"quantiles": {"0.1": 0.1, "0.5": NaN, "0.9": 0.9}}',
            "quantiles.0.5",
        ),
        (
            "/v1/evidence",
            json.dumps(
                {**EVIDENCE, "effects": [{"question_id": Q, "likelihood_ratio": 1}]}
            ).replace('"likelihood_ratio": 1', '"likelihood_ratio": Infinity'),
            "effects.0.likelihood_ratio",
        ),
    ],
)
def test_non_finite_numbers_are_a_422_saying_they_must_be_finite(
    live_client, keys, path, raw, field
):
    before = _database(live_client)
    r = live_client.post(
        path,
        content=raw.encode(),
        headers={**keys.auth("forecaster"), "Content-Type": "application/json"},
    )
    problem = _refused(live_client, r, 422, before)
    assert f"{field}: Input should be a finite number" in problem["detail"], problem
    assert "less than" not in problem["detail"] and "greater than" not in problem["detail"]
